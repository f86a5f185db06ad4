//! The PayPal provider over HTTP against the fake PayPal (PayPal's own example objects): the
//! fields we send, the token cache, idempotency and error mapping.

use std::collections::BTreeMap;

use domain::money::Currency;
use domain::provider::{
    DestinationCharge, OnboardingLinkRequest, PayoutProvider, PayoutRequest, ProviderError, RefundRequest,
};
use providers::paypal::client::Paypal;
use secrecy::SecretString;
use serde_json::json;
use test_support::fake_paypal::{FakePaypal, TEST_CLIENT_ID, TEST_CLIENT_SECRET};

fn provider(fake: &FakePaypal) -> Paypal {
    Paypal::new(TEST_CLIENT_ID.into(), SecretString::from(TEST_CLIENT_SECRET.to_owned()), Some(fake.base_url()))
        .expect("provider")
}

fn charge(key: &str) -> DestinationCharge {
    DestinationCharge {
        amount: 10_000,
        currency: Currency::USD,
        destination: "7KNGBPH2U58GQ".into(),
        application_fee_amount: 2008,
        metadata: BTreeMap::from([("orderId".to_owned(), "ord-1".to_owned()), ("maletId".to_owned(), "m1".to_owned())]),
        idempotency_key: key.into(),
    }
}

#[tokio::test]
async fn an_order_pays_the_seller_and_the_platform_fee_the_engine_computed() {
    let fake = FakePaypal::start().await;
    let paypal = provider(&fake);
    let created = paypal.create_destination_charge(charge("murchase-payment:m1:ord-1")).await.expect("order");
    let sent = fake.last("/v2/checkout/orders").expect("sent");
    assert_eq!(sent.headers.get("paypal-request-id").map(String::as_str), Some("murchase-payment:m1:ord-1"));
    let unit = &sent.body["purchase_units"][0];
    assert_eq!(sent.body["intent"], "CAPTURE");
    assert_eq!(unit["amount"], json!({"currency_code": "USD", "value": "100.00"}));
    assert_eq!(unit["payee"]["merchant_id"], "7KNGBPH2U58GQ");
    assert_eq!(
        unit["payment_instruction"]["platform_fees"][0]["amount"],
        json!({"currency_code": "USD", "value": "20.08"})
    );
    assert_eq!((unit["invoice_id"].as_str(), unit["custom_id"].as_str()), (Some("ord-1"), Some("m1")));
    assert!(created.approval_url.as_deref().is_some_and(|u| u.contains(&created.payment_id)), "{created:?}");
    // The same key again is the same order.
    let again = paypal.create_destination_charge(charge("murchase-payment:m1:ord-1")).await.expect("order");
    assert_eq!(again.payment_id, created.payment_id);
    // JPY has no decimals.
    let mut yen = charge("jpy");
    yen.currency = Currency::JPY;
    yen.amount = 1000;
    yen.application_fee_amount = 201;
    paypal.create_destination_charge(yen).await.expect("order");
    let sent = fake.last("/v2/checkout/orders").expect("sent");
    assert_eq!(sent.body["purchase_units"][0]["amount"]["value"], "1000");
    assert_eq!(sent.body["purchase_units"][0]["payment_instruction"]["platform_fees"][0]["amount"]["value"], "201");
}

#[tokio::test]
async fn the_token_is_cached_until_it_expires_and_renewed_on_401() {
    let fake = FakePaypal::start().await;
    let paypal = provider(&fake);
    for i in 0..3 {
        paypal.create_destination_charge(charge(&format!("k{i}"))).await.expect("order");
    }
    assert_eq!(fake.token_requests(), 1, "one token for three calls");
    fake.revoke_tokens();
    paypal.create_destination_charge(charge("k-after-revoke")).await.expect("renewed");
    assert_eq!(fake.token_requests(), 2);
    // Wrong credentials are a clear rejection.
    let wrong = Paypal::new(TEST_CLIENT_ID.into(), SecretString::from("nope".to_owned()), Some(fake.base_url()))
        .expect("provider");
    let err = wrong.create_destination_charge(charge("k")).await.expect_err("refused");
    assert!(matches!(&err, ProviderError::Rejected { code: Some(c), .. } if c == "invalid_client"), "{err:?}");
}

#[tokio::test]
async fn onboarding_is_a_partner_referral_tracked_by_our_account_id() {
    let fake = FakePaypal::start().await;
    let link = provider(&fake)
        .onboarding_link(OnboardingLinkRequest {
            account_id: "acc-123".into(),
            provider_account_id: None,
            refresh_url: "https://dash.example/refresh".into(),
            return_url: "https://dash.example/return".into(),
        })
        .await
        .expect("link");
    assert!(link.url.contains("bizsignup"), "{link:?}");
    let sent = fake.last("/v2/customer/partner-referrals").expect("sent");
    assert_eq!(sent.body["tracking_id"], "acc-123");
    assert_eq!(sent.body["legal_consents"][0], json!({"type": "SHARE_DATA_CONSENT", "granted": true}));
    assert_eq!(sent.body["partner_config_override"]["return_url"], "https://dash.example/return");
    let features = &sent.body["operations"][0]["api_integration_preference"]["rest_api_integration"]["third_party_details"]
        ["features"];
    assert!(features.as_array().is_some_and(|f| f.contains(&json!("PARTNER_FEE"))), "{features}");
}

#[tokio::test]
async fn payouts_are_one_item_batches_keyed_by_our_payout() {
    let fake = FakePaypal::start().await;
    let paypal = provider(&fake);
    let request = |key: &str| PayoutRequest {
        provider_account_id: "7KNGBPH2U58GQ".into(),
        amount: 987,
        currency: Currency::USD,
        idempotency_key: key.into(),
    };
    let first = paypal.payout(request("payout:p-1")).await.expect("payout");
    let sent = fake.last("/v1/payments/payouts").expect("sent");
    assert_eq!(sent.body["sender_batch_header"]["sender_batch_id"], "payout:p-1");
    assert_eq!(sent.headers.get("paypal-request-id").map(String::as_str), Some("payout:p-1"));
    assert_eq!(
        sent.body["items"][0],
        json!({"recipient_type": "PAYPAL_ID", "amount": {"value": "9.87", "currency": "USD"},
               "receiver": "7KNGBPH2U58GQ", "sender_item_id": "payout:p-1"})
    );
    // A retry is the same batch, never a second payout.
    let retry = paypal.payout(request("payout:p-1")).await.expect("retry");
    assert_eq!(retry.payout_id, first.payout_id);
    // PayPal refuses our batch id once its request id is forgotten, because it made that batch:
    // the outcome is unknown (looked up, never paid again), not refused.
    fake.fail_next(
        400,
        json!({"name": "USER_BUSINESS_ERROR", "message": "Batch with given sender_batch_id already exists",
        "details": [{"issue": "DUPLICATE_SENDER_BATCH_ID", "description": "duplicate"}]}),
    );
    let err = paypal.payout(request("payout:p-1")).await.expect_err("duplicate");
    assert!(matches!(err, ProviderError::Ambiguous(_)), "{err:?}");
    // A batch PayPal accepts but denies at once pays nobody: refused.
    let mut denied = test_support::paypal::fixture("payout_batch_response");
    denied["batch_header"]["batch_status"] = json!("DENIED");
    fake.fail_next(201, denied);
    let err = paypal.payout(request("payout:p-2")).await.expect_err("denied");
    assert!(matches!(&err, ProviderError::Rejected { code: Some(c), .. } if c == "DENIED"), "{err:?}");
}

#[tokio::test]
async fn refunds_name_the_capture_and_report_the_refunded_total() {
    let fake = FakePaypal::start().await;
    let paypal = provider(&fake);
    let refund = |amount: i64, key: &str| RefundRequest {
        payment_id: "5O190127TN364715T".into(),
        charge_id: Some("2GG279541U471931P".into()),
        amount,
        currency: Currency::USD,
        reverse_transfer: true,
        metadata: BTreeMap::new(),
        idempotency_key: key.into(),
    };
    let first = paypal.refund(refund(3000, "r1")).await.expect("refund");
    assert_eq!((first.amount, first.charge_amount_refunded), (3000, Some(3000)));
    let second = paypal.refund(refund(1000, "r2")).await.expect("refund");
    assert_eq!(second.charge_amount_refunded, Some(4000));
    let sent = fake.last("/v2/payments/captures/2GG279541U471931P/refund").expect("sent");
    assert_eq!(sent.body["amount"], json!({"currency_code": "USD", "value": "10.00"}));
    assert_eq!(sent.headers.get("paypal-request-id").map(String::as_str), Some("r2"));
}

#[tokio::test]
async fn errors_map_by_what_happened_at_paypal() {
    let fake = FakePaypal::start().await;
    let paypal = provider(&fake);
    fake.fail_next(
        422,
        json!({"name": "UNPROCESSABLE_ENTITY", "message": "The requested action could not be performed",
        "details": [{"issue": "PAYEE_ACCOUNT_RESTRICTED", "description": "restricted"}]}),
    );
    let err = paypal.create_destination_charge(charge("e1")).await.expect_err("rejected");
    assert!(
        matches!(&err, ProviderError::Rejected { code: Some(c), .. } if c == "PAYEE_ACCOUNT_RESTRICTED"),
        "{err:?}"
    );
    fake.fail_next(500, json!({"name": "INTERNAL_SERVER_ERROR"}));
    assert!(matches!(paypal.create_destination_charge(charge("e2")).await, Err(ProviderError::Ambiguous(_))));
    fake.fail_next(429, json!({"name": "RATE_LIMIT_REACHED"}));
    assert!(matches!(paypal.create_destination_charge(charge("e3")).await, Err(ProviderError::Unavailable(_))));
    let closed = Paypal::new(
        TEST_CLIENT_ID.into(),
        SecretString::from(TEST_CLIENT_SECRET.to_owned()),
        Some("http://127.0.0.1:9".into()),
    )
    .expect("provider");
    assert!(matches!(closed.create_destination_charge(charge("e4")).await, Err(ProviderError::Unavailable(_))));
    assert!(Paypal::new(String::new(), SecretString::from("s".to_owned()), None).is_err());
}
