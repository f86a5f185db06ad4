//! Storefront orders (issue 14): a signed Shopify `orders/paid` and the Stripe payment for it give
//! one ledger entry priced on the order's own numbers (8% of the items less discounts, R-COMM-3),
//! in either order of arrival; a `refunds/create` for one line item takes back that item's
//! share, whether Stripe's refund comes before or after it; what is unsigned, unknown, malformed
//! or a duplicate is refused or deduplicated, never applied twice, never a 5xx.

use flows::{Apps, spawn};
use serde_json::{Value, json};
use test_support::shopify::{Delivery, fixture};
use test_support::{TestDb, admin_token, error_code, events, owner_token};

const SHOP: &str = "mall-one.myshopify.com";

const REGISTER: &str = "mutation($i: RegisterStorefrontShopInput!) { registerStorefrontShop(input: $i) { id platform shop maletId secretEnv } }";

const ORDERS: &str = "query($m: ID!) { storefrontOrders(maletId: $m, platform: SHOPIFY) { orderId status affiliateId subtotal discount tax shipping total commissionableBase refundedBase refundedAmount exception payment { paymentId } lines { lineId quantity amount tax vendor } ledgerEntry { grossAmount commissionAmount processingFee reserveAmount netPayout refundedAmount refundedCommission } } }";

async fn register(apps: &Apps, malet: &str) {
    let res = apps
        .mur
        .run(Some(&admin_token()), REGISTER, json!({"i": {"platform": "SHOPIFY", "shop": SHOP, "maletId": malet}}))
        .await;
    assert_eq!(res["data"]["registerStorefrontShop"]["shop"], SHOP, "{res}");
}

fn order(id: u64) -> Value {
    let mut o = fixture("orders_paid");
    o["id"] = json!(id);
    o
}

fn refund(order_id: u64, refund_id: u64) -> Value {
    let mut r = fixture("refunds_create");
    r["id"] = json!(refund_id);
    r["order_id"] = json!(order_id);
    r
}

/// Stripe's `payment_intent.succeeded` for a Shopify order paid to `acct`.
fn payment(pi: &str, order_id: u64, acct: &str, amount: i64) -> Value {
    let mut e = events::payment_succeeded(&format!("evt_{pi}"), pi, &order_id.to_string(), None, Some(acct), amount);
    e["data"]["object"]["metadata"]["platform"] = json!("shopify");
    e
}

async fn orders(apps: &Apps, malet: &str) -> Vec<Value> {
    let res = apps.mur.run(Some(&owner_token(malet)), ORDERS, json!({"m": malet})).await;
    res["data"]["storefrontOrders"].as_array().unwrap_or_else(|| panic!("{res}")).clone()
}

async fn order_view(apps: &Apps, malet: &str, id: u64) -> Value {
    orders(apps, malet)
        .await
        .into_iter()
        .find(|o| o["orderId"].as_str() == Some(id.to_string().as_str()))
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn an_order_and_its_payment_give_one_entry_in_either_order_and_an_item_refund_takes_back_its_share() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        let (_, acct) = apps.active_account("m1").await;
        // Only an admin registers shops.
        let res = apps
            .mur
            .run(
                Some(&owner_token("m1")),
                REGISTER,
                json!({"i": {"platform": "SHOPIFY", "shop": SHOP, "maletId": "m1"}}),
            )
            .await;
        assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"), "{res}");
        register(&apps, "m1").await;

        // A: the order first, then its payment.
        let (status, body) =
            Delivery::new(SHOP, "orders/paid", "wh-a", &order(1001)).post(&apps.http, &apps.mur_base).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("APPLIED")), "{body}");
        let a = order_view(&apps, "m1", 1001).await;
        assert_eq!(
            (a["subtotal"].as_i64(), a["tax"].as_i64(), a["shipping"].as_i64(), a["total"].as_i64()),
            (Some(10_000), Some(800), Some(500), Some(11_300))
        );
        assert_eq!(a["commissionableBase"], 10_000);
        assert_eq!(a["lines"].as_array().map(Vec::len), Some(2));
        assert!(a["ledgerEntry"].is_null());
        assert_eq!(apps.webhook(&apps.mur_base, &payment("pi_a", 1001, &acct, 11_300)).await, 200);
        let a = order_view(&apps, "m1", 1001).await;
        let entry_a = a["ledgerEntry"].clone();
        // 8% of the items (10000), not of the 11300 charged: tax and shipping are not commissioned.
        assert_eq!(entry_a["grossAmount"], 11_300, "{:?}: {a}", t.backend);
        assert_eq!(entry_a["commissionAmount"], 800);
        assert_eq!(a["payment"]["paymentId"], "pi_a");
        assert!(a["exception"].is_null(), "{a}");

        // B: the payment first (it waits for its order, visibly), then the order.
        assert_eq!(apps.webhook(&apps.mur_base, &payment("pi_b", 1002, &acct, 11_300)).await, 200);
        let ex =
            apps.mur.run(Some(&admin_token()), "{ paymentExceptions { providerPaymentId reason } }", json!({})).await;
        let waiting = ex["data"]["paymentExceptions"].as_array().expect("exceptions").iter().any(|e| {
            e["providerPaymentId"] == "pi_b"
                && e["reason"].as_str().is_some_and(|r| r.contains("waiting for shopify order 1002"))
        });
        assert!(waiting, "{ex}");
        let (status, _) =
            Delivery::new(SHOP, "orders/paid", "wh-b", &order(1002)).post(&apps.http, &apps.mur_base).await;
        assert_eq!(status, 200);
        let b = order_view(&apps, "m1", 1002).await;
        assert_eq!(b["ledgerEntry"], entry_a, "the same entry whichever arrived first: {b}");
        assert!(b["exception"].is_null(), "the waiting payment's exception is resolved: {b}");
        let ex = apps.mur.run(Some(&admin_token()), "{ paymentExceptions { providerPaymentId } }", json!({})).await;
        assert!(
            !ex["data"]["paymentExceptions"]
                .as_array()
                .expect("exceptions")
                .iter()
                .any(|e| e["providerPaymentId"] == "pi_b"),
            "{ex}"
        );
        // Redelivering the payment changes nothing.
        assert_eq!(apps.webhook(&apps.mur_base, &payment("pi_b", 1002, &acct, 11_300)).await, 200);
        let count =
            apps.mur.run(Some(&owner_token("m1")), "{ commissionLedger(maletId: \"m1\") { id } }", json!({})).await;
        assert_eq!(count["data"]["commissionLedger"].as_array().map(Vec::len), Some(2), "{count}");

        // The 40.00 line comes back (43.20 with its tax): A hears Shopify first, then Stripe.
        let (status, _) =
            Delivery::new(SHOP, "refunds/create", "wh-ra", &refund(1001, 9001)).post(&apps.http, &apps.mur_base).await;
        assert_eq!(status, 200);
        let a = order_view(&apps, "m1", 1001).await;
        assert_eq!((a["refundedBase"].as_i64(), a["refundedAmount"].as_i64()), (Some(4_000), Some(4_320)));
        assert_eq!(a["ledgerEntry"]["refundedCommission"], 0, "no money refunded yet, nothing taken back: {a}");
        assert_eq!(a["ledgerEntry"]["commissionAmount"], 800);
        assert_eq!(apps.webhook(&apps.mur_base, &events::charge_refunded("evt_ra", "pi_a", 11_300, 4_320)).await, 200);
        let a = order_view(&apps, "m1", 1001).await;
        assert_eq!(a["ledgerEntry"]["refundedAmount"], 4_320);
        assert_eq!(a["ledgerEntry"]["refundedCommission"], 320, "exactly the item's 8%, once: {a}");
        assert_eq!(a["ledgerEntry"]["commissionAmount"], 480);
        // B hears Stripe first (shared by gross: 306), then Shopify (the item's 320).
        assert_eq!(apps.webhook(&apps.mur_base, &events::charge_refunded("evt_rb", "pi_b", 11_300, 4_320)).await, 200);
        assert_eq!(order_view(&apps, "m1", 1002).await["ledgerEntry"]["refundedCommission"], 306);
        let (status, _) =
            Delivery::new(SHOP, "refunds/create", "wh-rb", &refund(1002, 9002)).post(&apps.http, &apps.mur_base).await;
        assert_eq!(status, 200);
        let b = order_view(&apps, "m1", 1002).await;
        let a = order_view(&apps, "m1", 1001).await;
        assert_eq!(b["ledgerEntry"], a["ledgerEntry"], "both orders of arrival converge");
        // A redelivered refund (same webhook id) and the same refund under a new id change nothing.
        let (status, body) =
            Delivery::new(SHOP, "refunds/create", "wh-rb", &refund(1002, 9002)).post(&apps.http, &apps.mur_base).await;
        assert_eq!((status, body["duplicate"].as_bool()), (200, Some(true)), "{body}");
        let (status, _) = Delivery::new(SHOP, "refunds/create", "wh-rb-2", &refund(1002, 9002))
            .post(&apps.http, &apps.mur_base)
            .await;
        assert_eq!(status, 200);
        assert_eq!(order_view(&apps, "m1", 1002).await["ledgerEntry"], a["ledgerEntry"]);

        // The balances see exactly the entries' nets (each refund step once).
        apps.payments.service.consume_ledger_events(100).await.expect("balances");
        let net = a["ledgerEntry"]["netPayout"].as_i64().expect("net");
        let reserve = a["ledgerEntry"]["reserveAmount"].as_i64().expect("reserve");
        let balances = apps.balances("m1").await;
        assert_eq!(balances["totalEarnings"].as_i64(), Some(2 * (net + reserve)), "{balances}");

        // Another owner sees none of it.
        let res = apps.mur.run(Some(&owner_token("m2")), ORDERS, json!({"m": "m1"})).await;
        assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"), "{res}");
    }
}

#[tokio::test]
async fn unsigned_unknown_malformed_and_disagreeing_deliveries_are_refused_or_held_never_applied() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        let (_, acct) = apps.active_account("m1").await;
        register(&apps, "m1").await;

        let mut bad = Delivery::new(SHOP, "orders/paid", "wh-1", &order(2001));
        bad.secret = "not-the-secret";
        let (status, body) = bad.post(&apps.http, &apps.mur_base).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("INVALID_SIGNATURE")), "bad signature: {body}");
        let refused = body;
        let (status, body) = Delivery::new("other.myshopify.com", "orders/paid", "wh-2", &order(2001))
            .post(&apps.http, &apps.mur_base)
            .await;
        // A shop nobody registered answers like a bad signature: nobody can probe which are.
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("INVALID_SIGNATURE")), "{body}");
        assert_eq!(body["error"]["message"], refused["error"]["message"], "the same answer");
        // A signed body that does not read is kept for an admin (Shopify would otherwise retry
        // it and finally drop the subscription), never applied.
        let mut malformed = Delivery::new(SHOP, "orders/paid", "wh-3", &json!({}));
        malformed.body = "{\"id\": 1, ".to_owned();
        let (status, body) = malformed.post(&apps.http, &apps.mur_base).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("NEEDS_ATTENTION")), "{body}");
        let mut huge = Delivery::new(SHOP, "orders/paid", "wh-4", &json!({}));
        huge.body = format!("{{\"pad\": \"{}\"}}", "x".repeat(300 * 1024));
        assert_eq!(huge.post(&apps.http, &apps.mur_base).await.0, 413, "over the body limit");
        let res = apps
            .http
            .post(format!("{}/webhooks/shopify", apps.mur_base))
            .header("X-Shopify-Shop-Domain", SHOP)
            .body(order(2001).to_string())
            .send()
            .await
            .expect("post");
        assert_eq!(res.status().as_u16(), 400, "no signature");
        assert!(orders(&apps, "m1").await.is_empty(), "nothing stored");

        // Numbers that do not add up: stored for an admin, no order.
        let mut off = order(2002);
        off["current_total_price"] = json!("120.00");
        let (status, body) = Delivery::new(SHOP, "orders/paid", "wh-5", &off).post(&apps.http, &apps.mur_base).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("NEEDS_ATTENTION")), "{body}");
        let mut theirs = order(2003);
        theirs["note_attributes"] =
            json!([{"name": "maletId", "value": "m2"}, {"name": "affiliateId", "value": "aff_9"}]);
        // An affiliate (buyers can write the attribute) of a shop that does not attribute
        // affiliates, and a `maletId` attribute: the order is recorded for the shop's Malet,
        // without an affiliate, and the delivery says why.
        let (status, body) = Delivery::new(SHOP, "orders/paid", "wh-6", &theirs).post(&apps.http, &apps.mur_base).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("APPLIED")), "{body}");
        let recorded = order_view(&apps, "m1", 2003).await;
        assert!(recorded["affiliateId"].is_null(), "{recorded}");
        assert!(order_view(&apps, "m2", 2003).await.is_null());
        let (status, body) =
            Delivery::new(SHOP, "orders/create", "wh-7", &order(2004)).post(&apps.http, &apps.mur_base).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("IGNORED")), "{body}");
        assert_eq!(orders(&apps, "m1").await.len(), 1, "{:?}", t.backend);
        // Admins see what needs them; an owner does not.
        let q = "{ storefrontDeliveries(status: NEEDS_ATTENTION) { deliveryId topic status note } }";
        let res = apps.mur.run(Some(&admin_token()), q, json!({})).await;
        let held = res["data"]["storefrontDeliveries"].as_array().unwrap_or_else(|| panic!("{res}")).clone();
        assert_eq!(
            held.iter().map(|d| d["deliveryId"].as_str().unwrap_or_default()).collect::<Vec<_>>(),
            ["wh-5", "wh-3"],
            "{res}"
        );
        assert!(held[1]["note"].as_str().is_some_and(|n| n.contains("not an order")), "{res}");
        assert!(held[0]["note"].as_str().is_some_and(|n| n.contains("the order's total is 12000")), "{res}");
        let q6 = "{ storefrontDeliveries(status: APPLIED) { deliveryId note } }";
        let res = apps.mur.run(Some(&admin_token()), q6, json!({})).await;
        let wh6 = res["data"]["storefrontDeliveries"]
            .as_array()
            .and_then(|a| a.iter().find(|d| d["deliveryId"] == "wh-6").cloned());
        assert!(
            wh6.as_ref().and_then(|d| d["note"].as_str()).is_some_and(|n| n.contains("does not attribute affiliates")),
            "{res}"
        );
        let res = apps.mur.run(Some(&owner_token("m1")), q, json!({})).await;
        assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"), "{res}");

        // A payment that disagrees with its order (amount, or a smaller subtotal in its
        // metadata) is an exception on the order, never an entry.
        assert_eq!(
            Delivery::new(SHOP, "orders/paid", "wh-8", &order(2005)).post(&apps.http, &apps.mur_base).await.0,
            200
        );
        let mut shrunk = payment("pi_s", 2005, &acct, 11_300);
        shrunk["data"]["object"]["metadata"]["subtotal"] = json!("100");
        assert_eq!(apps.webhook(&apps.mur_base, &shrunk).await, 200);
        let o = order_view(&apps, "m1", 2005).await;
        assert!(o["ledgerEntry"].is_null(), "{o}");
        assert!(o["exception"].as_str().is_some_and(|e| e.contains("metadata.subtotal 100 (order: 10000)")), "{o}");
        assert_eq!(
            Delivery::new(SHOP, "orders/paid", "wh-9", &order(2006)).post(&apps.http, &apps.mur_base).await.0,
            200
        );
        assert_eq!(apps.webhook(&apps.mur_base, &payment("pi_t", 2006, &acct, 9_000)).await, 200);
        let o = order_view(&apps, "m1", 2006).await;
        assert!(
            o["ledgerEntry"].is_null() && o["exception"].as_str().is_some_and(|e| e.contains("amount 9000")),
            "{o}"
        );

        // A duplicate delivery of an order changes nothing.
        let (status, body) =
            Delivery::new(SHOP, "orders/paid", "wh-9", &order(2006)).post(&apps.http, &apps.mur_base).await;
        assert_eq!((status, body["duplicate"].as_bool()), (200, Some(true)), "{body}");
        assert_eq!(orders(&apps, "m1").await.len(), 3);

        // A shop of another Malet cannot be taken over by registering it again.
        let res = apps
            .mur
            .run(Some(&admin_token()), REGISTER, json!({"i": {"platform": "SHOPIFY", "shop": SHOP, "maletId": "m2"}}))
            .await;
        assert_eq!(error_code(&res).as_deref(), Some("CONFLICT"), "{res}");
        let res = apps.mur.run(Some(&admin_token()), REGISTER, json!({"i": {"platform": "SHOPIFY", "shop": "x.myshopify.com", "maletId": "m2", "secretEnv": "NOT_SET_ANYWHERE_1234"}})).await;
        assert_eq!(error_code(&res).as_deref(), Some("BAD_USER_INPUT"), "{res}");

        // A shop an admin lets attribute affiliates credits a registered one that is not
        // suspended; a name nobody registered is ignored (never held: a buyer cannot stop an
        // order with a made-up name).
        let res = apps
            .mur
            .run(
                Some(&admin_token()),
                REGISTER,
                json!({"i": {"platform": "SHOPIFY", "shop": SHOP, "maletId": "m1", "affiliateAttribution": true}}),
            )
            .await;
        assert!(res["errors"].is_null(), "{res}");
        let named = |id: u64, affiliate: &str| {
            let mut o = order(id);
            o["note_attributes"] = json!([{"name": "affiliateId", "value": affiliate}]);
            o
        };
        let (status, body) =
            Delivery::new(SHOP, "orders/paid", "wh-a1", &named(2007, "aff_9")).post(&apps.http, &apps.mur_base).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("APPLIED")), "{body}");
        assert!(order_view(&apps, "m1", 2007).await["affiliateId"].is_null());
        let register = "mutation { registerAffiliate(input: {affiliateId: \"aff_9\", provider: MANUAL}) { id } }";
        assert!(apps.mur.run(Some(&admin_token()), register, json!({})).await["errors"].is_null());
        let (status, _) =
            Delivery::new(SHOP, "orders/paid", "wh-a2", &named(2008, "aff_9")).post(&apps.http, &apps.mur_base).await;
        assert_eq!(status, 200);
        assert_eq!(order_view(&apps, "m1", 2008).await["affiliateId"], "aff_9");

        // An admin replays a held delivery from its stored body (the malformed one stays held);
        // only a held delivery is replayed, and only by an admin.
        let replay = "mutation($id: ID!) { replayStorefrontDelivery(id: $id) { deliveryId status note } }";
        let q = "{ storefrontDeliveries { id deliveryId } }";
        let res = apps.mur.run(Some(&admin_token()), q, json!({})).await;
        let all = res["data"]["storefrontDeliveries"].as_array().unwrap_or_else(|| panic!("{res}")).clone();
        let id_of = |d: &str| {
            all.iter().find(|x| x["deliveryId"] == d).and_then(|x| x["id"].as_str()).expect("delivery").to_owned()
        };
        let (wh3, wh6) = (id_of("wh-3"), id_of("wh-6"));
        let res = apps.mur.run(Some(&owner_token("m1")), replay, json!({"id": wh3})).await;
        assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"), "{res}");
        let res = apps.mur.run(Some(&admin_token()), replay, json!({"id": wh3})).await;
        assert_eq!(res["data"]["replayStorefrontDelivery"]["status"], "NEEDS_ATTENTION", "{res}");
        let res = apps.mur.run(Some(&admin_token()), replay, json!({"id": wh6})).await;
        assert_eq!(error_code(&res).as_deref(), Some("CONFLICT"), "{res}");
    }
}

/// Review findings of issue 14: a Shopify refund that later explains Stripe's refund as no item
/// (shipping) takes back nothing, in either order of arrival (a fee refund already owed is
/// reversed from the seller); a payment that waited and then
/// disagrees with its order stays an exception on the order; orders and payments of two shops of
/// one Malet, all at once, each give their entry (no deadlock, no 5xx).
#[tokio::test]
async fn a_later_explanation_takes_back_only_what_it_explains_and_two_shops_of_one_malet_apply_concurrently() {
    const SHOP_B: &str = "mall-one-b.myshopify.com";
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        let (_, acct) = apps.active_account("m1").await;
        register(&apps, "m1").await;
        let res = apps
            .mur
            .run(Some(&admin_token()), REGISTER, json!({"i": {"platform": "SHOPIFY", "shop": SHOP_B, "maletId": "m1"}}))
            .await;
        assert_eq!(res["data"]["registerStorefrontShop"]["shop"], SHOP_B, "{res}");

        // Stripe's refund first: shared by gross (306 of 800), its fee refund queued.
        assert_eq!(
            Delivery::new(SHOP, "orders/paid", "wh-f", &order(3001)).post(&apps.http, &apps.mur_base).await.0,
            200
        );
        assert_eq!(apps.webhook(&apps.mur_base, &payment("pi_f", 3001, &acct, 11_300)).await, 200);
        assert_eq!(apps.webhook(&apps.mur_base, &events::charge_refunded("evt_rf", "pi_f", 11_300, 4_320)).await, 200);
        let before = order_view(&apps, "m1", 3001).await["ledgerEntry"].clone();
        assert_eq!(before["refundedCommission"], 306, "{before}");
        // Then Shopify says those 43.20 refunded no item: nothing is taken back after all, and
        // the fee refund already owed goes back to the platform by a reversal from the seller.
        let mut shipping_only = refund(3001, 9301);
        shipping_only["refund_line_items"] = json!([]);
        let (status, body) =
            Delivery::new(SHOP, "refunds/create", "wh-rf", &shipping_only).post(&apps.http, &apps.mur_base).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("APPLIED")), "{body}");
        let after = order_view(&apps, "m1", 3001).await;
        assert_eq!((after["refundedBase"].as_i64(), after["refundedAmount"].as_i64()), (Some(0), Some(4_320)));
        assert_eq!(
            (after["ledgerEntry"]["refundedCommission"].as_i64(), after["ledgerEntry"]["commissionAmount"].as_i64()),
            (Some(0), Some(800)),
            "{after}"
        );
        let ids = apps
            .mur
            .run(Some(&owner_token("m1")), "{ commissionLedger(maletId: \"m1\") { id orderId } }", json!({}))
            .await;
        let ledger_id = ids["data"]["commissionLedger"]
            .as_array()
            .and_then(|a| a.iter().find(|e| e["orderId"] == "3001"))
            .and_then(|e| e["id"].as_str())
            .unwrap_or_else(|| panic!("{ids}"))
            .to_owned();
        let q = "query($l: ID) { outgoingMovements(ledgerId: $l) { kind amount } }";
        let moved = apps.mur.run(Some(&admin_token()), q, json!({"l": ledger_id})).await;
        let moved = moved["data"]["outgoingMovements"].as_array().unwrap_or_else(|| panic!("{moved}")).clone();
        let amount_of = |kind: &str| {
            moved.iter().filter(|m| m["kind"] == kind).map(|m| m["amount"].as_i64().unwrap_or(0)).sum::<i64>()
        };
        assert_eq!(amount_of("FEE_REFUND"), 306 + 388, "the commission's and the reserve's share: {moved:?}");
        assert_eq!(amount_of("TRANSFER_REVERSAL"), 306, "the commission's share goes back: {moved:?}");
        // The other order of arrival ends in the same entry, with no fee refund of commission.
        assert_eq!(
            Delivery::new(SHOP, "orders/paid", "wh-g", &order(3004)).post(&apps.http, &apps.mur_base).await.0,
            200
        );
        assert_eq!(apps.webhook(&apps.mur_base, &payment("pi_g", 3004, &acct, 11_300)).await, 200);
        let mut shipping_first = refund(3004, 9304);
        shipping_first["refund_line_items"] = json!([]);
        assert_eq!(
            Delivery::new(SHOP, "refunds/create", "wh-rg", &shipping_first).post(&apps.http, &apps.mur_base).await.0,
            200
        );
        assert_eq!(apps.webhook(&apps.mur_base, &events::charge_refunded("evt_rg", "pi_g", 11_300, 4_320)).await, 200);
        assert_eq!(order_view(&apps, "m1", 3004).await["ledgerEntry"], after["ledgerEntry"], "either order of arrival");

        // Prices that include tax (the lines 2 × 32.40 and 43.20, 108.00 with 8.00 of tax): the
        // base is still 100.00, and the refunded 43.20 line takes back 8% of its 40.00, not of
        // its 43.20.
        let mut inclusive = order(3003);
        inclusive["taxes_included"] = json!(true);
        inclusive["current_subtotal_price"] = json!("108.00");
        inclusive["line_items"][0]["price"] = json!("32.40");
        inclusive["line_items"][1]["price"] = json!("43.20");
        assert_eq!(
            Delivery::new(SHOP, "orders/paid", "wh-i", &inclusive).post(&apps.http, &apps.mur_base).await.0,
            200
        );
        assert_eq!(apps.webhook(&apps.mur_base, &payment("pi_i", 3003, &acct, 11_300)).await, 200);
        let mut line_back = refund(3003, 9303);
        line_back["refund_line_items"][0]["subtotal"] = json!(43.20);
        line_back["refund_line_items"][0]["subtotal_set"]["shop_money"]["amount"] = json!("43.20");
        assert_eq!(
            Delivery::new(SHOP, "refunds/create", "wh-ir", &line_back).post(&apps.http, &apps.mur_base).await.0,
            200
        );
        assert_eq!(apps.webhook(&apps.mur_base, &events::charge_refunded("evt_ri", "pi_i", 11_300, 4_320)).await, 200);
        let i = order_view(&apps, "m1", 3003).await;
        assert_eq!(i["commissionableBase"], 10_000, "{i}");
        assert_eq!(i["refundedBase"], 4_000, "{i}");
        assert_eq!(i["ledgerEntry"]["refundedCommission"], 320, "{i}");

        // A payment that waits, then disagrees with the order that arrives: no entry, the order
        // shows the exception, and the payment is still the order's (a corrected order applies it).
        assert_eq!(apps.webhook(&apps.mur_base, &payment("pi_w", 3002, &acct, 9_000)).await, 200);
        assert_eq!(
            Delivery::new(SHOP, "orders/paid", "wh-w", &order(3002)).post(&apps.http, &apps.mur_base).await.0,
            200
        );
        let w = order_view(&apps, "m1", 3002).await;
        assert!(w["ledgerEntry"].is_null(), "{w}");
        assert!(w["exception"].as_str().is_some_and(|e| e.contains("amount 9000")), "{w}");
        assert_eq!(w["payment"]["paymentId"], "pi_w", "{w}");

        // Two shops, orders and payments all at once, in both orders of arrival.
        let ids: Vec<u64> = (3100..3116).collect();
        let sends = ids.iter().map(|&id| {
            let (apps, acct) = (&apps, acct.clone());
            async move {
                let shop = if id % 2 == 0 { SHOP } else { SHOP_B };
                let hook = format!("wh-c{id}");
                let delivery = async {
                    let d = Delivery::new(shop, "orders/paid", &hook, &order(id));
                    d.post(&apps.http, &apps.mur_base).await.0
                };
                let paid = payment(&format!("pi_c{id}"), id, &acct, 11_300);
                let pay = apps.webhook(&apps.mur_base, &paid);
                if id % 4 < 2 {
                    let (d, p) = tokio::join!(delivery, pay);
                    (d, p)
                } else {
                    let (p, d) = tokio::join!(pay, delivery);
                    (d, p)
                }
            }
        });
        for (d, p) in futures::future::join_all(sends).await {
            assert_eq!((d, p), (200, 200), "{:?}", t.backend);
        }
        let all = orders(&apps, "m1").await;
        for id in ids {
            let o = all
                .iter()
                .find(|o| o["orderId"].as_str() == Some(id.to_string().as_str()))
                .unwrap_or_else(|| panic!("order {id}"));
            assert_eq!(o["ledgerEntry"]["commissionAmount"], 800, "{:?}: {o}", t.backend);
            assert!(o["exception"].is_null(), "{o}");
        }
    }
}
