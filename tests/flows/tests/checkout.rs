//! Checkout: `createMurchasePayment` sends Stripe exactly the destination charge the commission
//! engine computes, and `previewCommission` returns the same numbers.

use flows::spawn;
use serde_json::json;
use test_support::{TestDb, admin_token, error_code, owner_token};

const CREATE: &str = "mutation($i: OrderInput!) { createMurchasePayment(input: $i) { orderId paymentIntentId clientSecret applicationFeeAmount breakdown { commissionAmount processingFee reserveAmount netPayout applicationFeeAmount } } }";
const PREVIEW: &str = "query($i: OrderInput!) { previewCommission(input: $i) { commissionAmount processingFee reserveAmount netPayout applicationFeeAmount } }";

#[tokio::test]
async fn destination_charge_carries_the_engine_numbers_and_metadata() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        let (_, acct) = apps.active_account("m1").await;
        let owner = owner_token("m1");
        let input = json!({"orderId": "ord_42", "maletId": "m1", "grossAmount": 10000, "platform": "shopify"});
        let preview = apps.mur.run(Some(&owner), PREVIEW, json!({"i": input})).await;
        let res = apps.mur.run(Some(&owner), CREATE, json!({"i": input})).await;
        let p = &res["data"]["createMurchasePayment"];
        assert_eq!(p["applicationFeeAmount"], 2008, "{:?}: {res}", t.backend);
        assert!(p["clientSecret"].as_str().is_some_and(|s| s.contains("_secret_")), "{res}");
        assert_eq!(p["breakdown"], preview["data"]["previewCommission"], "checkout and preview agree");

        let sent = apps.stripe.last("/v1/payment_intents").expect("payment intent created");
        assert_eq!(sent.field("amount"), Some("10000"));
        assert_eq!(sent.field("currency"), Some("usd"));
        assert_eq!(sent.field("application_fee_amount"), Some("2008"));
        assert_eq!(sent.field("transfer_data[destination]"), Some(acct.as_str()));
        let metadata = sent.metadata();
        assert_eq!(metadata.get("orderId").map(String::as_str), Some("ord_42"));
        assert_eq!(metadata.get("maletId").map(String::as_str), Some("m1"));
        assert_eq!(metadata.get("platform").map(String::as_str), Some("shopify"));
        assert_eq!(sent.idempotency_key.as_deref(), Some("murchase-payment:m1:ord_42"));

        // A retry is the same payment (same idempotency key), never a second charge.
        let again = apps.mur.run(Some(&owner), CREATE, json!({"i": input})).await;
        assert_eq!(again["data"]["createMurchasePayment"]["paymentIntentId"], p["paymentIntentId"], "{again}");
        assert_eq!(apps.stripe.requests_to("/v1/payment_intents").len(), 2);
        assert!(apps.stripe.payment_intent(p["paymentIntentId"].as_str().expect("pi")).is_some());
    }
}

#[tokio::test]
async fn checkout_refuses_bad_orders_and_accounts_that_cannot_be_paid() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        let owner = owner_token("m1");
        // No account yet.
        let res = apps
            .mur
            .run(Some(&owner), CREATE, json!({"i": {"orderId": "o1", "maletId": "m1", "grossAmount": 10000}}))
            .await;
        assert_eq!(error_code(&res).as_deref(), Some("CONFLICT"), "{res}");
        let (_, _) = apps.active_account("m1").await;
        for bad in [
            json!({"orderId": "o1", "maletId": "m1", "grossAmount": -1}),
            json!({"orderId": "o1", "maletId": "m1", "grossAmount": 10000, "currency": "ABC"}),
            json!({"orderId": "o1", "maletId": "m1", "grossAmount": 10000, "platform": "ebay"}),
            json!({"maletId": "m1", "grossAmount": 10000}),
            json!({"orderId": "o1", "maletId": "m1", "grossAmount": 10, "currency": "USD"}),
        ] {
            let res = apps.mur.run(Some(&owner), CREATE, json!({"i": bad})).await;
            assert_eq!(error_code(&res).as_deref(), Some("BAD_USER_INPUT"), "{bad}: {res}");
        }
        // Another owner cannot charge for m1; an admin without MANAGE_PAYOUTS scope on it can.
        let res = apps
            .mur
            .run(
                Some(&owner_token("m2")),
                CREATE,
                json!({"i": {"orderId": "o1", "maletId": "m1", "grossAmount": 10000}}),
            )
            .await;
        assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"));
        assert!(apps.stripe.requests_to("/v1/payment_intents").is_empty(), "nothing sent to Stripe");
        let res = apps
            .mur
            .run(Some(&admin_token()), CREATE, json!({"i": {"orderId": "o1", "maletId": "m1", "grossAmount": 10000}}))
            .await;
        assert_eq!(res["data"]["createMurchasePayment"]["applicationFeeAmount"], 2008, "{res}");
    }
}
