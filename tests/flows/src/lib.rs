//! Harness for cross-subgraph flow tests: payments and murchases in-process on one database,
//! both talking to one fake Stripe and one fake PayPal.
#![allow(clippy::missing_panics_doc)]

use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use test_support::fake_paypal::FakePaypal;
use test_support::fake_stripe::FakeStripe;
use test_support::tiktok::FakeTikTok;
use test_support::{self as testing, Gql, events, owner_token};

pub struct Apps {
    pub payments: payments::startup::AppState,
    pub murchases: murchases::startup::AppState,
    pub pay: Gql,
    pub mur: Gql,
    pub pay_base: String,
    pub mur_base: String,
    pub http: reqwest::Client,
    pub stripe: FakeStripe,
    pub paypal: FakePaypal,
    /// TikTok Shop's Partner API (the app `test_support::tiktok::TEST_APP_KEY`).
    pub tiktok: FakeTikTok,
}

/// Test configurations of both subgraphs, talking to `stripe`, `paypal` and `tiktok` (jobs off:
/// tests run them).
pub fn configs(
    stripe: &FakeStripe,
    paypal: &FakePaypal,
    tiktok: &FakeTikTok,
) -> (payments::config::Config, murchases::config::Config) {
    let mut common = testing::common_settings(Some(stripe.base_url()));
    common.paypal = paypal.settings();
    let pconf = payments::config::Config {
        addr: "127.0.0.1:0".parse().expect("addr"),
        onboarding_return_url: "https://dash.example/return".into(),
        onboarding_refresh_url: "https://dash.example/refresh".into(),
        default_currency: "USD".into(),
        chargeback_threshold: 2,
        dispute_window_days: 90,
        ledger_events_interval_ms: 0,
        common: common.clone(),
    };
    let mconf = murchases::config::Config {
        addr: "127.0.0.1:0".parse().expect("addr"),
        settle_after_days: 2,
        affiliate_hold_days: 30,
        affiliate_onboarding_return_url: "http://localhost/done".into(),
        affiliate_onboarding_refresh_url: "http://localhost/refresh".into(),
        shopify_webhook_secret: Some(secrecy::SecretString::from(
            test_support::shopify::TEST_SHOPIFY_SECRET.to_owned(),
        )),
        tiktok_app_key: Some(test_support::tiktok::TEST_APP_KEY.into()),
        tiktok_app_secret: Some(secrecy::SecretString::from(test_support::tiktok::TEST_APP_SECRET.to_owned())),
        tiktok_api_base: tiktok.base(),
        storefront_variables: test_support::woocommerce::test_variables()
            .into_iter()
            .chain(test_support::tiktok::test_variables())
            .collect(),
        common,
    };
    (pconf, mconf)
}

/// Both subgraphs on `db` and random ports, serving; returns their states and base URLs.
async fn start(
    db: &DatabaseConnection,
    stripe: &FakeStripe,
    paypal: &FakePaypal,
    tiktok: &FakeTikTok,
) -> (payments::startup::AppState, murchases::startup::AppState, String, String) {
    let (pconf, mconf) = configs(stripe, paypal, tiktok);
    let payments = payments::startup::state(&pconf, db.clone()).expect("payments state");
    let murchases = murchases::startup::state(&mconf, db.clone()).expect("murchases state");
    let p = payments.bind(pconf.addr).await.expect("bind");
    let m = murchases.bind(mconf.addr).await.expect("bind");
    let pay_base = format!("http://{}", p.local_addr().expect("addr"));
    let mur_base = format!("http://{}", m.local_addr().expect("addr"));
    tokio::spawn(p.run());
    tokio::spawn(m.run());
    (payments, murchases, pay_base, mur_base)
}

pub async fn spawn(db: &DatabaseConnection) -> Apps {
    let stripe = FakeStripe::start_default().await.expect("fake stripe");
    let paypal = FakePaypal::start().await;
    let tiktok = FakeTikTok::start().await;
    let (payments, murchases, pay_base, mur_base) = start(db, &stripe, &paypal, &tiktok).await;
    Apps {
        payments,
        murchases,
        pay: Gql::new(&pay_base),
        mur: Gql::new(&mur_base),
        pay_base,
        mur_base,
        http: reqwest::Client::new(),
        stripe,
        paypal,
        tiktok,
    }
}

/// A second instance of each subgraph on the same database and fake Stripe (replicas, for
/// concurrency tests).
pub struct Replicas {
    pub payments: payments::startup::AppState,
    pub murchases: murchases::startup::AppState,
    pub pay: Gql,
    pub mur: Gql,
    pub mur_base: String,
}

impl Apps {
    /// Starts a second payments and murchases on `db`, talking to the same fake Stripe.
    pub async fn replicas(&self, db: &DatabaseConnection) -> Replicas {
        let (payments, murchases, pay_base, mur_base) = start(db, &self.stripe, &self.paypal, &self.tiktok).await;
        Replicas { payments, murchases, pay: Gql::new(&pay_base), mur: Gql::new(&mur_base), mur_base }
    }

    pub async fn webhook(&self, base: &str, event: &Value) -> u16 {
        testing::post_webhook(&self.http, base, event).await
    }

    /// Posts `body` to `<base>/webhooks/paypal`, signed as PayPal signs it now.
    pub async fn paypal_webhook(&self, base: &str, body: &str) -> u16 {
        let mut req = self.http.post(format!("{base}/webhooks/paypal")).body(body.to_owned());
        for (name, value) in testing::paypal::certs().signed(body.as_bytes()) {
            req = req.header(name, value);
        }
        req.send().await.expect("webhook").status().as_u16()
    }

    /// Creates and activates the Malet's Stripe account; returns (account id, acct_…).
    pub async fn active_account(&self, malet: &str) -> (String, String) {
        let m = "mutation($m: ID!) { createConnectedAccount(input: {maletId: $m}) { id providerAccountId } }";
        let res = self.pay.run(Some(&owner_token(malet)), m, json!({"m": malet})).await;
        let id = res["data"]["createConnectedAccount"]["id"].as_str().expect("id").to_owned();
        let acct = res["data"]["createConnectedAccount"]["providerAccountId"].as_str().expect("acct").to_owned();
        let e = events::account_updated(&format!("evt_acct_{acct}"), &acct, chrono::Utc::now().timestamp(), true);
        assert_eq!(self.webhook(&self.pay_base, &e).await, 200);
        (id, acct)
    }

    /// Delivers `payment_intent.succeeded` for `order` (`pi`, `amount` cents to `acct`).
    pub async fn pay_order(&self, order: &str, pi: &str, acct: &str, amount: i64) {
        let e = events::payment_succeeded(&format!("evt_{pi}"), pi, order, None, Some(acct), amount);
        assert_eq!(self.webhook(&self.mur_base, &e).await, 200);
    }

    /// An ACTIVE Stripe account for `malet` with one paid order (`ord_1`, `pi_1`, `amount`)
    /// whose earning reached the balances; returns (account id, acct_…).
    pub async fn seller_with_sale(&self, malet: &str, amount: i64) -> (String, String) {
        let (id, acct) = self.active_account(malet).await;
        self.pay_order("ord_1", "pi_1", &acct, amount).await;
        self.payments.service.consume_ledger_events(100).await.expect("earning");
        (id, acct)
    }

    /// Moves the clock past settlement: propagates the earning, settles every due entry as of
    /// three days from now and propagates that too. Returns the instant the holds become due.
    pub async fn settle_all(&self) -> chrono::DateTime<chrono::Utc> {
        self.payments.service.consume_ledger_events(100).await.expect("earnings");
        let later = chrono::Utc::now() + chrono::Duration::days(3);
        self.murchases.service.settle_due(later).await.expect("settle");
        self.payments.service.consume_ledger_events(100).await.expect("settled");
        later + chrono::Duration::days(31)
    }

    /// Creates the order's payment through checkout and delivers Stripe's
    /// `payment_intent.succeeded` for it; returns the payment intent id.
    pub async fn checkout_and_pay(&self, order: &str, malet: &str, amount: i64) -> String {
        let create = "mutation($i: OrderInput!) { createMurchasePayment(input: $i) { paymentIntentId } }";
        let input = json!({"i": {"orderId": order, "maletId": malet, "grossAmount": amount}});
        let res = self.mur.run(Some(&owner_token(malet)), create, input).await;
        let pi = res["data"]["createMurchasePayment"]["paymentIntentId"].as_str().expect("pi").to_owned();
        let mut e = testing::stripe_event("payment_intent.succeeded");
        e["id"] = json!(format!("evt_paid_{pi}"));
        e["data"]["object"] = self.stripe.payment_intent(&pi).expect("pi object");
        e["data"]["object"]["created"] = json!(chrono::Utc::now().timestamp());
        assert_eq!(self.webhook(&self.mur_base, &e).await, 200);
        pi
    }

    pub async fn balances(&self, malet: &str) -> Value {
        let q = "query($m: ID!) { connectedAccount(maletId: $m) { status totalEarnings totalPayouts pendingBalance reserveBalance reserveExpiresAt } }";
        self.pay.run(Some(&owner_token(malet)), q, json!({"m": malet})).await["data"]["connectedAccount"].clone()
    }
}

/// Makes every storefront delivery kept for the redelivery job due now (as if its backoff had
/// passed).
pub async fn storefront_deliveries_due_now(conn: &DatabaseConnection) {
    use sea_orm::{EntityTrait, sea_query::Expr};
    entity::storefront_deliveries::Entity::update_many()
        .col_expr(
            entity::storefront_deliveries::Column::NextAttemptAt,
            Expr::value(chrono::Utc::now() - chrono::Duration::seconds(1)),
        )
        .exec(conn)
        .await
        .expect("due now");
}
