//! Issue 10 (part 5, robust under load) on murchases: every pooled SQLite connection waits for a
//! busy database, a loopback PostgreSQL connection does not pay for TLS, and a new seller's
//! concurrent first sales are recorded at once (no unique-violation retry).

mod common;

use common::*;
use sea_orm::{ConnectionTrait, EntityTrait, Statement, TransactionTrait};
use test_support::TestDb;

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
            rows.iter().all(|r| r.status.as_str() == "PROCESSED"),
            "{:?}: every first sale applied on delivery: {:?}",
            t.backend,
            rows.iter().map(|r| (&r.event_id, &r.status, &r.last_error)).collect::<Vec<_>>()
        );
        let settings = entity::malet_settings::Entity::find_by_id("fresh".to_owned()).one(&t.conn).await.expect("q");
        assert!(settings.and_then(|s| s.first_sale_at).is_some());
    }
}

async fn plan(t: &TestDb, sql: &str) -> String {
    test_support::explain(t, sql).await
}

/// Issue 10 (part 2): the webhook, settlement and summary paths read through an index on both
/// databases, not a scan of the ledger.
#[tokio::test]
async fn hot_queries_use_an_index() {
    use sea_orm::QueryTrait;
    for t in TestDb::all().await {
        // Some books to plan against (an empty table is cheapest to scan), with statistics.
        seed_account(&t.conn, "m2", "acct_m2", "ACTIVE").await;
        let txn = t.conn.begin().await.expect("begin");
        let account: String = txn
            .query_one_raw(Statement::from_string(t.backend, "SELECT id FROM connected_accounts WHERE malet_id = 'm2'"))
            .await
            .expect("q")
            .expect("row")
            .try_get("", "id")
            .expect("id");
        for i in 0..300 {
            txn.execute_unprepared(&format!(
                "INSERT INTO commission_ledger (id, order_id, malet_id, provider, provider_payment_id, provider_charge_id, \
                 currency, gross_amount, commission_rate, original_commission, original_reserve, original_affiliate, \
                 commission_amount, processing_fee, reserve_amount, affiliate_amount, net_payout, application_fee_amount, \
                 status, rule_version, breakdown, settlement_date, created_at, updated_at) VALUES ('l{i}', 'o{i}', 'm2', \
                 'STRIPE_CONNECT', 'pi_x{i}', 'ch_x{i}', 'USD', 1000, '0.08', 80, 0, 0, 80, 59, 0, 0, 861, 139, 'SETTLED', 0, \
                 '{{}}', '2026-11-20T00:00:00Z', '2026-11-18T00:00:00Z', '2026-11-20T00:00:00Z')"
            ))
            .await
            .expect("entry");
            txn.execute_unprepared(&format!(
                "INSERT INTO balance_movements (id, account_id, malet_id, kind, currency, earnings_delta, pending_delta, \
                 source_type, source_id, idempotency_key, created_at) VALUES ('mv{i}', '{account}', 'm{}', 'EARNING', \
                 'USD', 861, 861, 'ledger', 'l{i}', 'earning:l{i}', '2026-11-18T00:00:00Z')",
                i % 50
            ))
            .await
            .expect("movement");
        }
        txn.commit().await.expect("commit");
        // This test's tables only (a bare ANALYZE on PostgreSQL visits every test schema).
        for table in ["commission_ledger", "balance_movements"] {
            t.conn.execute_unprepared(&format!("ANALYZE {table}")).await.expect("analyze");
        }
        let cutoff = chrono::Utc::now();
        let queries = [
            (
                "payment",
                murchases::repo::ledger::by_payment_select(domain::provider::ProviderKind::StripeConnect, "pi_1")
                    .build(t.backend)
                    .to_string(),
            ),
            ("charge", murchases::repo::ledger::by_charge_select("ch_1").build(t.backend).to_string()),
            ("order", murchases::repo::ledger::by_order_select("m1", "o1").build(t.backend).to_string()),
            ("settlement", murchases::repo::ledger::due_for_settlement(cutoff, 500).build(t.backend).to_string()),
            (
                "balances by Malet",
                "SELECT SUM(pending_delta) FROM balance_movements WHERE malet_id = 'm1' AND currency = 'USD'"
                    .to_owned(),
            ),
        ];
        for (what, sql) in queries {
            let plan = plan(&t, &sql).await;
            let indexed = match t.backend {
                sea_orm::DbBackend::Postgres => plan.contains("Index") && !plan.contains("Seq Scan"),
                _ => plan.contains("USING INDEX") || plan.contains("USING COVERING INDEX"),
            };
            assert!(indexed, "{:?} {what}: {sql}\n{plan}", t.backend);
        }
    }
}

/// Issue 10 (part 5): a webhook whose client hangs up right after sending is still applied at
/// once, not left for the retry loop.
#[tokio::test]
async fn a_webhook_whose_client_hangs_up_is_applied_at_once() {
    use tokio::io::AsyncWriteExt;
    for t in all_dbs().await {
        let app = spawn(&t.conn, None).await;
        seed_account(&t.conn, "m1", "acct_m1", "ACTIVE").await;
        let body = payment_succeeded("evt_gone", "pi_gone", "ord_gone", Some("m1"), 10_000).to_string();
        let signature = test_support::stripe_signature(&body);
        let host = app.base.trim_start_matches("http://").to_owned();
        let mut stream = tokio::net::TcpStream::connect(&host).await.expect("connect");
        let request = format!(
            "POST /webhooks/stripe HTTP/1.1\r\nHost: {host}\r\ncontent-type: application/json\r\nstripe-signature: {signature}\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.expect("send");
        drop(stream);
        let started = std::time::Instant::now();
        loop {
            let res = ledger(&app, &test_support::owner_token("m1"), "m1").await;
            if res["data"]["commissionLedger"].as_array().is_some_and(|rows| rows.len() == 1) {
                break;
            }
            assert!(started.elapsed() < std::time::Duration::from_secs(3), "{:?}: not applied: {res}", t.backend);
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}
