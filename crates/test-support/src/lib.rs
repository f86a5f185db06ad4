//! Test doubles and harnesses (a dev-dependency only): every database test runs on SQLite and
//! on PostgreSQL; [`fake_stripe`] answers like the Stripe API.
//!
//! PostgreSQL is taken from `TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`);
//! each test gets a fresh schema. When PostgreSQL is unreachable the PostgreSQL half is skipped
//! with a loud message locally, and **fails** when `CI=true` (or `REQUIRE_POSTGRES=1`).

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};

use service_core::db;

pub mod fake_paypal;
pub mod fake_stripe;
pub mod hive_router;
pub mod paypal;
pub mod sandbox;
pub mod shopify;
pub mod tiktok;
pub mod woocommerce;

pub const DEFAULT_TEST_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// One test database, already migrated.
pub struct TestDb {
    pub backend: DbBackend,
    pub url: String,
    pub schema: Option<String>,
    pub conn: DatabaseConnection,
    _dir: Option<TempDir>,
}

/// A temporary directory removed on drop (tiny, to avoid a dependency).
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Self {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn postgres_required() -> bool {
    std::env::var("CI").map(|v| v == "true" || v == "1").unwrap_or(false)
        || std::env::var("REQUIRE_POSTGRES").map(|v| v == "1").unwrap_or(false)
}

pub fn postgres_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_TEST_POSTGRES_URL.to_owned())
}

impl TestDb {
    /// A fresh, migrated SQLite file database.
    pub async fn sqlite() -> TestDb {
        let dir = TempDir::new("mallnline-test");
        let url = format!("sqlite://{}/test.db?mode=rwc", dir.path().display());
        let conn = db::connect(&url).await.expect("connect sqlite");
        db::migrate(&conn).await.expect("migrate sqlite");
        TestDb { backend: DbBackend::Sqlite, url, schema: None, conn, _dir: Some(dir) }
    }

    async fn postgres_unmigrated() -> Option<TestDb> {
        let url = postgres_url();
        let admin = match db::connect(&url).await {
            Ok(c) => c,
            Err(e) => {
                if postgres_required() {
                    panic!("PostgreSQL at {url} is required (CI) but unreachable: {e}");
                }
                eprintln!("WARNING: PostgreSQL at {url} unreachable ({e}); PostgreSQL half of this test SKIPPED");
                return None;
            }
        };
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        admin.execute_unprepared(&format!("CREATE SCHEMA {schema}")).await.expect("create schema");
        drop(admin);
        let conn = db::connect_with(&url, Some(&schema)).await.expect("connect postgres schema");
        Some(TestDb { backend: DbBackend::Postgres, url, schema: Some(schema), conn, _dir: None })
    }

    /// Every backend this run covers: SQLite always, PostgreSQL when reachable (required in CI).
    pub async fn all() -> Vec<TestDb> {
        let mut out = vec![TestDb::sqlite().await];
        if let Some(pg) = TestDb::postgres_fresh().await {
            out.push(pg);
        }
        out
    }

    /// A fresh, migrated PostgreSQL schema, or `None` when PostgreSQL is unreachable and not
    /// required. Panics when it is required (CI) and unreachable.
    pub async fn postgres_fresh() -> Option<TestDb> {
        let t = Self::postgres_unmigrated().await?;
        db::migrate(&t.conn).await.expect("migrate postgres");
        Some(t)
    }

    /// An unmigrated database of each backend (for migration tests).
    pub async fn all_unmigrated() -> Vec<TestDb> {
        let dir = TempDir::new("mallnline-test");
        let url = format!("sqlite://{}/test.db?mode=rwc", dir.path().display());
        let conn = db::connect(&url).await.expect("connect sqlite");
        let mut out = vec![TestDb { backend: DbBackend::Sqlite, url, schema: None, conn, _dir: Some(dir) }];
        if let Some(pg) = Self::postgres_unmigrated().await {
            out.push(pg);
        }
        out
    }

    /// The connection string plus schema, for spawning a separate process or app on this db.
    pub fn database_url(&self) -> String {
        match &self.schema {
            // sqlx understands `options=-c search_path=...` on PostgreSQL URLs.
            Some(schema) => {
                let sep = if self.url.contains('?') { '&' } else { '?' };
                format!("{}{sep}options=-c%20search_path%3D{schema}", self.url)
            }
            None => self.url.clone(),
        }
    }
}

/// The repository's `tests/fixtures/stripe` directory.
/// `tests/fixtures/<provider>/<name>.json` of this repository, as JSON.
pub fn fixture_json(provider: &str, name: &str) -> serde_json::Value {
    let path = format!("{}/../../tests/fixtures/{provider}/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"))
}

pub fn stripe_fixtures_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/stripe")
}

/// A Stripe webhook fixture (an Event envelope) as JSON, to be adjusted per scenario.
pub fn stripe_event(name: &str) -> serde_json::Value {
    let path = stripe_fixtures_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// The JWT secret test apps are configured with.
pub const TEST_JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123456789";
/// The webhook signing secret test apps are configured with.
pub const TEST_WEBHOOK_SECRET: &str = "whsec_test_secret";

/// An HS256 token for tests.
pub fn token(sub: &str, scope: &str, malets: &[&str], ttl_secs: i64) -> String {
    let claims = service_core::auth::Claims {
        sub: sub.to_owned(),
        scope: scope.to_owned(),
        malets: malets.iter().map(|m| (*m).to_owned()).collect(),
        affiliate: None,
        exp: chrono::Utc::now().timestamp() + ttl_secs,
        iss: None,
        aud: None,
        nbf: None,
        iat: Some(chrono::Utc::now().timestamp()),
    };
    service_core::auth::mint_hs256(&secrecy::SecretString::from(TEST_JWT_SECRET.to_owned()), &claims).expect("mint")
}

/// A token with explicit `nbf` / `iat` (for the clock-claim tests).
pub fn token_with_times(nbf: Option<i64>, iat: Option<i64>) -> String {
    let claims = service_core::auth::Claims {
        sub: "owner-of-m1".into(),
        scope: "VIEW_PAYOUTS MANAGE_PAYOUTS VIEW_REVENUE".into(),
        malets: vec!["m1".into()],
        affiliate: None,
        exp: chrono::Utc::now().timestamp() + 3600,
        iss: None,
        aud: None,
        nbf,
        iat,
    };
    service_core::auth::mint_hs256(&secrecy::SecretString::from(TEST_JWT_SECRET.to_owned()), &claims).expect("mint")
}

/// The order service's token: creates checkout payments and describes their commissionable
/// base (CREATE_MURCHASE_PAYMENTS) for every Malet.
pub fn order_service_token() -> String {
    token("order-service", "CREATE_MURCHASE_PAYMENTS VIEW_REVENUE", &["*"], 3600)
}

/// A Malet owner's token with every owner permission.
pub fn owner_token(malet: &str) -> String {
    token(&format!("owner-of-{malet}"), "VIEW_PAYOUTS MANAGE_PAYOUTS VIEW_REVENUE", &[malet], 3600)
}

/// A platform admin's token (`malets: ["*"]`, every permission).
/// An affiliate's own token: `VIEW_REVENUE MANAGE_PAYOUTS` with the claim `affiliate`, no Malets.
pub fn affiliate_token(affiliate: &str) -> String {
    let claims = service_core::auth::Claims {
        sub: format!("affiliate-{affiliate}"),
        scope: "VIEW_REVENUE MANAGE_PAYOUTS".into(),
        malets: Vec::new(),
        affiliate: Some(affiliate.to_owned()),
        exp: chrono::Utc::now().timestamp() + 3600,
        iss: None,
        aud: None,
        nbf: None,
        iat: Some(chrono::Utc::now().timestamp()),
    };
    service_core::auth::mint_hs256(&secrecy::SecretString::from(TEST_JWT_SECRET.to_owned()), &claims).expect("mint")
}

pub fn admin_token() -> String {
    token("admin", "VIEW_PAYOUTS MANAGE_PAYOUTS VIEW_REVENUE MANAGE_COMMISSIONS", &["*"], 3600)
}

/// `Stripe-Signature` for a body signed now with the test secret.
pub fn stripe_signature(body: &str) -> String {
    providers::stripe::webhook::sign(body.as_bytes(), TEST_WEBHOOK_SECRET, chrono::Utc::now().timestamp())
}

/// Settings for test apps: the test JWT secret, no issuer/audience.
pub fn auth_settings() -> service_core::auth::AuthSettings {
    service_core::auth::AuthSettings {
        jwt_secret: Some(secrecy::SecretString::from(TEST_JWT_SECRET.to_owned())),
        jwt_public_key_file: None,
        jwt_issuer: None,
        jwt_audience: None,
    }
}

/// The Stripe call timeout of test apps: a fake Stripe told to delay a response longer than
/// this (`delay_next`) makes the call time out after the fake has executed it.
pub const STRIPE_TEST_TIMEOUT_MS: u64 = 3_000;

/// Stripe settings for test apps, pointing at `api_base` (a fake Stripe) when given.
pub fn stripe_settings(api_base: Option<String>) -> service_core::stripe::StripeSettings {
    service_core::stripe::StripeSettings {
        stripe_secret_key: Some(secrecy::SecretString::from("sk_test_fake".to_owned())),
        stripe_api_base: api_base,
        stripe_webhook_secrets: secrecy::SecretString::from(format!("whsec_old_rotated,{TEST_WEBHOOK_SECRET}")),
        stripe_timeout_ms: STRIPE_TEST_TIMEOUT_MS,
        webhook_body_limit: 64 * 1024,
        webhook_tolerance_secs: 300,
    }
}

/// A small GraphQL client for tests.
pub struct Gql {
    pub url: String,
    pub client: reqwest::Client,
}

impl Gql {
    pub fn new(base: &str) -> Self {
        Gql { url: format!("{base}/graphql"), client: reqwest::Client::new() }
    }

    /// Posts a query; returns the whole JSON response.
    pub async fn run(&self, token: Option<&str>, query: &str, variables: serde_json::Value) -> serde_json::Value {
        let mut req = self.client.post(&self.url).json(&serde_json::json!({"query": query, "variables": variables}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.expect("graphql request");
        res.json().await.expect("graphql json")
    }
}

/// The `extensions.code` of the first error of a GraphQL response.
pub fn error_code(response: &serde_json::Value) -> Option<String> {
    response["errors"][0]["extensions"]["code"].as_str().map(str::to_owned)
}

/// Common settings of test apps: test JWT and webhook secrets, jobs off (tests run them).
pub fn common_settings(stripe_api_base: Option<String>) -> service_core::config::CommonSettings {
    service_core::config::CommonSettings {
        database_url: String::new(),
        skip_migrations: true,
        app_env: "test".into(),
        commission_config: None,
        job_interval_secs: 0,
        webhook_retry_interval_ms: 1000,
        graphql_body_limit: 64 * 1024,
        http: service_core::http::HttpLimits::default(),
        auth: auth_settings(),
        stripe: stripe_settings(stripe_api_base),
        paypal: paypal::settings(),
    }
}

/// Stripe webhook events built from the fixtures, adjusted per scenario.
pub mod events {
    use serde_json::{Value, json};

    use super::stripe_event;

    /// `account.updated` for connected account `acct` at `created`: charges and payouts enabled,
    /// or (`enabled: false`) the restricted snapshot.
    pub fn account_updated(event_id: &str, acct: &str, created: i64, enabled: bool) -> Value {
        let mut e = stripe_event(if enabled { "account.updated" } else { "account.updated.restricted" });
        e["id"] = json!(event_id);
        e["created"] = json!(created);
        e["account"] = json!(acct);
        e["data"]["object"]["id"] = json!(acct);
        e
    }

    /// `payment_intent.succeeded` for `order`, `amount` cents (USD), paid now; `malet` goes to
    /// `metadata.maletId`, `destination` to `transfer_data.destination`; the application fee
    /// collected is half the amount.
    pub fn payment_succeeded(
        event_id: &str,
        pi: &str,
        order: &str,
        malet: Option<&str>,
        destination: Option<&str>,
        amount: i64,
    ) -> Value {
        let now = chrono::Utc::now().timestamp();
        let mut e = stripe_event("payment_intent.succeeded");
        e["id"] = json!(event_id);
        e["created"] = json!(now);
        let o = &mut e["data"]["object"];
        o["id"] = json!(pi);
        o["amount"] = json!(amount);
        o["amount_received"] = json!(amount);
        o["currency"] = json!("usd");
        o["created"] = json!(now);
        o["latest_charge"] = json!(format!("ch_{pi}"));
        // Half the amount: at least the platform's share of any order the tests make (a fee
        // below the breakdown's share is an exception).
        o["application_fee_amount"] = json!(amount / 2);
        o["metadata"] = json!({"orderId": order});
        if let Some(m) = malet {
            o["metadata"]["maletId"] = json!(m);
        }
        if let Some(d) = destination {
            o["transfer_data"] = json!({"destination": d});
        }
        e
    }

    /// `payout.paid` (or `payout.failed`) of `amount` cents from connected account `acct`.
    pub fn payout(event_id: &str, acct: &str, amount: i64, paid: bool) -> Value {
        let mut e = stripe_event("payout.paid");
        e["id"] = json!(event_id);
        e["account"] = json!(acct);
        e["data"]["object"]["amount"] = json!(amount);
        if !paid {
            e["type"] = json!("payout.failed");
            e["data"]["object"]["status"] = json!("failed");
        }
        e
    }

    /// `charge.dispute.created` of dispute `dp` on the charge `ch_<pi>`, opened now.
    pub fn dispute_created(event_id: &str, dp: &str, pi: &str) -> Value {
        let mut d = stripe_event("charge.dispute.created");
        d["id"] = json!(event_id);
        d["created"] = json!(chrono::Utc::now().timestamp());
        d["data"]["object"]["id"] = json!(dp);
        d["data"]["object"]["charge"] = json!(format!("ch_{pi}"));
        d["data"]["object"]["payment_intent"] = json!(pi);
        d
    }

    /// A Stripe dispute event `kind` (`charge.dispute.created`, `.closed`, `.funds_withdrawn`,
    /// …) of dispute `dp` for `amount` cents (USD) on `charge` of `pi`, with its `status`
    /// (`needs_response`, `won`, `lost`), dated now.
    pub fn dispute(event_id: &str, kind: &str, dp: &str, pi: &str, charge: &str, amount: i64, status: &str) -> Value {
        let mut e = stripe_event("charge.dispute.created");
        e["id"] = json!(event_id);
        e["type"] = json!(kind);
        e["created"] = json!(chrono::Utc::now().timestamp());
        let o = &mut e["data"]["object"];
        o["id"] = json!(dp);
        o["amount"] = json!(amount);
        o["currency"] = json!("usd");
        o["charge"] = json!(charge);
        o["payment_intent"] = json!(pi);
        o["status"] = json!(status);
        e
    }

    /// `charge.refunded` for the charge `ch_<pi>` with a cumulative `amount_refunded`.
    pub fn charge_refunded(event_id: &str, pi: &str, amount: i64, amount_refunded: i64) -> Value {
        let mut e = stripe_event("charge.refunded");
        e["id"] = json!(event_id);
        let o = &mut e["data"]["object"];
        o["id"] = json!(format!("ch_{pi}"));
        o["payment_intent"] = json!(pi);
        o["amount"] = json!(amount);
        o["amount_refunded"] = json!(amount_refunded);
        o["refunded"] = json!(amount_refunded == amount);
        e
    }
}

/// Posts `event` to `<base>/webhooks/stripe` signed with the test secret; returns the status.
pub async fn post_webhook(http: &reqwest::Client, base: &str, event: &serde_json::Value) -> u16 {
    let body = event.to_string();
    http.post(format!("{base}/webhooks/stripe"))
        .header("Stripe-Signature", stripe_signature(&body))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("webhook")
        .status()
        .as_u16()
}

/// The query plan of `sql` on `t`'s backend, one line per step (PostgreSQL with sequential scans
/// discouraged, so the plan shows whether an index can serve the query at all on a small table).
pub async fn explain(t: &TestDb, sql: &str) -> String {
    use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
    let txn = t.conn.begin().await.expect("begin");
    let explain = match t.backend {
        DbBackend::Postgres => {
            txn.execute_unprepared("SET LOCAL enable_seqscan = off").await.expect("set");
            format!("EXPLAIN {sql}")
        }
        _ => format!("EXPLAIN QUERY PLAN {sql}"),
    };
    let rows = txn.query_all_raw(Statement::from_string(t.backend, explain)).await.expect("explain");
    rows.iter()
        .map(|r| match t.backend {
            DbBackend::Postgres => r.try_get_by_index::<String>(0).unwrap_or_default(),
            _ => r.try_get::<String>("", "detail").unwrap_or_default(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}
