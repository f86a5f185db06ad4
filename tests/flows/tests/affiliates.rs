//! Issue 13, item 2 (R-AFF-1…R-AFF-4): affiliates as payees. An order with an affiliate (5% of the base,
//! platform-funded) shows the affiliate's share as held at once; a refund inside the refund
//! window lowers it; after the window it is paid once (two instances running the job at once);
//! a refund after the payout leaves a negative balance, recovered from the next share.

use flows::{Apps, spawn};
use serde_json::{Value, json};
use test_support::{self as testing, TestDb, admin_token, affiliate_token, order_service_token, owner_token};

const VIEW: &str = "query($id: ID!) { affiliate(id: $id) { id registered provider providerAccountId status currency earned held due paid balance lines { orderId maletId earned status dueAt } payouts { amount status reference } } }";
const REGISTER: &str = "mutation($i: RegisterAffiliateInput!) { registerAffiliate(input: $i) { id registered provider providerAccountId status balance } }";
const REFUND: &str = "mutation($o: ID!, $a: Int!) { refundMurchase(maletId: \"m1\", orderId: $o, amount: $a, reason: \"returned\") { affiliateAmount status } }";

/// A connected account of the affiliate, made at Stripe (the fake) as Stripe onboarding makes it.
async fn stripe_account(apps: &Apps) -> String {
    let res = apps
        .http
        .post(format!("{}/v1/accounts", apps.stripe.base_url()))
        .bearer_auth("sk_test_x")
        .form(&[("type", "express"), ("country", "US")])
        .send()
        .await
        .expect("account at the fake");
    let body: Value = res.json().await.expect("account json");
    body["id"].as_str().expect("acct id").to_owned()
}

async fn view(apps: &Apps, token: &str, id: &str) -> Value {
    apps.mur.run(Some(token), VIEW, json!({"id": id})).await
}

fn figures(v: &Value) -> (i64, i64, i64, i64, i64) {
    let a = &v["data"]["affiliate"];
    let n = |k: &str| a[k].as_i64().unwrap_or_else(|| panic!("{k}: {v}"));
    (n("earned"), n("held"), n("due"), n("paid"), n("balance"))
}

/// The order service charges `order` for 100.00 with the affiliate `aff_1`; Stripe reports it.
async fn sale_with_affiliate(apps: &Apps, order: &str) -> String {
    let create = "mutation($i: OrderInput!) { createMurchasePayment(input: $i) { paymentIntentId breakdown { affiliateAmount commissionAmount netPayout } } }";
    let input = json!({"i": {"orderId": order, "maletId": "m1", "grossAmount": 10_000, "affiliateId": "aff_1"}});
    let res = apps.mur.run(Some(&order_service_token()), create, input).await;
    // 5% of the base, out of the platform's 8% (platform-funded): the platform keeps 300, the
    // seller's net is what it is without an affiliate.
    assert_eq!(
        res["data"]["createMurchasePayment"]["breakdown"],
        json!({"affiliateAmount": 500, "commissionAmount": 300, "netPayout": 7992}),
        "{res}"
    );
    let pi = res["data"]["createMurchasePayment"]["paymentIntentId"].as_str().expect("pi").to_owned();
    let mut e = testing::stripe_event("payment_intent.succeeded");
    e["id"] = json!(format!("evt_paid_{pi}"));
    e["data"]["object"] = apps.stripe.payment_intent(&pi).expect("pi object");
    e["data"]["object"]["created"] = json!(chrono::Utc::now().timestamp());
    assert_eq!(apps.webhook(&apps.mur_base, &e).await, 200);
    pi
}

/// Settles `order`'s entry (the settlement job, run as if three days had passed), then dates the
/// settlement `days_ago` days back, as if the refund window had run that long.
async fn settled_days_ago(apps: &Apps, t: &TestDb, order: &str, days_ago: i64) {
    use sea_orm::{ConnectionTrait, Statement};
    apps.murchases.service.settle_due(chrono::Utc::now() + chrono::Duration::days(3)).await.expect("settle");
    let at = (chrono::Utc::now() - chrono::Duration::days(days_ago)).to_rfc3339();
    let sql = match t.backend {
        sea_orm::DbBackend::Postgres => {
            "UPDATE commission_ledger SET settlement_date = $1::timestamptz WHERE order_id = $2"
        }
        _ => "UPDATE commission_ledger SET settlement_date = ? WHERE order_id = ?",
    };
    t.conn
        .execute_raw(Statement::from_sql_and_values(t.backend, sql, [at.into(), order.into()]))
        .await
        .expect("date the settlement");
}

/// The amounts of the transfers made to `acct`, smallest first.
fn transfers_to(apps: &Apps, acct: &str) -> Vec<i64> {
    let mut amounts: Vec<i64> = apps
        .stripe
        .transfers()
        .into_iter()
        .filter(|t| t["destination"] == acct)
        .map(|t| t["amount"].as_i64().expect("amount"))
        .collect();
    amounts.sort_unstable();
    amounts
}

#[tokio::test]
async fn an_affiliate_is_held_then_paid_once_and_a_later_refund_is_recovered_from_its_next_share() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        let replica = apps.replicas(&t.conn).await;
        apps.active_account("m1").await;
        let rule = "mutation { setCommissionOverride(input: {maletId: \"m1\", affiliateRate: \"0.05\", affiliateFunding: PLATFORM, reason: \"affiliate program\"}) { version } }";
        let res = apps.mur.run(Some(&admin_token()), rule, json!({})).await;
        assert!(res["errors"].is_null(), "{res}");
        // No pause: a sale is priced by the rule its checkout quoted, even within the second of a
        // rule change (Stripe dates the payment in whole seconds).

        // Registration: admins only, a real account id, one affiliate per account.
        let acct = stripe_account(&apps).await;
        let input = json!({"i": {"affiliateId": "aff_1", "provider": "STRIPE_CONNECT", "providerAccountId": acct}});
        let res = apps.mur.run(Some(&owner_token("m1")), REGISTER, input.clone()).await;
        assert_eq!(testing::error_code(&res).as_deref(), Some("FORBIDDEN"), "{res}");
        let res = apps.mur.run(Some(&affiliate_token("aff_1")), REGISTER, input.clone()).await;
        assert_eq!(
            testing::error_code(&res).as_deref(),
            Some("FORBIDDEN"),
            "an affiliate cannot register itself: {res}"
        );
        let bad =
            json!({"i": {"affiliateId": "aff_1", "provider": "STRIPE_CONNECT", "providerAccountId": "not-an-account"}});
        let res = apps.mur.run(Some(&admin_token()), REGISTER, bad).await;
        assert_eq!(testing::error_code(&res).as_deref(), Some("BAD_USER_INPUT"), "{res}");
        let res = apps.mur.run(Some(&admin_token()), REGISTER, input.clone()).await;
        assert_eq!(
            res["data"]["registerAffiliate"],
            json!({"id": "aff_1", "registered": true, "provider": "STRIPE_CONNECT", "providerAccountId": acct, "status": "ACTIVE", "balance": 0}),
            "{res}"
        );
        let res = apps.mur.run(Some(&admin_token()), REGISTER, input).await;
        assert_eq!(testing::error_code(&res).as_deref(), Some("CONFLICT"), "{res}");
        let same_account =
            json!({"i": {"affiliateId": "aff_2", "provider": "STRIPE_CONNECT", "providerAccountId": acct}});
        let res = apps.mur.run(Some(&admin_token()), REGISTER, same_account).await;
        assert_eq!(testing::error_code(&res).as_deref(), Some("CONFLICT"), "one account pays one affiliate: {res}");

        // The sale: the share is held at once.
        let _ = sale_with_affiliate(&apps, "ord_1").await;
        let me = affiliate_token("aff_1");
        let v = view(&apps, &me, "aff_1").await;
        assert_eq!(figures(&v), (500, 500, 0, 0, 0), "{:?}: {v}", t.backend);
        assert_eq!(v["data"]["affiliate"]["lines"][0]["earned"], 500);
        assert!(v["data"]["affiliate"]["lines"][0]["dueAt"].is_null(), "not settled yet: {v}");
        // Guards as for Malets: another affiliate, a seller and no token are refused.
        for (token, code) in [
            (Some(affiliate_token("aff_2")), "FORBIDDEN"),
            (Some(owner_token("m1")), "FORBIDDEN"),
            (None, "UNAUTHENTICATED"),
        ] {
            let res = apps.mur.run(token.as_deref(), VIEW, json!({"id": "aff_1"})).await;
            assert_eq!(testing::error_code(&res).as_deref(), Some(code), "{res}");
            assert!(res["data"].is_null(), "nothing leaks: {res}");
        }

        // A refund inside the window lowers the share: 40% refunded, 300 left.
        let res = apps.mur.run(Some(&admin_token()), REFUND, json!({"o": "ord_1", "a": 4000})).await;
        assert_eq!(res["data"]["refundMurchase"]["affiliateAmount"], 300, "{res}");
        assert_eq!(figures(&view(&apps, &me, "aff_1").await), (300, 300, 0, 0, 0));

        // Nothing is paid inside the window (30 days after settlement); after it, the share is
        // paid once by two instances running the job at once.
        let svc = &apps.murchases.service;
        settled_days_ago(&apps, &t, "ord_1", 29).await;
        assert_eq!(svc.pay_affiliates(chrono::Utc::now()).await.expect("job"), 0);
        assert!(transfers_to(&apps, &acct).is_empty());
        assert_eq!(figures(&view(&apps, &me, "aff_1").await), (300, 300, 0, 0, 0), "still held");
        settled_days_ago(&apps, &t, "ord_1", 31).await;
        let after_window = chrono::Utc::now();
        let (a, b) =
            tokio::join!(svc.pay_affiliates(after_window), replica.murchases.service.pay_affiliates(after_window));
        assert_eq!(a.expect("job") + b.expect("job"), 1, "one payout between the two instances");
        svc.send_movements().await.expect("send");
        assert_eq!(svc.pay_affiliates(after_window).await.expect("job again"), 0);
        assert_eq!(transfers_to(&apps, &acct), vec![300], "paid once");
        let v = view(&apps, &me, "aff_1").await;
        assert_eq!(figures(&v), (300, 0, 300, 300, 0), "{v}");
        assert_eq!(v["data"]["affiliate"]["payouts"], json!([{"amount": 300, "status": "PAID", "reference": null}]));

        // A refund after the payout: the share falls to 200, so 100 was overpaid.
        let res = apps.mur.run(Some(&admin_token()), REFUND, json!({"o": "ord_1", "a": 2000})).await;
        assert_eq!(res["data"]["refundMurchase"]["affiliateAmount"], 200, "{res}");
        assert_eq!(figures(&view(&apps, &me, "aff_1").await), (200, 0, 200, 300, -100), "a negative balance");
        assert_eq!(svc.pay_affiliates(after_window).await.expect("job"), 0, "nothing is paid on a debt");

        // The next share pays the debt first: 500 − 100 = 400 is sent when it falls due.
        let _ = sale_with_affiliate(&apps, "ord_2").await;
        assert_eq!(figures(&view(&apps, &me, "aff_1").await), (700, 500, 200, 300, -100));
        settled_days_ago(&apps, &t, "ord_2", 31).await;
        assert_eq!(svc.pay_affiliates(chrono::Utc::now()).await.expect("job"), 1);
        svc.send_movements().await.expect("send");
        assert_eq!(transfers_to(&apps, &acct), vec![300, 400]);
        assert_eq!(figures(&view(&apps, &me, "aff_1").await), (700, 0, 700, 700, 0));
        // Admins read it too; the lines name each order.
        let v = view(&apps, &admin_token(), "aff_1").await;
        let orders: Vec<&str> = v["data"]["affiliate"]["lines"]
            .as_array()
            .expect("lines")
            .iter()
            .filter_map(|l| l["orderId"].as_str())
            .collect();
        assert_eq!(orders, vec!["ord_2", "ord_1"], "{v}");
    }
}

#[tokio::test]
async fn a_manual_affiliate_is_paid_by_hand_never_beyond_what_is_due_and_a_refused_transfer_is_due_again() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        apps.active_account("m1").await;
        let rule = "mutation { setCommissionOverride(input: {maletId: \"m1\", affiliateRate: \"0.05\", affiliateFunding: PLATFORM, reason: \"affiliate program\"}) { version } }";
        assert!(apps.mur.run(Some(&admin_token()), rule, json!({})).await["errors"].is_null());
        let input = json!({"i": {"affiliateId": "aff_1", "provider": "MANUAL"}});
        let res = apps.mur.run(Some(&admin_token()), REGISTER, input).await;
        assert_eq!(res["data"]["registerAffiliate"]["provider"], "MANUAL", "{res}");
        let _ = sale_with_affiliate(&apps, "ord_1").await;
        let pay = "mutation($a: Int!, $r: String!) { recordAffiliatePayout(affiliateId: \"aff_1\", amount: $a, reference: $r) { paid balance } }";
        // Inside the window nothing is due yet.
        settled_days_ago(&apps, &t, "ord_1", 10).await;
        let res = apps.mur.run(Some(&admin_token()), pay, json!({"a": 100, "r": "wire-1"})).await;
        assert_eq!(testing::error_code(&res).as_deref(), Some("BAD_USER_INPUT"), "{:?}: {res}", t.backend);
        settled_days_ago(&apps, &t, "ord_1", 40).await;
        // The job pays only through a provider; a MANUAL affiliate is paid by hand.
        assert_eq!(apps.murchases.service.pay_affiliates(chrono::Utc::now()).await.expect("job"), 0);
        let res = apps.mur.run(Some(&owner_token("m1")), pay, json!({"a": 100, "r": "wire-1"})).await;
        assert_eq!(testing::error_code(&res).as_deref(), Some("FORBIDDEN"), "{res}");
        let res = apps.mur.run(Some(&admin_token()), pay, json!({"a": 501, "r": "wire-1"})).await;
        assert_eq!(testing::error_code(&res).as_deref(), Some("BAD_USER_INPUT"), "beyond the balance: {res}");
        let res = apps.mur.run(Some(&admin_token()), pay, json!({"a": 500, "r": "wire-1"})).await;
        assert_eq!(res["data"]["recordAffiliatePayout"], json!({"paid": 500, "balance": 0}), "{res}");
        let res = apps.mur.run(Some(&admin_token()), pay, json!({"a": 1, "r": "wire-1"})).await;
        assert!(testing::error_code(&res).is_some(), "once per reference: {res}");

        // A Stripe affiliate whose transfer Stripe refuses: FAILED, and due again later.
        let acct = stripe_account(&apps).await;
        let input = json!({"i": {"affiliateId": "aff_s", "provider": "STRIPE_CONNECT", "providerAccountId": acct}});
        assert!(apps.mur.run(Some(&admin_token()), REGISTER, input).await["errors"].is_null());
        let create = "mutation($i: OrderInput!) { createMurchasePayment(input: $i) { paymentIntentId } }";
        let input = json!({"i": {"orderId": "ord_s", "maletId": "m1", "grossAmount": 10_000, "affiliateId": "aff_s"}});
        let res = apps.mur.run(Some(&order_service_token()), create, input).await;
        let pi = res["data"]["createMurchasePayment"]["paymentIntentId"].as_str().expect("pi").to_owned();
        let mut e = testing::stripe_event("payment_intent.succeeded");
        e["id"] = json!(format!("evt_paid_{pi}"));
        e["data"]["object"] = apps.stripe.payment_intent(&pi).expect("pi object");
        assert_eq!(apps.webhook(&apps.mur_base, &e).await, 200);
        settled_days_ago(&apps, &t, "ord_s", 40).await;
        apps.stripe.fail_next("/v1/transfers", 400);
        let now = chrono::Utc::now();
        assert_eq!(apps.murchases.service.pay_affiliates(now).await.expect("job"), 1);
        let v = view(&apps, &admin_token(), "aff_s").await;
        assert_eq!(v["data"]["affiliate"]["payouts"][0]["status"], "FAILED", "{v}");
        assert_eq!(figures(&v), (500, 0, 500, 0, 500), "due again: {v}");
        // Not retried at once; a day later it is, and paid.
        assert_eq!(apps.murchases.service.pay_affiliates(now).await.expect("job"), 0);
        assert_eq!(apps.murchases.service.pay_affiliates(now + chrono::Duration::days(2)).await.expect("job"), 1);
        assert_eq!(transfers_to(&apps, &acct), vec![500]);
        assert_eq!(figures(&view(&apps, &admin_token(), "aff_s").await), (500, 0, 500, 500, 0));
    }
}

/// A lost dispute forfeits the affiliate's share (the buyer's money went back): nothing is paid.
#[tokio::test]
async fn a_lost_dispute_forfeits_the_affiliate_share() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        apps.active_account("m1").await;
        let rule = "mutation { setCommissionOverride(input: {maletId: \"m1\", affiliateRate: \"0.05\", affiliateFunding: PLATFORM, reason: \"affiliate program\"}) { version } }";
        assert!(apps.mur.run(Some(&admin_token()), rule, json!({})).await["errors"].is_null());
        let acct = stripe_account(&apps).await;
        let input = json!({"i": {"affiliateId": "aff_1", "provider": "STRIPE_CONNECT", "providerAccountId": acct}});
        assert!(apps.mur.run(Some(&admin_token()), REGISTER, input).await["errors"].is_null());
        let pi = sale_with_affiliate(&apps, "ord_1").await;
        let charge = apps.stripe.payment_intent(&pi).expect("pi")["latest_charge"].as_str().expect("charge").to_owned();
        let dispute = |id: &str, kind: &str, status: &str| {
            testing::events::dispute(id, kind, "dp_1", &pi, &charge, 10_000, status)
        };
        let admin = admin_token();
        assert_eq!(
            apps.webhook(&apps.mur_base, &dispute("evt_open", "charge.dispute.created", "needs_response")).await,
            200
        );
        assert_eq!(
            figures(&view(&apps, &admin, "aff_1").await),
            (500, 500, 0, 0, 0),
            "an open dispute changes nothing yet"
        );
        assert_eq!(apps.webhook(&apps.mur_base, &dispute("evt_lost", "charge.dispute.closed", "lost")).await, 200);
        let v = view(&apps, &admin, "aff_1").await;
        assert_eq!(figures(&v), (0, 0, 0, 0, 0), "{:?}: forfeited: {v}", t.backend);
        settled_days_ago(&apps, &t, "ord_1", 31).await;
        assert_eq!(apps.murchases.service.pay_affiliates(chrono::Utc::now()).await.expect("job"), 0);
        assert!(transfers_to(&apps, &acct).is_empty(), "nothing is paid for a lost sale");
    }
}

/// An affiliate onboards itself through Stripe's hosted onboarding, as a seller does: the
/// account is made once, Stripe's `account.updated` activates it, and its shares are paid to it.
#[tokio::test]
async fn an_affiliate_onboards_itself_and_is_paid_once_stripe_enables_its_account() {
    const START: &str = "mutation($id: ID!) { startAffiliateOnboarding(affiliateId: $id) { onboardingUrl affiliate { id registered provider providerAccountId status } } }";
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        apps.active_account("m1").await;
        let rule = "mutation { setCommissionOverride(input: {maletId: \"m1\", affiliateRate: \"0.05\", affiliateFunding: PLATFORM, reason: \"affiliate program\"}) { version } }";
        assert!(apps.mur.run(Some(&admin_token()), rule, json!({})).await["errors"].is_null());

        // Only the affiliate itself (or an admin) starts its onboarding.
        for token in [affiliate_token("aff_2"), owner_token("m1")] {
            let res = apps.mur.run(Some(&token), START, json!({"id": "aff_1"})).await;
            assert_eq!(testing::error_code(&res).as_deref(), Some("FORBIDDEN"), "{res}");
        }
        let me = affiliate_token("aff_1");
        let res = apps.mur.run(Some(&me), START, json!({"id": "aff_1"})).await;
        let started = &res["data"]["startAffiliateOnboarding"];
        assert_eq!(started["affiliate"]["status"], "ONBOARDING", "{:?}: {res}", t.backend);
        assert_eq!(started["affiliate"]["provider"], "STRIPE_CONNECT");
        assert!(started["onboardingUrl"].as_str().is_some_and(|u| !u.is_empty()), "{res}");
        let acct = started["affiliate"]["providerAccountId"].as_str().expect("acct").to_owned();
        assert!(apps.stripe.account(&acct).is_some(), "the account exists at Stripe");
        // A second call resumes with a fresh link for the same account.
        let res = apps.mur.run(Some(&me), START, json!({"id": "aff_1"})).await;
        assert_eq!(res["data"]["startAffiliateOnboarding"]["affiliate"]["providerAccountId"], acct.as_str(), "{res}");
        let made = apps
            .stripe
            .requests_to("/v1/accounts")
            .into_iter()
            .filter(|r| r.idempotency_key.as_deref() == Some("affiliate-account:aff_1"))
            .count();
        assert_eq!(made, 1, "one account made");

        // Not paid while onboarding.
        let _ = sale_with_affiliate(&apps, "ord_1").await;
        settled_days_ago(&apps, &t, "ord_1", 31).await;
        assert_eq!(apps.murchases.service.pay_affiliates(chrono::Utc::now()).await.expect("job"), 0);

        // Stripe enables the account: both subgraphs get the event, murchases activates it.
        let e = testing::events::account_updated("evt_aff_acct", &acct, chrono::Utc::now().timestamp(), true);
        assert_eq!(apps.webhook(&apps.pay_base, &e).await, 200);
        assert_eq!(apps.webhook(&apps.mur_base, &e).await, 200);
        let v = view(&apps, &me, "aff_1").await;
        assert_eq!(v["data"]["affiliate"]["status"], "ACTIVE", "{v}");
        let res = apps.mur.run(Some(&me), START, json!({"id": "aff_1"})).await;
        assert_eq!(testing::error_code(&res).as_deref(), Some("CONFLICT"), "already onboarded: {res}");

        assert_eq!(apps.murchases.service.pay_affiliates(chrono::Utc::now()).await.expect("job"), 1);
        assert_eq!(transfers_to(&apps, &acct), vec![500]);
    }
}

/// A PayPal affiliate is paid by a Payouts item to its PayPal id, once.
#[tokio::test]
async fn a_paypal_affiliate_is_paid_by_a_payouts_item() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        apps.active_account("m1").await;
        let rule = "mutation { setCommissionOverride(input: {maletId: \"m1\", affiliateRate: \"0.05\", affiliateFunding: PLATFORM, reason: \"affiliate program\"}) { version } }";
        assert!(apps.mur.run(Some(&admin_token()), rule, json!({})).await["errors"].is_null());
        let bad = json!({"i": {"affiliateId": "aff_1", "provider": "PAYPAL", "providerAccountId": "not a payer id"}});
        let res = apps.mur.run(Some(&admin_token()), REGISTER, bad).await;
        assert_eq!(testing::error_code(&res).as_deref(), Some("BAD_USER_INPUT"), "{res}");
        let input = json!({"i": {"affiliateId": "aff_1", "provider": "PAYPAL", "providerAccountId": "PAYERAFF1234X"}});
        let res = apps.mur.run(Some(&admin_token()), REGISTER, input).await;
        assert_eq!(res["data"]["registerAffiliate"]["provider"], "PAYPAL", "{res}");
        let _ = sale_with_affiliate(&apps, "ord_1").await;
        settled_days_ago(&apps, &t, "ord_1", 31).await;
        let svc = &apps.murchases.service;
        assert_eq!(svc.pay_affiliates(chrono::Utc::now()).await.expect("job"), 1);
        assert_eq!(svc.pay_affiliates(chrono::Utc::now()).await.expect("job again"), 0);
        let payouts: Vec<_> = apps.paypal.requests().into_iter().filter(|r| r.path == "/v1/payments/payouts").collect();
        assert_eq!(payouts.len(), 1, "{:?}", t.backend);
        let item = &payouts[0].body["items"][0];
        assert_eq!(item["receiver"], "PAYERAFF1234X");
        assert_eq!(item["amount"], json!({"value": "5.00", "currency": "USD"}));
        let v = view(&apps, &admin_token(), "aff_1").await;
        assert_eq!(figures(&v), (500, 0, 500, 500, 0), "{v}");
        assert_eq!(v["data"]["affiliate"]["payouts"][0]["status"], "PAID");

        // PayPal reports later that the item went unclaimed: the payout failed, the share is due
        // again, and it is paid again a day later under a new key.
        let key = payouts[0].body["items"][0]["sender_item_id"].as_str().expect("key").to_owned();
        let mut item = test_support::paypal::fixture("payout_item");
        item["payout_item"]["sender_item_id"] = json!(key);
        item["payout_item"]["receiver"] = json!("PAYERAFF1234X");
        item["payout_item"]["amount"] = json!({"currency": "USD", "value": "5.00"});
        let body = test_support::paypal::webhook("WH-ITEM-UNCLAIMED", "PAYMENT.PAYOUTS-ITEM.UNCLAIMED", item);
        assert_eq!(apps.paypal_webhook(&apps.mur_base, &body).await, 200);
        assert_eq!(apps.paypal_webhook(&apps.pay_base, &body).await, 200, "payments acknowledges it");
        let v = view(&apps, &admin_token(), "aff_1").await;
        assert_eq!(v["data"]["affiliate"]["payouts"][0]["status"], "FAILED", "{:?}: {v}", t.backend);
        assert_eq!(figures(&v), (500, 0, 500, 0, 500), "due again: {v}");
        assert_eq!(svc.pay_affiliates(chrono::Utc::now()).await.expect("job"), 0, "not at once");
        assert_eq!(svc.pay_affiliates(chrono::Utc::now() + chrono::Duration::days(2)).await.expect("job"), 1);
        let payouts: Vec<_> = apps.paypal.requests().into_iter().filter(|r| r.path == "/v1/payments/payouts").collect();
        assert_eq!(payouts.len(), 2);
        assert_ne!(payouts[1].body["items"][0]["sender_item_id"], json!(key), "a new batch");
    }
}
