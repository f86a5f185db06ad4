//! Issue 10, goal 2: the running totals (`malet_ledger_totals`, `account_balances`), which the API
//! reads instead of summing the books, always equal the sums of the entries and movements, under
//! random sequences of sales, refunds, outside refunds, adjustments and settlement, and under
//! concurrent sales on two instances. On SQLite and PostgreSQL.

use flows::{Apps, spawn};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use test_support::{TestDb, admin_token, events, owner_token};

struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

async fn assert_totals_agree(apps: &Apps, db: &DatabaseConnection, malets: &[&str], context: &str) {
    let drift = murchases::repo::ledger::totals_mismatches(db, None).await.expect("ledger totals");
    assert!(drift.is_empty(), "{context}: ledger totals drift: {drift:?}");
    let drift = payments::repo::movements::balance_mismatches(db).await.expect("balances");
    assert!(drift.is_empty(), "{context}: balances drift: {drift:?}");
    for malet in malets {
        // What the dashboard shows is what the entries add up to.
        let q = "query($m: ID!) { earningsSummary(maletId: $m) { totalGross totalCommission totalNetPayouts } \
                 commissionLedgerCount(maletId: $m) \
                 commissionLedger(maletId: $m, limit: 100) { grossAmount refundedAmount commissionAmount netPayout } }";
        let r = apps.mur.run(Some(&owner_token(malet)), q, json!({"m": malet})).await;
        let rows = r["data"]["commissionLedger"].as_array().cloned().unwrap_or_default();
        let sum = |f: &dyn Fn(&Value) -> i64| rows.iter().map(f).sum::<i64>();
        let n = |v: &Value, k: &str| v[k].as_i64().unwrap_or(0);
        let s = &r["data"]["earningsSummary"];
        assert_eq!(n(s, "totalGross"), sum(&|e| n(e, "grossAmount") - n(e, "refundedAmount")), "{context}: {r}");
        assert_eq!(n(s, "totalCommission"), sum(&|e| n(e, "commissionAmount")), "{context}: {r}");
        assert_eq!(n(s, "totalNetPayouts"), sum(&|e| n(e, "netPayout")), "{context}: {r}");
        assert_eq!(r["data"]["commissionLedgerCount"].as_i64(), Some(rows.len() as i64), "{context}: {r}");
    }
}

const REFUND: &str = "mutation($m: ID!, $o: ID!, $a: Int!) { refundMurchase(maletId: $m, orderId: $o, amount: $a, \
    reason: \"cancelled\") { refundedAmount } }";
const ADJUST: &str = "mutation($id: ID!, $a: Int!) { adjustCommission(ledgerId: $id, amount: $a, reason: \"model\") { commissionAmount } }";

#[tokio::test]
async fn running_totals_equal_the_sums_after_every_step_of_random_sequences() {
    for seed in [3_u64, 17, 99] {
        for t in TestDb::all().await {
            let apps = spawn(&t.conn).await;
            let malets = ["m1", "m2"];
            for m in malets {
                apps.active_account(m).await;
            }
            let mut rng = Lcg(seed);
            // (malet, order, payment intent, ledger id)
            let mut orders: Vec<(&str, String, String)> = Vec::new();
            for step in 0..24 {
                let context = format!("{:?} seed {seed} step {step}", t.backend);
                match rng.next(5) {
                    0 | 1 => {
                        let malet = malets[usize::try_from(rng.next(2)).unwrap_or(0)];
                        let order = format!("o{seed}-{step}");
                        let amount = 1_000 + i64::try_from(rng.next(40_000)).unwrap_or(0);
                        let pi = apps.checkout_and_pay(&order, malet, amount).await;
                        orders.push((malet, order, pi));
                    }
                    2 if !orders.is_empty() => {
                        let (malet, order, _) = &orders[usize::try_from(rng.next(orders.len() as u64)).unwrap_or(0)];
                        let amount = 1 + i64::try_from(rng.next(3_000)).unwrap_or(0);
                        let r = apps
                            .mur
                            .run(Some(&admin_token()), REFUND, json!({"m": malet, "o": order, "a": amount}))
                            .await;
                        assert!(r["errors"].is_null() || r.to_string().contains("exceeds"), "{context}: {r}");
                    }
                    3 if !orders.is_empty() => {
                        let (malet, order, _) = &orders[usize::try_from(rng.next(orders.len() as u64)).unwrap_or(0)];
                        let entry = entity::commission_ledger::Entity::find()
                            .filter(entity::commission_ledger::Column::MaletId.eq(*malet))
                            .filter(entity::commission_ledger::Column::OrderId.eq(order.clone()))
                            .one(&t.conn)
                            .await
                            .expect("q")
                            .expect("entry");
                        let amount = i64::try_from(rng.next(400)).unwrap_or(0) - 200;
                        let r = apps.mur.run(Some(&admin_token()), ADJUST, json!({"id": entry.id, "a": amount})).await;
                        // Refused adjustments (negative commission, beyond the net) change nothing.
                        let _ = r;
                    }
                    _ => {
                        apps.settle_all().await;
                    }
                }
                apps.payments.service.consume_ledger_events(100).await.expect("consume");
                assert_totals_agree(&apps, &t.conn, &malets, &context).await;
            }
            // A refund made outside the API and reported by webhook counts too.
            if let Some((malet, _, pi)) = orders.first() {
                let charge = apps.stripe.payment_intent(pi).expect("pi")["latest_charge"].as_str().map(str::to_owned);
                let mut e = events::charge_refunded(&format!("evt_out_{seed}"), pi, 0, 500);
                if let Some(ch) = charge {
                    e["data"]["object"]["id"] = json!(ch);
                }
                let _ = apps.webhook(&apps.mur_base, &e).await;
                apps.payments.service.consume_ledger_events(100).await.expect("consume");
                assert_totals_agree(&apps, &t.conn, &[malet], "after an outside refund").await;
            }
        }
    }
}

/// The totals row of one Malet is written by every sale: concurrent sales on two instances of
/// murchases (and their earnings on two instances of payments) add up exactly.
#[tokio::test]
async fn concurrent_sales_on_two_instances_add_up_exactly() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        let replica = apps.replicas(&t.conn).await;
        // Two sellers, their sales interleaved: each replica's batch takes both accounts' balance
        // rows, in account order (no deadlock between the consumers).
        let accounts = [apps.active_account("m1").await.1, apps.active_account("m2").await.1];
        let bases = [apps.mur_base.clone(), replica.mur_base.clone()];
        let sends = (0..80).map(|i| {
            let acct = &accounts[usize::try_from(i / 2).unwrap_or(0) % 2];
            let e = events::payment_succeeded(
                &format!("evt_c{i}"),
                &format!("pi_c{i}"),
                &format!("o{i}"),
                None,
                Some(acct),
                1_000 + i,
            );
            let base = bases[usize::try_from(i).unwrap_or(0) % 2].clone();
            let http = apps.http.clone();
            async move { test_support::post_webhook(&http, &base, &e).await }
        });
        let statuses = futures::future::join_all(sends).await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        let (a, b) = tokio::join!(
            apps.payments.service.drain_ledger_events(60),
            replica.payments.service.drain_ledger_events(60)
        );
        a.expect("consume");
        b.expect("consume");
        apps.payments.service.drain_ledger_events(100).await.expect("consume");
        assert_totals_agree(&apps, &t.conn, &["m1", "m2"], &format!("{:?}", t.backend)).await;
        for m in ["m1", "m2"] {
            let q = format!("{{ commissionLedgerCount(maletId: \"{m}\") }}");
            let count = apps.mur.run(Some(&owner_token(m)), &q, json!({})).await;
            assert_eq!(count["data"]["commissionLedgerCount"], 40, "{count}");
        }
        let earnings = entity::balance_movements::Entity::find()
            .filter(entity::balance_movements::Column::Kind.eq("EARNING"))
            .all(&t.conn)
            .await
            .expect("movements");
        assert_eq!(earnings.len(), 80, "{:?}: each earning once", t.backend);
    }
}

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
