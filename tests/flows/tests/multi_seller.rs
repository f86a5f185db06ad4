//! Issue 13, item 1 (R-COMM-7): a cart whose items belong to several Malets is one charge on the platform
//! (Stripe separate charges and transfers, `transfer_group` = the order id) and one ledger entry
//! per Malet; each seller's net is sent once as a Transfer from the charge; refunding one seller's
//! items claws back from that seller only (a reversal of its transfer), and a full refund
//! converges every seller.

use flows::{Apps, spawn};
use serde_json::{Value, json};
use test_support::{self as testing, TestDb, admin_token, order_service_token};

const ORDER: &str = "ord_cart_1";

const CREATE: &str = "mutation($i: CartInput!) { createOrderPayment(input: $i) { orderId paymentIntentId grossAmount processingFeeEstimate parts { maletId grossAmount commissionAmount processingFee reserveAmount netPayout } } }";

const ENTRIES: &str = "query($m: ID!) { commissionLedger(maletId: $m) { id orderId grossAmount commissionAmount processingFee reserveAmount netPayout refundedAmount status funding transferGroup parties { role id amount ruleVersion } } }";

async fn entry(apps: &Apps, malet: &str) -> Value {
    let res = apps.mur.run(Some(&admin_token()), ENTRIES, json!({"m": malet})).await;
    let entries = res["data"]["commissionLedger"].as_array().cloned().unwrap_or_else(|| panic!("{res}"));
    assert_eq!(entries.len(), 1, "one entry for {malet}: {entries:?}");
    entries[0].clone()
}

/// Every party's amount of an entry sums to its gross (R-MONEY-2 per party).
fn assert_parties_sum(e: &Value) {
    let sum: i64 =
        e["parties"].as_array().expect("parties").iter().map(|p| p["amount"].as_i64().expect("amount")).sum();
    assert_eq!(sum, e["grossAmount"].as_i64().expect("gross"), "{e}");
}

async fn set_pro(apps: &Apps, malet: &str) {
    let m = "mutation($m: ID!) { setMaletTier(maletId: $m, tier: PRO, reason: \"plan\") { version } }";
    let res = apps.mur.run(Some(&admin_token()), m, json!({"m": malet})).await;
    assert!(res["errors"].is_null(), "{res}");
}

/// The cart: items 20.00 and 15.00 from `ma` (Starter), 30.00 from `mb` (Pro), shipping
/// 1.00 and a 10% coupon (6.50): 59.50 charged.
fn cart() -> Value {
    json!({"i": {"orderId": ORDER, "items": [
        {"maletId": "ma", "amount": 2000},
        {"maletId": "mb", "amount": 3000},
        {"maletId": "ma", "amount": 1500}
    ], "shipping": 100, "discount": 650}})
}

/// Stripe's `payment_intent.succeeded` for the intent `pi` as the fake holds it.
fn succeeded(apps: &Apps, pi: &str) -> Value {
    let mut paid = testing::stripe_event("payment_intent.succeeded");
    paid["id"] = json!(format!("evt_paid_{pi}"));
    paid["data"]["object"] = apps.stripe.payment_intent(pi).expect("pi object");
    paid
}

fn transfers_from(apps: &Apps, charge: &str) -> Vec<Value> {
    apps.stripe.transfers().into_iter().filter(|t| t["source_transaction"] == charge).collect()
}

async fn balances(apps: &Apps, malet: &str) -> (i64, i64) {
    apps.payments.service.consume_ledger_events(100).await.expect("ledger events");
    let b = apps.balances(malet).await;
    (b["pendingBalance"].as_i64().expect("pending"), b["reserveBalance"].as_i64().expect("reserve"))
}

#[tokio::test]
async fn a_two_seller_cart_is_one_charge_two_entries_and_two_transfers_sent_once() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        let replica = apps.replicas(&t.conn).await;
        let (_, acct_a) = apps.active_account("ma").await;
        let (_, acct_b) = apps.active_account("mb").await;
        set_pro(&apps, "mb").await;

        // Only the order service shapes a cart.
        let owner = testing::owner_token("ma");
        let denied = apps.mur.run(Some(&owner), CREATE, cart()).await;
        assert_eq!(testing::error_code(&denied).as_deref(), Some("FORBIDDEN"), "{denied}");

        let res = apps.mur.run(Some(&order_service_token()), CREATE, cart()).await;
        let made = &res["data"]["createOrderPayment"];
        assert_eq!(made["grossAmount"], 5950, "{res}");
        // 2.9% × 59.50 + 0.30 = 2.03, shared 109 : 94 on item subtotals 35.00 : 30.00.
        assert_eq!(made["processingFeeEstimate"], 203);
        // ma: 35.00 − 3.50 coupon + 0.54 shipping = 32.04; commission 8% × 31.50 = 2.52; fee
        // 1.09; reserve 10% × 28.43 = 2.84; net 25.59. mb: 30.00 − 3.00 + 0.46 = 27.46;
        // commission 5% × 27.00 = 1.35; fee 0.94; reserve 10% × 25.17 = 2.52; net 22.65.
        assert_eq!(
            made["parts"],
            json!([
                {"maletId": "ma", "grossAmount": 3204, "commissionAmount": 252, "processingFee": 109, "reserveAmount": 284, "netPayout": 2559},
                {"maletId": "mb", "grossAmount": 2746, "commissionAmount": 135, "processingFee": 94, "reserveAmount": 252, "netPayout": 2265}
            ]),
            "{:?}",
            t.backend
        );
        let pi = made["paymentIntentId"].as_str().expect("pi").to_owned();
        // The charge is the platform's: grouped by the order, no destination, no application fee.
        let sent = apps.stripe.last("/v1/payment_intents").expect("charge sent");
        assert_eq!(sent.field("transfer_group"), Some(ORDER));
        assert_eq!(sent.field("amount"), Some("5950"));
        assert_eq!(sent.field("transfer_data[destination]"), None);
        assert_eq!(sent.field("application_fee_amount"), None);

        // Stripe delivers payment_intent.succeeded 20 times, to both instances at once.
        let mut paid = succeeded(&apps, &pi);
        paid["data"]["object"]["created"] = json!(chrono::Utc::now().timestamp());
        let deliveries = (0..20).map(|i| {
            let base = if i % 2 == 0 { apps.mur_base.clone() } else { replica.mur_base.clone() };
            let (http, paid) = (apps.http.clone(), paid.clone());
            async move { testing::post_webhook(&http, &base, &paid).await }
        });
        let statuses = futures::future::join_all(deliveries).await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

        let a = entry(&apps, "ma").await;
        let b = entry(&apps, "mb").await;
        for (e, gross, net) in [(&a, 3204, 2559), (&b, 2746, 2265)] {
            assert_eq!((e["grossAmount"].as_i64(), e["netPayout"].as_i64()), (Some(gross), Some(net)), "{e}");
            assert_eq!((e["funding"].as_str(), e["transferGroup"].as_str()), (Some("SEPARATE_TRANSFER"), Some(ORDER)));
            assert_parties_sum(e);
        }
        assert_eq!(a["grossAmount"].as_i64().unwrap_or(0) + b["grossAmount"].as_i64().unwrap_or(0), 5950);

        // The sender runs on both instances at once: each transfer is made once.
        let (r1, r2) =
            tokio::join!(apps.murchases.service.send_movements(), replica.murchases.service.send_movements());
        r1.expect("send");
        r2.expect("send");
        apps.murchases.service.send_movements().await.expect("send again");
        let charge = apps.stripe.payment_intent(&pi).expect("pi")["latest_charge"].as_str().expect("charge").to_owned();
        let transfers = transfers_from(&apps, &charge);
        assert_eq!(transfers.len(), 2, "{transfers:?}");
        let to = |acct: &str| transfers.iter().find(|t| t["destination"] == acct).cloned().expect("transfer");
        let (ta, tb) = (to(&acct_a), to(&acct_b));
        assert_eq!((ta["amount"].as_i64(), tb["amount"].as_i64()), (Some(2559), Some(2265)));
        assert!(transfers.iter().all(|t| t["transfer_group"] == ORDER), "{transfers:?}");
        let keys: Vec<Option<String>> =
            apps.stripe.requests_to("/v1/transfers").iter().map(|r| r.idempotency_key.clone()).collect();
        assert!(keys.contains(&Some(format!("out:earning:{}", a["id"].as_str().expect("id")))), "{keys:?}");
        assert_eq!(balances(&apps, "ma").await, (2559, 284));
        assert_eq!(balances(&apps, "mb").await, (2265, 252));
        // Reconciliation sees one charge of the whole order (both entries' gross), no
        // application fee and no automatic transfer, and our two transfers: nothing differs.
        let now = chrono::Utc::now();
        let run = apps
            .murchases
            .service
            .reconcile(now - chrono::Duration::hours(1), now + chrono::Duration::hours(1))
            .await
            .expect("reconcile");
        assert_eq!((run.found, run.new), (0, 0), "{:?}: {run:?}", t.backend);
        assert!(run.compared >= 3, "{run:?}");

        // The order across its sellers: every party of the whole order, summing to the charge.
        let order = "query($o: ID!) { order(orderId: $o) { orderId paymentIds totals { currency grossAmount parties { role id amount ruleVersions } } entries { maletId grossAmount } } }";
        let res = apps.mur.run(Some(&admin_token()), order, json!({"o": ORDER})).await;
        assert_eq!(
            res["data"]["order"],
            json!({"orderId": ORDER, "paymentIds": [pi], "totals": [{"currency": "USD", "grossAmount": 5950, "parties": [
                {"role": "PLATFORM", "id": null, "amount": 387, "ruleVersions": [0, 1]},
                {"role": "PROCESSING_FEE", "id": null, "amount": 203, "ruleVersions": [0, 1]},
                {"role": "RESERVE", "id": "ma", "amount": 284, "ruleVersions": [0]},
                {"role": "SELLER", "id": "ma", "amount": 2559, "ruleVersions": [0]},
                {"role": "RESERVE", "id": "mb", "amount": 252, "ruleVersions": [1]},
                {"role": "SELLER", "id": "mb", "amount": 2265, "ruleVersions": [1]}
            ]}], "entries": [{"maletId": "ma", "grossAmount": 3204}, {"maletId": "mb", "grossAmount": 2746}]}),
            "{res}"
        );
        // A seller sees its own part of the order; someone else's order is refused.
        let res = apps.mur.run(Some(&owner), order, json!({"o": ORDER})).await;
        assert_eq!(res["data"]["order"]["entries"], json!([{"maletId": "ma", "grossAmount": 3204}]), "{res}");
        let res = apps.mur.run(Some(&testing::owner_token("mc")), order, json!({"o": ORDER})).await;
        assert_eq!(testing::error_code(&res).as_deref(), Some("FORBIDDEN"), "{res}");

        // Refund of mb's item: only mb's entry changes, and its transfer is reversed by its net.
        let refund = "mutation($m: ID!, $o: ID!, $a: Int!) { refundMurchase(maletId: $m, orderId: $o, amount: $a, reason: \"returned\") { refundedAmount status netPayout } }";
        let res = apps.mur.run(Some(&admin_token()), refund, json!({"m": "mb", "o": ORDER, "a": 2746})).await;
        // The processing fee stays the seller's (R-REF-1): its net is −0.94, of which nothing
        // can be reversed beyond the transfer; the rest is a debt on its balance.
        assert_eq!(
            res["data"]["refundMurchase"],
            json!({"refundedAmount": 2746, "status": "REFUNDED", "netPayout": -94}),
            "{res}"
        );
        let refund_req = apps.stripe.last("/v1/refunds").expect("refund sent");
        assert_eq!(refund_req.field("amount"), Some("2746"));
        assert_ne!(
            refund_req.field("reverse_transfer"),
            Some("true"),
            "the platform's charge is refunded; the transfer is reversed apart"
        );
        let tb_id = tb["id"].as_str().expect("id");
        assert_eq!(apps.stripe.transfer(tb_id).expect("transfer")["amount_reversed"], 2265);
        let ta_id = ta["id"].as_str().expect("id");
        assert_eq!(apps.stripe.transfer(ta_id).expect("transfer")["amount_reversed"], 0);
        assert_eq!(entry(&apps, "ma").await["refundedAmount"], 0);
        assert_eq!(balances(&apps, "mb").await, (-94, 0));
        assert_eq!(balances(&apps, "ma").await, (2559, 284));

        // Stripe's charge.refunded for it names the refund (our metadata names mb's entry): no change.
        let mut refunded = testing::stripe_event("charge.refunded");
        refunded["id"] = json!("evt_refunded_1");
        refunded["data"]["object"] = apps.stripe.charge(&charge).expect("charge");
        let ours: Vec<Value> = apps.stripe.refunds();
        refunded["data"]["object"]["refunds"] = json!({"object": "list", "data": ours, "has_more": false});
        assert_eq!(apps.webhook(&apps.mur_base, &refunded).await, 200);
        assert_eq!(entry(&apps, "ma").await["refundedAmount"], 0);
        assert_eq!(entry(&apps, "mb").await["refundedAmount"], 2746);

        // A full refund made in Stripe's dashboard (no entry named): the rest is ma's.
        let mut full = refunded.clone();
        full["id"] = json!("evt_refunded_2");
        full["data"]["object"]["amount_refunded"] = json!(5950);
        full["data"]["object"]["refunded"] = json!(true);
        let mut listed = ours.clone();
        listed.insert(
            0,
            json!({"id": "re_dashboard", "object": "refund", "amount": 3204, "status": "succeeded", "metadata": {}}),
        );
        full["data"]["object"]["refunds"]["data"] = json!(listed);
        assert_eq!(apps.webhook(&apps.mur_base, &full).await, 200);
        let a = entry(&apps, "ma").await;
        assert_eq!((a["refundedAmount"].as_i64(), a["status"].as_str()), (Some(3204), Some("REFUNDED")), "{a}");
        assert_parties_sum(&a);
        assert_eq!(entry(&apps, "mb").await["refundedAmount"], 2746);
        apps.murchases.service.send_movements().await.expect("send");
        assert_eq!(apps.stripe.transfer(ta_id).expect("transfer")["amount_reversed"], 2559);
        assert_eq!(balances(&apps, "ma").await, (-109, 0));
        // Delivered again: converged, nothing moves twice.
        let again = {
            let mut e = full.clone();
            e["id"] = json!("evt_refunded_3");
            e
        };
        assert_eq!(apps.webhook(&apps.mur_base, &again).await, 200);
        apps.murchases.service.send_movements().await.expect("send");
        assert_eq!(apps.stripe.transfer(ta_id).expect("transfer")["amount_reversed"], 2559);
        assert_eq!(apps.stripe.transfer(tb_id).expect("transfer")["amount_reversed"], 2265);
    }
}

/// A charge whose sellers disagree with checkout (a different transfer group) credits nobody.
#[tokio::test]
async fn a_multi_seller_payment_that_disagrees_with_its_checkout_credits_nobody() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        apps.active_account("ma").await;
        apps.active_account("mb").await;
        let res = apps.mur.run(Some(&order_service_token()), CREATE, cart()).await;
        let pi = res["data"]["createOrderPayment"]["paymentIntentId"].as_str().expect("pi").to_owned();
        let mut paid = succeeded(&apps, &pi);
        paid["id"] = json!("evt_paid_tampered");
        paid["data"]["object"]["transfer_group"] = json!("another_order");
        assert_eq!(apps.webhook(&apps.mur_base, &paid).await, 200);
        for malet in ["ma", "mb"] {
            let res = apps.mur.run(Some(&admin_token()), ENTRIES, json!({"m": malet})).await;
            assert_eq!(res["data"]["commissionLedger"], json!([]), "{:?}: {res}", t.backend);
        }
        let q = "{ paymentExceptions { providerPaymentId reason } }";
        let res = apps.mur.run(Some(&admin_token()), q, json!({})).await;
        let reason = res["data"]["paymentExceptions"][0]["reason"].as_str().unwrap_or_default().to_owned();
        assert!(reason.contains("transfer_group"), "{res}");
        apps.murchases.service.send_movements().await.expect("send");
        assert!(apps.stripe.transfers().is_empty());
    }
}

/// A lost dispute on a multi-seller charge: its cost (the amount plus the dispute fee) is shared
/// by gross, each seller's transfer is reversed by what it still holds, the rest is a debt on its
/// balance; payments records the dispute as the platform's (no seller's chargeback count).
#[tokio::test]
async fn a_lost_dispute_on_a_cart_is_shared_by_gross_and_counts_against_no_single_seller() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        let (_, acct_a) = apps.active_account("ma").await;
        let (_, acct_b) = apps.active_account("mb").await;
        set_pro(&apps, "mb").await;
        let res = apps.mur.run(Some(&order_service_token()), CREATE, cart()).await;
        let pi = res["data"]["createOrderPayment"]["paymentIntentId"].as_str().expect("pi").to_owned();
        let paid = succeeded(&apps, &pi);
        assert_eq!(apps.webhook(&apps.mur_base, &paid).await, 200);
        apps.murchases.service.send_movements().await.expect("transfers");
        let charge = apps.stripe.payment_intent(&pi).expect("pi")["latest_charge"].clone();

        let charge_id = charge.as_str().expect("charge").to_owned();
        let dispute = |id: &str, kind: &str, status: &str| {
            testing::events::dispute(id, kind, "dp_cart", &pi, &charge_id, 5950, status)
        };
        for e in [
            dispute("evt_dp_open", "charge.dispute.created", "needs_response"),
            dispute("evt_dp_lost", "charge.dispute.closed", "lost"),
        ] {
            assert_eq!(apps.webhook(&apps.mur_base, &e).await, 200);
            assert_eq!(apps.webhook(&apps.pay_base, &e).await, 200);
        }
        // Delivered again: nothing twice.
        let mut again = dispute("evt_dp_lost_again", "charge.dispute.closed", "lost");
        again["id"] = json!("evt_dp_lost_again");
        assert_eq!(apps.webhook(&apps.mur_base, &again).await, 200);
        apps.murchases.service.send_movements().await.expect("reversals");

        // 5950 + the 1500 fee = 7450, shared 3204 : 2746 → 4012 / 3438.
        let a = entry(&apps, "ma").await;
        let b = entry(&apps, "mb").await;
        assert_parties_sum(&a);
        assert_parties_sum(&b);
        assert_eq!(balances(&apps, "ma").await, (2559 - 4012, 284), "{:?}", t.backend);
        assert_eq!(balances(&apps, "mb").await, (2265 - 3438, 252));
        let transfers = transfers_from(&apps, charge.as_str().expect("charge"));
        let reversed = |acct: &str| {
            transfers.iter().find(|t| t["destination"] == acct).map(|t| {
                apps.stripe.transfer(t["id"].as_str().expect("id")).expect("transfer")["amount_reversed"].clone()
            })
        };
        assert_eq!(reversed(&acct_a), Some(json!(2559)), "at most what the transfer holds");
        assert_eq!(reversed(&acct_b), Some(json!(2265)));

        // Payments: the platform's dispute, on no seller's account; both stay ACTIVE.
        use sea_orm::EntityTrait;
        let disputes = entity::disputes::Entity::find().all(&t.conn).await.expect("disputes");
        assert_eq!(disputes.len(), 1, "{disputes:?}");
        assert_eq!(disputes[0].account_id, None, "{disputes:?}");
        for malet in ["ma", "mb"] {
            assert_eq!(apps.balances(malet).await["status"], "ACTIVE");
        }
    }
}

/// A seller's net transfer that Stripe refuses stays owed: an admin retries it once the cause is
/// fixed, under a new key, once; a later refund takes back from the transfer that was made.
#[tokio::test]
async fn a_refused_net_transfer_is_retried_by_an_admin_once_and_later_refunds_reverse_the_retry() {
    const MOVES: &str = "query($s: OutgoingStatus) { outgoingMovements(status: $s) { id kind status amount maletId postingKey providerRef } }";
    const RETRY: &str = "mutation($id: ID!) { retryOutgoingMovement(id: $id, reason: \"transfers capability enabled\") { id status amount postingKey providerRef } }";
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        apps.active_account("ma").await;
        apps.active_account("mb").await;
        set_pro(&apps, "mb").await;
        let res = apps.mur.run(Some(&order_service_token()), CREATE, cart()).await;
        let pi = res["data"]["createOrderPayment"]["paymentIntentId"].as_str().expect("pi").to_owned();
        let paid = succeeded(&apps, &pi);
        // Stripe refuses the first transfer it is asked for.
        apps.stripe.fail_next("/v1/transfers", 400);
        assert_eq!(apps.webhook(&apps.mur_base, &paid).await, 200);
        apps.murchases.service.send_movements().await.expect("send");
        let admin = admin_token();
        let failed =
            apps.mur.run(Some(&admin), MOVES, json!({"s": "FAILED"})).await["data"]["outgoingMovements"].clone();
        assert_eq!(failed.as_array().map(Vec::len), Some(1), "{:?}: {failed}", t.backend);
        let failed = &failed[0];
        let malet = failed["maletId"].as_str().expect("malet").to_owned();
        let net = failed["amount"].as_i64().expect("amount");
        let charge = apps.stripe.payment_intent(&pi).expect("pi")["latest_charge"].as_str().expect("charge").to_owned();
        assert_eq!(transfers_from(&apps, &charge).len(), 1, "one of the two was made");
        // The seller is still owed it: its balance stands.
        assert_eq!(balances(&apps, &malet).await.0, net);

        let id = failed["id"].clone();
        let res = apps.mur.run(Some(&testing::owner_token(&malet)), RETRY, json!({"id": id})).await;
        assert_eq!(testing::error_code(&res).as_deref(), Some("FORBIDDEN"), "{res}");
        let res = apps.mur.run(Some(&admin), RETRY, json!({"id": id})).await;
        let retry = &res["data"]["retryOutgoingMovement"];
        assert_eq!((retry["status"].as_str(), retry["amount"].as_i64()), (Some("CONFIRMED"), Some(net)), "{res}");
        assert!(retry["postingKey"].as_str().is_some_and(|k| k.ends_with(":retry-1")), "{res}");
        let res = apps.mur.run(Some(&admin), RETRY, json!({"id": id})).await;
        assert_eq!(testing::error_code(&res).as_deref(), Some("CONFLICT"), "retried once: {res}");
        let res = apps.mur.run(Some(&admin), RETRY, json!({"id": retry["id"]})).await;
        assert_eq!(testing::error_code(&res).as_deref(), Some("CONFLICT"), "a made transfer is not retried: {res}");
        let transfers = transfers_from(&apps, &charge);
        assert_eq!(transfers.len(), 2, "{transfers:?}");
        let made = transfers.iter().find(|t| t["id"] == retry["providerRef"]).expect("the retry's transfer");
        assert_eq!(made["amount"].as_i64(), Some(net));

        // A refund of that seller's items reverses the retry's transfer.
        let gross = if malet == "ma" { 3204 } else { 2746 };
        let refund = "mutation($m: ID!, $o: ID!, $a: Int!) { refundMurchase(maletId: $m, orderId: $o, amount: $a, reason: \"returned\") { status } }";
        let res = apps.mur.run(Some(&admin), refund, json!({"m": malet, "o": ORDER, "a": gross})).await;
        assert_eq!(res["data"]["refundMurchase"]["status"], "REFUNDED", "{res}");
        apps.murchases.service.send_movements().await.expect("send");
        let reversed =
            apps.stripe.transfer(made["id"].as_str().expect("id")).expect("transfer")["amount_reversed"].clone();
        assert_eq!(reversed, json!(net), "taken back from the transfer that was made");
    }
}
