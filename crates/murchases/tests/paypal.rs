//! PayPal through HTTP into the same ledger as Stripe: signed webhooks verified offline
//! (RSA-SHA256 with a certificate from an allowed host), PayPal's objects read into neutral
//! events, on SQLite and PostgreSQL.

mod common;

use common::*;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::json;
use test_support::owner_token;
use test_support::paypal::{Cert, TEST_PAYPAL_WEBHOOK_ID, certs, fixture, now_rfc3339, webhook};

const MERCHANT: &str = "7KNGBPH2U58GQ";
const CAPTURE: &str = "2GG279541U471931P";

/// `PAYMENT.CAPTURE.COMPLETED` of PayPal's example capture: 100.00 USD to the seller, the
/// platform fee checkout asked for, order `ord-pp-1` of Malet m1.
fn capture_completed(id: &str, fee: &str) -> String {
    let mut c = fixture("capture");
    c["amount"] = json!({"currency_code": "USD", "value": "100.00"});
    c["seller_receivable_breakdown"]["platform_fees"] =
        json!([{"amount": {"currency_code": "USD", "value": fee}, "payee": {"merchant_id": "PLATFORM1"}}]);
    c["payee"]["merchant_id"] = json!(MERCHANT);
    c["invoice_id"] = json!("ord-pp-1");
    c["custom_id"] = json!("m1");
    webhook(id, "PAYMENT.CAPTURE.COMPLETED", c)
}

/// `PAYMENT.CAPTURE.REFUNDED`: refund `refund_id` of `amount`, the capture's refunded total
/// `total` after it.
fn capture_refunded(id: &str, refund_id: &str, amount: &str, total: &str) -> String {
    let mut r = fixture("refund");
    r["id"] = json!(refund_id);
    r["amount"] = json!({"currency_code": "USD", "value": amount});
    r["seller_payable_breakdown"]["total_refunded_amount"] = json!({"currency_code": "USD", "value": total});
    webhook(id, "PAYMENT.CAPTURE.REFUNDED", r)
}

async fn stored(db: &sea_orm::DatabaseConnection) -> u64 {
    entity::webhook_events::Entity::find().count(db).await.expect("count")
}

#[tokio::test]
async fn a_paypal_capture_is_the_same_ledger_entry_as_a_stripe_payment_and_refunds_converge() {
    for t in all_dbs().await {
        let app = spawn(&t.conn, None).await;
        seed_provider_account(&t.conn, "PAYPAL", "m1", MERCHANT, "ACTIVE", "USD").await;
        let body = capture_completed("WH-CAPTURE-1", "20.08");
        assert_eq!(app.paypal_webhook(&body, &certs().signed(body.as_bytes())).await, 200, "{:?}", t.backend);
        // The same delivery again changes nothing.
        assert_eq!(app.paypal_webhook(&body, &certs().signed(body.as_bytes())).await, 200);

        let res = ledger(&app, &owner_token("m1"), "m1").await;
        let rows = res["data"]["commissionLedger"].as_array().expect("rows").clone();
        assert_eq!(rows.len(), 1, "{:?}: {res}", t.backend);
        let e = &rows[0];
        assert_eq!(e["orderId"], "ord-pp-1");
        assert_eq!(e["grossAmount"], 10_000);
        assert_eq!(e["commissionAmount"], 800);
        assert_eq!(e["processingFee"], 320);
        assert_eq!(e["reserveAmount"], 888);
        assert_eq!(e["netPayout"], 7992);
        assert_eq!(e["applicationFeeAmount"], 2008, "the platform fee PayPal collected: 20.08");
        let entry = entity::commission_ledger::Entity::find().one(&t.conn).await.expect("q").expect("entry");
        assert_eq!(entry.provider, entity::enums::Provider::Paypal);
        assert_eq!(entry.provider_payment_id, "5O190127TN364715T", "the order");
        assert_eq!(entry.provider_charge_id.as_deref(), Some(CAPTURE), "the capture");

        // A refund of 40.00 claws back 320 of the commission; the same event twice, and an
        // older event after the newer one, change nothing.
        let refund = capture_refunded("WH-REFUND-2", "RF-2", "30.00", "40.00");
        let older = capture_refunded("WH-REFUND-1", "RF-1", "10.00", "10.00");
        for body in [&refund, &refund, &older] {
            assert_eq!(app.paypal_webhook(body, &certs().signed(body.as_bytes())).await, 200);
        }
        let res = ledger(&app, &owner_token("m1"), "m1").await;
        let e = &res["data"]["commissionLedger"][0];
        assert_eq!(e["refundedAmount"], 4_000, "{res}");
        assert_eq!(e["refundedCommission"], 320, "{res}");
        assert_eq!(e["commissionAmount"], 480, "{res}");
        let postings = entity::ledger_postings::Entity::find().count(&t.conn).await.expect("count");
        assert_eq!(postings, 2, "one earning and one refund posting");
    }
}

#[tokio::test]
async fn a_capture_that_pays_the_platform_less_than_the_engine_says_is_an_exception() {
    for t in all_dbs().await {
        let app = spawn(&t.conn, None).await;
        seed_provider_account(&t.conn, "PAYPAL", "m1", MERCHANT, "ACTIVE", "USD").await;
        let body = capture_completed("WH-CAPTURE-LOW", "10.00");
        assert_eq!(app.paypal_webhook(&body, &certs().signed(body.as_bytes())).await, 200);
        assert_eq!(entity::commission_ledger::Entity::find().count(&t.conn).await.expect("count"), 0);
        let exceptions = entity::payment_exceptions::Entity::find().all(&t.conn).await.expect("q");
        assert_eq!(exceptions.len(), 1);
        assert_eq!(exceptions[0].provider, entity::enums::Provider::Paypal);
        assert!(exceptions[0].reason.contains("application fee 1000"), "{}", exceptions[0].reason);
    }
}

#[tokio::test]
async fn forged_stale_and_foreign_certificate_webhooks_are_refused_and_nothing_is_stored() {
    for t in all_dbs().await {
        let app = spawn(&t.conn, None).await;
        seed_provider_account(&t.conn, "PAYPAL", "m1", MERCHANT, "ACTIVE", "USD").await;
        let body = capture_completed("WH-FORGED", "20.08");
        let c = certs();
        let now = now_rfc3339();
        let stale =
            (chrono::Utc::now() - chrono::Duration::seconds(600)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let other_body = capture_completed("WH-OTHER", "20.08");
        let refused: Vec<(&str, Vec<(&'static str, String)>)> = vec![
            ("no headers", vec![]),
            (
                "signed for another body",
                c.headers(other_body.as_bytes(), TEST_PAYPAL_WEBHOOK_ID, &now, &c.cert_url(Cert::Valid)),
            ),
            (
                "signed for another webhook",
                c.headers(body.as_bytes(), "WH-SOMEONE-ELSE", &now, &c.cert_url(Cert::Valid)),
            ),
            ("stale", c.headers(body.as_bytes(), TEST_PAYPAL_WEBHOOK_ID, &stale, &c.cert_url(Cert::Valid))),
            (
                "expired certificate",
                c.headers(body.as_bytes(), TEST_PAYPAL_WEBHOOK_ID, &now, &c.cert_url(Cert::Expired)),
            ),
            (
                "certificate not issued to PayPal",
                c.headers(body.as_bytes(), TEST_PAYPAL_WEBHOOK_ID, &now, &c.cert_url(Cert::NotPaypal)),
            ),
            (
                "certificate from a host that is not PayPal's",
                c.headers(body.as_bytes(), TEST_PAYPAL_WEBHOOK_ID, &now, "https://certs.example.com/CERT-valid"),
            ),
        ];
        for (why, headers) in refused {
            assert_eq!(app.paypal_webhook(&body, &headers).await, 400, "{why}");
        }
        let mut wrong_algo = c.signed(body.as_bytes());
        wrong_algo.retain(|(n, _)| *n != "paypal-auth-algo");
        wrong_algo.push(("paypal-auth-algo", "SHA1withRSA".into()));
        assert_eq!(app.paypal_webhook(&body, &wrong_algo).await, 400, "another algorithm");
        // A Stripe-signed body is not a PayPal delivery either.
        assert_eq!(
            app.paypal_webhook(&body, &[("stripe-signature", test_support::stripe_signature(&body))]).await,
            400
        );
        assert_eq!(stored(&t.conn).await, 0, "{:?}: nothing stored", t.backend);
        assert_eq!(entity::commission_ledger::Entity::find().count(&t.conn).await.expect("count"), 0);
        // The genuine delivery goes through.
        assert_eq!(app.paypal_webhook(&body, &c.signed(body.as_bytes())).await, 200);
        assert_eq!(entity::commission_ledger::Entity::find().count(&t.conn).await.expect("count"), 1);
    }
}
