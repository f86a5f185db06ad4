//! `refundMurchase`: the provider refund reverses the transfer and returns exactly the
//! application-fee share of the clawback; the ledger and balances follow; over-refunds are
//! rejected before anything is sent.

use flows::spawn;
use serde_json::json;
use test_support::{self as testing, TestDb, admin_token, error_code, owner_token};

const REFUND: &str = "mutation($o: ID!, $a: Int!) { refundMurchase(maletId: \"m1\", orderId: $o, amount: $a, reason: \"order cancelled\") { refundedAmount refundedCommission commissionAmount reserveAmount netPayout status } }";

#[tokio::test]
async fn refund_through_the_provider_and_the_ledger() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        apps.active_account("m1").await;
        let pi = apps.checkout_and_pay("ord_1", "m1", 10_000).await;
        apps.payments.service.consume_ledger_events(10).await.expect("earning");

        // Rejected before anything is sent: over-refund, zero/negative, an owner.
        let before = apps.stripe.requests().len();
        for (amount, code) in [(10_001, "BAD_USER_INPUT"), (0, "BAD_USER_INPUT"), (-5, "BAD_USER_INPUT")] {
            let res = apps.mur.run(Some(&admin_token()), REFUND, json!({"o": "ord_1", "a": amount})).await;
            assert_eq!(error_code(&res).as_deref(), Some(code), "{amount}: {res}");
        }
        let res = apps.mur.run(Some(&owner_token("m1")), REFUND, json!({"o": "ord_1", "a": 100})).await;
        assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"), "{res}");
        assert_eq!(apps.stripe.requests().len(), before, "nothing sent");

        let res = apps.mur.run(Some(&admin_token()), REFUND, json!({"o": "ord_1", "a": 4000})).await;
        let r = &res["data"]["refundMurchase"];
        assert_eq!(r["refundedAmount"], 4000, "{:?}: {res}", t.backend);
        assert_eq!(r["refundedCommission"], 320);
        assert_eq!(r["commissionAmount"], 480);
        assert_eq!(r["reserveAmount"], 533);
        assert_eq!(r["status"], "PARTIALLY_REFUNDED");
        let refund = apps.stripe.last("/v1/refunds").expect("refund sent");
        assert_eq!(refund.field("amount"), Some("4000"));
        assert_eq!(refund.field("reverse_transfer"), Some("true"));
        assert_eq!(refund.field("refund_application_fee"), Some("false"));
        let fee = apps
            .stripe
            .requests()
            .into_iter()
            .rev()
            .find(|r| r.path.starts_with("/v1/application_fees/"))
            .expect("fee refund");
        // 320 commission + 355 reserve (half-even of 355.2); the processing fee is not returned.
        assert_eq!(fee.field("amount"), Some("675"));

        // Stripe's charge.refunded for the same cumulative amount changes nothing.
        let mut cr = testing::stripe_event("charge.refunded");
        cr["id"] = json!("evt_cr_1");
        cr["data"]["object"]["id"] = apps.stripe.payment_intent(&pi).expect("pi")["latest_charge"].clone();
        cr["data"]["object"]["payment_intent"] = json!(pi);
        cr["data"]["object"]["amount_refunded"] = json!(4000);
        assert_eq!(apps.webhook(&apps.mur_base, &cr).await, 200);
        let again = apps
            .mur
            .run(
                Some(&admin_token()),
                "{ commissionLedger(maletId: \"m1\") { refundedAmount commissionAmount } }",
                json!({}),
            )
            .await;
        assert_eq!(again["data"]["commissionLedger"][0], json!({"refundedAmount": 4000, "commissionAmount": 480}));

        // The rest: fully refunded; the seller carries the unreturned processing fee.
        let res = apps.mur.run(Some(&admin_token()), REFUND, json!({"o": "ord_1", "a": 6000})).await;
        assert_eq!(res["data"]["refundMurchase"]["status"], "REFUNDED", "{res}");
        assert_eq!(res["data"]["refundMurchase"]["netPayout"], -320);
        let res = apps.mur.run(Some(&admin_token()), REFUND, json!({"o": "ord_1", "a": 1})).await;
        assert_eq!(error_code(&res).as_deref(), Some("BAD_USER_INPUT"), "{res}");
        apps.payments.service.consume_ledger_events(10).await.expect("clawbacks");
        let bal = apps.balances("m1").await;
        assert_eq!((bal["pendingBalance"].clone(), bal["reserveBalance"].clone()), (json!(-320), json!(0)), "{bal}");
    }
}

#[tokio::test]
async fn concurrent_refunds_are_both_counted_once() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        apps.active_account("m1").await;
        apps.checkout_and_pay("ord_1", "m1", 10_000).await;
        let admin = admin_token();
        let (a, b) = tokio::join!(
            apps.mur.run(Some(&admin), REFUND, json!({"o": "ord_1", "a": 3000})),
            apps.mur.run(Some(&admin), REFUND, json!({"o": "ord_1", "a": 4000}))
        );
        assert!(a["errors"].is_null() && b["errors"].is_null(), "{a} {b}");
        let res = apps
            .mur
            .run(Some(&admin), "{ commissionLedger(maletId: \"m1\") { refundedAmount status } }", json!({}))
            .await;
        assert_eq!(
            res["data"]["commissionLedger"][0],
            json!({"refundedAmount": 7000, "status": "PARTIALLY_REFUNDED"}),
            "{:?}: {res}",
            t.backend
        );
        assert_eq!(apps.stripe.requests_to("/v1/refunds").len(), 2);
    }
}

#[tokio::test]
async fn a_failed_fee_refund_stays_queued_and_the_refund_counts_once() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        apps.active_account("m1").await;
        let pi = apps.checkout_and_pay("ord_1", "m1", 10_000).await;
        let charge = apps.stripe.payment_intent(&pi).expect("pi")["latest_charge"].as_str().expect("charge").to_owned();
        let fee = apps.stripe.charge(&charge).expect("charge")["application_fee"].as_str().expect("fee").to_owned();
        apps.stripe.fail_next(&format!("/v1/application_fees/{fee}/refunds"), 500);
        let admin = admin_token();
        // The buyer got the money back: the refund is recorded, the fee refund waits.
        let res = apps.mur.run(Some(&admin), REFUND, json!({"o": "ord_1", "a": 4000})).await;
        assert_eq!(res["data"]["refundMurchase"]["refundedAmount"], 4000, "{:?}: {res}", t.backend);
        assert_eq!(apps.stripe.application_fee(&fee).expect("fee")["amount_refunded"], 0);
        // Stripe's webhook for the same refund changes nothing.
        let mut e = testing::events::charge_refunded("evt_r", &pi, 10_000, 4_000);
        e["data"]["object"]["id"] = json!(charge);
        assert_eq!(apps.webhook(&apps.mur_base, &e).await, 200);
        // The caller retries the same request: no second refund.
        let res = apps.mur.run(Some(&admin), REFUND, json!({"o": "ord_1", "a": 4000})).await;
        assert_eq!(res["data"]["refundMurchase"]["refundedAmount"], 4000, "{:?}: {res}", t.backend);
        let refunds: std::collections::BTreeSet<String> =
            apps.stripe.requests_to("/v1/refunds").iter().filter_map(|r| r.idempotency_key.clone()).collect();
        assert_eq!(refunds.len(), 1, "one refund key: {refunds:?}");
        assert_eq!(apps.stripe.charge(&charge).expect("charge")["amount_refunded"], 4000);
        // The retry sent the queued fee refund (with its own key), exactly once.
        assert_eq!(apps.stripe.application_fee(&fee).expect("fee")["amount_refunded"], 675);
        assert_eq!(apps.murchases.service.send_fee_refunds(None, 10).await.expect("job"), 0, "nothing left");
        assert_eq!(apps.stripe.application_fee(&fee).expect("fee")["amount_refunded"], 675);
    }
}

#[tokio::test]
async fn a_released_reserve_is_not_refunded_from_the_application_fee() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        apps.active_account("m1").await;
        apps.checkout_and_pay("ord_1", "m1", 10_000).await;
        let due = apps.settle_all().await;
        apps.payments.service.release_due_reserves(due).await.expect("release");
        let res = apps.mur.run(Some(&admin_token()), REFUND, json!({"o": "ord_1", "a": 10000})).await;
        assert_eq!(res["data"]["refundMurchase"]["status"], "REFUNDED", "{:?}: {res}", t.backend);
        let fee = apps
            .stripe
            .requests()
            .into_iter()
            .rev()
            .find(|r| r.path.starts_with("/v1/application_fees/"))
            .expect("fee");
        assert_eq!(fee.field("amount"), Some("800"), "commission only; the reserve went to the seller");
        apps.payments.service.consume_ledger_events(10).await.expect("clawback");
        let bal = apps.balances("m1").await;
        assert_eq!(bal["reserveBalance"], 0, "{bal}");
        assert_eq!(bal["pendingBalance"], -320, "the seller carries the processing fee: {bal}");
    }
}
