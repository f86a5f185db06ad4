//! Issue 12: money follows the ledger. An adjustment sends the seller's difference as a Transfer
//! (or takes it back as a Transfer reversal), through an outgoing movement written with its
//! posting; a timeout after the provider executed the call is UNKNOWN and found by lookup, never
//! sent twice; a refused transfer is FAILED and its adjustment is reversed visibly; a lost
//! dispute debits the seller the disputed amount plus the fee, a won one gives it back.

use flows::{Apps, spawn};
use serde_json::{Value, json};
use test_support::{self as testing, TestDb, admin_token};

const ADJUST: &str = "mutation($l: ID!, $a: Int!) { adjustCommission(ledgerId: $l, amount: $a, reason: \"goodwill\") { commissionAmount netPayout } }";
const MOVEMENTS: &str = "query($l: ID) { outgoingMovements(ledgerId: $l) { id kind status amount postingKey providerRef attempts lastError } }";

async fn ledger_id(apps: &Apps, malet: &str, order: &str) -> String {
    let q = "query($m: ID!) { commissionLedger(maletId: $m) { id orderId } }";
    let res = apps.mur.run(Some(&admin_token()), q, json!({"m": malet})).await;
    res["data"]["commissionLedger"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["orderId"] == order)
        .and_then(|e| e["id"].as_str())
        .expect("entry")
        .to_owned()
}

async fn movements(apps: &Apps, ledger: &str) -> Vec<Value> {
    let res = apps.mur.run(Some(&admin_token()), MOVEMENTS, json!({"l": ledger})).await;
    res["data"]["outgoingMovements"].as_array().cloned().unwrap_or_else(|| panic!("movements: {res}"))
}

fn transfers_of(apps: &Apps, movement: &str) -> Vec<Value> {
    apps.stripe.transfers().into_iter().filter(|t| t["metadata"]["movementId"] == movement).collect()
}

async fn pending(apps: &Apps, malet: &str) -> i64 {
    apps.payments.service.consume_ledger_events(100).await.expect("ledger events");
    apps.balances(malet).await["pendingBalance"].as_i64().expect("pending")
}

/// 10 000 at the starter tier: commission 800, fee 320, reserve 888, net 7 992.
const NET: i64 = 7992;

#[tokio::test]
async fn adjustments_move_the_difference_to_and_from_the_seller() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        let (_, acct) = apps.active_account("m1").await;
        let pi = apps.checkout_and_pay("ord_1", "m1", 10_000).await;
        let ledger = ledger_id(&apps, "m1", "ord_1").await;
        assert_eq!(pending(&apps, "m1").await, NET, "{:?}", t.backend);

        // −200: the platform gives 200 of its commission to the seller, as a transfer.
        let res = apps.mur.run(Some(&admin_token()), ADJUST, json!({"l": ledger, "a": -200})).await;
        assert_eq!(res["data"]["adjustCommission"]["netPayout"], NET + 200, "{res}");
        let sent = apps.stripe.last("/v1/transfers").expect("transfer sent");
        assert_eq!(sent.field("amount"), Some("200"));
        assert_eq!(sent.field("destination"), Some(acct.as_str()));
        let moved = movements(&apps, &ledger).await;
        assert_eq!(moved.len(), 1, "{moved:?}");
        assert_eq!((moved[0]["kind"].as_str(), moved[0]["status"].as_str()), (Some("TRANSFER"), Some("CONFIRMED")));
        assert_eq!(moved[0]["amount"], 200);
        assert_eq!(
            sent.idempotency_key.as_deref(),
            Some(format!("out:{}", moved[0]["postingKey"].as_str().expect("key")).as_str())
        );
        let made = transfers_of(&apps, moved[0]["id"].as_str().expect("id"));
        assert_eq!(made.len(), 1);
        assert_eq!(moved[0]["providerRef"], made[0]["id"]);
        assert_eq!(pending(&apps, "m1").await, NET + 200);

        // +200: the seller gives 200 back, as a reversal of the payment's transfer.
        let res = apps.mur.run(Some(&admin_token()), ADJUST, json!({"l": ledger, "a": 200})).await;
        assert_eq!(res["data"]["adjustCommission"]["netPayout"], NET, "{res}");
        let charge = apps.stripe.payment_intent(&pi).expect("pi")["latest_charge"].as_str().expect("charge").to_owned();
        let transfer = apps.stripe.charge(&charge).expect("charge")["transfer"].as_str().expect("transfer").to_owned();
        let reversal = apps.stripe.last(&format!("/v1/transfers/{transfer}/reversals")).expect("reversal sent");
        assert_eq!(reversal.field("amount"), Some("200"));
        assert_eq!(apps.stripe.transfer(&transfer).expect("transfer")["amount_reversed"], 200);
        let moved = movements(&apps, &ledger).await;
        assert_eq!(moved[0]["kind"], "TRANSFER_REVERSAL");
        assert_eq!(moved[0]["status"], "CONFIRMED", "{moved:?}");
        assert_eq!(pending(&apps, "m1").await, NET);

        // Nothing is sent again by later passes of the job.
        let posts = apps.stripe.requests().iter().filter(|r| r.method == "POST").count();
        apps.murchases.service.send_movements().await.expect("job");
        assert_eq!(apps.stripe.requests().iter().filter(|r| r.method == "POST").count(), posts);
    }
}

/// What moves the seller's money at Stripe after a destination charge: the fee refunded to it
/// less what was reversed from its transfer.
fn seller_money(apps: &Apps, pi: &str) -> i64 {
    let charge = apps.stripe.payment_intent(pi).expect("pi")["latest_charge"].as_str().expect("charge").to_owned();
    let charge = apps.stripe.charge(&charge).expect("charge");
    let transfer = apps.stripe.transfer(charge["transfer"].as_str().expect("transfer")).expect("transfer");
    let fee = apps.stripe.application_fee(charge["application_fee"].as_str().expect("fee")).expect("fee");
    let n = |v: &Value, k: &str| v[k].as_i64().unwrap_or_else(|| panic!("{k} of {v}"));
    n(&fee, "amount_refunded") - n(&transfer, "amount_reversed")
}

/// An adjustment after a partial refund: the commission rises on the original order, so the
/// refunded commission rises too and reaches the seller as a fee refund; the reversal takes that
/// back as well, and the seller's money at Stripe changes by exactly its net (−60 for +100 after
/// a 40% refund: reversal 100, fee refund 40), never more.
#[tokio::test]
async fn an_adjustment_after_a_partial_refund_moves_exactly_the_net() {
    const REFUND: &str = "mutation { refundMurchase(maletId: \"m1\", orderId: \"ord_1\", amount: 4000, reason: \"damaged\") { netPayout } }";
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        apps.active_account("m1").await;
        let pi = apps.checkout_and_pay("ord_1", "m1", 10_000).await;
        let ledger = ledger_id(&apps, "m1", "ord_1").await;
        let res = apps.mur.run(Some(&admin_token()), REFUND, json!({})).await;
        assert_eq!(res["data"]["refundMurchase"]["netPayout"], 4667, "{res}");
        apps.murchases.service.send_fee_refunds(None, 10).await.expect("fee refunds");
        let before = seller_money(&apps, &pi);

        let res = apps.mur.run(Some(&admin_token()), ADJUST, json!({"l": ledger, "a": 100})).await;
        assert_eq!(res["data"]["adjustCommission"], json!({"commissionAmount": 540, "netPayout": 4607}), "{res}");
        apps.murchases.service.send_movements().await.expect("movements");
        apps.murchases.service.send_fee_refunds(None, 10).await.expect("fee refunds");
        let moved = movements(&apps, &ledger).await;
        let of = |kind: &str| -> Vec<i64> {
            moved
                .iter()
                .filter(|m| m["kind"] == kind && m["postingKey"].as_str().is_some_and(|k| k.contains("adjustment:")))
                .map(|m| m["amount"].as_i64().expect("amount"))
                .collect()
        };
        assert_eq!(of("TRANSFER_REVERSAL"), vec![100], "{moved:?}");
        assert_eq!(of("FEE_REFUND"), vec![40], "{moved:?}");
        assert!(moved.iter().all(|m| m["status"] == "CONFIRMED"), "{moved:?}");
        assert_eq!(seller_money(&apps, &pi) - before, 4607 - 4667, "the seller's money follows its net exactly");
        assert_eq!(pending(&apps, "m1").await, 4607);
    }
}

#[tokio::test]
async fn a_transfer_that_timed_out_after_it_was_made_is_found_not_sent_again() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        apps.active_account("m1").await;
        apps.checkout_and_pay("ord_1", "m1", 10_000).await;
        let ledger = ledger_id(&apps, "m1", "ord_1").await;

        // Stripe makes the transfer but answers after our timeout.
        let delay = std::time::Duration::from_millis(testing::STRIPE_TEST_TIMEOUT_MS + 1500);
        apps.stripe.delay_next("/v1/transfers", delay);
        let res = apps.mur.run(Some(&admin_token()), ADJUST, json!({"l": ledger, "a": -200})).await;
        assert!(res["errors"].is_null(), "the adjustment is recorded whatever the provider does: {res}");
        let moved = movements(&apps, &ledger).await;
        assert_eq!(moved[0]["status"], "UNKNOWN", "{:?}: {moved:?}", t.backend);
        let id = moved[0]["id"].as_str().expect("id").to_owned();
        assert_eq!(transfers_of(&apps, &id).len(), 1, "Stripe made it");

        // The next pass looks it up before sending anything, and finds it.
        assert!(service_core::outgoing::make_due(&t.conn, &id).await.expect("due"));
        let posts_before = apps.stripe.requests_to("/v1/transfers").iter().filter(|r| r.method == "POST").count();
        let report = apps.murchases.service.send_movements().await.expect("job");
        assert_eq!(report.confirmed, 1, "{report:?}");
        let moved = movements(&apps, &ledger).await;
        assert_eq!(moved[0]["status"], "CONFIRMED", "{moved:?}");
        let made = transfers_of(&apps, &id);
        assert_eq!(made.len(), 1, "exactly one transfer exists");
        assert_eq!(moved[0]["providerRef"], made[0]["id"]);
        let posts_after = apps.stripe.requests_to("/v1/transfers").iter().filter(|r| r.method == "POST").count();
        assert_eq!(posts_after, posts_before, "found by lookup, not sent again");
        assert_eq!(pending(&apps, "m1").await, NET + 200);
    }
}

#[tokio::test]
async fn a_refused_transfer_fails_and_reverses_its_adjustment() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        apps.active_account("m1").await;
        apps.checkout_and_pay("ord_1", "m1", 10_000).await;
        let ledger = ledger_id(&apps, "m1", "ord_1").await;
        assert_eq!(pending(&apps, "m1").await, NET);

        apps.stripe.fail_next_with(
            "/v1/transfers",
            400,
            json!({"error": {"type": "invalid_request_error", "code": "balance_insufficient",
                "message": "You have insufficient available funds in your Stripe account."}}),
        );
        apps.mur.run(Some(&admin_token()), ADJUST, json!({"l": ledger, "a": -200})).await;
        let moved = movements(&apps, &ledger).await;
        assert_eq!(moved[0]["status"], "FAILED", "{:?}: {moved:?}", t.backend);
        assert!(moved[0]["lastError"].as_str().unwrap_or_default().contains("insufficient"), "{moved:?}");
        assert!(transfers_of(&apps, moved[0]["id"].as_str().expect("id")).is_empty());

        // The books show both: the adjustment and its reversal; the seller's balance is back.
        let q = "query($m: ID!) { commissionLedger(maletId: $m) { commissionAmount netPayout } }";
        let entry = apps.mur.run(Some(&admin_token()), q, json!({"m": "m1"})).await;
        assert_eq!(entry["data"]["commissionLedger"][0], json!({"commissionAmount": 800, "netPayout": NET}));
        let kinds: Vec<(String, i64)> = entity::ledger_postings::Entity::find()
            .filter(entity::ledger_postings::Column::LedgerId.eq(ledger.clone()))
            .order_by_asc(entity::ledger_postings::Column::CreatedAt)
            .all(&t.conn)
            .await
            .expect("postings")
            .into_iter()
            .map(|p| (p.kind.to_string(), p.net_delta))
            .collect();
        assert_eq!(kinds, [("EARNING".to_owned(), NET), ("ADJUSTMENT".to_owned(), 200), ("REVERSAL".to_owned(), -200)]);
        assert_eq!(pending(&apps, "m1").await, NET);
        let balance_kinds: Vec<String> = entity::balance_movements::Entity::find()
            .order_by_asc(entity::balance_movements::Column::CreatedAt)
            .all(&t.conn)
            .await
            .expect("movements")
            .into_iter()
            .map(|m| format!("{} {}", m.kind, m.pending_delta))
            .collect();
        assert_eq!(balance_kinds, [format!("EARNING {NET}"), "ADJUSTMENT 200".into(), "REVERSAL -200".into()]);
    }
}

fn dispute_event(id: &str, kind: &str, dp: &str, apps: &Apps, pi: &str, status: &str) -> Value {
    let charge = apps.stripe.payment_intent(pi).expect("pi")["latest_charge"].as_str().expect("charge").to_owned();
    testing::events::dispute(id, kind, dp, pi, &charge, 10_000, status)
}

#[tokio::test]
async fn a_lost_dispute_debits_the_seller_and_a_won_one_gives_it_back() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        apps.active_account("m1").await;
        let pi1 = apps.checkout_and_pay("ord_1", "m1", 10_000).await;
        let pi2 = apps.checkout_and_pay("ord_2", "m1", 10_000).await;
        assert_eq!(pending(&apps, "m1").await, 2 * NET, "{:?}", t.backend);
        let fee = 1500; // config/commission.toml [disputes] fee_minor.USD, borne by the seller

        // Lost: the disputed 10 000 plus the fee leave the seller's pending balance, once.
        let opened = dispute_event("evt_dp1_open", "charge.dispute.created", "dp_1", &apps, &pi1, "needs_response");
        assert_eq!(apps.webhook(&apps.mur_base, &opened).await, 200);
        assert_eq!(pending(&apps, "m1").await, 2 * NET, "opening moves no money");
        let lost = dispute_event("evt_dp1_lost", "charge.dispute.closed", "dp_1", &apps, &pi1, "lost");
        assert_eq!(apps.webhook(&apps.mur_base, &lost).await, 200);
        let mut again = lost.clone();
        again["id"] = json!("evt_dp1_lost_again");
        assert_eq!(apps.webhook(&apps.mur_base, &again).await, 200);
        assert_eq!(pending(&apps, "m1").await, 2 * NET - 10_000 - fee);
        // What the seller still held of that payment is taken back from it.
        apps.murchases.service.send_movements().await.expect("job");
        let l1 = ledger_id(&apps, "m1", "ord_1").await;
        let moved = movements(&apps, &l1).await;
        assert_eq!(moved.len(), 1, "{moved:?}");
        assert_eq!((moved[0]["kind"].as_str(), moved[0]["amount"].as_i64()), (Some("TRANSFER_REVERSAL"), Some(NET)));
        assert_eq!(moved[0]["status"], "CONFIRMED", "{moved:?}");

        // Won (funds withdrawn first, then the decision): debited once, then given back.
        let withdrawn =
            dispute_event("evt_dp2_out", "charge.dispute.funds_withdrawn", "dp_2", &apps, &pi2, "needs_response");
        assert_eq!(apps.webhook(&apps.mur_base, &withdrawn).await, 200);
        assert_eq!(pending(&apps, "m1").await, 2 * NET - 2 * (10_000 + fee));
        // The money is taken back before the decision.
        apps.murchases.service.send_movements().await.expect("job");
        let won = dispute_event("evt_dp2_won", "charge.dispute.closed", "dp_2", &apps, &pi2, "won");
        assert_eq!(apps.webhook(&apps.mur_base, &won).await, 200);
        let reinstated = dispute_event("evt_dp2_back", "charge.dispute.funds_reinstated", "dp_2", &apps, &pi2, "won");
        assert_eq!(apps.webhook(&apps.mur_base, &reinstated).await, 200);
        assert_eq!(pending(&apps, "m1").await, 2 * NET - 10_000 - fee, "the won dispute is restored exactly");
        apps.murchases.service.send_movements().await.expect("job");
        let l2 = ledger_id(&apps, "m1", "ord_2").await;
        let kinds: Vec<(String, i64, String)> = movements(&apps, &l2)
            .await
            .iter()
            .map(|m| {
                (
                    m["kind"].as_str().unwrap_or_default().to_owned(),
                    m["amount"].as_i64().unwrap_or_default(),
                    m["status"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("TRANSFER".to_owned(), NET, "CONFIRMED".to_owned()),
                ("TRANSFER_REVERSAL".to_owned(), NET, "CONFIRMED".to_owned())
            ],
            "newest first: taken back, then given back"
        );
        let dispute_moves: Vec<i64> = entity::balance_movements::Entity::find()
            .filter(entity::balance_movements::Column::Kind.eq(entity::enums::MovementKind::Dispute))
            .order_by_asc(entity::balance_movements::Column::CreatedAt)
            .all(&t.conn)
            .await
            .expect("movements")
            .into_iter()
            .map(|m| m.pending_delta)
            .collect();
        assert_eq!(dispute_moves, [-11_500, -11_500, 11_500]);

        // Won before the reversal was sent: the reversal is cancelled, nothing is given back
        // that was never taken, and the balance is restored.
        let pi3 = apps.checkout_and_pay("ord_3", "m1", 10_000).await;
        let before = pending(&apps, "m1").await;
        let withdrawn =
            dispute_event("evt_dp3_out", "charge.dispute.funds_withdrawn", "dp_3", &apps, &pi3, "needs_response");
        assert_eq!(apps.webhook(&apps.mur_base, &withdrawn).await, 200);
        let won = dispute_event("evt_dp3_won", "charge.dispute.closed", "dp_3", &apps, &pi3, "won");
        assert_eq!(apps.webhook(&apps.mur_base, &won).await, 200);
        assert_eq!(pending(&apps, "m1").await, before);
        let posts = apps.stripe.requests().iter().filter(|r| r.method == "POST").count();
        apps.murchases.service.send_movements().await.expect("job");
        assert_eq!(apps.stripe.requests().iter().filter(|r| r.method == "POST").count(), posts, "nothing sent");
        let l3 = ledger_id(&apps, "m1", "ord_3").await;
        let moved = movements(&apps, &l3).await;
        assert_eq!(moved.len(), 1, "{moved:?}");
        assert_eq!(
            (moved[0]["kind"].as_str(), moved[0]["status"].as_str()),
            (Some("TRANSFER_REVERSAL"), Some("FAILED"))
        );
        assert!(moved[0]["lastError"].as_str().unwrap_or_default().starts_with("cancelled"), "{moved:?}");
    }
}

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

#[tokio::test]
async fn a_fee_refund_that_timed_out_after_it_was_made_is_found_not_sent_again() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        apps.active_account("m1").await;
        let pi = apps.checkout_and_pay("ord_1", "m1", 10_000).await;
        let ledger = ledger_id(&apps, "m1", "ord_1").await;
        let charge = apps.stripe.payment_intent(&pi).expect("pi")["latest_charge"].as_str().expect("charge").to_owned();
        let fee = apps.stripe.charge(&charge).expect("charge")["application_fee"].as_str().expect("fee").to_owned();
        let path = format!("/v1/application_fees/{fee}/refunds");
        apps.stripe.delay_next(&path, std::time::Duration::from_millis(testing::STRIPE_TEST_TIMEOUT_MS + 1500));
        let refund = "mutation { refundMurchase(maletId: \"m1\", orderId: \"ord_1\", amount: 4000, reason: \"cancelled\") { refundedAmount } }";
        let res = apps.mur.run(Some(&admin_token()), refund, json!({})).await;
        assert_eq!(res["data"]["refundMurchase"]["refundedAmount"], 4000, "{:?}: {res}", t.backend);
        let fee_refund =
            movements(&apps, &ledger).await.into_iter().find(|m| m["kind"] == "FEE_REFUND").expect("movement");
        assert_eq!(fee_refund["status"], "UNKNOWN", "{fee_refund}");
        assert_eq!(fee_refund["amount"], 675);

        assert!(service_core::outgoing::make_due(&t.conn, fee_refund["id"].as_str().expect("id")).await.expect("due"));
        let posts = apps.stripe.requests_to(&path).iter().filter(|r| r.method == "POST").count();
        assert_eq!(apps.murchases.service.send_fee_refunds(None, 10).await.expect("job"), 1);
        assert_eq!(
            apps.stripe.requests_to(&path).iter().filter(|r| r.method == "POST").count(),
            posts,
            "found, not sent again"
        );
        let held = apps.stripe.application_fee(&fee).expect("fee");
        assert_eq!(held["amount_refunded"], 675, "exactly one fee refund at Stripe");
        assert_eq!(held["refunds"]["data"].as_array().map(Vec::len), Some(1));
        let q = "{ applicationFeeRefunds { amount status providerFeeRefundId } }";
        let rows = apps.mur.run(Some(&admin_token()), q, json!({})).await;
        assert_eq!(rows["data"]["applicationFeeRefunds"][0]["status"], "SENT", "{rows}");
        assert_eq!(rows["data"]["applicationFeeRefunds"][0]["providerFeeRefundId"], held["refunds"]["data"][0]["id"]);
    }
}

#[tokio::test]
async fn a_refused_reserve_transfer_is_reversed_and_released_again_later() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        apps.active_account("m1").await;
        apps.checkout_and_pay("ord_1", "m1", 10_000).await;
        let due = apps.settle_all().await;
        let before = apps.balances("m1").await;
        assert_eq!((before["pendingBalance"].clone(), before["reserveBalance"].clone()), (json!(NET), json!(888)));

        apps.stripe.fail_next_with(
            "/v1/transfers",
            400,
            json!({"error": {"type": "invalid_request_error", "code": "balance_insufficient", "message": "Insufficient funds."}}),
        );
        assert_eq!(apps.payments.service.release_due_reserves(due).await.expect("release"), 1);
        let after = apps.balances("m1").await;
        assert_eq!(
            (after["pendingBalance"].clone(), after["reserveBalance"].clone()),
            (json!(NET), json!(888)),
            "{:?}: the refused release is undone",
            t.backend
        );
        let kinds: Vec<String> = entity::balance_movements::Entity::find()
            .order_by_asc(entity::balance_movements::Column::CreatedAt)
            .all(&t.conn)
            .await
            .expect("movements")
            .into_iter()
            .map(|m| format!("{} {} {}", m.kind, m.pending_delta, m.reserve_delta))
            .collect();
        assert_eq!(kinds[1..], ["RESERVE_RELEASE 888 -888".to_owned(), "REVERSAL -888 888".to_owned()], "{kinds:?}");
        let hold = entity::reserve_holds::Entity::find().one(&t.conn).await.expect("q").expect("hold");
        assert_eq!(hold.status, entity::enums::HoldStatus::Held);
        assert!(hold.release_at.expect("date") > chrono::Utc::now(), "retried later, not in a loop");
        assert_eq!(apps.payments.service.release_due_reserves(chrono::Utc::now()).await.expect("not yet"), 0);

        // A day later it is released under a new key, and the transfer is made once.
        let later = hold.release_at.expect("date") + chrono::Duration::minutes(1);
        assert_eq!(apps.payments.service.release_due_reserves(later).await.expect("release"), 1);
        let sent = apps.stripe.last("/v1/transfers").expect("transfer");
        assert_eq!(sent.idempotency_key.as_deref(), Some(format!("reserve-release:{}:retry-1", hold.id).as_str()));
        let after = apps.balances("m1").await;
        assert_eq!((after["pendingBalance"].clone(), after["reserveBalance"].clone()), (json!(NET + 888), json!(0)));
        let hold = entity::reserve_holds::Entity::find().one(&t.conn).await.expect("q").expect("hold");
        assert_eq!(hold.status, entity::enums::HoldStatus::Released);
        assert!(hold.transfer_id.is_some(), "the confirmed transfer is kept on the hold");
    }
}

#[tokio::test]
async fn a_refund_of_unknown_outcome_is_looked_up_then_made_once() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        apps.active_account("m1").await;
        let pi = apps.checkout_and_pay("ord_1", "m1", 10_000).await;
        let ledger = ledger_id(&apps, "m1", "ord_1").await;
        let refund = "mutation($a: Int!, $k: String) { refundMurchase(maletId: \"m1\", orderId: \"ord_1\", amount: $a, reason: \"cancelled\", idempotencyKey: $k) { refundedAmount } }";
        let refunds_at_stripe = |amount: i64| {
            apps.stripe
                .requests_to("/v1/refunds")
                .iter()
                .filter(|r| r.method == "POST" && r.field("amount") == Some(&amount.to_string()))
                .count()
        };

        // 1. Stripe refunds the buyer but answers after our timeout: the API says so, the
        // movement is UNKNOWN, and the sender finds the refund instead of sending it again.
        apps.stripe.delay_next("/v1/refunds", std::time::Duration::from_millis(testing::STRIPE_TEST_TIMEOUT_MS + 1500));
        let res = apps.mur.run(Some(&admin_token()), refund, json!({"a": 1000, "k": "r1"})).await;
        assert_eq!(testing::error_code(&res).as_deref(), Some("PROVIDER_ERROR"), "{:?}: {res}", t.backend);
        let m = movements(&apps, &ledger).await.into_iter().find(|m| m["kind"] == "REFUND").expect("movement");
        assert_eq!(m["status"], "UNKNOWN", "{m}");
        assert!(service_core::outgoing::make_due(&t.conn, m["id"].as_str().expect("id")).await.expect("due"));
        apps.murchases.service.send_movements().await.expect("job");
        let m = movements(&apps, &ledger).await.into_iter().find(|m| m["kind"] == "REFUND").expect("movement");
        assert_eq!(m["status"], "CONFIRMED", "{m}");
        assert_eq!(refunds_at_stripe(1000), 1, "found by lookup, not sent again");
        // Stripe's charge.refunded records it in the ledger, once.
        let mut cr = testing::events::charge_refunded("evt_cr_r1", &pi, 10_000, 1_000);
        cr["data"]["object"]["id"] = apps.stripe.payment_intent(&pi).expect("pi")["latest_charge"].clone();
        assert_eq!(apps.webhook(&apps.mur_base, &cr).await, 200);
        // The caller retries the same request: the same refund, nothing sent twice at Stripe.
        let res = apps.mur.run(Some(&admin_token()), refund, json!({"a": 1000, "k": "r1"})).await;
        assert_eq!(res["data"]["refundMurchase"]["refundedAmount"], 1000, "{res}");
        assert_eq!(
            apps.stripe.charge(cr["data"]["object"]["id"].as_str().expect("ch")).expect("charge")["amount_refunded"],
            1000
        );

        // 2. Stripe fails before refunding (a 500): UNKNOWN, the lookup finds nothing, and the
        // sender makes it with the same key, once.
        apps.stripe.fail_next("/v1/refunds", 500);
        let res = apps.mur.run(Some(&admin_token()), refund, json!({"a": 2000, "k": "r2"})).await;
        assert_eq!(testing::error_code(&res).as_deref(), Some("PROVIDER_ERROR"), "{res}");
        let m = movements(&apps, &ledger)
            .await
            .into_iter()
            .find(|m| m["kind"] == "REFUND" && m["amount"] == 2000)
            .expect("movement");
        assert_eq!(m["status"], "UNKNOWN");
        assert!(service_core::outgoing::make_due(&t.conn, m["id"].as_str().expect("id")).await.expect("due"));
        apps.murchases.service.send_movements().await.expect("job");
        let m = movements(&apps, &ledger)
            .await
            .into_iter()
            .find(|m| m["kind"] == "REFUND" && m["amount"] == 2000)
            .expect("movement");
        assert_eq!(m["status"], "CONFIRMED", "{m}");
        let charge = cr["data"]["object"]["id"].as_str().expect("ch").to_owned();
        assert_eq!(apps.stripe.charge(&charge).expect("charge")["amount_refunded"], 3000, "made exactly once");
        let sent: Vec<_> =
            apps.stripe.requests_to("/v1/refunds").into_iter().filter(|r| r.field("amount") == Some("2000")).collect();
        assert_eq!(sent.len(), 2, "the failed attempt and the sender's");
        assert_eq!(sent[0].idempotency_key, sent[1].idempotency_key, "with the same key");
    }
}
