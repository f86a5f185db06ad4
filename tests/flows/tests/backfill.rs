//! R-HOOK-3: missed webhooks are replayed from the provider's Events API, idempotently.

use domain::provider::ProviderKind;
use flows::spawn;
use serde_json::json;
use test_support::{self as testing, TestDb, owner_token};

#[tokio::test]
async fn backfill_applies_missed_events_once() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        // An account whose activation webhook never arrived.
        let m = "mutation { createConnectedAccount(input: {maletId: \"m1\"}) { providerAccountId } }";
        let res = apps.pay.run(Some(&owner_token("m1")), m, json!({})).await;
        let acct = res["data"]["createConnectedAccount"]["providerAccountId"].as_str().expect("acct").to_owned();
        let since = chrono::Utc::now().timestamp() - 10;
        let mut activated = testing::stripe_event("account.updated");
        activated["id"] = json!("evt_missed_acct");
        activated["account"] = json!(acct);
        activated["created"] = json!(since + 5);
        activated["data"]["object"]["id"] = json!(acct);
        apps.stripe.push_event(activated);
        // A payment whose webhook never arrived.
        let mut paid = testing::stripe_event("payment_intent.succeeded");
        paid["id"] = json!("evt_missed_pi");
        paid["created"] = json!(since + 6);
        paid["data"]["object"]["id"] = json!("pi_missed");
        paid["data"]["object"]["amount"] = json!(10_000);
        paid["data"]["object"]["amount_received"] = json!(10_000);
        paid["data"]["object"]["created"] = json!(since + 6);
        paid["data"]["object"]["transfer_data"] = json!({"destination": acct});
        paid["data"]["object"]["application_fee_amount"] = json!(2008);
        paid["data"]["object"]["metadata"] = json!({"orderId": "ord_missed"});
        apps.stripe.push_event(paid);

        let stripe = apps.payments.service.providers.get(ProviderKind::StripeConnect).expect("stripe");
        let accounts = vec![None, Some(acct.clone())];
        let report = apps.payments.inbox.backfill(stripe.as_ref(), &accounts, since).await.expect("payments backfill");
        assert!(report.stored >= 1, "{:?}: {report:?}", t.backend);
        assert_eq!(apps.balances("m1").await["status"], "ACTIVE");
        let report = apps.murchases.inbox.backfill(stripe.as_ref(), &[None], since).await.expect("murchases backfill");
        assert!(report.stored >= 1, "{report:?}");
        let ledger = "{ commissionLedger(maletId: \"m1\") { orderId netPayout } }";
        let res = apps.mur.run(Some(&owner_token("m1")), ledger, json!({})).await;
        assert_eq!(res["data"]["commissionLedger"], json!([{"orderId": "ord_missed", "netPayout": 7992}]), "{res}");
        // Again: nothing new.
        let again = apps.murchases.inbox.backfill(stripe.as_ref(), &[None], since).await.expect("again");
        assert_eq!(again.stored, 0, "{again:?}");
        let again = apps.payments.inbox.backfill(stripe.as_ref(), &accounts, since).await.expect("again");
        assert_eq!(again.stored, 0, "{again:?}");
        let res = apps.mur.run(Some(&owner_token("m1")), ledger, json!({})).await;
        assert_eq!(res["data"]["commissionLedger"].as_array().map(Vec::len), Some(1));
    }
}
