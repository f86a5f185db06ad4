//! Migrations run up, down and up again on SQLite and PostgreSQL, and the database itself
//! enforces the invariants code must not be trusted with alone.

use migration::sea_orm::{ConnectionTrait, DatabaseConnection};
use migration::{Migrator, MigratorTrait};
use test_support::TestDb;

const TABLES: &[&str] = &[
    "malet_settings",
    "commission_rules",
    "connected_accounts",
    "balance_movements",
    "reserve_holds",
    "payouts",
    "disputes",
    "commission_ledger",
    "ledger_postings",
    "refunds",
    "payment_exceptions",
    "webhook_events",
    "outbox",
    "audit_log",
    "checkouts",
    "provider_refunds",
    "fee_refunds",
];

async fn table_exists(db: &DatabaseConnection, table: &str) -> bool {
    db.execute_unprepared(&format!("SELECT 1 FROM {table} WHERE 1 = 0")).await.is_ok()
}

fn account_insert(id: &str, malet: &str, status: &str) -> String {
    format!(
        "INSERT INTO connected_accounts (id, malet_id, user_id, provider, status, rolling_reserve_rate, currency, \
         created_at, updated_at) VALUES ('{id}', '{malet}', 'u1', 'STRIPE_CONNECT', '{status}', '0.1', 'USD', \
         '2026-11-25T00:00:00Z', '2026-11-25T00:00:00Z')"
    )
}

fn event_insert(id: &str, event_id: &str, receiver: &str) -> String {
    format!(
        "INSERT INTO webhook_events (id, receiver, provider, event_id, event_type, provider_created, payload, status, \
         received_at) VALUES ('{id}', '{receiver}', 'stripe', '{event_id}', 'account.updated', 1, '{{}}', 'RECEIVED', \
         '2026-11-25T00:00:00Z')"
    )
}

#[tokio::test]
async fn up_down_up_on_every_backend() {
    for t in TestDb::all_unmigrated().await {
        let db = &t.conn;
        Migrator::up(db, None).await.expect("up");
        for table in TABLES {
            assert!(table_exists(db, table).await, "{:?}: {table} missing after up", t.backend);
        }
        Migrator::down(db, None).await.expect("down");
        for table in TABLES {
            assert!(!table_exists(db, table).await, "{:?}: {table} left after down", t.backend);
        }
        Migrator::up(db, None).await.expect("up again");
        assert!(table_exists(db, "commission_ledger").await);
    }
}

#[tokio::test]
async fn one_live_account_per_malet_is_enforced_by_the_database() {
    for t in TestDb::all().await {
        let db = &t.conn;
        db.execute_unprepared(&account_insert("a1", "m1", "ONBOARDING")).await.expect("first account");
        let second = db.execute_unprepared(&account_insert("a2", "m1", "PENDING")).await;
        let err = second.expect_err("second live account must be refused");
        assert!(service_core::db::is_unique_violation(&err), "{:?}: {err}", t.backend);
        // A deactivated account does not count: the Malet may start over.
        db.execute_unprepared("UPDATE connected_accounts SET status = 'DEACTIVATED' WHERE id = 'a1'")
            .await
            .expect("deactivate");
        db.execute_unprepared(&account_insert("a3", "m1", "PENDING")).await.expect("new account after deactivation");
        db.execute_unprepared(&account_insert("a4", "m1", "DEACTIVATED")).await.expect("several deactivated are fine");
        db.execute_unprepared(&account_insert("a5", "m2", "ACTIVE")).await.expect("another malet");
    }
}

#[tokio::test]
async fn duplicate_webhook_event_is_refused() {
    for t in TestDb::all().await {
        let db = &t.conn;
        db.execute_unprepared(&event_insert("e1", "evt_1", "payments")).await.expect("first");
        let err = db.execute_unprepared(&event_insert("e2", "evt_1", "payments")).await.expect_err("duplicate");
        assert!(service_core::db::is_unique_violation(&err), "{:?}: {err}", t.backend);
        // The other subgraph's endpoint receives the same event independently.
        db.execute_unprepared(&event_insert("e3", "evt_1", "murchases")).await.expect("other receiver");
    }
}

#[tokio::test]
async fn ledger_is_unique_per_malet_order_and_per_provider_charge() {
    for t in TestDb::all().await {
        let db = &t.conn;
        let insert_for = |malet: &str, id: &str, order: &str, payment: &str| {
            format!(
                "INSERT INTO commission_ledger (id, order_id, malet_id, provider, provider_payment_id, currency, gross_amount, \
                 commission_rate, original_commission, original_reserve, original_affiliate, commission_amount, processing_fee, \
                 reserve_amount, affiliate_amount, net_payout, application_fee_amount, status, rule_version, breakdown, \
                 created_at, updated_at) VALUES ('{id}', '{order}', '{malet}', 'STRIPE_CONNECT', '{payment}', 'USD', 10000, '0.08', \
                 800, 888, 0, 800, 320, 888, 0, 7992, 2008, 'PENDING', 1, '{{}}', '2026-11-25T00:00:00Z', '2026-11-25T00:00:00Z')"
            )
        };
        let insert = |id: &str, order: &str, payment: &str| insert_for("m1", id, order, payment);
        db.execute_unprepared(&insert("l1", "o1", "pi_1")).await.expect("first");
        assert!(db.execute_unprepared(&insert("l2", "o1", "pi_2")).await.is_err(), "same order");
        // Order ids are scoped to their Malet (R-TRUST-3): another shop's `o1` is its own order.
        db.execute_unprepared(&insert_for("m2", "l5", "o1", "pi_5")).await.expect("same order id, other Malet");
        assert!(db.execute_unprepared(&insert("l3", "o3", "pi_1")).await.is_err(), "same charge");
        // One charge pays several Malets (issue 13): one entry each, never two for one Malet.
        db.execute_unprepared(&insert_for("m2", "l6", "o6", "pi_1")).await.expect("same charge, other Malet");
        assert!(db.execute_unprepared(&insert_for("m2", "l7", "o7", "pi_1")).await.is_err(), "same charge, same Malet");
        // Amounts are 64-bit: a lifetime-sized value round-trips.
        db.execute_unprepared(&insert("l4", "o4", "pi_4").replace("10000, '0.08'", "9000000000000, '0.08'"))
            .await
            .expect("bigint");
    }
}

/// The trust and refund migrations fill in what existing rows need: the credited account of each
/// entry, the fee the provider charged, and the block of a Malet whose account was deactivated
/// while SUSPENDED.
#[tokio::test]
async fn upgrades_backfill_existing_rows() {
    for t in TestDb::all_unmigrated().await {
        let db = &t.conn;
        Migrator::up(db, Some(1)).await.expect("initial schema only");
        for s in [
            account_insert("a1", "m1", "DEACTIVATED"),
            "UPDATE connected_accounts SET provider_account_id = 'acct_1' WHERE id = 'a1'".to_owned(),
            "INSERT INTO audit_log (id, actor, action, entity_type, entity_id, before_state, after_state, reason, created_at) \
             VALUES ('au1', 'owner', 'deactivate_connected_account', 'connected_account', 'a1', \
             '{\"payout_interval\":null,\"reason\":\"x\",\"status\":\"SUSPENDED\"}', '{}', 'closing', '2026-11-25T00:00:00Z')"
                .to_owned(),
            "INSERT INTO commission_ledger (id, order_id, malet_id, provider, provider_payment_id, destination_account_id, \
             currency, gross_amount, commission_rate, original_commission, original_reserve, original_affiliate, \
             commission_amount, processing_fee, reserve_amount, affiliate_amount, net_payout, application_fee_amount, status, \
             rule_version, breakdown, created_at, updated_at) VALUES ('l1', 'o1', 'm1', 'STRIPE_CONNECT', 'pi_1', 'acct_1', \
             'USD', 10000, '0.08', 1300, 888, 0, 1300, 320, 888, 0, 7492, 2508, 'PENDING', 1, '{}', '2026-11-25T00:00:00Z', \
             '2026-11-25T00:00:00Z')"
                .to_owned(),
            "INSERT INTO ledger_postings (id, ledger_id, kind, commission_delta, reserve_delta, net_delta, idempotency_key, \
             created_at) VALUES ('p1', 'l1', 'EARNING', 800, 888, 7992, 'earning:l1', '2026-11-25T00:00:00Z')"
                .to_owned(),
        ] {
            db.execute_unprepared(&s).await.unwrap_or_else(|e| panic!("{:?}: {s}: {e}", t.backend));
        }
        Migrator::up(db, None).await.expect("the rest");
        let entry = db
            .query_one_raw(migration::sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT account_id, provider_fee_amount FROM commission_ledger WHERE id = 'l1'",
            ))
            .await
            .expect("q")
            .expect("row");
        assert_eq!(entry.try_get::<Option<String>>("", "account_id").expect("col").as_deref(), Some("a1"));
        // Charged 10000 - 7992 at payment time, whatever a later adjustment made of the fee.
        assert_eq!(entry.try_get::<Option<i64>>("", "provider_fee_amount").expect("col"), Some(2008));
        let blocked = db
            .query_one_raw(migration::sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT blocks_new_account FROM connected_accounts WHERE id = 'a1'",
            ))
            .await
            .expect("q")
            .expect("row");
        assert!(blocked.try_get::<bool>("", "blocks_new_account").expect("col"), "{:?}", t.backend);
    }
}

/// The provider-neutral migration renames Stripe's rows to the provider kind and Stripe's dispute
/// statuses to the neutral ones, so the enums read every existing row.
#[tokio::test]
async fn upgrades_name_providers_by_kind_and_disputes_neutrally() {
    for t in TestDb::all_unmigrated().await {
        let db = &t.conn;
        Migrator::up(db, Some(4)).await.expect("schema before the provider-neutral step");
        let mut statements = vec![event_insert("e1", "evt_1", "payments")];
        for (id, status) in [("d1", "needs_response"), ("d2", "won"), ("d3", "warning_closed"), ("d4", "lost")] {
            statements.push(format!(
                "INSERT INTO disputes (id, provider, provider_dispute_id, charge_id, amount, currency, status, opened_at) \
                 VALUES ('{id}', 'stripe', 'dp_{id}', 'ch_1', 100, 'USD', '{status}', '2026-11-25T00:00:00Z')"
            ));
        }
        for s in &statements {
            db.execute_unprepared(s).await.unwrap_or_else(|e| panic!("{:?}: {s}: {e}", t.backend));
        }
        Migrator::up(db, None).await.expect("the rest");
        let rows = db
            .query_all_raw(migration::sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT id, provider, status FROM disputes ORDER BY id",
            ))
            .await
            .expect("q");
        let got: Vec<(String, String, String)> = rows
            .iter()
            .map(|r| {
                (
                    r.try_get("", "id").expect("id"),
                    r.try_get("", "provider").expect("p"),
                    r.try_get("", "status").expect("s"),
                )
            })
            .collect();
        let want = [("d1", "OPEN"), ("d2", "WON"), ("d3", "WON"), ("d4", "LOST")]
            .map(|(id, s)| (id.to_owned(), "STRIPE_CONNECT".to_owned(), s.to_owned()));
        assert_eq!(got, want, "{:?}", t.backend);
        let event = db
            .query_one_raw(migration::sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT provider FROM webhook_events WHERE id = 'e1'",
            ))
            .await
            .expect("q")
            .expect("row");
        assert_eq!(event.try_get::<String>("", "provider").expect("col"), "STRIPE_CONNECT");
    }
}

/// The audit log's Malet is filled in for existing rows from what each names: a ledger entry's
/// Malet, an account's, the rule's Malet, a transfer's destination account; webhook replays (and
/// a transfer to no account of ours) stay platform-wide.
#[tokio::test]
async fn upgrades_give_existing_audit_rows_their_malet() {
    for t in TestDb::all_unmigrated().await {
        let db = &t.conn;
        Migrator::up(db, Some(5)).await.expect("schema before the audit-malet step");
        let audit = |id: &str, entity_type: &str, entity_id: &str, after: &str| {
            format!(
                "INSERT INTO audit_log (id, actor, action, entity_type, entity_id, before_state, after_state, reason, \
                 created_at) VALUES ('{id}', 'admin', 'x', '{entity_type}', '{entity_id}', NULL, '{after}', 'r', \
                 '2026-11-25T00:00:00Z')"
            )
        };
        let statements = [
            account_insert("a1", "m1", "ACTIVE"),
            "UPDATE connected_accounts SET provider_account_id = 'acct_1' WHERE id = 'a1'".to_owned(),
            "INSERT INTO commission_ledger (id, order_id, malet_id, provider, provider_payment_id, destination_account_id, \
             currency, gross_amount, commission_rate, original_commission, original_reserve, original_affiliate, \
             commission_amount, processing_fee, reserve_amount, affiliate_amount, net_payout, application_fee_amount, status, \
             rule_version, breakdown, created_at, updated_at) VALUES ('l1', 'o1', 'm3', 'STRIPE_CONNECT', 'pi_1', 'acct_1', \
             'USD', 10000, '0.08', 800, 888, 0, 800, 320, 888, 0, 7992, 2008, 'PENDING', 0, '{}', '2026-11-25T00:00:00Z', \
             '2026-11-25T00:00:00Z')"
                .to_owned(),
            audit("au1", "commission_ledger", "l1", "{\"commission\":700}"),
            audit("au2", "connected_account", "a1", "{\"status\":\"SUSPENDED\"}"),
            audit("au3", "malet_commission_rule", "m2", "{\"tier\":\"PRO\"}"),
            audit("au4", "transfer", "tr_1", "{\"amount\":888,\"destination\":\"acct_1\"}"),
            audit("au5", "transfer", "tr_2", "{\"amount\":888,\"destination\":null}"),
            audit("au6", "webhook_event", "e1", "{\"status\":\"PROCESSED\"}"),
            audit("au7", "connected_account", "gone", "{}"),
        ];
        for s in &statements {
            db.execute_unprepared(s).await.unwrap_or_else(|e| panic!("{:?}: {s}: {e}", t.backend));
        }
        Migrator::up(db, None).await.expect("the rest");
        let rows = db
            .query_all_raw(migration::sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT id, malet_id FROM audit_log ORDER BY id",
            ))
            .await
            .expect("q");
        let got: Vec<(String, Option<String>)> =
            rows.iter().map(|r| (r.try_get("", "id").expect("id"), r.try_get("", "malet_id").expect("m"))).collect();
        let want = [
            ("au1", Some("m3")),
            ("au2", Some("m1")),
            ("au3", Some("m2")),
            ("au4", Some("m1")),
            ("au5", None),
            ("au6", None),
            ("au7", None),
        ]
        .map(|(id, m)| (id.to_owned(), m.map(str::to_owned)));
        assert_eq!(got, want, "{:?}", t.backend);
    }
}

/// Fee refunds still to send when the money-movement step runs become outgoing movements with
/// the key they were sent with (a tried one is UNKNOWN: looked up first); sent ones do not.
#[tokio::test]
async fn upgrades_carry_pending_fee_refunds_into_outgoing_movements() {
    for t in TestDb::all_unmigrated().await {
        let db = &t.conn;
        Migrator::up(db, Some(6)).await.expect("schema before the money-movement step");
        let fee_refund = |id: &str, status: &str, attempts: i64| {
            format!(
                "INSERT INTO fee_refunds (id, ledger_id, amount, status, idempotency_key, attempts, created_at, updated_at) \
                 VALUES ('{id}', 'l1', 320, '{status}', 'fee-refund:l1:{id}', {attempts}, '2026-11-25T00:00:00Z', \
                 '2026-11-25T00:00:00Z')"
            )
        };
        let statements = [
            "INSERT INTO commission_ledger (id, order_id, malet_id, provider, provider_payment_id, destination_account_id, \
             currency, gross_amount, commission_rate, original_commission, original_reserve, original_affiliate, \
             commission_amount, processing_fee, reserve_amount, affiliate_amount, net_payout, application_fee_amount, status, \
             rule_version, breakdown, created_at, updated_at) VALUES ('l1', 'o1', 'm1', 'STRIPE_CONNECT', 'pi_1', 'acct_1', \
             'USD', 10000, '0.08', 800, 888, 0, 800, 320, 888, 0, 7992, 2008, 'PENDING', 0, '{}', '2026-11-25T00:00:00Z', \
             '2026-11-25T00:00:00Z')"
                .to_owned(),
            fee_refund("f1", "PENDING", 0),
            fee_refund("f2", "PENDING", 3),
            fee_refund("f3", "SENT", 1),
        ];
        for s in &statements {
            db.execute_unprepared(s).await.unwrap_or_else(|e| panic!("{:?}: {s}: {e}", t.backend));
        }
        Migrator::up(db, None).await.expect("the rest");
        let rows = db
            .query_all_raw(migration::sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT kind, status, idempotency_key, amount, source_ref FROM outgoing_movements ORDER BY idempotency_key",
            ))
            .await
            .expect("q");
        let got: Vec<(String, String, String, i64, String)> = rows
            .iter()
            .map(|r| {
                (
                    r.try_get("", "kind").expect("kind"),
                    r.try_get("", "status").expect("status"),
                    r.try_get("", "idempotency_key").expect("key"),
                    r.try_get("", "amount").expect("amount"),
                    r.try_get("", "source_ref").expect("source"),
                )
            })
            .collect();
        let want = [("PENDING", "fee-refund:l1:f1"), ("UNKNOWN", "fee-refund:l1:f2")]
            .map(|(s, k)| ("FEE_REFUND".to_owned(), s.to_owned(), k.to_owned(), 320, "pi_1".to_owned()));
        assert_eq!(got, want, "{:?}", t.backend);
        // Resent as the same request: the metadata the fee refund was sent with.
        let metadata = db
            .query_one_raw(migration::sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT metadata FROM outgoing_movements WHERE idempotency_key = 'fee-refund:l1:f1'",
            ))
            .await
            .expect("q")
            .expect("row");
        let metadata: serde_json::Value =
            serde_json::from_str(&metadata.try_get::<String>("", "metadata").expect("metadata")).expect("json");
        assert_eq!(metadata, serde_json::json!({"feeRefundId": "f1", "ledgerId": "l1", "orderId": "o1"}));
    }
}
