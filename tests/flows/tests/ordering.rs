//! Out-of-order and repeated provider events, and money that must wait.

use flows::spawn;
use serde_json::json;
use test_support::{self as testing, TestDb, admin_token, error_code, events, owner_token};

#[tokio::test]
async fn failed_then_paid_payout_is_not_counted() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        let (_, acct) = apps.seller_with_sale("m1", 10_000).await;
        let po = events::payout("evt_paid", &acct, 5_000, true);
        let failed = events::payout("evt_failed", &acct, 5_000, false);
        assert_eq!(apps.webhook(&apps.pay_base, &failed).await, 200);
        assert_eq!(apps.webhook(&apps.pay_base, &po).await, 200);
        let bal = apps.balances("m1").await;
        assert_eq!(
            (bal["pendingBalance"].clone(), bal["totalPayouts"].clone()),
            (json!(7992), json!(0)),
            "{:?}: {bal}",
            t.backend
        );
    }
}

#[tokio::test]
async fn a_won_dispute_lets_the_entry_settle_and_a_second_payment_for_an_order_needs_an_admin() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        let (_, acct) = apps.active_account("m1").await;
        apps.pay_order("ord_1", "pi_1", &acct, 10_000).await;
        let mut d = testing::stripe_event("charge.dispute.created");
        d["id"] = json!("evt_dp");
        d["data"]["object"]["charge"] = json!("ch_pi_1");
        d["data"]["object"]["payment_intent"] = json!("pi_1");
        assert_eq!(apps.webhook(&apps.mur_base, &d).await, 200);
        let later = chrono::Utc::now() + chrono::Duration::days(3);
        assert_eq!(apps.murchases.service.settle_due(later).await.expect("settle"), 0, "disputed entries wait");
        let mut closed = d.clone();
        closed["id"] = json!("evt_dp_closed");
        closed["type"] = json!("charge.dispute.closed");
        closed["data"]["object"]["status"] = json!("won");
        assert_eq!(apps.webhook(&apps.mur_base, &closed).await, 200);
        assert_eq!(apps.murchases.service.settle_due(later).await.expect("settle"), 1, "{:?}", t.backend);

        // Another payment for the same order id is not merged or dropped: it needs an admin.
        let again = events::payment_succeeded("evt_pi_2", "pi_2", "ord_1", None, Some(&acct), 5_000);
        assert_eq!(apps.webhook(&apps.mur_base, &again).await, 200);
        let res =
            apps.mur.run(Some(&admin_token()), "{ paymentExceptions { providerPaymentId reason } }", json!({})).await;
        assert_eq!(res["data"]["paymentExceptions"][0]["providerPaymentId"], "pi_2", "{res}");
    }
}

#[tokio::test]
async fn suspended_sellers_keep_their_reserve_and_do_not_learn_about_others() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        let (id, acct) = apps.active_account("m1").await;
        apps.pay_order("ord_1", "pi_1", &acct, 10_000).await;
        let due = apps.settle_all().await;
        let suspend = "mutation($id: ID!) { suspendConnectedAccount(connectedAccountId: $id, reason: \"fraud review\") { status } }";
        let res = apps.pay.run(Some(&admin_token()), suspend, json!({"id": id})).await;
        assert_eq!(res["data"]["suspendConnectedAccount"]["status"], "SUSPENDED", "{res}");
        assert_eq!(apps.payments.service.release_due_reserves(due).await.expect("release"), 0, "{:?}", t.backend);
        assert!(apps.stripe.requests_to("/v1/transfers").is_empty());
        // Another owner learns nothing about this account's state.
        let reinstate =
            "mutation($id: ID!) { reinstateConnectedAccount(connectedAccountId: $id, reason: \"x\") { status } }";
        let res = apps.pay.run(Some(&owner_token("m2")), reinstate, json!({"id": id})).await;
        assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"), "{res}");
        let res = apps.pay.run(Some(&admin_token()), reinstate, json!({"id": id})).await;
        assert_eq!(res["data"]["reinstateConnectedAccount"]["status"], "ACTIVE", "{res}");
        assert_eq!(apps.payments.service.release_due_reserves(due).await.expect("release"), 1);
    }
}
