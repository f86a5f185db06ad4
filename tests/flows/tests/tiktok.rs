//! TikTok Shop orders (issue 14 item 4): TikTok collects the buyer's money and pays the seller
//! itself, so the platform's commission on its orders is owed by the seller. A signed
//! notification reads the order's detail from the Partner API (it carries no amounts) and
//! records the order with its commission receivable, a negative movement on the seller's
//! balance; the seller's next Stripe earning pays it, exactly once, by a reversal of that
//! payment's transfer. A refused reversal leaves it owed (the next earning pays it); a cancelled
//! order gives it back. Notifications are verified before anything is read, deduplicated by
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
    }
}
