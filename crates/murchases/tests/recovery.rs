//! Issue 17: recovery without waiting. Claims end with their transaction (nothing waits for a
//! lease after a crash), a redelivery applies an event that is stored but not applied, and an
//! admin replays an event after fixing its cause, exactly once. On SQLite and PostgreSQL.

mod common;

use common::*;
use entity::{audit_log, commission_ledger, payment_exceptions, webhook_events};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use test_support::{admin_token, error_code, owner_token};

async fn event_row(db: &sea_orm::DatabaseConnection, event_id: &str) -> webhook_events::Model {
    webhook_events::Entity::find()
        .filter(webhook_events::Column::EventId.eq(event_id))
        .one(db)
        .await
        .expect("query")
        .expect("stored event")
}

/// A refund that arrived before its payment failed and waits for its backoff; when Stripe
/// delivers it again it is applied by that delivery, not acknowledged as a duplicate and left.
#[tokio::test]
async fn a_redelivered_event_that_is_stored_but_unapplied_is_applied_at_once() {
    for t in all_dbs().await {
        let app = spawn(&t.conn, None).await;
        seed_account(&t.conn, "m9", "acct_m9", "ACTIVE").await;
        let refund = charge_refunded("evt_r1", "pi_9", 10_000, 4_000);
        assert_eq!(app.webhook(&refund).await, 200);
        let failed = event_row(&t.conn, "evt_r1").await;
        assert_eq!(failed.status.as_str(), "FAILED", "{:?}: no entry yet, so it fails", t.backend);
        assert!(failed.next_attempt_at.expect("backoff") > chrono::Utc::now(), "its retry is in the future");

        assert_eq!(app.webhook(&payment_succeeded("evt_1", "pi_9", "ord_9", Some("m9"), 10_000)).await, 200);
        // The redelivery is answered 200 and applies it now (no retry loop runs in this test).
        assert_eq!(app.webhook(&refund).await, 200);
        let applied = event_row(&t.conn, "evt_r1").await;
        assert_eq!(applied.status.as_str(), "PROCESSED", "{:?}", t.backend);
        let res = ledger(&app, &owner_token("m9"), "m9").await;
        assert_eq!(res["data"]["commissionLedger"][0]["refundedAmount"], 4_000, "{res}");

        // A third delivery is a plain duplicate: nothing changes.
        assert_eq!(app.webhook(&refund).await, 200);
        assert_eq!(event_row(&t.conn, "evt_r1").await.attempts, applied.attempts);

        // An event a backfill stored but did not apply (RECEIVED) is applied by its delivery too.
        let late = payment_succeeded("evt_2", "pi_10", "ord_10", Some("m9"), 5_000);
        let (stored, _) = app
            .state
            .inbox
            .store(domain::provider::ProviderKind::StripeConnect, late.to_string().as_bytes())
            .await
            .expect("store");
        assert!(stored.is_some());
        assert_eq!(event_row(&t.conn, "evt_2").await.status.as_str(), "RECEIVED");
        assert_eq!(app.webhook(&late).await, 200);
        assert_eq!(event_row(&t.conn, "evt_2").await.status.as_str(), "PROCESSED");
        let count = commission_ledger::Entity::find().count(&t.conn).await.expect("count");
        assert_eq!(count, 2, "{:?}: each payment recorded once", t.backend);
    }
}

/// A worker that dies while applying leaves nothing claimed: its transaction rolls back and the
/// event is free at once (there is no lease to run out). On PostgreSQL, while a worker holds an
/// event, another passes over it without waiting (SKIP LOCKED) and never applies it twice.
#[tokio::test]
async fn a_claim_ends_with_its_transaction() {
    for t in all_dbs().await {
        let app = spawn(&t.conn, None).await;
        seed_account(&t.conn, "m1", "acct_m1", "ACTIVE").await;
        let event = payment_succeeded("evt_c1", "pi_c1", "ord_c1", Some("m1"), 10_000);
        let (row_id, _) = app
            .state
            .inbox
            .store(domain::provider::ProviderKind::StripeConnect, event.to_string().as_bytes())
            .await
            .expect("store");
        let row_id = row_id.expect("new");

        // A worker claims it and crashes before committing.
        let txn = service_core::db::begin_write(&t.conn).await.expect("begin");
        let claim = "UPDATE webhook_events SET attempts = attempts WHERE id = $1";
        let sql = if t.backend == DbBackend::Postgres { claim.to_owned() } else { claim.replace("$1", "?") };
        txn.execute_raw(sea_orm::Statement::from_sql_and_values(t.backend, &sql, [row_id.clone().into()]))
            .await
            .expect("claim");
        if t.backend == DbBackend::Postgres {
            // Held by the other worker: skipped at once, not waited for, not applied.
            let started = std::time::Instant::now();
            assert_eq!(app.state.inbox.process(&row_id).await.expect("process"), None);
            assert!(started.elapsed() < std::time::Duration::from_secs(2), "skipped, not waited for");
            assert_eq!(commission_ledger::Entity::find().count(&t.conn).await.expect("count"), 0);
        }
        // The worker dies: the database rolls its transaction back (here explicitly, so the test
        // does not race the pool's deferred rollback; the e2e crash test kills real processes).
        txn.rollback().await.expect("rollback");
        // Free again immediately: applied by the next pass, once.
        let started = std::time::Instant::now();
        assert_eq!(app.state.inbox.process_due(10).await.expect("retry pass"), 1, "{:?}", t.backend);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert_eq!(event_row(&t.conn, "evt_c1").await.status.as_str(), "PROCESSED");
        assert_eq!(app.state.inbox.process_due(10).await.expect("retry pass"), 0);
        assert_eq!(commission_ledger::Entity::find().count(&t.conn).await.expect("count"), 1);
        let leased = webhook_events::Entity::find()
            .filter(webhook_events::Column::LockedUntil.is_not_null())
            .count(&t.conn)
            .await
            .expect("count");
        assert_eq!(leased, 0, "no lease is ever written");
    }
}

const EVENTS: &str = "query($s: WebhookEventStatus) { webhookEvents(status: $s, limit: 10) \
    { id receiver eventId eventType status attempts lastError } }";
const REPLAY: &str = "mutation($id: ID!, $r: String!) { replayWebhookEvent(id: $id, reason: $r) \
    { id status lastError attempts } }";

/// Acceptance: a payment to an unknown destination waits for an admin (NEEDS_ATTENTION); after
/// the admin registers the account and replays it, it is a ledger entry, exactly once; an owner
/// can neither list nor replay.
#[tokio::test]
async fn an_admin_replays_a_payment_after_registering_its_account() {
    for t in all_dbs().await {
        let app = spawn(&t.conn, None).await;
        let paid = payment_succeeded("evt_na", "pi_na", "ord_na", Some("m5"), 10_000);
        assert_eq!(app.webhook(&paid).await, 200);
        let admin = admin_token();
        let listed = app.gql.run(Some(&admin), EVENTS, json!({"s": "NEEDS_ATTENTION"})).await;
        let rows = listed["data"]["webhookEvents"].as_array().expect("events").clone();
        assert_eq!(rows.len(), 1, "{:?}: {listed}", t.backend);
        let row = &rows[0];
        assert_eq!(row["eventId"], "evt_na");
        assert_eq!(row["receiver"], "MURCHASES");
        assert!(row["lastError"].as_str().is_some_and(|e| e.contains("acct_m5")), "{listed}");
        let id = row["id"].as_str().expect("id").to_owned();

        // Owners: no list, no replay, and no hint whether the event exists.
        let owner = owner_token("m5");
        let denied = app.gql.run(Some(&owner), EVENTS, json!({"s": "NEEDS_ATTENTION"})).await;
        assert_eq!(error_code(&denied), Some("FORBIDDEN".into()), "{denied}");
        let denied = app.gql.run(Some(&owner), REPLAY, json!({"id": id, "r": "mine"})).await;
        assert_eq!(error_code(&denied), Some("FORBIDDEN".into()), "{denied}");
        let denied = app.gql.run(Some(&owner), REPLAY, json!({"id": "no-such-event", "r": "mine"})).await;
        assert_eq!(error_code(&denied), Some("FORBIDDEN".into()), "{denied}");

        // Replaying before the cause is fixed changes nothing and says why.
        let early = app.gql.run(Some(&admin), REPLAY, json!({"id": id, "r": "try"})).await;
        assert_eq!(early["data"]["replayWebhookEvent"]["status"], "NEEDS_ATTENTION", "{early}");
        assert_eq!(commission_ledger::Entity::find().count(&t.conn).await.expect("count"), 0);

        // The admin registers the account, then replays: one entry, the exception resolved.
        seed_account(&t.conn, "m5", "acct_m5", "ACTIVE").await;
        let missing_reason = app.gql.run(Some(&admin), REPLAY, json!({"id": id, "r": "  "})).await;
        assert_eq!(error_code(&missing_reason), Some("BAD_USER_INPUT".into()), "{missing_reason}");
        let replays = (0..3).map(|_| app.gql.run(Some(&admin), REPLAY, json!({"id": id, "r": "account registered"})));
        for r in futures::future::join_all(replays).await {
            assert_eq!(r["data"]["replayWebhookEvent"]["status"], "PROCESSED", "{:?}: {r}", t.backend);
        }
        let res = ledger(&app, &owner, "m5").await;
        let entries = res["data"]["commissionLedger"].as_array().expect("rows");
        assert_eq!(entries.len(), 1, "{:?}: exactly once after three replays: {res}", t.backend);
        assert_eq!(entries[0]["grossAmount"], 10_000);
        let open = payment_exceptions::Entity::find()
            .filter(payment_exceptions::Column::ResolvedAt.is_null())
            .count(&t.conn)
            .await
            .expect("count");
        assert_eq!(open, 0, "the payment exception is resolved");
        let audited = audit_log::Entity::find()
            .filter(audit_log::Column::Action.eq("webhook_event.replay"))
            .filter(audit_log::Column::EntityId.eq(id.clone()))
            .all(&t.conn)
            .await
            .expect("audit");
        assert_eq!(audited.len(), 2, "the replay that applied and the early one are audited: {audited:?}");
        assert!(audited.iter().any(|a| a.reason.as_deref() == Some("account registered")));
        // A redelivery afterwards is a duplicate.
        assert_eq!(app.webhook(&paid).await, 200);
        assert_eq!(commission_ledger::Entity::find().count(&t.conn).await.expect("count"), 1);
        let unknown = app.gql.run(Some(&admin), REPLAY, json!({"id": "no-such-event", "r": "x"})).await;
        assert_eq!(error_code(&unknown), Some("NOT_FOUND".into()), "{unknown}");
    }
}
