//! WooCommerce for tests: deliveries of `tests/fixtures/woocommerce/` signed and sent as
//! `WC_Webhook::deliver` sends them, its setup ping, and a fake store serving the REST API v3
//! reads the backfill and the refunds' lines use (`GET /wp-json/wc/v3/orders`,
//! `GET /wp-json/wc/v3/orders/<id>/refunds`), behind HTTP Basic with a consumer key and secret.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use serde_json::{Value, json};

/// The webhook secret of the test store (variable `STOREFRONT_TEST_WC_WEBHOOK`).
pub const TEST_WOOCOMMERCE_SECRET: &str = "wc-test-webhook-secret";
/// The fake store's REST credentials.
pub const TEST_CONSUMER_KEY: &str = "ck_test_0123456789abcdef";
pub const TEST_CONSUMER_SECRET: &str = "cs_test_fedcba9876543210";

/// The variables a test store is registered with: `secretEnv: "STOREFRONT_TEST_WC_WEBHOOK"`
/// (its webhook secret), `apiKeyEnv: "STOREFRONT_TEST_WC_KEY"`, `apiSecretEnv:
/// "STOREFRONT_TEST_WC_SECRET"` (the fake store's REST credentials).
pub fn test_variables() -> std::collections::BTreeMap<String, secrecy::SecretString> {
    [
        ("STOREFRONT_TEST_WC_WEBHOOK", TEST_WOOCOMMERCE_SECRET),
        ("STOREFRONT_TEST_WC_KEY", TEST_CONSUMER_KEY),
        ("STOREFRONT_TEST_WC_SECRET", TEST_CONSUMER_SECRET),
        ("STOREFRONT_TEST_WC_PLAIN", "another-store-webhook-secret"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), secrecy::SecretString::from(v.to_owned())))
    .collect()
}

/// A fixture of `tests/fixtures/woocommerce/` as JSON.
pub fn fixture(name: &str) -> Value {
    crate::fixture_json("woocommerce", name)
}

/// The fixture order under another id, created (GMT) at `created`.
pub fn order(id: u64, created: &str) -> Value {
    let mut o = fixture("order");
    o["id"] = json!(id);
    o["number"] = json!(id.to_string());
    o["date_created_gmt"] = json!(created);
    o["date_modified_gmt"] = json!(created);
    o
}

/// One delivery: what a store's webhook would send.
pub struct Delivery<'a> {
    /// The site's home URL (`X-WC-Webhook-Source`, with its trailing slash).
    pub source: &'a str,
    pub topic: &'a str,
    pub delivery_id: &'a str,
    pub body: String,
    pub secret: &'a str,
}

impl<'a> Delivery<'a> {
    pub fn new(source: &'a str, topic: &'a str, delivery_id: &'a str, body: &Value) -> Self {
        Delivery { source, topic, delivery_id, body: body.to_string(), secret: TEST_WOOCOMMERCE_SECRET }
    }

    /// Posts it to `<base>/webhooks/woocommerce`; returns the status and the JSON answer.
    pub async fn post(&self, http: &reqwest::Client, base: &str) -> (u16, Value) {
        let signature = providers::woocommerce::webhook::sign(self.secret.as_bytes(), self.body.as_bytes());
        let (resource, event) = self.topic.split_once('.').unwrap_or((self.topic, ""));
        let res = http
            .post(format!("{base}/webhooks/woocommerce"))
            .header("User-Agent", "WooCommerce/9.4.0 Hookshot (WordPress/6.7)")
            .header("X-WC-Webhook-Source", self.source)
            .header("X-WC-Webhook-Topic", self.topic)
            .header("X-WC-Webhook-Resource", resource)
            .header("X-WC-Webhook-Event", event)
            .header("X-WC-Webhook-Signature", signature)
            .header("X-WC-Webhook-ID", "41")
            .header("X-WC-Webhook-Delivery-ID", self.delivery_id)
            .header("content-type", "application/json")
            .body(self.body.clone())
            .send()
            .await
            .expect("woocommerce webhook");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }
}

/// The unsigned ping WooCommerce sends when a webhook is created (`deliver_ping`).
pub async fn ping(http: &reqwest::Client, base: &str) -> (u16, Value) {
    let res = http
        .post(format!("{base}/webhooks/woocommerce"))
        .header("User-Agent", "WooCommerce/9.4.0 Hookshot (WordPress/6.7)")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("webhook_id=41")
        .send()
        .await
        .expect("woocommerce ping");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[derive(Default)]
struct Store {
    orders: Vec<Value>,
    refunds: HashMap<String, Value>,
    requests: Vec<String>,
    /// HTTP statuses to answer the next requests with (failures to inject).
    failures: Vec<u16>,
}

#[derive(Clone)]
struct Shared(Arc<Mutex<Store>>);

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A fake WooCommerce store: its REST API at `<base>/wp-json/wc/v3`, its home URL `<base>/`.
pub struct FakeWoo {
    base: String,
    shared: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeWoo {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"code": code, "message": message, "data": {"status": status.as_u16()}}))).into_response()
}

/// WooCommerce answers 401 `woocommerce_rest_cannot_view` without the store's key and secret.
fn authorized(headers: &HeaderMap) -> bool {
    let expected =
        base64::engine::general_purpose::STANDARD.encode(format!("{TEST_CONSUMER_KEY}:{TEST_CONSUMER_SECRET}"));
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(format!("Basic {expected}").as_str())
}

async fn list_orders(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.");
    }
    if q.get("dates_are_gmt").map(String::as_str) != Some("true") {
        return error(StatusCode::BAD_REQUEST, "rest_invalid_param", "the test store expects GMT dates");
    }
    let (Some(after), Some(before)) = (q.get("after"), q.get("before")) else {
        return error(StatusCode::BAD_REQUEST, "rest_missing_callback_param", "after and before are required here");
    };
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    let per_page: usize = q.get("per_page").and_then(|p| p.parse().ok()).unwrap_or(10);
    if !(1..=100).contains(&per_page) {
        return error(StatusCode::BAD_REQUEST, "rest_invalid_param", "per_page must be between 1 and 100");
    }
    let mut store = s.lock();
    store.requests.push(format!("GET /orders?after={after}&before={before}&page={page}"));
    // ISO 8601 without a zone sorts as text.
    let mut hits: Vec<Value> = store
        .orders
        .iter()
        .filter(|o| {
            let created = o["date_created_gmt"].as_str().unwrap_or_default();
            created > after.as_str() && created < before.as_str()
        })
        .cloned()
        .collect();
    hits.sort_by(|a, b| a["date_created_gmt"].as_str().cmp(&b["date_created_gmt"].as_str()));
    let total = hits.len();
    let pages = total.div_ceil(per_page).max(1);
    let body: Vec<Value> = hits.into_iter().skip((page - 1) * per_page).take(per_page).collect();
    let mut res = axum::Json(body).into_response();
    res.headers_mut().insert("X-WP-Total", total.into());
    res.headers_mut().insert("X-WP-TotalPages", pages.into());
    res
}

async fn list_refunds(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.");
    }
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    let per_page: usize = q.get("per_page").and_then(|p| p.parse().ok()).unwrap_or(10);
    if !(1..=100).contains(&per_page) {
        return error(StatusCode::BAD_REQUEST, "rest_invalid_param", "per_page must be between 1 and 100");
    }
    let mut store = s.lock();
    store.requests.push(format!("GET /orders/{id}/refunds?page={page}"));
    if !store.failures.is_empty() {
        let status = StatusCode::from_u16(store.failures.remove(0)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return error(status, "internal_server_error", "injected");
    }
    if !store.orders.iter().any(|o| o["id"].as_u64().is_some_and(|n| n.to_string() == id)) {
        return error(StatusCode::NOT_FOUND, "woocommerce_rest_shop_order_invalid_id", "Invalid order ID.");
    }
    let all = store.refunds.get(&id).and_then(Value::as_array).cloned().unwrap_or_default();
    let total = all.len();
    let pages = total.div_ceil(per_page).max(1);
    let body: Vec<Value> = all.into_iter().skip((page - 1) * per_page).take(per_page).collect();
    let mut res = axum::Json(body).into_response();
    res.headers_mut().insert("X-WP-Total", total.into());
    res.headers_mut().insert("X-WP-TotalPages", pages.into());
    res
}

impl FakeWoo {
    pub async fn start() -> FakeWoo {
        let shared = Shared(Arc::new(Mutex::new(Store::default())));
        let app = Router::new()
            .route("/wp-json/wc/v3/orders", get(list_orders))
            .route("/wp-json/wc/v3/orders/{id}/refunds", get(list_refunds))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeWoo { base, shared, server }
    }

    /// The site's home URL as `X-WC-Webhook-Source` sends it (with the trailing slash).
    pub fn source(&self) -> String {
        format!("{}/", self.base)
    }

    /// Adds (or replaces, by id) an order the store has.
    pub fn put_order(&self, order: Value) {
        let mut store = self.shared.lock();
        store.orders.retain(|o| o["id"] != order["id"]);
        store.orders.push(order);
    }

    /// Sets the refunds `GET /orders/<id>/refunds` lists for an order.
    pub fn put_refunds(&self, order_id: u64, refunds: Value) {
        self.shared.lock().refunds.insert(order_id.to_string(), refunds);
    }

    /// The next API request answers HTTP `status` (a failure to inject).
    pub fn fail_next(&self, status: u16) {
        self.shared.lock().failures.push(status);
    }

    /// The API requests the store has served, in order.
    pub fn requests(&self) -> Vec<String> {
        self.shared.lock().requests.clone()
    }
}
