//! TikTok Shop orders (issue 14 item 4): TikTok collects the buyer's money and pays the seller
//! itself, so the platform's commission on its orders is owed by the seller. A signed
//! notification reads the order's detail from the Partner API (it carries no amounts) and
//! records the order with its commission receivable, a negative movement on the seller's
//! balance; the seller's next Stripe earning pays it, exactly once, by a reversal of that
//! payment's transfer. A refused reversal leaves it owed (the next earning pays it). A return
//! (read with Search Returns) lowers it to the commission on the items kept, a cancellation to
//! nothing, and what the seller paid beyond that is transferred back. Notifications are verified before anything is read, deduplicated by
//! TikTok's notification id, and an API that does not answer is answered 503 (TikTok sends the
//! notification again, which reads it again) with the delivery kept, so nothing is lost.

use flows::{Apps, spawn};
use serde_json::{Value, json};
use test_support::tiktok::{self as tt, ORDER_ID, TEST_APP_SECRET, TEST_SHOP_ID};
use test_support::{TestDb, admin_token, owner_token};

const REGISTER: &str = "mutation($i: RegisterStorefrontShopInput!) { registerStorefrontShop(input: $i) { platform shop maletId apiKeyEnv apiSecretEnv } }";

const ORDERS: &str = "query($m: ID!) { storefrontOrders(maletId: $m, platform: TIKTOK) { orderId status subtotal discount tax shipping total commissionableBase payment { paymentId } ledgerEntry { id } lines { lineId quantity amount } receivable { originalAmount amount recovered open commissionRateDecimal } } }";

/// The order's detail ids the fake API was asked for.
fn detail_reads(apps: &Apps) -> usize {
    apps.tiktok.requests().iter().filter(|r| r.starts_with("GET /order/202309/orders")).count()
}

async fn register(apps: &Apps, malet: &str) {
    let input = json!({"i": {"platform": "TIKTOK", "shop": TEST_SHOP_ID, "maletId": malet,
        "apiKeyEnv": "STOREFRONT_TEST_TT_CIPHER", "apiSecretEnv": "STOREFRONT_TEST_TT_TOKEN"}});
    let res = apps.mur.run(Some(&admin_token()), REGISTER, input).await;
    assert_eq!(res["data"]["registerStorefrontShop"]["shop"], TEST_SHOP_ID, "{res}");
}

async fn notify(apps: &Apps, id: &str, order: &str, status: &str) -> (u16, Value) {
    tt::post(&apps.http, &apps.mur_base, &tt::status_change(id, order, status), TEST_APP_SECRET).await
}

async fn order_view(apps: &Apps, malet: &str, id: &str) -> Value {
    let res = apps.mur.run(Some(&owner_token(malet)), ORDERS, json!({"m": malet})).await;
    res["data"]["storefrontOrders"]
        .as_array()
        .unwrap_or_else(|| panic!("{res}"))
        .iter()
        .find(|o| o["orderId"] == id)
        .cloned()
        .unwrap_or(Value::Null)
}

async fn pending(apps: &Apps, malet: &str) -> i64 {
    apps.payments.service.consume_ledger_events(100).await.expect("ledger events");
    apps.balances(malet).await["pendingBalance"].as_i64().expect("pending")
}

/// Every receivable's kept `open_amount` equals what its recoveries and gifts back give.
async fn assert_open_kept(conn: &sea_orm::DatabaseConnection) {
    let wrong = murchases::service::receivables::open_mismatches(conn).await.expect("check");
    assert!(wrong.is_empty(), "{wrong:?}");
}

/// The fixture order's receivable: (recovered, open).
async fn recovery(apps: &Apps) -> (Option<i64>, Option<i64>) {
    let o = order_view(apps, "m1", ORDER_ID).await;
    (o["receivable"]["recovered"].as_i64(), o["receivable"]["open"].as_i64())
}

/// m1 with an ACTIVE Stripe account and its TikTok shop, whose paid fixture order owes 800.
async fn owing_seller(apps: &Apps) {
    apps.active_account("m1").await;
    register(apps, "m1").await;
    apps.tiktok.put_order(tt::order(ORDER_ID, "AWAITING_SHIPMENT"));
    assert_eq!(notify(apps, "n-1", ORDER_ID, "AWAITING_SHIPMENT").await.0, 200);
}

/// The transfer reversals Stripe was asked for, with their amounts.
fn reversals(apps: &Apps) -> Vec<String> {
    apps.stripe
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/reversals"))
        .map(|r| r.field("amount").unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_tiktok_order_owes_its_commission_and_the_next_stripe_earning_pays_it_once() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        apps.active_account("m1").await;
        register(&apps, "m1").await;
        apps.tiktok.put_order(tt::order(ORDER_ID, "AWAITING_SHIPMENT"));

        // The notification reads the detail: 100.00 of items, 5.00 shipping, 8.00 tax.
        let (status, body) = notify(&apps, "n-1", ORDER_ID, "AWAITING_SHIPMENT").await;
        assert_eq!((status, body["status"].as_str()), (200, Some("APPLIED")), "{:?}: {body}", t.backend);
        assert_eq!(detail_reads(&apps), 1);
        let o = order_view(&apps, "m1", ORDER_ID).await;
        assert_eq!(
            (
                o["status"].as_str(),
                o["subtotal"].as_i64(),
                o["tax"].as_i64(),
                o["shipping"].as_i64(),
                o["total"].as_i64()
            ),
            (Some("PAID"), Some(10_000), Some(800), Some(500), Some(11_300)),
            "{o}"
        );
        assert_eq!(o["lines"].as_array().map(Vec::len), Some(3), "one line item per unit: {o}");
        assert!(o["payment"].is_null() && o["ledgerEntry"].is_null(), "no payment of ours: {o}");
        // 8% of the items less discounts (R-COMM-3), owed by the seller.
        assert_eq!(
            o["receivable"],
            json!({"originalAmount": 800, "amount": 800, "recovered": 0, "open": 800, "commissionRateDecimal": "0.08"}),
            "{o}"
        );
        assert_eq!(pending(&apps, "m1").await, -800, "the debt is on the seller's balance");
        // Visible on the seller's statement as its own line.
        let q = "query($m: ID!, $f: DateTime!, $t: DateTime!) { payoutStatement(maletId: $m, from: $f, to: $t) { lines { kind delta sourceType } closing { pending } } }";
        let now = chrono::Utc::now();
        let vars = json!({"m": "m1", "f": now - chrono::Duration::hours(1), "t": now + chrono::Duration::hours(1)});
        let st = apps.pay.run(Some(&owner_token("m1")), q, vars.clone()).await;
        assert_eq!(
            st["data"]["payoutStatement"]["lines"],
            json!([{"kind": "RECEIVABLE", "delta": -800, "sourceType": "receivable"}]),
            "{st}"
        );

        // The same notification again, and a later status of the same order: nothing more owed.
        let (status, body) = notify(&apps, "n-1", ORDER_ID, "AWAITING_SHIPMENT").await;
        assert_eq!((status, body["duplicate"].as_bool()), (200, Some(true)), "{body}");
        apps.tiktok.put_order(tt::order(ORDER_ID, "IN_TRANSIT"));
        let (status, body) = notify(&apps, "n-2", ORDER_ID, "IN_TRANSIT").await;
        assert_eq!((status, body["status"].as_str()), (200, Some("APPLIED")), "{body}");
        assert_eq!(pending(&apps, "m1").await, -800);
        // The order's amounts changing after its commission was recorded need an admin: held,
        // and nothing of it written.
        let mut changed = tt::order(ORDER_ID, "DELIVERED");
        changed["payment"]["seller_discount"] = json!("10.00");
        changed["payment"]["total_amount"] = json!("103.00");
        changed["line_items"][2]["seller_discount"] = json!("10.00");
        apps.tiktok.put_order(changed);
        let (status, body) = notify(&apps, "n-2b", ORDER_ID, "DELIVERED").await;
        assert_eq!((status, body["status"].as_str()), (200, Some("NEEDS_ATTENTION")), "{body}");
        let o = order_view(&apps, "m1", ORDER_ID).await;
        assert_eq!((o["discount"].as_i64(), o["receivable"]["amount"].as_i64()), (Some(0), Some(800)), "{o}");

        // The seller's next Stripe sale (net 7992) pays the 800 by a reversal of its transfer.
        let pi = apps.checkout_and_pay("web-1", "m1", 10_000).await;
        assert_open_kept(&t.conn).await; // (nothing open once the reversal is queued)
        apps.murchases.service.send_movements().await.expect("movements");
        assert_eq!(reversals(&apps), vec!["800".to_owned()], "{:?}", t.backend);
        let charge = apps.stripe.payment_intent(&pi).expect("pi")["latest_charge"].as_str().expect("charge").to_owned();
        let transfer = apps.stripe.charge(&charge).expect("charge")["transfer"].as_str().expect("transfer").to_owned();
        assert_eq!(apps.stripe.transfer(&transfer).expect("transfer")["amount_reversed"], 800);
        assert_eq!(pending(&apps, "m1").await, 7_992 - 800, "the balance moved once, with the debt");
        assert_eq!(recovery(&apps).await, (Some(800), Some(0)));

        // Exactly once: the payment's webhook again, the job again, and the next sale take nothing.
        let mut e = test_support::stripe_event("payment_intent.succeeded");
        e["id"] = json!(format!("evt_paid_{pi}"));
        e["data"]["object"] = apps.stripe.payment_intent(&pi).expect("pi");
        assert_eq!(apps.webhook(&apps.mur_base, &e).await, 200);
        apps.checkout_and_pay("web-2", "m1", 10_000).await;
        apps.murchases.service.send_movements().await.expect("movements");
        assert_eq!(reversals(&apps), vec!["800".to_owned()]);
        assert_eq!(pending(&apps, "m1").await, 2 * 7_992 - 800);
        assert_open_kept(&t.conn).await;
    }
}

#[tokio::test]
async fn a_refused_recovery_stays_owed_and_a_cancelled_order_gives_its_commission_back() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        owing_seller(&apps).await;
        assert_eq!(pending(&apps, "m1").await, -800, "the debit is applied");

        // Stripe refuses the first reversal: nothing is recovered, the next earning pays it.
        let pi = apps.checkout_and_pay("web-1", "m1", 10_000).await;
        let charge = apps.stripe.payment_intent(&pi).expect("pi")["latest_charge"].as_str().expect("charge").to_owned();
        let transfer = apps.stripe.charge(&charge).expect("charge")["transfer"].as_str().expect("transfer").to_owned();
        apps.stripe.fail_next(&format!("/v1/transfers/{transfer}/reversals"), 400);
        apps.murchases.service.send_movements().await.expect("movements");
        assert_eq!(apps.stripe.transfer(&transfer).expect("transfer")["amount_reversed"], 0, "{:?}", t.backend);
        assert_eq!(recovery(&apps).await, (Some(0), Some(800)));
        apps.checkout_and_pay("web-2", "m1", 10_000).await;
        apps.murchases.service.send_movements().await.expect("movements");
        assert_eq!(recovery(&apps).await, (Some(800), Some(0)));
        assert_eq!(
            reversals(&apps),
            vec!["800".to_owned(), "800".to_owned()],
            "the refused one, then the second sale's"
        );
        assert_eq!(pending(&apps, "m1").await, 2 * 7_992 - 800, "owed once, whatever the money did");

        // Another order, cancelled before anything was recovered: its 800 is given back.
        let second = "576653688135258999";
        apps.tiktok.put_order(tt::order(second, "AWAITING_SHIPMENT"));
        assert_eq!(notify(&apps, "n-3", second, "AWAITING_SHIPMENT").await.0, 200);
        assert_eq!(pending(&apps, "m1").await, 2 * 7_992 - 1_600);
        apps.tiktok.put_order(tt::order(second, "CANCELLED"));
        let (status, body) = notify(&apps, "n-4", second, "CANCEL").await;
        assert_eq!((status, body["status"].as_str()), (200, Some("APPLIED")), "{body}");
        let o = order_view(&apps, "m1", second).await;
        assert_eq!((o["status"].as_str(), o["receivable"]["amount"].as_i64()), (Some("CANCELLED"), Some(0)), "{o}");
        assert_eq!(pending(&apps, "m1").await, 2 * 7_992 - 800);
        // A cancelled order is not recovered from the next sale.
        apps.checkout_and_pay("web-3", "m1", 10_000).await;
        apps.murchases.service.send_movements().await.expect("movements");
        assert_eq!(reversals(&apps).len(), 2);
        assert_open_kept(&t.conn).await;
    }
}

#[tokio::test]
async fn tiktok_notifications_are_verified_before_anything_is_read_and_never_lost() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        apps.active_account("m1").await;
        register(&apps, "m1").await;
        apps.tiktok.put_order(tt::order(ORDER_ID, "AWAITING_SHIPMENT"));
        let body = tt::status_change("n-1", ORDER_ID, "AWAITING_SHIPMENT");
        let deliveries = || async {
            let q = "{ storefrontDeliveries { platform deliveryId topic status note } }";
            apps.mur.run(Some(&admin_token()), q, json!({})).await["data"]["storefrontDeliveries"].clone()
        };

        // Another secret, another shop, not JSON, too large: refused before any read.
        let (status, _) = tt::post(&apps.http, &apps.mur_base, &body, "another-secret").await;
        assert_eq!(status, 401, "{:?}", t.backend);
        let other_shop = body.replace(TEST_SHOP_ID, "7495540735365770000");
        assert_eq!(tt::post(&apps.http, &apps.mur_base, &other_shop, TEST_APP_SECRET).await.0, 401);
        assert_eq!(tt::post(&apps.http, &apps.mur_base, "{not json", TEST_APP_SECRET).await.0, 400);
        let huge = format!(r#"{{"type":1,"pad":"{}"}}"#, "x".repeat(300 * 1024));
        assert_eq!(tt::post(&apps.http, &apps.mur_base, &huge, TEST_APP_SECRET).await.0, 413);
        assert_eq!(detail_reads(&apps), 0);
        assert_eq!(deliveries().await, json!([]));

        // The API does not answer: kept (nothing is lost if TikTok gives up) and answered 503, so
        // TikTok delivers it again; a redelivery that fails again is 503 again, and the next one
        // applies it, once.
        apps.tiktok.fail_next(500, 36009007);
        assert_eq!(tt::post(&apps.http, &apps.mur_base, &body, TEST_APP_SECRET).await.0, 503);
        let kept = deliveries().await;
        assert_eq!(kept[0]["status"], "SOURCE_UNAVAILABLE", "{kept}");
        assert!(kept[0]["note"].as_str().is_some_and(|n| n.contains("36009007")), "{kept}");
        apps.tiktok.fail_next(429, 36009002);
        assert_eq!(tt::post(&apps.http, &apps.mur_base, &body, TEST_APP_SECRET).await.0, 503);
        let (status, answer) = tt::post(&apps.http, &apps.mur_base, &body, TEST_APP_SECRET).await;
        assert_eq!((status, answer["status"].as_str()), (200, Some("APPLIED")), "{answer}");
        let reads = detail_reads(&apps);
        let (status, answer) = tt::post(&apps.http, &apps.mur_base, &body, TEST_APP_SECRET).await;
        assert_eq!((status, answer["duplicate"].as_bool()), (200, Some(true)), "{answer}");
        assert_eq!(detail_reads(&apps), reads, "a duplicate reads nothing");
        assert_eq!(deliveries().await.as_array().map(Vec::len), Some(1));

        // Expired credentials need an admin: kept, with why, and replayed once fixed.
        let second = "576653688135258999";
        apps.tiktok.put_order(tt::order(second, "AWAITING_SHIPMENT"));
        apps.tiktok.fail_next(401, 105002);
        let (status, answer) = notify(&apps, "n-2", second, "AWAITING_SHIPMENT").await;
        assert_eq!((status, answer["status"].as_str()), (200, Some("NEEDS_ATTENTION")), "{answer}");
        let held = deliveries().await;
        let held =
            held.as_array().expect("deliveries").iter().find(|d| d["deliveryId"] == "tts:n-2").cloned().expect("held");
        assert!(held["note"].as_str().is_some_and(|n| n.contains("105002")), "{held}");
        let list = apps
            .mur
            .run(Some(&admin_token()), "{ storefrontDeliveries(status: NEEDS_ATTENTION) { id } }", json!({}))
            .await;
        let id = list["data"]["storefrontDeliveries"][0]["id"].as_str().expect("id").to_owned();
        let replay = "mutation($id: ID!) { replayStorefrontDelivery(id: $id) { status } }";
        let res = apps.mur.run(Some(&admin_token()), replay, json!({"id": id})).await;
        assert_eq!(res["data"]["replayStorefrontDelivery"]["status"], "APPLIED", "{res}");
        assert_eq!(order_view(&apps, "m1", second).await["receivable"]["amount"], 800);

        // Not paid yet: recorded, nothing owed. Other topics: recorded, ignored.
        let unpaid = "576653688135250001";
        apps.tiktok.put_order(tt::order(unpaid, "UNPAID"));
        assert_eq!(notify(&apps, "n-3", unpaid, "UNPAID").await.0, 200);
        assert!(order_view(&apps, "m1", unpaid).await["receivable"].is_null());
        let product = json!({"type": 5, "tts_notification_id": "n-4", "shop_id": TEST_SHOP_ID, "timestamp": 1,
            "data": {"product_id": "1729582718312380123", "status": "PRODUCT_ACTIVATE"}})
        .to_string();
        let (status, answer) = tt::post(&apps.http, &apps.mur_base, &product, TEST_APP_SECRET).await;
        assert_eq!((status, answer["status"].as_str()), (200, Some("IGNORED")), "{answer}");
        assert_eq!(pending(&apps, "m1").await, -1_600, "two paid orders owe 800 each");

        // After TikTok's last redelivery, the job reads a kept notification again, once due.
        let late = "576653688135250002";
        apps.tiktok.put_order(tt::order(late, "AWAITING_SHIPMENT"));
        apps.tiktok.fail_next(503, 36009007);
        assert_eq!(notify(&apps, "n-5", late, "AWAITING_SHIPMENT").await.0, 503);
        assert_eq!(apps.murchases.service.retry_storefront_deliveries().await.expect("job"), 0, "not due yet");
        flows::storefront_deliveries_due_now(&t.conn).await;
        assert_eq!(apps.murchases.service.retry_storefront_deliveries().await.expect("job"), 1);
        assert_eq!(order_view(&apps, "m1", late).await["receivable"]["amount"], 800);
        assert_eq!(pending(&apps, "m1").await, -2_400);
        assert_open_kept(&t.conn).await;
    }
}

/// A multi-seller-style platform charge (separate transfer) for `malet` alone, paid.
async fn cart_paid(apps: &Apps, order: &str, malet: &str, amount: i64) -> String {
    let create = "mutation($i: CartInput!) { createOrderPayment(input: $i) { paymentIntentId } }";
    let input = json!({"i": {"orderId": order, "items": [{"maletId": malet, "amount": amount}]}});
    let res = apps.mur.run(Some(&test_support::order_service_token()), create, input).await;
    let pi =
        res["data"]["createOrderPayment"]["paymentIntentId"].as_str().unwrap_or_else(|| panic!("{res}")).to_owned();
    let mut paid = test_support::stripe_event("payment_intent.succeeded");
    paid["id"] = json!(format!("evt_paid_{pi}"));
    paid["data"]["object"] = apps.stripe.payment_intent(&pi).expect("pi object");
    paid["data"]["object"]["created"] = json!(chrono::Utc::now().timestamp());
    assert_eq!(apps.webhook(&apps.mur_base, &paid).await, 200);
    // The net transfer, then (once it is confirmed) any reversal from it.
    apps.murchases.service.send_movements().await.expect("movements");
    apps.murchases.service.send_movements().await.expect("movements");
    pi
}

#[tokio::test]
async fn a_recovery_waits_for_its_debit_and_a_refund_it_left_short_owes_it_again() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        owing_seller(&apps).await;

        // Payments has not applied the debit yet: the sale takes nothing (it would charge the
        // seller for a debt its balance does not show).
        cart_paid(&apps, "cart-1", "m1", 10_000).await;
        assert!(reversals(&apps).is_empty(), "{:?}: {:?}", t.backend, reversals(&apps));
        assert_eq!(pending(&apps, "m1").await, 7_992 - 800, "now both are on the balance");

        // The next sale pays it, from its net transfer.
        cart_paid(&apps, "cart-2", "m1", 10_000).await;
        assert_eq!(reversals(&apps), vec!["800".to_owned()]);
        assert_eq!(recovery(&apps).await, (Some(800), Some(0)));

        // cart-2 is refunded in full: its clawback (7992 + the 320 fee the seller bears) finds
        // 800 less on the transfer because the recovery took it: that 800 is owed again.
        let refund = "mutation($m: ID!, $o: ID!, $a: Int!) { refundMurchase(maletId: $m, orderId: $o, amount: $a, reason: \"returned\") { status netPayout } }";
        let res = apps.mur.run(Some(&admin_token()), refund, json!({"m": "m1", "o": "cart-2", "a": 10_000})).await;
        assert_eq!(res["data"]["refundMurchase"]["status"], "REFUNDED", "{res}");
        apps.murchases.service.send_movements().await.expect("movements");
        assert_eq!(recovery(&apps).await, (Some(0), Some(800)));
        // And the next sale takes it again.
        cart_paid(&apps, "cart-3", "m1", 10_000).await;
        assert_eq!(recovery(&apps).await, (Some(800), Some(0)));
        assert_open_kept(&t.conn).await;
    }
}

/// The transfers to the seller Stripe was asked for, with their amounts.
fn transfers_to_seller(apps: &Apps) -> Vec<String> {
    apps.stripe
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/v1/transfers")
        .map(|r| r.field("amount").unwrap_or_default().to_owned())
        .collect()
}

async fn notify_return(apps: &Apps, id: &str, order: &str, return_id: &str) -> (u16, Value) {
    let body = tt::return_change(id, order, return_id, "RETURN_OR_REFUND_REQUEST_COMPLETE");
    tt::post(&apps.http, &apps.mur_base, &body, TEST_APP_SECRET).await
}

#[tokio::test]
async fn a_tiktok_return_lowers_what_the_seller_owes_and_gives_back_what_it_paid_beyond() {
    const RECEIVABLE: &str = "status amount refundedBase recovered givenBack open originalAmount";
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        owing_seller(&apps).await;
        assert_eq!(pending(&apps, "m1").await, -800);
        let receivable = |order: &'static str| {
            let apps = &apps;
            async move {
                let q = format!(
                    "query($m: ID!) {{ storefrontOrders(maletId: $m, platform: TIKTOK) {{ orderId receivable {{ {RECEIVABLE} }} }} }}"
                );
                let res = apps.mur.run(Some(&owner_token("m1")), &q, json!({"m": "m1"})).await;
                res["data"]["storefrontOrders"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{res}"))
                    .iter()
                    .find(|o| o["orderId"] == order)
                    .map(|o| o["receivable"].clone())
                    .unwrap_or(Value::Null)
            }
        };

        // The beanie (20.00 of the 100.00 of items) is returned and refunded before anything was
        // recovered; a refund request for a scarf is still pending. The return's notification
        // reads the order's returns: 8% of the 80.00 kept is owed, 160 less.
        apps.tiktok.put_return(tt::order_return(ORDER_ID, "4035318536470123001", "RETURN_OR_REFUND_REQUEST_COMPLETE"));
        apps.tiktok.put_return(tt::order_return(ORDER_ID, "4035318536470123002", "RETURN_OR_REFUND_REQUEST_PENDING"));
        let (status, body) = notify_return(&apps, "n-r1", ORDER_ID, "4035318536470123001").await;
        assert_eq!((status, body["status"].as_str()), (200, Some("APPLIED")), "{:?}: {body}", t.backend);
        assert!(
            apps.tiktok.requests().iter().any(|r| r.starts_with("POST /return_refund/202309/returns/search")
                && r.contains(&format!(r#""order_ids":["{ORDER_ID}"]"#))),
            "{:?}",
            apps.tiktok.requests()
        );
        assert_eq!(
            receivable(ORDER_ID).await,
            json!({"status": "OWED", "amount": 640, "refundedBase": 2000, "recovered": 0, "givenBack": 0, "open": 640, "originalAmount": 800})
        );
        assert_eq!(pending(&apps, "m1").await, -640);
        // The same notification, another one about the same returns, and a later status change
        // of the order: nothing lowers it twice.
        assert_eq!(notify_return(&apps, "n-r1", ORDER_ID, "4035318536470123001").await.1["duplicate"], true);
        assert_eq!(notify_return(&apps, "n-r2", ORDER_ID, "4035318536470123001").await.0, 200);
        apps.tiktok.put_order(tt::order(ORDER_ID, "COMPLETED"));
        assert_eq!(notify(&apps, "n-5", ORDER_ID, "COMPLETED").await.0, 200);
        assert_eq!(receivable(ORDER_ID).await["amount"], 640);
        assert_eq!(pending(&apps, "m1").await, -640);
        // The next sale recovers the 640 owed.
        apps.checkout_and_pay("web-1", "m1", 10_000).await;
        apps.murchases.service.send_movements().await.expect("movements");
        assert_eq!(reversals(&apps), vec!["640".to_owned()]);
        assert_eq!(pending(&apps, "m1").await, 7_992 - 640);

        // A second order, paid for by the next sale in full (800), then returned in part: the
        // seller paid 160 more than it owes, and gets it back by a transfer from that sale.
        let second = "576653688135258999";
        apps.tiktok.put_order(tt::order(second, "AWAITING_SHIPMENT"));
        assert_eq!(notify(&apps, "n-6", second, "AWAITING_SHIPMENT").await.0, 200);
        assert_eq!(pending(&apps, "m1").await, 7_992 - 640 - 800);
        apps.checkout_and_pay("web-2", "m1", 10_000).await;
        apps.murchases.service.send_movements().await.expect("movements");
        assert_eq!(reversals(&apps), vec!["640".to_owned(), "800".to_owned()]);
        assert_eq!(receivable(second).await["recovered"], 800);
        apps.tiktok.put_return(tt::order_return(second, "4035318536470129001", "RETURN_OR_REFUND_REQUEST_COMPLETE"));
        let (status, body) = notify_return(&apps, "n-r3", second, "4035318536470129001").await;
        assert_eq!((status, body["status"].as_str()), (200, Some("APPLIED")), "{body}");
        apps.murchases.service.send_movements().await.expect("movements");
        assert_eq!(transfers_to_seller(&apps), vec!["160".to_owned()], "{:?}", t.backend);
        assert_eq!(
            receivable(second).await,
            json!({"status": "OWED", "amount": 640, "refundedBase": 2000, "recovered": 640, "givenBack": 160, "open": 0, "originalAmount": 800})
        );
        assert_eq!(pending(&apps, "m1").await, 2 * 7_992 - 640 - 640);
        // The money followed the balance: the seller holds both nets less what it owes.
        let out = apps.stripe.requests().iter().filter(|r| r.method == "POST" && r.path == "/v1/transfers").count();
        assert_eq!(out, 1);

        // The order is then cancelled (after a recovery, which used to need finance): nothing is
        // owed, and the 640 it still paid comes back too.
        apps.tiktok.put_order(tt::order(second, "CANCELLED"));
        let (status, body) = notify(&apps, "n-7", second, "CANCEL").await;
        assert_eq!((status, body["status"].as_str()), (200, Some("APPLIED")), "{body}");
        apps.murchases.service.send_movements().await.expect("movements");
        assert_eq!(transfers_to_seller(&apps), vec!["160".to_owned(), "640".to_owned()]);
        assert_eq!(
            receivable(second).await,
            json!({"status": "CANCELLED", "amount": 0, "refundedBase": 2000, "recovered": 0, "givenBack": 800, "open": 0, "originalAmount": 800})
        );
        assert_eq!(pending(&apps, "m1").await, 2 * 7_992 - 640, "only the first order's 640 is owed");
        // Nothing is taken or given again by the next sale.
        apps.checkout_and_pay("web-3", "m1", 10_000).await;
        apps.murchases.service.send_movements().await.expect("movements");
        assert_eq!(reversals(&apps).len(), 2);
        assert_eq!(transfers_to_seller(&apps).len(), 2);
        assert_eq!(pending(&apps, "m1").await, 3 * 7_992 - 640);
        assert_open_kept(&t.conn).await;
    }
}

#[tokio::test]
async fn a_refused_gift_back_is_left_for_finance_and_a_return_while_a_recovery_is_sent_waits_for_it() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        owing_seller(&apps).await;
        assert_eq!(pending(&apps, "m1").await, -800);
        // The sale's recovery is queued, not sent yet, when the beanie's return arrives: nothing
        // is given back before Stripe confirms the recovery; then 160 is.
        let pi = apps.checkout_and_pay("web-1", "m1", 10_000).await;
        apps.tiktok.put_return(tt::order_return(ORDER_ID, "4035318536470123001", "RETURN_OR_REFUND_REQUEST_COMPLETE"));
        assert_eq!(notify_return(&apps, "n-r1", ORDER_ID, "4035318536470123001").await.0, 200);
        assert!(transfers_to_seller(&apps).is_empty());
        apps.murchases.service.send_movements().await.expect("movements");
        assert_eq!(reversals(&apps), vec!["800".to_owned()], "{:?}", t.backend);
        apps.murchases.service.send_movements().await.expect("movements");
        assert_eq!(transfers_to_seller(&apps), vec!["160".to_owned()]);
        let o = order_view(&apps, "m1", ORDER_ID).await;
        assert_eq!((o["receivable"]["recovered"].as_i64(), o["receivable"]["open"].as_i64()), (Some(640), Some(0)));

        // A second return (a scarf, 40.00: 320 less) whose gift back Stripe refuses: the balance
        // shows the money as the seller's, the refused transfer stays for finance, and nothing
        // sends it again by itself.
        let mut scarf = tt::order_return(ORDER_ID, "4035318536470123003", "RETURN_OR_REFUND_REQUEST_COMPLETE");
        scarf["refund_amount"] = json!({"currency": "USD", "refund_total": "43.04", "refund_subtotal": "40.00",
            "refund_shipping_fee": "0", "refund_tax": "3.04", "retail_delivery_fee": "0", "buyer_service_fee": "0"});
        apps.tiktok.put_return(scarf);
        assert_eq!(notify_return(&apps, "n-r2", ORDER_ID, "4035318536470123003").await.0, 200);
        apps.stripe.fail_next("/v1/transfers", 400);
        apps.murchases.service.send_movements().await.expect("movements");
        apps.murchases.service.send_movements().await.expect("movements");
        assert_eq!(transfers_to_seller(&apps), vec!["160".to_owned(), "320".to_owned()]);
        let o = order_view(&apps, "m1", ORDER_ID).await;
        assert_eq!(
            (
                o["receivable"]["amount"].as_i64(),
                o["receivable"]["recovered"].as_i64(),
                o["receivable"]["open"].as_i64()
            ),
            (Some(320), Some(320), Some(0)),
            "{o}"
        );
        let q = "{ outgoingMovements(status: FAILED) { kind amount } }";
        let failed = apps.mur.run(Some(&admin_token()), q, json!({})).await;
        assert_eq!(failed["data"]["outgoingMovements"], json!([{"kind": "TRANSFER", "amount": 320}]), "{failed}");
        assert_eq!(pending(&apps, "m1").await, 7_992 - 320);
        let _ = pi;
        assert_open_kept(&t.conn).await;
    }
}

#[tokio::test]
async fn a_lowered_receivable_waits_for_its_debit_on_the_balance() {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        owing_seller(&apps).await;
        // The debit's delivery to payments is late (its outbox row not due yet) when the return
        // lowers the receivable: the +160 must not reach the balance before the −800.
        entity::outbox::Entity::update_many()
            .col_expr(entity::outbox::Column::AvailableAt, Expr::value(chrono::Utc::now() + chrono::Duration::hours(1)))
            .filter(entity::outbox::Column::IdempotencyKey.like("receivable:%"))
            .exec(&t.conn)
            .await
            .expect("delay the debit");
        apps.tiktok.put_return(tt::order_return(ORDER_ID, "4035318536470123001", "RETURN_OR_REFUND_REQUEST_COMPLETE"));
        assert_eq!(notify_return(&apps, "n-r1", ORDER_ID, "4035318536470123001").await.0, 200);
        // (Applied alone, the +160 would show the seller 160 it does not have.)
        assert_eq!(pending(&apps, "m1").await, 0, "{:?}: nothing applies before the debit", t.backend);
        entity::outbox::Entity::update_many()
            .col_expr(
                entity::outbox::Column::AvailableAt,
                Expr::value(chrono::Utc::now() - chrono::Duration::seconds(1)),
            )
            .exec(&t.conn)
            .await
            .expect("due now");
        // Both due: the debit, then the +160 (retried after it).
        assert_eq!(pending(&apps, "m1").await, -640);
        assert_open_kept(&t.conn).await;
    }
}

#[tokio::test]
async fn a_paypal_seller_nets_its_receivable_on_its_balance() {
    const MERCHANT: &str = "7KNGBPH2U58GQ";
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        let owner = owner_token("m1");
        // m1 is paid through PayPal, which moves no money back: a debt is netted by the balance.
        let create = "mutation { createConnectedAccount(input: {maletId: \"m1\", provider: PAYPAL}) { id } }";
        let res = apps.pay.run(Some(&owner), create, json!({})).await;
        let account_id = res["data"]["createConnectedAccount"]["id"].as_str().expect("id").to_owned();
        let onboarded = test_support::paypal::webhook(
            "WH-ONBOARDED-1",
            "MERCHANT.ONBOARDING.COMPLETED",
            json!({"merchant_id": MERCHANT, "tracking_id": account_id, "partner_client_id": "PARTNER"}),
        );
        assert_eq!(apps.paypal_webhook(&apps.pay_base, &onboarded).await, 200);
        register(&apps, "m1").await;
        apps.tiktok.put_order(tt::order(ORDER_ID, "AWAITING_SHIPMENT"));
        assert_eq!(notify(&apps, "n-1", ORDER_ID, "AWAITING_SHIPMENT").await.0, 200);
        assert_eq!(pending(&apps, "m1").await, -800, "{:?}", t.backend);

        // A PayPal sale (net 7992): the 800 is recovered from it by netting, no movement.
        let pay = "mutation { createMurchasePayment(input: {orderId: \"ord-pp\", maletId: \"m1\", grossAmount: 10000}) { paymentIntentId } }";
        let res = apps.mur.run(Some(&owner), pay, json!({})).await;
        let order_id = res["data"]["createMurchasePayment"]["paymentIntentId"].as_str().expect("order").to_owned();
        let capture = "mutation { captureMurchasePayment(maletId: \"m1\", orderId: \"ord-pp\") { completed } }";
        assert_eq!(
            apps.mur.run(Some(&owner), capture, json!({})).await["data"]["captureMurchasePayment"]["completed"],
            true
        );
        let captured = test_support::paypal::webhook(
            "WH-CAPTURED-1",
            "PAYMENT.CAPTURE.COMPLETED",
            apps.paypal.capture_of(&order_id).expect("captured"),
        );
        assert_eq!(apps.paypal_webhook(&apps.mur_base, &captured).await, 200);
        apps.murchases.service.send_movements().await.expect("movements");
        let o = order_view(&apps, "m1", ORDER_ID).await;
        assert_eq!(
            (o["receivable"]["recovered"].as_i64(), o["receivable"]["open"].as_i64()),
            (Some(800), Some(0)),
            "{o}"
        );
        assert_eq!(pending(&apps, "m1").await, 7_992 - 800, "the payout pays the earning less the debt");
        let q = "{ outgoingMovements { kind amount } }";
        let moved = apps.mur.run(Some(&admin_token()), q, json!({})).await;
        assert_eq!(moved["data"]["outgoingMovements"], json!([]), "nothing moved: {moved}");

        // A return: 640 owed, the 160 netted beyond it is the seller's again on its balance.
        apps.tiktok.put_return(tt::order_return(ORDER_ID, "4035318536470123001", "RETURN_OR_REFUND_REQUEST_COMPLETE"));
        assert_eq!(notify_return(&apps, "n-r1", ORDER_ID, "4035318536470123001").await.0, 200);
        apps.murchases.service.send_movements().await.expect("movements");
        let o = order_view(&apps, "m1", ORDER_ID).await;
        assert_eq!(
            (
                o["receivable"]["amount"].as_i64(),
                o["receivable"]["recovered"].as_i64(),
                o["receivable"]["open"].as_i64()
            ),
            (Some(640), Some(640), Some(0)),
            "{o}"
        );
        assert_eq!(pending(&apps, "m1").await, 7_992 - 640);
        let moved = apps.mur.run(Some(&admin_token()), q, json!({})).await;
        assert_eq!(moved["data"]["outgoingMovements"], json!([]), "{moved}");
        assert_open_kept(&t.conn).await;
    }
}

#[tokio::test]
async fn a_clawback_short_after_a_gift_back_owes_the_gift_too() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        owing_seller(&apps).await;
        assert_eq!(pending(&apps, "m1").await, -800);
        // The seller's platform-charge sale (net transfer 7992) pays the 800.
        cart_paid(&apps, "cart-1", "m1", 10_000).await;
        assert_eq!(reversals(&apps), vec!["800".to_owned()], "{:?}", t.backend);
        // A return lowers the debt to 640: 160 goes back to the seller, from that sale.
        apps.tiktok.put_return(tt::order_return(ORDER_ID, "4035318536470123001", "RETURN_OR_REFUND_REQUEST_COMPLETE"));
        assert_eq!(notify_return(&apps, "n-r1", ORDER_ID, "4035318536470123001").await.0, 200);
        apps.murchases.service.send_movements().await.expect("movements");
        let gifts: Vec<String> = apps
            .stripe
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/v1/transfers" && r.field("amount") == Some("160"))
            .map(|r| r.path.clone())
            .collect();
        assert_eq!(gifts.len(), 1, "{:?}", apps.stripe.requests());
        assert_eq!(recovery(&apps).await, (Some(640), Some(0)));

        // cart-1 is refunded in full: its clawback finds the 800 the recovery reversed missing
        // from the transfer. The gift was a transfer of its own, which the clawback cannot
        // take from: the seller holds it, so the whole 800 is owed again (640 + 160).
        let refund = "mutation($m: ID!, $o: ID!, $a: Int!) { refundMurchase(maletId: $m, orderId: $o, amount: $a, reason: \"returned\") { status } }";
        let res = apps.mur.run(Some(&admin_token()), refund, json!({"m": "m1", "o": "cart-1", "a": 10_000})).await;
        assert_eq!(res["data"]["refundMurchase"]["status"], "REFUNDED", "{res}");
        apps.murchases.service.send_movements().await.expect("movements");
        assert_eq!(recovery(&apps).await, (Some(-160), Some(800)));
        // The next sale takes it.
        cart_paid(&apps, "cart-2", "m1", 10_000).await;
        assert_eq!(recovery(&apps).await, (Some(640), Some(0)));
        assert_eq!(reversals(&apps).last().map(String::as_str), Some("800"));
        assert_open_kept(&t.conn).await;
    }
}

#[tokio::test]
async fn a_cancellation_of_some_items_lowers_what_the_seller_owes() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        owing_seller(&apps).await;
        assert_eq!(pending(&apps, "m1").await, -800);
        // The buyer cancels the beanie before shipment; the order itself stays paid.
        apps.tiktok.put_cancellation(tt::order_cancellation(ORDER_ID, "4035318536470200001"));
        let body = tt::cancellation_change("n-c1", ORDER_ID, "4035318536470200001");
        let (status, answer) = tt::post(&apps.http, &apps.mur_base, &body, TEST_APP_SECRET).await;
        assert_eq!((status, answer["status"].as_str()), (200, Some("APPLIED")), "{:?}: {answer}", t.backend);
        assert!(
            apps.tiktok.requests().iter().any(|r| r.starts_with("POST /return_refund/202309/cancellations/search")),
            "{:?}",
            apps.tiktok.requests()
        );
        let o = order_view(&apps, "m1", ORDER_ID).await;
        assert_eq!(
            (o["status"].as_str(), o["receivable"]["amount"].as_i64(), o["receivable"]["open"].as_i64()),
            (Some("PAID"), Some(640), Some(640)),
            "{o}"
        );
        assert_eq!(pending(&apps, "m1").await, -640);
        // The same cancellation read again (a return's notification reads both lists): once.
        apps.tiktok.put_return(tt::order_return(ORDER_ID, "4035318536470123002", "RETURN_OR_REFUND_REQUEST_PENDING"));
        assert_eq!(notify_return(&apps, "n-r1", ORDER_ID, "4035318536470123002").await.0, 200);
        assert_eq!(order_view(&apps, "m1", ORDER_ID).await["receivable"]["amount"], 640);
        assert_eq!(pending(&apps, "m1").await, -640);
        assert_open_kept(&t.conn).await;
    }
}
