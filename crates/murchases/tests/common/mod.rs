//! Test harness: a murchases app on a random port over a test database.
#![allow(dead_code)]

use murchases::config::Config;
use murchases::startup::{self, AppState};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};
use test_support::{self as testing, Gql, TestDb};

pub struct TestApp {
    pub base: String,
    pub gql: Gql,
    pub http: reqwest::Client,
    pub state: AppState,
}

pub fn config(stripe_base: Option<String>) -> Config {
    Config {
        addr: "127.0.0.1:0".parse().expect("addr"),
        settle_after_days: 2,
        affiliate_hold_days: 30,
        affiliate_onboarding_return_url: "http://localhost/done".into(),
        affiliate_onboarding_refresh_url: "http://localhost/refresh".into(),
        shopify_webhook_secret: Some(secrecy::SecretString::from(
            test_support::shopify::TEST_SHOPIFY_SECRET.to_owned(),
        )),
        tiktok_app_key: None,
        tiktok_app_secret: None,
        tiktok_api_base: providers::tiktok::client::DEFAULT_BASE.into(),
        storefront_variables: test_support::woocommerce::test_variables(),
        common: testing::common_settings(stripe_base),
    }
}

pub async fn spawn(db: &DatabaseConnection, stripe_base: Option<String>) -> TestApp {
    let state = startup::state(&config(stripe_base), db.clone()).expect("state");
    let app = state.bind("127.0.0.1:0".parse().expect("addr")).await.expect("bind");
    let base = format!("http://{}", app.local_addr().expect("addr"));
    tokio::spawn(app.run());
    TestApp { gql: Gql::new(&base), base, http: reqwest::Client::new(), state }
}

impl TestApp {
    /// Posts a signed webhook; returns the HTTP status.
    pub async fn webhook(&self, event: &Value) -> u16 {
        testing::post_webhook(&self.http, &self.base, event).await
    }

    /// Posts `body` to `/webhooks/paypal` with `headers`; returns the HTTP status.
    pub async fn paypal_webhook(&self, body: &str, headers: &[(&'static str, String)]) -> u16 {
        let mut req = self.http.post(format!("{}/webhooks/paypal", self.base)).body(body.to_owned());
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        req.send().await.expect("webhook").status().as_u16()
    }

    pub async fn raw_webhook(&self, body: String, signature: Option<String>) -> u16 {
        let mut req = self.http.post(format!("{}/webhooks/stripe", self.base)).body(body);
        if let Some(s) = signature {
            req = req.header("Stripe-Signature", s);
        }
        req.send().await.expect("webhook").status().as_u16()
    }
}

/// `payment_intent.succeeded` for an order of `malet` paid `amount`, as a destination charge to
/// `acct_<malet>` (seed that account with [`seed_account`]).
pub fn payment_succeeded(event_id: &str, pi: &str, order: &str, malet: Option<&str>, amount: i64) -> Value {
    let destination = malet.map(|m| format!("acct_{m}"));
    testing::events::payment_succeeded(event_id, pi, order, malet, destination.as_deref(), amount)
}

#[allow(unused_imports)]
pub use testing::events::charge_refunded;

/// Inserts a Stripe connected account row directly (payments' table) for murchases' reads.
pub async fn seed_account(db: &DatabaseConnection, malet: &str, acct: &str, status: &str) {
    seed_provider_account(db, "STRIPE_CONNECT", malet, acct, status, "USD").await
}

/// Inserts a connected account of `provider` settling in `currency`.
pub async fn seed_provider_account(
    db: &DatabaseConnection,
    provider: &str,
    malet: &str,
    acct: &str,
    status: &str,
    currency: &str,
) {
    db.execute_unprepared(&format!(
        "INSERT INTO connected_accounts (id, malet_id, user_id, provider, provider_account_id, status, rolling_reserve_rate, \
         currency, created_at, updated_at) VALUES ('{}', '{malet}', 'u-{malet}', '{provider}', '{acct}', '{status}', '0.1', \
         '{currency}', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
        uuid::Uuid::new_v4()
    ))
    .await
    .expect("seed account");
}

pub const LEDGER_FIELDS: &str = "id orderId maletId grossAmount commissionRate commissionRateDecimal commissionAmount \
    processingFee netPayout reserveAmount affiliateAmount currency status refundedAmount refundedCommission \
    settlementDate ruleVersion applicationFeeAmount breakdown { tier ruleVersion steps }";

pub async fn ledger(app: &TestApp, token: &str, malet: &str) -> Value {
    let q = format!("query($m: ID!) {{ commissionLedger(maletId: $m, limit: 100) {{ {LEDGER_FIELDS} }} }}");
    app.gql.run(Some(token), &q, json!({"m": malet})).await
}

pub async fn all_dbs() -> Vec<TestDb> {
    TestDb::all().await
}
