//! PayPal's account and payout webhooks on payments, through HTTP, on SQLite and PostgreSQL:
//! onboarding completed activates the account, revoked consent suspends it, a payout item paid
//! moves the balance and one that comes back returns the money exactly once.

mod common;

use common::*;
use sea_orm::{ConnectionTrait, EntityTrait};
use serde_json::json;
use test_support::owner_token;
use test_support::paypal::{certs, fixture, webhook};

const MERCHANT: &str = "7KNGBPH2U58GQ";

fn payout_item(id: &str, event_type: &str) -> String {
    let mut item = fixture("payout_item");
    item["payout_item"]["recipient_type"] = json!("PAYPAL_ID");
    item["payout_item"]["receiver"] = json!(MERCHANT);
    webhook(id, event_type, item)
}

async fn post(app: &TestApp, body: &str) -> u16 {
    let mut req = app.http.post(format!("{}/webhooks/paypal", app.base)).body(body.to_owned());
    for (name, value) in certs().signed(body.as_bytes()) {
        req = req.header(name, value);
    }
    req.send().await.expect("webhook").status().as_u16()
}

#[tokio::test]
async fn onboarding_payouts_and_revoked_consent_from_paypal_webhooks() {
    for t in test_support::TestDb::all().await {
        let app = spawn(&t.conn).await;
        t.conn
            .execute_unprepared(&format!(
                "INSERT INTO connected_accounts (id, malet_id, user_id, provider, provider_account_id, status, \
                 rolling_reserve_rate, currency, created_at, updated_at) VALUES ('acc-pp', 'm1', 'u-m1', 'PAYPAL', \
                 '{MERCHANT}', 'ONBOARDING', '0.1', 'USD', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')"
            ))
            .await
            .expect("seed");
        let owner = owner_token("m1");

        let onboarded = webhook(
            "WH-ONBOARDED",
            "MERCHANT.ONBOARDING.COMPLETED",
            json!({"merchant_id": MERCHANT, "tracking_id": "m1", "partner_client_id": "PARTNER"}),
        );
        assert_eq!(post(&app, &onboarded).await, 200, "{:?}", t.backend);
        let res = app.account(&owner, "m1").await;
        assert_eq!(res["data"]["connectedAccount"]["status"], "ACTIVE", "{res}");
        assert_eq!(res["data"]["connectedAccount"]["kycVerified"], true, "{res}");

        // Paid, then returned unclaimed (twice, as two deliveries): the money comes back once.
        assert_eq!(post(&app, &payout_item("WH-PAID", "PAYMENT.PAYOUTS-ITEM.SUCCEEDED")).await, 200);
        let res = app.account(&owner, "m1").await;
        assert_eq!(res["data"]["connectedAccount"]["totalPayouts"], 987, "{res}");
        assert_eq!(res["data"]["connectedAccount"]["pendingBalance"], -987, "{res}");
        for id in ["WH-UNCLAIMED", "WH-UNCLAIMED-AGAIN"] {
            assert_eq!(post(&app, &payout_item(id, "PAYMENT.PAYOUTS-ITEM.UNCLAIMED")).await, 200);
        }
        let res = app.account(&owner, "m1").await;
        assert_eq!(res["data"]["connectedAccount"]["totalPayouts"], 0, "{res}");
        assert_eq!(res["data"]["connectedAccount"]["pendingBalance"], 0, "{res}");
        // A late "succeeded" after the return does not count it as paid again.
        assert_eq!(post(&app, &payout_item("WH-PAID-LATE", "PAYMENT.PAYOUTS-ITEM.SUCCEEDED")).await, 200);
        let res = app.account(&owner, "m1").await;
        assert_eq!(res["data"]["connectedAccount"]["totalPayouts"], 0, "{res}");
        let payout = entity::payouts::Entity::find().one(&t.conn).await.expect("q").expect("payout");
        assert_eq!((payout.status.as_str(), payout.provider_payout_id.as_deref()), ("FAILED", Some("8AELMXH8UB2P8")));
        assert_eq!(payout.recorded_by.as_deref(), Some("PAYPAL"));

        let revoked = webhook("WH-REVOKED", "MERCHANT.PARTNER-CONSENT.REVOKED", json!({"merchant_id": MERCHANT}));
        assert_eq!(post(&app, &revoked).await, 200);
        let res = app.account(&owner, "m1").await;
        assert_eq!(res["data"]["connectedAccount"]["status"], "SUSPENDED", "{res}");
        let account = entity::connected_accounts::Entity::find_by_id("acc-pp".to_owned())
            .one(&t.conn)
            .await
            .expect("q")
            .expect("account");
        assert!(!account.charges_enabled && !account.payouts_enabled);
        assert!(payments::repo::movements::balance_mismatches(&t.conn).await.expect("check").is_empty());
    }
}
