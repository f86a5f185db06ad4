//! WooCommerce orders (issue 14 item 3): the unsigned setup ping answers 200 and stores nothing;
//! a signed `order.created` and the Stripe payment for it give the same entry as Shopify's
//! (8% of the items less discounts); an `order.updated` listing a refund reads the refund's
//! lines from the store's REST API and takes back exactly that line's share once Stripe refunded
//! the money; a backfill over a window with a missed delivery records exactly the missing order,
//! and a second run nothing.

use flows::{Apps, spawn};
use serde_json::{Value, json};
use test_support::woocommerce::{Delivery, FakeWoo, fixture, order, ping};
use test_support::{TestDb, admin_token, error_code, events, owner_token};

const REGISTER: &str = "mutation($i: RegisterStorefrontShopInput!) { registerStorefrontShop(input: $i) { id platform shop maletId secretEnv apiKeyEnv apiSecretEnv } }";

const ORDERS: &str = "query($m: ID!) { storefrontOrders(maletId: $m, platform: WOOCOMMERCE) { orderId status subtotal discount tax shipping total commissionableBase refundedBase refundedAmount exception payment { paymentId } lines { lineId quantity amount tax } ledgerEntry { grossAmount commissionAmount processingFee reserveAmount netPayout refundedAmount refundedCommission } } }";

const BACKFILL: &str = "mutation($s: String!, $f: DateTime!, $t: DateTime!) { backfillStorefrontOrders(platform: WOOCOMMERCE, shop: $s, from: $f, to: $t) { seen created existing needsAttention complete } }";

/// Registers the fake store as `malet`'s, with its API credentials; returns the shop key.
async fn register(apps: &Apps, store: &FakeWoo, malet: &str) -> String {
    let input = json!({"i": {"platform": "WOOCOMMERCE", "shop": store.source(), "maletId": malet,
        "secretEnv": "STOREFRONT_TEST_WC_WEBHOOK", "apiKeyEnv": "STOREFRONT_TEST_WC_KEY", "apiSecretEnv": "STOREFRONT_TEST_WC_SECRET"}});
    let res = apps.mur.run(Some(&admin_token()), REGISTER, input).await;
    let shop = &res["data"]["registerStorefrontShop"];
    assert_eq!(shop["platform"], "WOOCOMMERCE", "{res}");
    assert_eq!(shop["apiKeyEnv"], "STOREFRONT_TEST_WC_KEY", "{res}");
    let key = shop["shop"].as_str().expect("shop").to_owned();
    assert_eq!(format!("{key}/"), store.source(), "the site URL without its trailing slash");
    key
}

/// Stripe's `payment_intent.succeeded` for a WooCommerce order paid to `acct`.
fn payment(pi: &str, order_id: u64, acct: &str, amount: i64) -> Value {
    let mut e = events::payment_succeeded(&format!("evt_{pi}"), pi, &order_id.to_string(), None, Some(acct), amount);
    e["data"]["object"]["metadata"]["platform"] = json!("woocommerce");
    e
}

async fn order_view(apps: &Apps, malet: &str, id: u64) -> Value {
    let res = apps.mur.run(Some(&owner_token(malet)), ORDERS, json!({"m": malet})).await;
    res["data"]["storefrontOrders"]
        .as_array()
        .unwrap_or_else(|| panic!("{res}"))
        .iter()
        .find(|o| o["orderId"].as_str() == Some(id.to_string().as_str()))
        .cloned()
        .unwrap_or(Value::Null)
}

async fn deliveries(apps: &Apps) -> Vec<Value> {
    let q = "{ storefrontDeliveries { platform deliveryId topic status note } }";
    let res = apps.mur.run(Some(&admin_token()), q, json!({})).await;
    res["data"]["storefrontDeliveries"].as_array().unwrap_or_else(|| panic!("{res}")).clone()
}

#[tokio::test]
async fn the_ping_answers_and_an_order_then_its_update_with_a_refund_converge_like_shopify() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        let (_, acct) = apps.active_account("m1").await;
        let store = FakeWoo::start().await;
        register(&apps, &store, "m1").await;
        let source = store.source();

        // The setup ping: 200, nothing stored.
        let (status, body) = ping(&apps.http, &apps.mur_base).await;
        assert_eq!((status, body["ping"].as_bool()), (200, Some(true)), "{body}");
        assert!(deliveries(&apps).await.is_empty());

        // order.created, then Stripe's payment: 8% of the 100.00 of items.
        let created = order(727, "2026-11-30T19:28:02");
        store.put_order(created.clone());
        let (status, body) =
            Delivery::new(&source, "order.created", "d-1", &created).post(&apps.http, &apps.mur_base).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("APPLIED")), "{body}");
        assert_eq!(apps.webhook(&apps.mur_base, &payment("pi_w1", 727, &acct, 11_300)).await, 200);
        let o = order_view(&apps, "m1", 727).await;
        assert_eq!(
            (o["subtotal"].as_i64(), o["tax"].as_i64(), o["shipping"].as_i64(), o["total"].as_i64()),
            (Some(10_000), Some(800), Some(500), Some(11_300)),
            "{:?}: {o}",
            t.backend
        );
        assert_eq!(o["ledgerEntry"]["commissionAmount"], 800, "{o}");
        assert_eq!(o["lines"].as_array().map(Vec::len), Some(2));
        // WooCommerce's delivery id changes once a second: another order delivered in the same
        // second under the same id is a delivery of its own.
        let other = order(728, "2026-11-30T19:28:02");
        let (status, body) =
            Delivery::new(&source, "order.created", "d-1", &other).post(&apps.http, &apps.mur_base).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("APPLIED")), "{body}");
        assert!(!order_view(&apps, "m1", 728).await.is_null());

        // The 40.00 line is refunded (43.20 with its tax): order.updated lists the refund, its
        // lines come from the API.
        let mut updated = created.clone();
        updated["refunds"] = json!([{"id": 730, "refund": "Damaged in transit", "total": "-43.20"}]);
        updated["date_modified_gmt"] = json!("2026-12-01T20:07:11");
        store.put_order(updated.clone());
        store.put_refunds(727, fixture("refunds"));
        let (status, body) =
            Delivery::new(&source, "order.updated", "d-2", &updated).post(&apps.http, &apps.mur_base).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("APPLIED")), "{body}");
        assert!(store.requests().contains(&"GET /orders/727/refunds?page=1".to_owned()), "{:?}", store.requests());
        let o = order_view(&apps, "m1", 727).await;
        assert_eq!((o["refundedBase"].as_i64(), o["refundedAmount"].as_i64()), (Some(4_000), Some(4_320)), "{o}");
        assert_eq!(o["ledgerEntry"]["refundedCommission"], 0, "no money refunded yet: {o}");
        assert_eq!(
            apps.webhook(&apps.mur_base, &events::charge_refunded("evt_w1r", "pi_w1", 11_300, 4_320)).await,
            200
        );
        let o = order_view(&apps, "m1", 727).await;
        // Exactly Shopify's result for the same refund (tests/flows/tests/storefronts.rs).
        assert_eq!(
            (o["ledgerEntry"]["refundedCommission"].as_i64(), o["ledgerEntry"]["commissionAmount"].as_i64()),
            (Some(320), Some(480)),
            "{o}"
        );

        // An older version of the order arriving late (or replayed) changes nothing.
        let (status, body) =
            Delivery::new(&source, "order.updated", "d-old", &created).post(&apps.http, &apps.mur_base).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("APPLIED")), "{body}");
        assert_eq!(order_view(&apps, "m1", 727).await, o, "the newer order stands");

        // The same delivery again changes nothing.
        let (status, body) =
            Delivery::new(&source, "order.updated", "d-2", &updated).post(&apps.http, &apps.mur_base).await;
        assert_eq!((status, body["duplicate"].as_bool()), (200, Some(true)), "{body}");
        // Refused: a bad signature, a site nobody registered (the same answer), no delivery id.
        let mut bad = Delivery::new(&source, "order.updated", "d-3", &updated);
        bad.secret = "not-the-secret";
        let (status, refused) = bad.post(&apps.http, &apps.mur_base).await;
        assert_eq!((status, refused["error"]["code"].as_str()), (400, Some("INVALID_SIGNATURE")), "{refused}");
        let (status, body) = Delivery::new("https://other.example/", "order.updated", "d-4", &updated)
            .post(&apps.http, &apps.mur_base)
            .await;
        assert_eq!((status, &body["error"]), (400, &refused["error"]), "{body}");
        let res = apps
            .http
            .post(format!("{}/webhooks/woocommerce", apps.mur_base))
            .header("X-WC-Webhook-Source", &source)
            .header("X-WC-Webhook-Topic", "order.updated")
            .header(
                "X-WC-Webhook-Signature",
                providers::woocommerce::webhook::sign(
                    test_support::woocommerce::TEST_WOOCOMMERCE_SECRET.as_bytes(),
                    updated.to_string().as_bytes(),
                ),
            )
            .body(updated.to_string())
            .send()
            .await
            .expect("post");
        assert_eq!(res.status().as_u16(), 400, "no delivery id");
        // A signed body that is not an order is kept for an admin, never applied.
        let mut junk = Delivery::new(&source, "order.updated", "d-5", &json!({}));
        junk.body = "{\"id\": ".to_owned();
        let (status, body) = junk.post(&apps.http, &apps.mur_base).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("NEEDS_ATTENTION")), "{body}");
        let held = deliveries(&apps).await;
        assert_eq!(held.len(), 5, "d-1 twice, d-2, d-old, d-5: {held:?}");
        let old = held
            .iter()
            .find(|d| d["deliveryId"].as_str().is_some_and(|id| id.starts_with("wc:d-old:")))
            .expect("d-old");
        assert!(old["note"].as_str().is_some_and(|n| n.contains("older than the recorded one")), "{old}");
        assert!(held.iter().all(|d| d["platform"] == "WOOCOMMERCE"));
    }
}

#[tokio::test]
async fn a_backfill_over_a_window_with_a_missed_delivery_records_exactly_the_missing_order() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        let (_, acct) = apps.active_account("m1").await;
        let store = FakeWoo::start().await;
        let shop = register(&apps, &store, "m1").await;
        let source = store.source();
        // 801 was delivered; 802's delivery was missed; 803 is outside the window.
        for (id, created) in [(801, "2026-11-29T10:00:00"), (802, "2026-11-29T12:00:00"), (803, "2026-11-25T00:00:00")]
        {
            store.put_order(order(id, created));
        }
        let (status, _) = Delivery::new(&source, "order.created", "d-801", &order(801, "2026-11-29T10:00:00"))
            .post(&apps.http, &apps.mur_base)
            .await;
        assert_eq!(status, 200);

        let window = json!({"s": shop, "f": "2026-11-28T00:00:00Z", "t": "2026-11-30T00:00:00Z"});
        let res = apps.mur.run(Some(&owner_token("m1")), BACKFILL, window.clone()).await;
        assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"), "admins only: {res}");
        let res = apps.mur.run(Some(&admin_token()), BACKFILL, window.clone()).await;
        assert_eq!(
            res["data"]["backfillStorefrontOrders"],
            json!({"seen": 2, "created": 1, "existing": 1, "needsAttention": 0, "complete": true}),
            "{:?}: {res}",
            t.backend
        );
        assert!(!order_view(&apps, "m1", 802).await.is_null(), "the missed order is recorded");
        assert!(order_view(&apps, "m1", 803).await.is_null(), "outside the window");
        // Idempotent: a second run records nothing.
        let res = apps.mur.run(Some(&admin_token()), BACKFILL, window).await;
        assert_eq!(
            res["data"]["backfillStorefrontOrders"],
            json!({"seen": 2, "created": 0, "existing": 2, "needsAttention": 0, "complete": true}),
            "{res}"
        );
        // The backfilled order prices its payment like a delivered one.
        assert_eq!(apps.webhook(&apps.mur_base, &payment("pi_802", 802, &acct, 11_300)).await, 200);
        assert_eq!(order_view(&apps, "m1", 802).await["ledgerEntry"]["commissionAmount"], 800);

        // A window too long, or a shop without API credentials, is refused before any call.
        let long = json!({"s": shop, "f": "2026-09-01T00:00:00Z", "t": "2026-11-30T00:00:00Z"});
        let res = apps.mur.run(Some(&admin_token()), BACKFILL, long).await;
        assert_eq!(error_code(&res).as_deref(), Some("BAD_USER_INPUT"), "{res}");
        // Each store has its own webhook secret: none (no shared default), one another store reads,
        // or a variable outside STOREFRONT_ is refused.
        let plain = |secret: Option<&str>| json!({"i": {"platform": "WOOCOMMERCE", "shop": "https://plain.example", "maletId": "m2", "secretEnv": secret}});
        let res = apps.mur.run(Some(&admin_token()), REGISTER, plain(None)).await;
        assert_eq!(error_code(&res).as_deref(), Some("BAD_USER_INPUT"), "{res}");
        let res = apps.mur.run(Some(&admin_token()), REGISTER, plain(Some("STOREFRONT_TEST_WC_WEBHOOK"))).await;
        assert_eq!(error_code(&res).as_deref(), Some("CONFLICT"), "another store's secret: {res}");
        let res = apps.mur.run(Some(&admin_token()), REGISTER, plain(Some("DATABASE_URL"))).await;
        assert_eq!(error_code(&res).as_deref(), Some("BAD_USER_INPUT"), "{res}");
        let res = apps.mur.run(Some(&admin_token()), REGISTER, plain(Some("STOREFRONT_TEST_WC_PLAIN"))).await;
        assert!(res["errors"].is_null(), "{res}");
        let res = apps
            .mur
            .run(
                Some(&admin_token()),
                BACKFILL,
                json!({"s": "https://plain.example", "f": "2026-11-28T00:00:00Z", "t": "2026-11-30T00:00:00Z"}),
            )
            .await;
        assert_eq!(error_code(&res).as_deref(), Some("BAD_USER_INPUT"), "{res}");
    }
}

#[tokio::test]
async fn a_store_api_that_does_not_answer_is_read_again_by_the_job_and_every_page_of_refunds_is_read() {
    use murchases::service::storefronts::REDELIVERY_ATTEMPTS;
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        let (_, acct) = apps.active_account("m1").await;
        let store = FakeWoo::start().await;
        register(&apps, &store, "m1").await;
        let source = store.source();
        let created = order(727, "2026-11-30T19:28:02");
        store.put_order(created.clone());
        let (status, _) =
            Delivery::new(&source, "order.created", "d-1", &created).post(&apps.http, &apps.mur_base).await;
        assert_eq!(status, 200);
        assert_eq!(apps.webhook(&apps.mur_base, &payment("pi_w1", 727, &acct, 11_300)).await, 200);

        // The 40.00 line is refunded in 101 refunds (99 of 0.40, 2 of 0.20): more than one page
        // of the store's API (100 a page).
        let refunds: Vec<Value> = (0..101)
            .map(|i| {
                let mut r = fixture("refunds")[0].clone();
                let cents = if i < 99 { "0.40" } else { "0.20" };
                r["id"] = json!(1000 + i);
                r["amount"] = json!(cents);
                r["line_items"][0]["total"] = json!(format!("-{cents}"));
                r["line_items"][0]["subtotal"] = json!(format!("-{cents}"));
                r
            })
            .collect();
        store.put_refunds(727, json!(refunds));
        let mut updated = created.clone();
        updated["refunds"] = json!(
            refunds
                .iter()
                .map(|r| json!({"id": r["id"], "refund": "", "total": format!("-{}", r["amount"].as_str().unwrap_or_default())}))
                .collect::<Vec<_>>()
        );
        updated["date_modified_gmt"] = json!("2026-12-01T20:07:11");
        store.put_order(updated.clone());

        // The store's API fails: the delivery is kept SOURCE_UNAVAILABLE and answered 200
        // (WooCommerce never redelivers, and disables a webhook that keeps failing).
        store.fail_next(503);
        let (status, body) =
            Delivery::new(&source, "order.updated", "d-2", &updated).post(&apps.http, &apps.mur_base).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("SOURCE_UNAVAILABLE")), "{:?}: {body}", t.backend);
        assert_eq!(order_view(&apps, "m1", 727).await["refundedBase"], 0);
        // Not due yet: the job reads nothing. Due, and failing again: one more read counted.
        assert_eq!(apps.murchases.service.retry_storefront_deliveries().await.expect("job"), 0);
        flows::storefront_deliveries_due_now(&t.conn).await;
        store.fail_next(500);
        assert_eq!(apps.murchases.service.retry_storefront_deliveries().await.expect("job"), 1);
        let kept = deliveries(&apps).await;
        let d2 = kept.iter().find(|d| d["deliveryId"].as_str().is_some_and(|id| id.contains("d-2"))).expect("d-2");
        assert_eq!(d2["status"], "SOURCE_UNAVAILABLE", "{kept:?}");
        let q = "{ storefrontDeliveries(status: SOURCE_UNAVAILABLE) { attempts nextAttemptAt } }";
        let res = apps.mur.run(Some(&admin_token()), q, json!({})).await;
        let kept = &res["data"]["storefrontDeliveries"][0];
        assert_eq!(kept["attempts"], 1, "{res}");
        let next: chrono::DateTime<chrono::Utc> =
            kept["nextAttemptAt"].as_str().and_then(|t| t.parse().ok()).expect("next attempt");
        let wait = next - chrono::Utc::now();
        assert!(wait > chrono::Duration::seconds(100) && wait <= chrono::Duration::seconds(120), "2 min: {wait}");
        assert_eq!(apps.murchases.service.retry_storefront_deliveries().await.expect("job"), 0, "backed off");
        // The API answers: every page is read, the whole line is refunded, once.
        flows::storefront_deliveries_due_now(&t.conn).await;
        assert_eq!(apps.murchases.service.retry_storefront_deliveries().await.expect("job"), 1);
        let reads = store.requests();
        assert!(
            reads.contains(&"GET /orders/727/refunds?page=1".to_owned())
                && reads.contains(&"GET /orders/727/refunds?page=2".to_owned()),
            "{reads:?}"
        );
        let o = order_view(&apps, "m1", 727).await;
        assert_eq!((o["refundedBase"].as_i64(), o["refundedAmount"].as_i64()), (Some(4_000), Some(4_000)), "{o}");
        flows::storefront_deliveries_due_now(&t.conn).await;
        assert_eq!(apps.murchases.service.retry_storefront_deliveries().await.expect("job"), 0, "applied: done");

        // A store that never answers: after the last read the delivery needs an admin.
        let other = order(728, "2026-11-30T19:30:00");
        let mut other_updated = other.clone();
        other_updated["refunds"] = json!([{"id": 731, "refund": "", "total": "-43.20"}]);
        store.put_order(other_updated.clone());
        store.fail_next(502);
        let (_, body) =
            Delivery::new(&source, "order.updated", "d-3", &other_updated).post(&apps.http, &apps.mur_base).await;
        assert_eq!(body["status"], "SOURCE_UNAVAILABLE", "{body}");
        for _ in 1..REDELIVERY_ATTEMPTS {
            store.fail_next(502);
            flows::storefront_deliveries_due_now(&t.conn).await;
            assert_eq!(apps.murchases.service.retry_storefront_deliveries().await.expect("job"), 1);
        }
        let kept = deliveries(&apps).await;
        let d3 = kept.iter().find(|d| d["deliveryId"].as_str().is_some_and(|id| id.contains("d-3"))).expect("d-3");
        assert_eq!(d3["status"], "NEEDS_ATTENTION", "{kept:?}");
        assert!(d3["note"].as_str().is_some_and(|n| n.contains("read 12 times")), "{d3}");
        flows::storefront_deliveries_due_now(&t.conn).await;
        assert_eq!(apps.murchases.service.retry_storefront_deliveries().await.expect("job"), 0);
    }
}
