//! Test harness: a payments app on a random port over a test database, with a fake Stripe.
#![allow(dead_code)]

use payments::config::Config;
use payments::startup::{self, AppState};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use test_support::fake_stripe::FakeStripe;
use test_support::{self as testing, Gql};

pub struct TestApp {
    pub base: String,
    pub gql: Gql,
    pub http: reqwest::Client,
    pub state: AppState,
    pub stripe: FakeStripe,
}

pub fn config(stripe_base: Option<String>) -> Config {
    Config {
        addr: "127.0.0.1:0".parse().expect("addr"),
        onboarding_return_url: "https://dash.example/return".into(),
        onboarding_refresh_url: "https://dash.example/refresh".into(),
        default_currency: "USD".into(),
        chargeback_threshold: 2,
        dispute_window_days: 90,
        ledger_events_interval_ms: 0,
        common: testing::common_settings(stripe_base),
    }
}

pub async fn spawn(db: &DatabaseConnection) -> TestApp {
    let stripe = FakeStripe::start(testing::stripe_fixtures_dir().join("fixtures3.json")).await.expect("fake stripe");
    let state = startup::state(&config(Some(stripe.base_url())), db.clone()).expect("state");
    let app = state.bind("127.0.0.1:0".parse().expect("addr")).await.expect("bind");
    let base = format!("http://{}", app.local_addr().expect("addr"));
    tokio::spawn(app.run());
    TestApp { gql: Gql::new(&base), base, http: reqwest::Client::new(), state, stripe }
}

pub const ACCOUNT_FIELDS: &str = "id maletId userId provider providerAccountId status statusReason \
    payoutSchedule { interval dayOfWeek dayOfMonth } rollingReservePercent reserveExpiresAt totalEarnings \
    totalPayouts pendingBalance reserveBalance currency onboardingUrl kycVerified";

impl TestApp {
    pub async fn webhook(&self, event: &Value) -> u16 {
        testing::post_webhook(&self.http, &self.base, event).await
    }

    pub async fn raw_webhook(&self, body: String, signature: Option<String>) -> u16 {
        let mut req = self.http.post(format!("{}/webhooks/stripe", self.base)).body(body);
        if let Some(s) = signature {
            req = req.header("Stripe-Signature", s);
        }
        req.send().await.expect("webhook").status().as_u16()
    }

    pub async fn create(&self, token: &str, malet: &str) -> Value {
        let m =
            format!("mutation($m: ID!) {{ createConnectedAccount(input: {{maletId: $m}}) {{ {ACCOUNT_FIELDS} }} }}");
        self.gql.run(Some(token), &m, json!({"m": malet})).await
    }

    pub async fn account(&self, token: &str, malet: &str) -> Value {
        let q = format!("query($m: ID!) {{ connectedAccount(maletId: $m) {{ {ACCOUNT_FIELDS} }} }}");
        self.gql.run(Some(token), &q, json!({"m": malet})).await
    }

    pub async fn mutate(&self, token: &str, field: &str, args: &str, vars: Value) -> Value {
        let m = format!(
            "mutation($id: ID!, $reason: String!) {{ {field}(connectedAccountId: $id, reason: $reason{args}) {{ id status statusReason }} }}"
        );
        self.gql.run(Some(token), &m, vars).await
    }
}

#[allow(unused_imports)]
pub use testing::events::account_updated;
