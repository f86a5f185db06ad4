//! Money across both subgraphs, in-process on one database (SQLite and PostgreSQL) with a fake
//! Stripe: murchases' ledger events become payments' balances exactly once; reserves release
//! exactly once; payouts and disputes move balances and status.

use flows::spawn;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait};
use serde_json::json;
use test_support::{self as testing, TestDb, admin_token, owner_token};

async fn count<E: EntityTrait>(db: &DatabaseConnection) -> u64
where
    E::Model: Sync,
{
    E::find().count(db).await.expect("count")
}

#[tokio::test]
async fn ledger_events_become_balances_exactly_once() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        let (_, acct) = apps.active_account("m1").await;
        apps.pay_order("ord_1", "pi_1", &acct, 10_000).await;
        // Two consumers at once: one movement.
        let (a, b) = tokio::join!(
            apps.payments.service.consume_ledger_events(10),
            apps.payments.service.consume_ledger_events(10)
        );
        assert_eq!(a.expect("a") + b.expect("b"), 1, "{:?}", t.backend);
        let bal = apps.balances("m1").await;
        assert_eq!(bal["pendingBalance"], 7992, "{:?}: {bal}", t.backend);
        assert_eq!(bal["reserveBalance"], 888);
        assert_eq!(bal["totalEarnings"], 8880);
        assert!(bal["reserveExpiresAt"].is_string(), "first sale starts the reserve window: {bal}");
        assert_eq!(apps.payments.service.consume_ledger_events(10).await.expect("again"), 0);
        assert_eq!(count::<entity::balance_movements::Entity>(&t.conn).await, 1);

        // Murchases' summary reads the same balances.
        let res = apps
            .mur
            .run(Some(&owner_token("m1")), "{ earningsSummary(maletId: \"m1\") { totalGross totalCommission totalNetPayouts pendingBalance reserveBalance } }", json!({}))
            .await;
        assert_eq!(
            res["data"]["earningsSummary"],
            json!({"totalGross": 10000, "totalCommission": 800, "totalNetPayouts": 7992, "pendingBalance": 7992, "reserveBalance": 888})
        );

        // A partial refund claws back net and reserve proportionally.
        let mut refund = testing::stripe_event("charge.refunded");
        refund["id"] = json!("evt_ref_1");
        refund["data"]["object"]["id"] = json!("ch_pi_1");
        refund["data"]["object"]["payment_intent"] = json!("pi_1");
        refund["data"]["object"]["amount"] = json!(10_000);
        refund["data"]["object"]["amount_refunded"] = json!(4_000);
        assert_eq!(apps.webhook(&apps.mur_base, &refund).await, 200);
        assert_eq!(apps.payments.service.consume_ledger_events(10).await.expect("refund"), 1);
        let bal = apps.balances("m1").await;
        // reserve 888 → 888 − round(888 × 0.4) = 533; net 7992 → 10000−4000−480−320−533 = 4667.
        assert_eq!((bal["reserveBalance"].clone(), bal["pendingBalance"].clone()), (json!(533), json!(4667)), "{bal}");
        let movements = count::<entity::balance_movements::Entity>(&t.conn).await;
        // Balances always equal the sum of movements (the field resolvers compute exactly that).
        assert_eq!(movements, 2);
    }
}

#[tokio::test]
async fn reserve_is_released_once_even_when_the_job_runs_twice_at_once() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        let (_, acct) = apps.seller_with_sale("m1", 10_000).await;
        // Settle the entry (as if the settlement delay had passed) and propagate.
        let later = chrono::Utc::now() + chrono::Duration::days(3);
        assert_eq!(apps.murchases.service.settle_due(later).await.expect("settle"), 1);
        assert_eq!(apps.murchases.service.settle_due(later).await.expect("settle again"), 0);
        apps.payments.service.consume_ledger_events(10).await.expect("settled");
        let res = apps
            .mur
            .run(Some(&owner_token("m1")), "{ commissionLedger(maletId: \"m1\") { status settlementDate } }", json!({}))
            .await;
        assert_eq!(res["data"]["commissionLedger"][0]["status"], "SETTLED", "{res}");
        // Not due yet: nothing happens.
        assert_eq!(apps.payments.service.release_due_reserves(chrono::Utc::now()).await.expect("early"), 0);
        // Due: two runs at once release exactly once.
        let due = later + chrono::Duration::days(31);
        let (a, b) = tokio::join!(
            apps.payments.service.release_due_reserves(due),
            apps.payments.service.release_due_reserves(due)
        );
        assert_eq!(a.expect("a") + b.expect("b"), 1, "{:?}", t.backend);
        assert_eq!(apps.payments.service.release_due_reserves(due).await.expect("again"), 0);
        let transfers = apps.stripe.requests_to("/v1/transfers");
        assert_eq!(transfers.len(), 1, "exactly one transfer");
        assert_eq!(transfers[0].field("amount"), Some("888"));
        assert_eq!(transfers[0].field("destination"), Some(acct.as_str()));
        assert!(transfers[0].idempotency_key.as_deref().is_some_and(|k| k.starts_with("reserve-release:")));
        let bal = apps.balances("m1").await;
        assert_eq!((bal["pendingBalance"].clone(), bal["reserveBalance"].clone()), (json!(8880), json!(0)), "{bal}");
        // The transfer.created webhook for it changes nothing more.
        let mut tr = testing::stripe_event("transfer.created");
        tr["id"] = json!("evt_tr_1");
        tr["data"]["object"]["metadata"] = json!({"reserveHoldId": "unknown-hold"});
        assert_eq!(apps.webhook(&apps.pay_base, &tr).await, 200);
        assert_eq!(count::<entity::balance_movements::Entity>(&t.conn).await, 2);
    }
}

#[tokio::test]
async fn payouts_move_pending_to_paid_once() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        let (_, acct) = apps.seller_with_sale("m1", 10_000).await;
        let mut po = test_support::events::payout("evt_po_1", &acct, 5_000, true);
        assert_eq!(apps.webhook(&apps.pay_base, &po).await, 200);
        po["id"] = json!("evt_po_1_redelivered_as_new_id");
        assert_eq!(apps.webhook(&apps.pay_base, &po).await, 200);
        let bal = apps.balances("m1").await;
        assert_eq!((bal["pendingBalance"].clone(), bal["totalPayouts"].clone()), (json!(2992), json!(5000)), "{bal}");
        // The bank bounced it: the money is back in the pending balance, once.
        let mut failed = test_support::events::payout("evt_po_1_failed", &acct, 5_000, false);
        assert_eq!(apps.webhook(&apps.pay_base, &failed).await, 200);
        failed["id"] = json!("evt_po_1_failed_again");
        assert_eq!(apps.webhook(&apps.pay_base, &failed).await, 200);
        let bal = apps.balances("m1").await;
        assert_eq!((bal["pendingBalance"].clone(), bal["totalPayouts"].clone()), (json!(7992), json!(0)), "{bal}");
    }
}

#[tokio::test]
async fn disputes_mark_the_entry_and_suspend_above_the_threshold() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        let (_, acct) = apps.active_account("m1").await;
        for i in 0..3 {
            apps.pay_order(&format!("ord_{i}"), &format!("pi_{i}"), &acct, 10_000).await;
        }
        for i in 0..3 {
            let d = testing::events::dispute_created(&format!("evt_dp_{i}"), &format!("dp_{i}"), &format!("pi_{i}"));
            assert_eq!(apps.webhook(&apps.pay_base, &d).await, 200);
            assert_eq!(apps.webhook(&apps.mur_base, &d).await, 200);
            let status = apps.balances("m1").await["status"].clone();
            assert_eq!(status, if i < 2 { "ACTIVE" } else { "SUSPENDED" }, "after {} disputes", i + 1);
        }
        let res =
            apps.mur.run(Some(&admin_token()), "{ commissionLedger(maletId: \"m1\") { disputed } }", json!({})).await;
        assert!(
            res["data"]["commissionLedger"].as_array().expect("rows").iter().all(|r| r["disputed"] == true),
            "{res}"
        );
        t.conn.execute_unprepared("SELECT 1").await.expect("db alive");
    }
}

#[tokio::test]
async fn a_refund_after_the_reserve_was_released_comes_out_of_pending() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        let (_, acct) = apps.active_account("m1").await;
        apps.pay_order("ord_1", "pi_1", &acct, 10_000).await;
        let due = apps.settle_all().await;
        assert_eq!(apps.payments.service.release_due_reserves(due).await.expect("release"), 1);
        let e = test_support::events::charge_refunded("evt_r", "pi_1", 10_000, 4_000);
        assert_eq!(apps.webhook(&apps.mur_base, &e).await, 200);
        apps.payments.service.consume_ledger_events(10).await.expect("clawback");
        let bal = apps.balances("m1").await;
        // pending 7992 + 888 released = 8880; clawback: net −3325, reserve −355, both from pending.
        assert_eq!(
            (bal["reserveBalance"].clone(), bal["pendingBalance"].clone()),
            (json!(0), json!(5200)),
            "{:?}: {bal}",
            t.backend
        );
        assert_eq!(bal["totalEarnings"], json!(5200));
    }
}

/// Issue 10 (part 3): with the default jobs a ledger change reaches the balances within a second
/// (the consumer polls the outbox every 250 ms and drains it), not on the 30 s job tick.
#[tokio::test]
async fn balances_follow_a_sale_within_a_second_with_the_default_jobs() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        payments::startup::spawn_jobs(
            &apps.payments,
            std::time::Duration::from_secs(30),
            std::time::Duration::from_millis(250),
            std::time::Duration::from_secs(1),
        );
        let (_, acct) = apps.active_account("m1").await;
        for i in 0..30 {
            apps.pay_order(&format!("ord_{i}"), &format!("pi_{i}"), &acct, 10_000).await;
        }
        let started = std::time::Instant::now();
        loop {
            if apps.balances("m1").await["pendingBalance"] == json!(30 * 7992) {
                break;
            }
            assert!(started.elapsed() < std::time::Duration::from_secs(1), "{:?}: balances late", t.backend);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// Issue 10 (part 3), PostgreSQL: murchases' commit notifies payments (LISTEN/NOTIFY), so with a
/// poll of 30 s a sale still reaches the balances within a second; on two payments replicas it is
/// applied once.
#[tokio::test]
async fn a_commit_wakes_the_consumer_on_every_replica_on_postgres() {
    let Some(t) = TestDb::postgres_fresh().await else { return };
    let apps = spawn(&t.conn).await;
    let replica = apps.replicas(&t.conn).await;
    let slow = std::time::Duration::from_secs(30);
    payments::startup::spawn_jobs(&apps.payments, slow, slow, slow);
    payments::startup::spawn_jobs(&replica.payments, slow, slow, slow);
    let (_, acct) = apps.active_account("m1").await;
    // Both consumers have run their start-up pass and listen now.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for i in 0..10 {
        apps.pay_order(&format!("ord_{i}"), &format!("pi_{i}"), &acct, 10_000).await;
    }
    let started = std::time::Instant::now();
    while apps.balances("m1").await["pendingBalance"] != json!(10 * 7992) {
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "woken consumers: balances late");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(count::<entity::balance_movements::Entity>(&t.conn).await, 10, "each earning once");
}
