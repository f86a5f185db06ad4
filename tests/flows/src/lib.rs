//! Harness for cross-subgraph flow tests: payments and murchases in-process on one database,
//! both talking to one fake Stripe.
#![allow(clippy::missing_panics_doc)]

use providers::fake_stripe::FakeStripe;
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use service_core::testing::{self, Gql, owner_token};

pub struct Apps {
    pub payments: payments::startup::AppState,
    pub murchases: murchases::startup::AppState,
    pub pay: Gql,
    pub mur: Gql,
    pub pay_base: String,
    pub mur_base: String,
    pub http: reqwest::Client,
    pub stripe: FakeStripe,
}

pub async fn spawn(db: &DatabaseConnection) -> Apps {
    let stripe = FakeStripe::start_default().await.expect("fake stripe");
    let common = testing::common_settings(Some(stripe.base_url()));
    let pconf = payments::config::Config {
        addr: "127.0.0.1:0".parse().expect("addr"),
        onboarding_return_url: "https://dash.example/return".into(),
        onboarding_refresh_url: "https://dash.example/refresh".into(),
        default_currency: "USD".into(),
        chargeback_threshold: 2,
        dispute_window_days: 90,
        common: common.clone(),
    };
    let mconf = murchases::config::Config { addr: "127.0.0.1:0".parse().expect("addr"), settle_after_days: 2, common };
    let payments = payments::startup::state(&pconf, db.clone()).expect("payments state");
    let murchases = murchases::startup::state(&mconf, db.clone()).expect("murchases state");
    let p = payments::startup::bind(pconf.addr, payments.clone()).await.expect("bind");
    let m = murchases::startup::bind(mconf.addr, murchases.clone()).await.expect("bind");
    let pay_base = format!("http://{}", p.local_addr().expect("addr"));
    let mur_base = format!("http://{}", m.local_addr().expect("addr"));
    tokio::spawn(p.run());
    tokio::spawn(m.run());
    Apps {
        payments,
        murchases,
        pay: Gql::new(&pay_base),
        mur: Gql::new(&mur_base),
        pay_base,
        mur_base,
        http: reqwest::Client::new(),
        stripe,
    }
}

impl Apps {
    pub async fn webhook(&self, base: &str, event: &Value) -> u16 {
        let body = event.to_string();
        self.http
            .post(format!("{base}/webhooks/stripe"))
            .header("Stripe-Signature", testing::stripe_signature(&body))
            .body(body)
            .send()
            .await
            .expect("webhook")
            .status()
            .as_u16()
    }

    /// Creates and activates the Malet's Stripe account; returns (account id, acct_…).
    pub async fn active_account(&self, malet: &str) -> (String, String) {
        let m = "mutation($m: ID!) { createConnectedAccount(input: {maletId: $m}) { id providerAccountId } }";
        let res = self.pay.run(Some(&owner_token(malet)), m, json!({"m": malet})).await;
        let id = res["data"]["createConnectedAccount"]["id"].as_str().expect("id").to_owned();
        let acct = res["data"]["createConnectedAccount"]["providerAccountId"].as_str().expect("acct").to_owned();
        let mut e = testing::stripe_event("account.updated");
        e["id"] = json!(format!("evt_acct_{acct}"));
        e["account"] = json!(acct);
        e["created"] = json!(chrono::Utc::now().timestamp());
        e["data"]["object"]["id"] = json!(acct);
        assert_eq!(self.webhook(&self.pay_base, &e).await, 200);
        (id, acct)
    }

    pub async fn pay_order(&self, order: &str, pi: &str, acct: &str, amount: i64) {
        let mut e = testing::stripe_event("payment_intent.succeeded");
        e["id"] = json!(format!("evt_{pi}"));
        let o = &mut e["data"]["object"];
        o["id"] = json!(pi);
        o["amount"] = json!(amount);
        o["amount_received"] = json!(amount);
        o["created"] = json!(chrono::Utc::now().timestamp());
        o["latest_charge"] = json!(format!("ch_{pi}"));
        o["transfer_data"] = json!({"destination": acct});
        o["metadata"] = json!({"orderId": order});
        assert_eq!(self.webhook(&self.mur_base, &e).await, 200);
    }

    pub async fn balances(&self, malet: &str) -> Value {
        let q = "query($m: ID!) { connectedAccount(maletId: $m) { status totalEarnings totalPayouts pendingBalance reserveBalance reserveExpiresAt } }";
        self.pay.run(Some(&owner_token(malet)), q, json!({"m": malet})).await["data"]["connectedAccount"].clone()
    }
}
