//! Issue 10 (part 5, robust under load) on murchases: every pooled SQLite connection waits for a
//! busy database, a loopback PostgreSQL connection does not pay for TLS, and a new seller's
//! concurrent first sales are recorded at once (no unique-violation retry).

mod common;

use common::*;
use sea_orm::{ConnectionTrait, EntityTrait, Statement, TransactionTrait};
use service_core::testing::TestDb;

#[tokio::test]
async fn every_pooled_sqlite_connection_has_the_busy_timeout() {
    let t = TestDb::sqlite().await;
    // Eight transactions at once hold eight different pooled connections.
    let mut txns = Vec::new();
    for _ in 0..8 {
        txns.push(t.conn.begin().await.expect("begin"));
    }
    for txn in &txns {
        let row = txn
            .query_one_raw(Statement::from_string(t.backend, "PRAGMA busy_timeout"))
            .await
            .expect("pragma")
            .expect("row");
        let ms: i64 = row.try_get_by_index(0).expect("value");
        assert_eq!(ms, 10_000);
        let row = txn
            .query_one_raw(Statement::from_string(t.backend, "PRAGMA foreign_keys"))
            .await
            .expect("pragma")
            .expect("row");
        assert_eq!(row.try_get_by_index::<i64>(0).expect("value"), 1);
    }
}

#[tokio::test]
async fn loopback_postgres_connections_are_not_tls() {
    let Some(t) = TestDb::postgres_fresh().await else { return };
    let row = t
        .conn
        .query_one_raw(Statement::from_string(
            t.backend,
            "SELECT COALESCE((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false) AS ssl",
        ))
        .await
        .expect("query")
        .expect("row");
    assert!(!row.try_get::<bool>("", "ssl").expect("ssl"), "no TLS to 127.0.0.1 unless the URL asks for it");
}

#[tokio::test]
async fn a_new_sellers_concurrent_first_sales_apply_at_once() {
    for t in all_dbs().await {
        let app = spawn(&t.conn, None).await;
        seed_account(&t.conn, "fresh", "acct_fresh", "ACTIVE").await;
        let events: Vec<_> = (0..8)
            .map(|i| {
                payment_succeeded(&format!("evt_{i}"), &format!("pi_{i}"), &format!("ord_{i}"), Some("fresh"), 10_000)
            })
            .collect();
        let statuses = futures::future::join_all(events.iter().map(|e| app.webhook(e))).await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        let rows = entity::webhook_events::Entity::find().all(&t.conn).await.expect("events");
        assert!(
            rows.iter().all(|r| r.status == "PROCESSED"),
            "{:?}: every first sale applied on delivery: {:?}",
            t.backend,
            rows.iter().map(|r| (&r.event_id, &r.status, &r.last_error)).collect::<Vec<_>>()
        );
        let settings = entity::malet_settings::Entity::find_by_id("fresh".to_owned()).one(&t.conn).await.expect("q");
        assert!(settings.and_then(|s| s.first_sale_at).is_some());
    }
}
