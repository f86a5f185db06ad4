//! Issue 17 across both subgraphs: the outbox consumer's claim ends with its transaction (a
//! consumer that dies frees its event at once), and an admin's replay of a payments event through
//! murchases is applied by the payments subgraph. On SQLite and PostgreSQL.

use entity::outbox;
use flows::spawn;
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use test_support::{TestDb, admin_token, events};

#[tokio::test]
async fn a_ledger_event_claimed_by_a_consumer_that_dies_is_applied_at_once_by_the_next() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        let (_, acct) = apps.active_account("m1").await;
        apps.pay_order("ord_1", "pi_1", &acct, 10_000).await;

        // A consumer claims the earning and dies mid-apply: its transaction is dropped.
        let txn = service_core::db::begin_write(&t.conn).await.expect("begin");
        let claimed = service_core::outbox::claim_next(&txn, payments::service::balances::TOPIC_BALANCE)
            .await
            .expect("claim")
            .expect("the earning is due");
        if t.backend == DbBackend::Postgres {
            // Meanwhile another consumer passes over it (no wait, no second apply).
            let replica = apps.replicas(&t.conn).await;
            let started = std::time::Instant::now();
            assert_eq!(replica.payments.service.consume_ledger_events(10).await.expect("consume"), 0);
            assert!(started.elapsed() < std::time::Duration::from_secs(2));
        }
        // The worker dies: the database rolls its transaction back (here explicitly, so the test
        // does not race the pool's deferred rollback; the e2e crash test kills real processes).
        txn.rollback().await.expect("rollback");
        let started = std::time::Instant::now();
        assert_eq!(apps.payments.service.consume_ledger_events(10).await.expect("consume"), 1, "{:?}", t.backend);
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "no lease to wait for");
        assert_eq!(apps.balances("m1").await["pendingBalance"], json!(7992));
        let row = outbox::Entity::find_by_id(claimed.id).one(&t.conn).await.expect("row").expect("outbox row");
        assert_eq!(row.status, entity::enums::OutboxStatus::Done);
        assert_eq!(row.locked_until, None);
        assert_eq!(apps.payments.service.consume_ledger_events(10).await.expect("consume"), 0, "applied once");
        let pending = outbox::Entity::find().filter(outbox::Column::Status.ne("DONE")).count(&t.conn).await;
        assert_eq!(pending.expect("count"), 0);
    }
}

const REPLAY: &str =
    "mutation($id: ID!, $r: String!) { replayWebhookEvent(id: $id, reason: $r) { status receiver lastError } }";

#[tokio::test]
async fn an_admin_replay_of_a_payments_event_is_applied_by_payments() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        let (account_id, acct) = apps.active_account("m2").await;
        // A EUR payout from a USD account waits for an admin.
        let mut payout = events::payout("evt_po_eur", &acct, 1_000, true);
        payout["data"]["object"]["currency"] = json!("eur");
        assert_eq!(apps.webhook(&apps.pay_base, &payout).await, 200);
        let row = entity::webhook_events::Entity::find()
            .filter(entity::webhook_events::Column::EventId.eq("evt_po_eur"))
            .one(&t.conn)
            .await
            .expect("query")
            .expect("stored");
        assert_eq!((row.receiver.as_str(), row.status.as_str()), ("payments", "NEEDS_ATTENTION"));

        // The operator fixes the cause (the account settles in EUR), then replays through
        // murchases while the payments retry loop runs.
        use sea_orm::ConnectionTrait;
        t.conn
            .execute_unprepared(&format!("UPDATE connected_accounts SET currency = 'EUR' WHERE id = '{account_id}'"))
            .await
            .expect("fix");
        let inbox = apps.payments.inbox.clone();
        let retries = tokio::spawn(async move {
            for _ in 0..60 {
                inbox.process_due(10).await.expect("retry pass");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        });
        // A commissions admin without MANAGE_PAYOUTS may not move payments' money this way.
        let commissions_only = test_support::token("ops", "MANAGE_COMMISSIONS VIEW_REVENUE", &["*"], 600);
        let denied = apps.mur.run(Some(&commissions_only), REPLAY, json!({"id": row.id, "r": "x"})).await;
        assert_eq!(test_support::error_code(&denied).as_deref(), Some("FORBIDDEN"), "{denied}");
        let r = apps.mur.run(Some(&admin_token()), REPLAY, json!({"id": row.id, "r": "account currency fixed"})).await;
        retries.abort();
        assert_eq!(r["data"]["replayWebhookEvent"]["receiver"], "PAYMENTS", "{:?}: {r}", t.backend);
        assert_eq!(r["data"]["replayWebhookEvent"]["status"], "PROCESSED", "{:?}: {r}", t.backend);
        let payouts = entity::payouts::Entity::find().count(&t.conn).await.expect("count");
        assert_eq!(payouts, 1, "the payout is recorded once");
    }
}
