//! Issue 10 (goal 2): the query of every background job, and of the webhook and outbox claims,
//! can be served by an index on both databases (EXPLAIN), so a pass costs the same whatever the
//! size of the books.

use flows::spawn;
use sea_orm::{ConnectionTrait, QueryTrait};
use test_support::TestDb;

async fn plan(t: &TestDb, sql: &str) -> String {
    test_support::explain(t, sql).await
}

/// Every table the plan reads is read through an index (SQLite: no bare `SCAN`; PostgreSQL: no
/// `Seq Scan`).
fn indexed(backend: sea_orm::DbBackend, plan: &str) -> bool {
    match backend {
        sea_orm::DbBackend::Postgres => plan.contains("Index") && !plan.contains("Seq Scan"),
        _ => {
            plan.lines().all(|l| {
                !l.trim_start().starts_with("SCAN ") || l.contains("USING INDEX") || l.contains("USING COVERING INDEX")
            }) && plan.contains("USING")
        }
    }
}

#[tokio::test]
async fn every_job_query_uses_an_index() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        let (_, acct) = apps.active_account("m1").await;
        for i in 0..5 {
            apps.pay_order(&format!("ord_{i}"), &format!("pi_{i}"), &acct, 10_000).await;
        }
        // A few entries with affiliates among many without.
        t.conn
            .execute_unprepared("UPDATE commission_ledger SET affiliate_id = 'aff_1' WHERE order_id = 'ord_0'")
            .await
            .expect("affiliate");
        // Other sellers, most of them not active: a realistic spread for the planner's statistics
        // (with one row in a table, a scan of it is as cheap as an index, and SQLite may pick it).
        for i in 0..60 {
            let status = match i % 4 {
                0 => "ACTIVE",
                1 => "SUSPENDED",
                _ => "DEACTIVATED",
            };
            t.conn
                .execute_unprepared(&format!(
                    "INSERT INTO connected_accounts (id, malet_id, user_id, provider, status, rolling_reserve_rate, \
                     currency, created_at, updated_at) VALUES ('acc-spread-{i}', 'm-spread-{i}', 'u', 'STRIPE_CONNECT', \
                     '{status}', '0.1', 'USD', '2026-11-25T00:00:00Z', '2026-11-25T00:00:00Z')"
                ))
                .await
                .expect("seller");
        }
        // Storefront deliveries, nearly all applied.
        for i in 0..60 {
            let status = if i % 20 == 0 { "SOURCE_UNAVAILABLE" } else { "APPLIED" };
            let next = if status == "APPLIED" { "NULL" } else { "'2026-11-25T00:01:00Z'" };
            t.conn
                .execute_unprepared(&format!(
                    "INSERT INTO storefront_deliveries (id, platform, shop, delivery_id, topic, status, payload, \
                     received_at, attempts, next_attempt_at) VALUES ('sd-{i}', 'WOOCOMMERCE', 'https://s.example', \
                     'd-{i}', 'order.updated', '{status}', '{{}}', '2026-11-25T00:00:00Z', 0, {next})"
                ))
                .await
                .expect("delivery");
        }
        // Commission receivables of TikTok sellers, nearly all recovered.
        for i in 0..60 {
            let open = if i % 20 == 0 { 100 } else { 0 };
            t.conn
                .execute_unprepared(&format!(
                    "INSERT INTO commission_receivables (id, storefront_order_id, malet_id, account_id, platform, \
                     platform_order_id, currency, original_amount, amount, commission_rate, rule_version, breakdown, \
                     created_at, updated_at, refunded_base, status, commission_base, open_amount) VALUES ('cr-{i}', \
                     'so-{i}', 'm-spread-{}', 'acc', 'TIKTOK', 'o-{i}', 'USD', 100, 100, '0.08', 1, '{{}}', \
                     '2026-11-25T00:00:00Z', '2026-11-25T00:00:00Z', 0, 'OWED', 1250, {open})",
                    i % 3
                ))
                .await
                .expect("receivable");
        }
        for table in [
            "commission_receivables",
            "storefront_deliveries",
            "webhook_events",
            "outbox",
            "commission_ledger",
            "outgoing_movements",
            "reserve_holds",
            "connected_accounts",
        ] {
            t.conn.execute_unprepared(&format!("ANALYZE {table}")).await.expect("analyze");
        }
        let now = chrono::Utc::now();
        let b = t.backend;
        let queries = [
            ("webhook retries", service_core::webhook::due_select("murchases", now, 100).build(b).to_string()),
            (
                "ledger events (outbox)",
                service_core::outbox::due_select(payments::service::balances::TOPIC_BALANCE, now).build(b).to_string(),
            ),
            ("settlement", murchases::repo::ledger::due_for_settlement(now, 500).build(b).to_string()),
            (
                "outgoing movements (fee refunds, transfers, reversals)",
                service_core::outgoing::due_select(entity::enums::MovementOwner::Murchases, now, 100)
                    .build(b)
                    .to_string(),
            ),
            ("reserve release", payments::service::reserve::due_holds_select(now).build(b).to_string()),
            (
                "open receivables of an earning's seller (ingest)",
                murchases::service::receivables::open_receivables_select("m-spread-1", "USD").build(b).to_string(),
            ),
            (
                "storefront redeliveries",
                murchases::repo::storefronts::due_deliveries_select(now, 50).build(b).to_string(),
            ),
            (
                "affiliate payouts (due shares)",
                murchases::repo::ledger::affiliate_shares_select("aff_1", "USD", Some(now)).build(b).to_string(),
            ),
        ];
        for (what, sql) in queries {
            let plan = plan(&t, &sql).await;
            assert!(indexed(b, &plan), "{b:?} {what}: {sql}\n{plan}");
        }
    }
}
