//! StripeConnect against the in-process fake Stripe (feature `fake-stripe`, enabled for this
//! crate's tests through its dev-dependency on itself): the exact form fields and headers Stripe
//! expects for each call, idempotency, and the mapping of failures to `ProviderError`.

use std::collections::BTreeMap;
use std::time::Duration;

use domain::money::Currency;
use domain::provider::{
    CreateAccount, DestinationCharge, FeeRefundRequest, OnboardingLinkRequest, PayoutProvider, PayoutRequest,
    ProviderError, ProviderKind, RefundRequest, TransferRequest,
};
use domain::schedule::PayoutSchedule;
use providers::stripe::StripeConnect;
use secrecy::SecretString;
use serde_json::{Value, json};
use test_support::fake_stripe::FakeStripe;

async fn setup() -> (FakeStripe, StripeConnect) {
    let fake = FakeStripe::start_default().await.expect("fake Stripe starts");
    let stripe = StripeConnect::new(SecretString::from("sk_test_fake_key"), Some(fake.base_url())).expect("client");
    (fake, stripe)
}

fn account_request(key: &str) -> CreateAccount {
    CreateAccount {
        malet_id: "malet-1".into(),
        user_id: "user-1".into(),
        country: Some("US".into()),
        email: Some("seller@example.com".into()),
        idempotency_key: key.into(),
    }
}

fn metadata(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn charge(destination: &str, key: &str) -> DestinationCharge {
    DestinationCharge {
        amount: 10_000,
        currency: Currency::USD,
        destination: destination.into(),
        application_fee_amount: 2008,
        metadata: metadata(&[("orderId", "order-42"), ("maletId", "malet-1"), ("platform", "shopify")]),
        idempotency_key: key.into(),
    }
}

async fn new_account(stripe: &StripeConnect, key: &str) -> String {
    stripe.create_account(account_request(key)).await.expect("account").provider_account_id.expect("id")
}

#[tokio::test]
async fn create_account_sends_an_express_account_with_metadata_capabilities_and_key() {
    let (fake, stripe) = setup().await;
    assert_eq!(stripe.kind(), ProviderKind::StripeConnect);
    let account = stripe.create_account(account_request("acct-create-malet-1")).await.expect("account");
    let id = account.provider_account_id.clone().expect("an external id");
    assert!(id.starts_with("acct_"), "{id}");
    assert!(!account.charges_enabled && !account.payouts_enabled);
    assert_eq!(account.currency, Some(Currency::USD));

    let req = fake.last("/v1/accounts").expect("recorded");
    assert_eq!(req.method, "POST");
    assert_eq!(req.field("type"), Some("express"));
    assert_eq!(req.field("capabilities[card_payments][requested]"), Some("true"));
    assert_eq!(req.field("capabilities[transfers][requested]"), Some("true"));
    assert_eq!(req.field("metadata[malet_id]"), Some("malet-1"));
    assert_eq!(req.field("metadata[user_id]"), Some("user-1"));
    assert_eq!(req.field("country"), Some("US"));
    assert_eq!(req.field("email"), Some("seller@example.com"));
    assert_eq!(req.idempotency_key.as_deref(), Some("acct-create-malet-1"));
    assert_eq!(req.stripe_account, None);
    assert!(req.stripe_version.is_some(), "async-stripe pins an API version");
    assert!(!req.body.contains("sk_test"), "the key travels in a header, never in the body");

    // Another key, another account; the same key replays the first one and creates nothing.
    let other = new_account(&stripe, "acct-create-malet-2").await;
    assert_ne!(other, id);
    let replay = stripe.create_account(account_request("acct-create-malet-1")).await.expect("replay");
    assert_eq!(replay.provider_account_id.as_deref(), Some(id.as_str()));
    assert_eq!(fake.account_ids().len(), 2);
    assert_eq!(fake.requests_to("/v1/accounts").len(), 3);
}

#[tokio::test]
async fn onboarding_link_is_an_account_onboarding_link_with_both_urls() {
    let (fake, stripe) = setup().await;
    let account = new_account(&stripe, "k1").await;
    let request = OnboardingLinkRequest {
        account_id: "our-account-1".into(),
        provider_account_id: Some(account.clone()),
        refresh_url: "https://app.example/onboarding/refresh".into(),
        return_url: "https://app.example/onboarding/done".into(),
    };
    let first = stripe.onboarding_link(request.clone()).await.expect("link");
    let second = stripe.onboarding_link(request).await.expect("link");
    assert_ne!(first.url, second.url, "each link is single-use");
    assert!(first.expires_at.is_some());

    let req = fake.last("/v1/account_links").expect("recorded");
    assert_eq!(req.field("account"), Some(account.as_str()));
    assert_eq!(req.field("type"), Some("account_onboarding"));
    assert_eq!(req.field("refresh_url"), Some("https://app.example/onboarding/refresh"));
    assert_eq!(req.field("return_url"), Some("https://app.example/onboarding/done"));
}

#[tokio::test]
async fn payout_schedules_are_pushed_as_stripe_settings() {
    let (fake, stripe) = setup().await;
    let account = new_account(&stripe, "k1").await;
    let path = format!("/v1/accounts/{account}");

    stripe.update_payout_schedule(&account, PayoutSchedule::Weekly { day_of_week: 1 }).await.expect("weekly");
    let req = fake.last(&path).expect("recorded");
    assert_eq!(req.method, "POST");
    assert_eq!(req.field("settings[payouts][schedule][interval]"), Some("weekly"));
    assert_eq!(req.field("settings[payouts][schedule][weekly_anchor]"), Some("monday"));
    assert_eq!(req.field("settings[payouts][schedule][monthly_anchor]"), None);
    let held = fake.account(&account).expect("account");
    assert_eq!(held.pointer("/settings/payouts/schedule/weekly_anchor"), Some(&json!("monday")));

    stripe.update_payout_schedule(&account, PayoutSchedule::Weekly { day_of_week: 7 }).await.expect("sunday");
    assert_eq!(
        fake.last(&path).and_then(|r| r.field("settings[payouts][schedule][weekly_anchor]").map(str::to_owned)),
        Some("sunday".into())
    );

    stripe.update_payout_schedule(&account, PayoutSchedule::Monthly { day_of_month: 31 }).await.expect("monthly");
    let req = fake.last(&path).expect("recorded");
    assert_eq!(req.field("settings[payouts][schedule][interval]"), Some("monthly"));
    assert_eq!(req.field("settings[payouts][schedule][monthly_anchor]"), Some("31"));
    assert_eq!(req.field("settings[payouts][schedule][weekly_anchor]"), None);

    for (schedule, interval) in [(PayoutSchedule::Daily, "daily"), (PayoutSchedule::Manual, "manual")] {
        stripe.update_payout_schedule(&account, schedule).await.expect("schedule");
        let req = fake.last(&path).expect("recorded");
        assert_eq!(req.form, vec![("settings[payouts][schedule][interval]".to_owned(), interval.to_owned())]);
    }
    let held = fake.account(&account).expect("account");
    assert_eq!(held.pointer("/settings/payouts/schedule/interval"), Some(&json!("manual")));

    // An out-of-range day is refused before anything is sent.
    let before = fake.requests().len();
    let bad = stripe.update_payout_schedule(&account, PayoutSchedule::Weekly { day_of_week: 8 }).await;
    assert!(matches!(bad, Err(ProviderError::Rejected { .. })), "{bad:?}");
    assert_eq!(fake.requests().len(), before);
}

#[tokio::test]
async fn destination_charge_carries_fee_destination_metadata_and_key() {
    let (fake, stripe) = setup().await;
    let account = new_account(&stripe, "k1").await;
    let created = stripe.create_destination_charge(charge(&account, "charge-order-42")).await.expect("charge");
    assert!(created.payment_id.starts_with("pi_"));
    let secret = created.client_secret.clone().expect("client secret");
    assert!(secret.starts_with(&format!("{}_secret_", created.payment_id)));

    let req = fake.last("/v1/payment_intents").expect("recorded");
    assert_eq!(req.field("amount"), Some("10000"));
    assert_eq!(req.field("currency"), Some("usd"));
    assert_eq!(req.field("application_fee_amount"), Some("2008"));
    assert_eq!(req.field("transfer_data[destination]"), Some(account.as_str()));
    assert_eq!(req.field("metadata[orderId]"), Some("order-42"));
    assert_eq!(req.field("metadata[maletId]"), Some("malet-1"));
    assert_eq!(req.field("metadata[platform]"), Some("shopify"));
    assert_eq!(req.idempotency_key.as_deref(), Some("charge-order-42"));

    // The response echoes the request.
    let intent = fake.payment_intent(&created.payment_id).expect("held");
    assert_eq!(intent["amount"], json!(10_000));
    assert_eq!(intent["application_fee_amount"], json!(2008));
    assert_eq!(intent["transfer_data"]["destination"], json!(account));
    assert_eq!(intent["metadata"]["orderId"], json!("order-42"));

    // A retry with the same key is the same payment; the same key with other parameters is
    // refused by Stripe, which for us means a request with that key was made: of unknown outcome
    // (never "nothing happened").
    let replay = stripe.create_destination_charge(charge(&account, "charge-order-42")).await.expect("replay");
    assert_eq!(replay, created);
    let mut changed = charge(&account, "charge-order-42");
    changed.amount = 9_999;
    let err = stripe.create_destination_charge(changed).await.expect_err("key reuse");
    assert!(matches!(&err, ProviderError::Ambiguous(m) if m.contains("idempotency key used before")), "{err:?}");
    let created_events = fake.events().iter().filter(|e| e["type"] == json!("payment_intent.created")).count();
    assert_eq!(created_events, 1, "one payment intent only");
}

#[tokio::test]
async fn transfer_payout_refund_and_balance_send_what_stripe_expects() {
    let (fake, stripe) = setup().await;
    let account = new_account(&stripe, "k1").await;

    let transfer = stripe
        .transfer(TransferRequest {
            amount: 1_500,
            currency: Currency::EUR,
            destination: account.clone(),
            source_transaction: None,
            transfer_group: None,
            metadata: metadata(&[("reserveReleaseId", "rr-1")]),
            idempotency_key: "reserve-release-rr-1".into(),
        })
        .await
        .expect("transfer");
    assert!(transfer.transfer_id.starts_with("tr_"));
    let req = fake.last("/v1/transfers").expect("recorded");
    assert_eq!(req.field("amount"), Some("1500"));
    assert_eq!(req.field("currency"), Some("eur"));
    assert_eq!(req.field("destination"), Some(account.as_str()));
    assert_eq!(req.field("metadata[reserveReleaseId]"), Some("rr-1"));
    assert_eq!(req.idempotency_key.as_deref(), Some("reserve-release-rr-1"));
    assert_eq!(req.stripe_account, None, "transfers are made by the platform");

    let payout = stripe
        .payout(PayoutRequest {
            provider_account_id: account.clone(),
            amount: 700,
            currency: Currency::USD,
            idempotency_key: "payout-p1".into(),
        })
        .await
        .expect("payout");
    assert!(payout.payout_id.starts_with("po_"));
    let req = fake.last("/v1/payouts").expect("recorded");
    assert_eq!(req.stripe_account.as_deref(), Some(account.as_str()), "payouts are made on the connected account");
    assert_eq!(req.field("amount"), Some("700"));
    assert_eq!(req.field("currency"), Some("usd"));
    assert_eq!(req.idempotency_key.as_deref(), Some("payout-p1"));

    let pi = stripe.create_destination_charge(charge(&account, "c1")).await.expect("charge").payment_id;
    let refund = |amount: i64, key: &str| RefundRequest {
        payment_id: pi.clone(),
        charge_id: None,
        currency: Currency::USD,
        amount,
        reverse_transfer: true,
        metadata: metadata(&[("orderId", "order-42"), ("refundId", key)]),
        idempotency_key: key.into(),
    };
    let first = stripe.refund(refund(4_000, "refund-1")).await.expect("refund");
    assert!(first.refund_id.starts_with("re_"));
    assert_eq!((first.amount, first.charge_amount_refunded), (4_000, Some(4_000)), "{first:?}");
    let req = fake.last("/v1/refunds").expect("recorded");
    assert_eq!(req.field("payment_intent"), Some(pi.as_str()));
    assert_eq!(req.field("amount"), Some("4000"));
    assert_eq!(req.field("reverse_transfer"), Some("true"));
    assert_eq!(req.field("refund_application_fee"), Some("false"));
    assert_eq!(req.field("metadata[orderId]"), Some("order-42"));
    assert_eq!(req.idempotency_key.as_deref(), Some("refund-1"));

    stripe.refund(refund(6_000, "refund-2")).await.expect("second refund");
    assert_eq!(
        fake.last("/v1/refunds").and_then(|r| r.field("refund_application_fee").map(str::to_owned)),
        Some("false".into())
    );
    // Replaying a refund does not refund twice; more than the payment is refused.
    let replay = stripe.refund(refund(4_000, "refund-1")).await.expect("replay");
    assert_eq!(replay.refund_id, first.refund_id);
    // The refunded total is read back after each refund: the replay sees both refunds.
    assert_eq!(replay.charge_amount_refunded, Some(10_000));
    let over = stripe.refund(refund(1, "refund-3")).await;
    assert!(
        matches!(&over, Err(ProviderError::Rejected { code: Some(c), .. }) if c == "charge_already_refunded"),
        "{over:?}"
    );

    fake.set_balance(Some(&account), &[("usd", 12_345), ("eur", 10), ("zzz", 1)], &[("usd", 500)]);
    let balance = stripe.balance(&account).await.expect("balance");
    assert_eq!(balance.available, vec![(Currency::USD, 12_345), (Currency::EUR, 10)], "unsupported currencies skipped");
    assert_eq!(balance.pending, vec![(Currency::USD, 500)]);
    let req = fake.last("/v1/balance").expect("recorded");
    assert_eq!(req.method, "GET");
    assert_eq!(req.stripe_account.as_deref(), Some(account.as_str()));
    // The platform's example balance is served for an account without a set balance.
    let example = stripe.balance("acct_other").await.expect("balance");
    assert_eq!(example.available, vec![(Currency::USD, 0)]);
}

fn refund_request(payment_id: &str, amount: i64, key: &str) -> RefundRequest {
    RefundRequest {
        payment_id: payment_id.into(),
        charge_id: None,
        currency: Currency::USD,
        amount,
        reverse_transfer: true,
        metadata: metadata(&[("orderId", "order-42"), ("ledgerId", "led-1")]),
        idempotency_key: key.into(),
    }
}

fn fee_refund_request(payment_id: &str, amount: i64, key: &str) -> FeeRefundRequest {
    FeeRefundRequest {
        payment_id: payment_id.into(),
        amount,
        metadata: metadata(&[("orderId", "order-42"), ("ledgerId", "led-1")]),
        idempotency_key: key.into(),
    }
}

/// The application fee id of a payment intent the fake created.
fn fee_of(fake: &FakeStripe, payment_id: &str) -> String {
    let intent = fake.payment_intent(payment_id).expect("intent");
    let charge = fake.charge(intent["latest_charge"].as_str().expect("a charge")).expect("charge");
    charge["application_fee"].as_str().expect("an application fee").to_owned()
}

fn count_events(fake: &FakeStripe, event_type: &str) -> usize {
    fake.events().iter().filter(|e| e["type"] == json!(event_type)).count()
}

#[tokio::test]
async fn refunds_leave_the_fee_alone_and_fee_refunds_return_exactly_the_share_asked() {
    let (fake, stripe) = setup().await;
    let account = new_account(&stripe, "k1").await;
    let pi = stripe.create_destination_charge(charge(&account, "c1")).await.expect("charge").payment_id;
    let fee = fee_of(&fake, &pi);
    assert!(fee.starts_with("fee_"), "{fee}");
    let fee_path = format!("/v1/application_fees/{fee}/refunds");
    assert_eq!(fake.application_fee(&fee).expect("fee")["amount"], json!(2008));
    fake.clear_requests();

    // 4000 of 10000 refunded to the buyer; the fee is not touched by the refund.
    let created = stripe.refund(refund_request(&pi, 4_000, "refund:led-1:k1")).await.expect("refund");
    assert!(created.refund_id.starts_with("re_"));
    let refund = fake.last("/v1/refunds").expect("refund sent");
    assert_eq!(refund.field("payment_intent"), Some(pi.as_str()));
    assert_eq!(refund.field("refund_application_fee"), Some("false"));
    assert!(fake.requests_to(&fee_path).is_empty());
    let lookup = fake.last(&format!("/v1/payment_intents/{pi}")).expect("the total was read back");
    assert_eq!(lookup.method, "GET");
    assert!(lookup.query.iter().any(|(k, v)| k.starts_with("expand") && v == "latest_charge"), "{lookup:?}");

    // Of the 2008 fee only the clawback share 320 goes back, with the posting's key.
    let request = fee_refund_request(&pi, 320, "fee-refund:led-1:4000");
    let made = stripe.refund_application_fee(request.clone()).await.expect("fee refund");
    assert!(made.fee_refund_id.starts_with("fr_"));
    let fee_req = fake.last(&fee_path).expect("fee refund sent");
    assert_eq!(fee_req.method, "POST");
    assert_eq!(fee_req.field("amount"), Some("320"));
    assert_eq!(fee_req.metadata(), request.metadata);
    assert_eq!(fee_req.idempotency_key.as_deref(), Some("fee-refund:led-1:4000"));
    assert_eq!(fee_req.stripe_account, None, "the platform refunds its own fee");
    let held = fake.application_fee(&fee).expect("fee");
    assert_eq!(held["amount_refunded"], json!(320));
    assert_eq!(held["refunds"]["data"][0]["id"], json!(made.fee_refund_id));
    // The same request again creates nothing new.
    assert_eq!(stripe.refund_application_fee(request).await.expect("replay"), made);
    assert_eq!(fake.application_fee(&fee).expect("fee")["amount_refunded"], json!(320));
    assert_eq!(count_events(&fake, "application_fee.refunded"), 1);
    // Nothing, or more than is left of the fee, is refused.
    let zero = stripe.refund_application_fee(fee_refund_request(&pi, 0, "fee-refund:led-1:0")).await;
    assert!(matches!(zero, Err(ProviderError::Rejected { .. })), "{zero:?}");
    let err = stripe.refund_application_fee(fee_refund_request(&pi, 1_689, "fee-refund:led-1:x")).await;
    assert!(
        matches!(&err, Err(ProviderError::Rejected { message, .. }) if message.contains("greater than unrefunded amount on fee (1688)")),
        "{err:?}"
    );
    assert_eq!(fake.application_fee(&fee).expect("fee")["amount_refunded"], json!(320));
}

#[tokio::test]
async fn a_failed_read_back_still_reports_the_refund() {
    let (fake, stripe) = setup().await;
    let pi = stripe.create_destination_charge(charge("acct_seller", "c1")).await.expect("charge").payment_id;
    fake.fail_next(&format!("/v1/payment_intents/{pi}"), 500);
    let created = stripe.refund(refund_request(&pi, 4_000, "refund:led-1:k")).await.expect("refund reported");
    assert!(created.refund_id.starts_with("re_"));
    assert_eq!((created.amount, created.charge_amount_refunded), (4_000, None));
    assert_eq!(count_events(&fake, "refund.created"), 1);
}

#[tokio::test]
async fn a_fee_refund_that_cannot_be_made_is_rejected() {
    let (fake, stripe) = setup().await;
    // A payment the fake never saw (e.g. one recorded from a webhook): Stripe answers 404.
    let err = stripe.refund_application_fee(fee_refund_request("pi_1", 320, "r1")).await.expect_err("unknown payment");
    assert!(matches!(&err, ProviderError::Rejected { code: Some(c), .. } if c == "resource_missing"), "{err:?}");

    // A charge made without an application fee has none to refund.
    let mut no_fee = charge("acct_seller", "c0");
    no_fee.application_fee_amount = 0;
    let pi = stripe.create_destination_charge(no_fee).await.expect("charge").payment_id;
    let err = stripe.refund_application_fee(fee_refund_request(&pi, 320, "r2")).await.expect_err("no fee");
    assert!(matches!(&err, ProviderError::Rejected { code: Some(c), .. } if c == "application_fee_missing"), "{err:?}");

    // A negative share or an overlong key is refused before sending.
    let before = fake.requests().len();
    let err = stripe.refund_application_fee(fee_refund_request(&pi, -1, "r3")).await.expect_err("negative");
    assert!(matches!(err, ProviderError::Rejected { .. }), "{err:?}");
    let long_key = "k".repeat(256);
    let err = stripe.refund_application_fee(fee_refund_request(&pi, 320, &long_key)).await.expect_err("long key");
    assert!(matches!(err, ProviderError::Rejected { .. }), "{err:?}");
    assert_eq!(fake.requests().len(), before);
    assert!(fake.requests_to("/v1/refunds").is_empty(), "nothing was refunded");
}

#[tokio::test]
async fn the_fake_serves_charges_application_fees_and_expansions() {
    let (fake, stripe) = setup().await;
    let pi = stripe.create_destination_charge(charge("acct_seller", "c1")).await.expect("charge").payment_id;
    let fee = fee_of(&fake, &pi);
    let client = reqwest::Client::new();
    let get = |path: String| {
        let request = client.get(format!("{}{path}", fake.base_url())).bearer_auth("sk_test_x");
        async move {
            let response = request.send().await.expect("send");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("json"))
        }
    };

    let (status, intent) = get(format!("/v1/payment_intents/{pi}")).await;
    assert_eq!(status, 200);
    assert_eq!(intent["status"], json!("succeeded"));
    let charge_id = intent["latest_charge"].as_str().expect("charge id").to_owned();
    let (status, charge) = get(format!("/v1/charges/{charge_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(charge["payment_intent"], json!(pi));
    assert_eq!(charge["application_fee"], json!(fee));
    assert_eq!(charge["application_fee_amount"], json!(2008));
    assert_eq!(charge["transfer_data"]["destination"], json!("acct_seller"));

    let (_, expanded) = get(format!("/v1/payment_intents/{pi}?expand[]=latest_charge.application_fee")).await;
    assert_eq!(expanded["latest_charge"]["id"], json!(charge_id));
    assert_eq!(expanded["latest_charge"]["application_fee"]["id"], json!(fee));
    assert_eq!(expanded["latest_charge"]["application_fee"]["account"], json!("acct_seller"));
    let (status, _) = get(format!("/v1/payment_intents/{pi}?expand[0]=customer_balance")).await;
    assert_eq!(status, 400);

    let (status, held) = get(format!("/v1/application_fees/{fee}")).await;
    assert_eq!(status, 200);
    assert_eq!(held["charge"], json!(charge_id));
    for path in ["/v1/payment_intents/pi_1", "/v1/charges/ch_1", "/v1/application_fees/fee_1"] {
        let (status, body) = get(path.to_owned()).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["error"]["code"], json!("resource_missing"));
    }

    // Fee refunds: the rest by default, never more than is left, keys honoured.
    let refunds = format!("{}/v1/application_fees/{fee}/refunds", fake.base_url());
    let post = |form: &[(&str, &str)], key: &str| {
        client.post(&refunds).bearer_auth("sk_test_x").header("Idempotency-Key", key).form(form).send()
    };
    let first = post(&[("amount", "8")], "f1").await.expect("send");
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.expect("json");
    assert_eq!(first["object"], json!("fee_refund"));
    assert_eq!(first["fee"], json!(fee));
    assert_eq!(first["amount"], json!(8));
    let replay: Value = post(&[("amount", "8")], "f1").await.expect("send").json().await.expect("json");
    assert_eq!(replay, first);
    let too_much = post(&[("amount", "2001")], "f2").await.expect("send");
    assert_eq!(too_much.status(), 400);
    let rest: Value = post(&[], "f3").await.expect("send").json().await.expect("json");
    assert_eq!(rest["amount"], json!(2000));
    let held = fake.application_fee(&fee).expect("fee");
    assert_eq!((held["amount_refunded"].clone(), held["refunded"].clone()), (json!(2008), json!(true)));
    assert_eq!(post(&[("amount", "1")], "f4").await.expect("send").status(), 400);
}

fn fixture_event(name: &str) -> Value {
    let path = FakeStripe::default_fixtures_path().with_file_name(name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json")
}

fn small_event(n: i64, created: i64) -> Value {
    json!({"id": format!("evt_{n:06}"), "object": "event", "type": "transfer.created", "created": created,
           "livemode": false, "pending_webhooks": 0, "data": {"object": {"id": format!("tr_{n}")}}})
}

#[tokio::test]
async fn events_since_returns_raw_events_oldest_first_across_pages() {
    let (fake, stripe) = setup().await;
    let mut pushed = Vec::new();
    for (i, name) in
        ["account.updated.json", "payment_intent.succeeded.json", "charge.refunded.json"].iter().enumerate()
    {
        let mut event = fixture_event(name);
        event["created"] = json!(1_000 + i64::try_from(i).expect("small"));
        fake.push_event(event.clone());
        pushed.push(event);
    }
    let mut old = small_event(0, 500);
    old["type"] = json!("too.old");
    fake.push_event(old);

    // The platform's events; account.updated happened on the connected account.
    let events = stripe.events_since(None, 999, 10).await.expect("events");
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["payment_intent.succeeded", "charge.refunded"]);
    for (event, original) in events.iter().zip(&pushed[1..]) {
        assert_eq!(event.id, original["id"].as_str().expect("id"));
        assert_eq!(serde_json::from_str::<Value>(&event.payload).expect("raw JSON"), *original);
    }
    let req = fake.last("/v1/events").expect("recorded");
    assert_eq!(req.method, "GET");
    assert_eq!(req.query_param("created[gt]"), Some("999"));
    assert_eq!(req.query_param("limit"), Some("100"));
    assert_eq!(req.stripe_account, None);

    let account = pushed[0]["account"].as_str().expect("a Connect event").to_owned();
    // The trait reads a connected account's events with `Stripe-Account`.
    let on_account = stripe.events_since(Some(&account), 999, 10).await.expect("events");
    assert_eq!(on_account.len(), 1);
    assert_eq!(on_account[0].event_type, "account.updated");
    assert_eq!(serde_json::from_str::<Value>(&on_account[0].payload).expect("raw JSON"), pushed[0]);
    assert_eq!(fake.last("/v1/events").and_then(|r| r.stripe_account), Some(account.clone()));
    assert_eq!(stripe.account_events_since(Some(&account), 999, 10).await.expect("events"), on_account);
    assert!(stripe.events_since(Some("acct_other"), 999, 10).await.expect("events").is_empty());

    // 250 more events: three pages, still oldest first, limited without splitting a second.
    for n in 1..=250 {
        fake.push_event(small_event(n, 2_000 + n / 2));
    }
    fake.clear_requests();
    let page = stripe.events_since(None, 1_999, 1_000).await.expect("events");
    assert_eq!(page.len(), 250);
    assert!(page.windows(2).all(|w| w[0].created <= w[1].created));
    let requests = fake.requests_to("/v1/events");
    assert_eq!(requests.len(), 3);
    assert!(requests[1].query_param("starting_after").is_some());
    let limited = stripe.events_since(None, 1_999, 3).await.expect("events");
    assert_eq!(limited.iter().map(|e| e.created).collect::<Vec<_>>(), [2_000, 2_001, 2_001], "second 2001 kept whole");
    assert!(stripe.events_since(None, 1_999, 0).await.expect("none").is_empty());
}

#[tokio::test]
async fn events_since_narrows_the_window_when_there_are_too_many_events() {
    let (fake, stripe) = setup().await;
    for n in 1..=2_500 {
        fake.push_event(small_event(n, 10_000 + n));
    }
    let events = stripe.events_since(None, 10_000, 50).await.expect("events");
    assert_eq!(events.len(), 50);
    assert_eq!(events.first().map(|e| e.created), Some(10_001));
    assert_eq!(events.last().map(|e| e.created), Some(10_050));
    let uppers: Vec<_> = fake
        .requests_to("/v1/events")
        .iter()
        .filter_map(|r| r.query_param("created[lte]").map(str::to_owned))
        .collect();
    assert!(!uppers.is_empty(), "the window was narrowed with created[lte]");
    // Nothing after the newest event.
    assert!(stripe.events_since(None, 12_500, 50).await.expect("events").is_empty());
}

#[tokio::test]
async fn stripe_errors_map_to_rejected_ambiguous_and_unavailable() {
    let (fake, stripe) = setup().await;

    fake.fail_next("/v1/accounts", 400);
    let err = stripe.create_account(account_request("k-400")).await.expect_err("400");
    assert!(matches!(&err, ProviderError::Rejected { code: Some(c), .. } if c == "parameter_invalid"), "{err:?}");

    fake.fail_next("/v1/accounts", 500);
    let err = stripe.create_account(account_request("k-500")).await.expect_err("500");
    assert!(matches!(err, ProviderError::Ambiguous(_)), "{err:?}");
    // A failed request is not saved under its key: the retry goes through (sent once each).
    let retried = stripe.create_account(account_request("k-500")).await.expect("retry succeeds");
    assert!(retried.provider_account_id.is_some());
    assert_eq!(fake.requests_to("/v1/accounts").len(), 3);

    fake.fail_next("/v1/payment_intents", 402);
    let err = stripe.create_destination_charge(charge("acct_x", "k-402")).await.expect_err("402");
    assert!(matches!(&err, ProviderError::Rejected { code: Some(c), .. } if c == "card_declined"), "{err:?}");

    fake.fail_next("/v1/transfers", 429);
    let transfer = TransferRequest {
        amount: 1,
        currency: Currency::USD,
        destination: "acct_x".into(),
        source_transaction: None,
        transfer_group: None,
        metadata: BTreeMap::new(),
        idempotency_key: "k-429".into(),
    };
    let err = stripe.transfer(transfer.clone()).await.expect_err("429");
    assert!(matches!(err, ProviderError::Unavailable(_)), "{err:?}");

    fake.fail_next_with("/v1/transfers", 502, json!("<html>Bad gateway</html>"));
    let err = stripe.transfer(transfer.clone()).await.expect_err("502");
    assert!(matches!(err, ProviderError::Ambiguous(_)), "{err:?}");

    // Missing parameter, as Stripe reports it.
    let err = stripe
        .refund(RefundRequest {
            payment_id: String::new(),
            charge_id: None,
            currency: Currency::USD,
            amount: 1,
            reverse_transfer: true,
            metadata: BTreeMap::new(),
            idempotency_key: "k-missing".into(),
        })
        .await;
    assert!(matches!(&err, Err(ProviderError::Rejected { .. })), "{err:?}");
}

#[tokio::test]
async fn a_timeout_is_ambiguous_and_the_retry_with_the_same_key_does_not_pay_twice() {
    let (fake, stripe) = setup().await;
    let stripe = stripe.with_timeout(Duration::from_millis(200));
    let request = PayoutRequest {
        provider_account_id: "acct_seller".into(),
        amount: 900,
        currency: Currency::USD,
        idempotency_key: "payout-timeout".into(),
    };
    fake.delay_next("/v1/payouts", Duration::from_secs(2));
    let err = stripe.payout(request.clone()).await.expect_err("timeout");
    assert!(matches!(err, ProviderError::Ambiguous(_)), "{err:?}");
    // Stripe created the payout although we never saw the answer; the retry replays it.
    let payout = stripe.payout(request).await.expect("retry");
    let created: Vec<Value> = fake.events().into_iter().filter(|e| e["type"] == json!("payout.created")).collect();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["data"]["object"]["id"], json!(payout.payout_id));
    assert_eq!(created[0]["account"], json!("acct_seller"));
}

#[tokio::test]
async fn connection_refused_and_dns_failure_are_unavailable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let stripe =
        StripeConnect::new(SecretString::from("sk_test_x"), Some(format!("http://127.0.0.1:{port}"))).expect("client");
    let err = stripe.create_account(account_request("k")).await.expect_err("refused");
    assert!(matches!(err, ProviderError::Unavailable(_)), "{err:?}");
    let err = stripe.balance("acct_x").await.expect_err("refused");
    assert!(matches!(err, ProviderError::Unavailable(_)), "{err:?}");

    let stripe = StripeConnect::new(SecretString::from("sk_test_x"), Some("http://stripe-api.invalid".into()))
        .expect("client")
        .with_timeout(Duration::from_secs(10));
    let err = stripe.events_since(None, 0, 10).await.expect_err("dns");
    assert!(matches!(err, ProviderError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn the_fake_rejects_unauthenticated_and_unknown_requests() {
    let fake = FakeStripe::start_default().await.expect("fake");
    let client = reqwest::Client::new();
    let response = client.get(format!("{}/v1/balance", fake.base_url())).send().await.expect("send");
    assert_eq!(response.status(), 401);
    let response =
        client.post(format!("{}/v1/nothing", fake.base_url())).bearer_auth("sk_test_x").send().await.expect("send");
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["type"], json!("invalid_request_error"));
    assert!(FakeStripe::start("/nonexistent/fixtures3.json").await.is_err());
}
