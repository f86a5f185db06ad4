//! TikTok Shop for tests: notifications of `tests/fixtures/tiktok/` signed as TikTok signs them
//! (`Authorization`: hex HMAC-SHA256 of the app key and the body, keyed with the app secret),
//! and a fake Partner API serving Get Order Detail (`GET /order/202309/orders`) and Search
//! Returns (`POST /return_refund/202309/returns/search`, by `order_ids`, paged by
//! `page_size`/`page_token`) that checks what TikTok checks: the app key, the request signature
//! (recomputed from the query and the body), a timestamp within 5 minutes, the shop's cipher
//! and its `x-tts-access-token`. Errors are
//! TikTok's envelope (`{"code": 106001, "message": …, "data": null}`, HTTP 401).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post as post_route};
use serde_json::{Value, json};

/// The test app's key and secret (`TIKTOK_APP_KEY`, `TIKTOK_APP_SECRET`).
pub const TEST_APP_KEY: &str = "6a6testappkey";
pub const TEST_APP_SECRET: &str = "tiktok-test-app-secret";
/// The test shop: its id (what notifications name), cipher and access token.
pub const TEST_SHOP_ID: &str = "7495540735365777507";
pub const TEST_SHOP_CIPHER: &str = "ROW_testcipherAAAeVAQra0eZ";
pub const TEST_ACCESS_TOKEN: &str = "ROW_test_access_token_0123";
/// The fixture order's id.
pub const ORDER_ID: &str = "576653688135258178";

/// The variables the test shop is registered with: `apiKeyEnv: "STOREFRONT_TEST_TT_CIPHER"`,
/// `apiSecretEnv: "STOREFRONT_TEST_TT_TOKEN"`.
pub fn test_variables() -> std::collections::BTreeMap<String, secrecy::SecretString> {
    [("STOREFRONT_TEST_TT_CIPHER", TEST_SHOP_CIPHER), ("STOREFRONT_TEST_TT_TOKEN", TEST_ACCESS_TOKEN)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), secrecy::SecretString::from(v.to_owned())))
        .collect()
}

/// A fixture of `tests/fixtures/tiktok/` as JSON.
pub fn fixture(name: &str) -> Value {
    crate::fixture_json("tiktok", name)
}

/// The fixture order (one of Get Order Detail's `data.orders[]`) under another id and status.
pub fn order(id: &str, status: &str) -> Value {
    let mut o = fixture("order_detail")["data"]["orders"][0].clone();
    o["id"] = json!(id);
    o["status"] = json!(status);
    o
}

/// A type 1 notification (ORDER_STATUS_CHANGE) of `order` in the test shop.
pub fn status_change(notification_id: &str, order: &str, status: &str) -> String {
    json!({
        "type": 1,
        "tts_notification_id": notification_id,
        "shop_id": TEST_SHOP_ID,
        "timestamp": chrono::Utc::now().timestamp(),
        "data": {"is_on_hold_order": false, "order_id": order, "order_status": status,
                 "update_time": chrono::Utc::now().timestamp()}
    })
    .to_string()
}

/// Posts a notification to `<base>/webhooks/tiktok`, signed with `app_secret`; returns the status
/// and the JSON answer.
pub async fn post(http: &reqwest::Client, base: &str, body: &str, app_secret: &str) -> (u16, Value) {
    let signature = providers::tiktok::webhook::sign(TEST_APP_KEY, app_secret.as_bytes(), body.as_bytes());
    let res = http
        .post(format!("{base}/webhooks/tiktok"))
        .header("Authorization", signature)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("tiktok notification");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A return of the fixture's Search Returns answer (the beanie's, completed) for `order` under
/// `return_id`, with `status`.
pub fn order_return(order: &str, return_id: &str, status: &str) -> Value {
    let mut r = fixture("returns_search")["data"]["return_orders"][0].clone();
    r["order_id"] = json!(order);
    r["return_id"] = json!(return_id);
    r["return_status"] = json!(status);
    r
}

/// A completed cancellation of the beanie of `order` (Search Cancellations' shape, written after
/// TikTok's generated SDK models: `cancel_id`, `cancel_status`, `refund_amount`,
/// `cancel_line_items`).
pub fn order_cancellation(order: &str, cancel_id: &str) -> Value {
    let r = fixture("returns_search")["data"]["return_orders"][0].clone();
    json!({"cancel_id": cancel_id, "order_id": order, "cancel_type": "BUYER_CANCEL",
           "cancel_status": "CANCELLATION_REQUEST_COMPLETE", "role": "BUYER",
           "refund_amount": r["refund_amount"],
           "cancel_line_items": [{"cancel_line_item_id": format!("{cancel_id}1"),
                                  "order_line_item_id": "577086512123755125",
                                  "sku_id": "2729382476852921777", "refund_amount": r["refund_amount"]}]})
}

/// A type 11 notification (CANCELLATION_STATUS_CHANGE) of `order` in the test shop.
pub fn cancellation_change(notification_id: &str, order: &str, cancel_id: &str) -> String {
    json!({
        "type": 11,
        "tts_notification_id": notification_id,
        "shop_id": TEST_SHOP_ID,
        "timestamp": chrono::Utc::now().timestamp(),
        "data": {"order_id": order, "cancel_id": cancel_id, "cancellations_role": "BUYER",
                 "cancel_status": "CANCELLATION_REQUEST_COMPLETE", "create_time": chrono::Utc::now().timestamp()}
    })
    .to_string()
}

/// A type 12 notification (RETURN_STATUS_CHANGE) of `order` in the test shop.
pub fn return_change(notification_id: &str, order: &str, return_id: &str, status: &str) -> String {
    json!({
        "type": 12,
        "tts_notification_id": notification_id,
        "shop_id": TEST_SHOP_ID,
        "timestamp": chrono::Utc::now().timestamp(),
        "data": {"order_id": order, "return_id": return_id, "return_role": "BUYER",
                 "return_type": "RETURN_AND_REFUND", "return_status": status,
                 "create_time": chrono::Utc::now().timestamp()}
    })
    .to_string()
}

#[derive(Default)]
struct Store {
    orders: Vec<Value>,
    returns: Vec<Value>,
    cancellations: Vec<Value>,
    requests: Vec<String>,
    /// Answers given before any order (HTTP status, TikTok code): failures to inject.
    failures: Vec<(u16, i64)>,
}

#[derive(Clone)]
struct Shared(Arc<Mutex<Store>>);

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn error(status: StatusCode, code: i64, message: &str) -> Response {
    (status, axum::Json(json!({"code": code, "message": message, "request_id": "test", "data": null}))).into_response()
}

/// TikTok's checks of a request to `path`: `None` when it passes.
fn refused(q: &HashMap<String, String>, headers: &HeaderMap, path: &str, body: &[u8]) -> Option<Response> {
    if q.get("app_key").map(String::as_str) != Some(TEST_APP_KEY) {
        return Some(error(StatusCode::UNAUTHORIZED, 36009004, "Invalid app_key"));
    }
    let query: Vec<(&str, String)> = q.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let expected = providers::tiktok::client::sign_request(TEST_APP_SECRET.as_bytes(), path, &query, body);
    if q.get("sign") != Some(&expected) {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            106001,
            "Invalid credentials. The 'sign' query parameter is invalid.",
        ));
    }
    let fresh = q
        .get("timestamp")
        .and_then(|t| t.parse::<i64>().ok())
        .is_some_and(|t| (chrono::Utc::now().timestamp() - t).abs() <= 300);
    if !fresh {
        return Some(error(StatusCode::UNAUTHORIZED, 36009004, "Invalid timestamp"));
    }
    if headers.get("x-tts-access-token").and_then(|v| v.to_str().ok()) != Some(TEST_ACCESS_TOKEN) {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            105002,
            "Expired credentials. The 'x-tts-access-token' header has expired.",
        ));
    }
    if q.get("shop_cipher").map(String::as_str) != Some(TEST_SHOP_CIPHER) {
        return Some(error(StatusCode::BAD_REQUEST, 36009004, "Invalid shop_cipher"));
    }
    None
}

async fn order_detail(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut store = s.lock();
    store.requests.push(format!("GET /order/202309/orders?ids={}", q.get("ids").cloned().unwrap_or_default()));
    if !store.failures.is_empty() {
        let (status, code) = store.failures.remove(0);
        return error(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), code, "injected");
    }
    if let Some(refused) = refused(&q, &headers, providers::tiktok::client::ORDER_DETAIL_PATH, b"") {
        return refused;
    }
    let ids: Vec<&str> = q.get("ids").map(|v| v.split(',').collect()).unwrap_or_default();
    let orders: Vec<Value> =
        store.orders.iter().filter(|o| o["id"].as_str().is_some_and(|id| ids.contains(&id))).cloned().collect();
    axum::Json(json!({"code": 0, "message": "Success", "request_id": "test", "data": {"orders": orders}}))
        .into_response()
}

async fn returns_search(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    search(&s, &headers, &q, &body, false)
}

async fn cancellations_search(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    search(&s, &headers, &q, &body, true)
}

/// Search Returns (or Search Cancellations): the shop's by `order_ids`, `page_size` a page.
fn search(s: &Shared, headers: &HeaderMap, q: &HashMap<String, String>, body: &[u8], cancellations: bool) -> Response {
    let (path, list) = if cancellations {
        (providers::tiktok::client::CANCELLATIONS_SEARCH_PATH, "cancellations")
    } else {
        (providers::tiktok::client::RETURNS_SEARCH_PATH, "return_orders")
    };
    let mut store = s.lock();
    store.requests.push(format!("POST {path} {}", String::from_utf8_lossy(body)));
    if !store.failures.is_empty() {
        let (status, code) = store.failures.remove(0);
        return error(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), code, "injected");
    }
    if let Some(refused) = refused(q, headers, path, body) {
        return refused;
    }
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return error(StatusCode::BAD_REQUEST, 36009003, "Invalid body");
    };
    let Some(page_size) = q.get("page_size").and_then(|p| p.parse::<usize>().ok()).filter(|p| (1..=50).contains(p))
    else {
        return error(StatusCode::BAD_REQUEST, 36009003, "page_size must be 1 to 50");
    };
    let ids: Vec<&str> =
        request["order_ids"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let items = if cancellations { &store.cancellations } else { &store.returns };
    let matching: Vec<Value> = items
        .iter()
        .filter(|r| r["order_id"].as_str().is_some_and(|id| ids.is_empty() || ids.contains(&id)))
        .cloned()
        .collect();
    let start: usize =
        q.get("page_token").and_then(|t| t.strip_prefix("page-")).and_then(|n| n.parse().ok()).unwrap_or(0);
    let page: Vec<Value> = matching.iter().skip(start).take(page_size).cloned().collect();
    let next = if start + page.len() < matching.len() { format!("page-{}", start + page.len()) } else { String::new() };
    let mut data = json!({"total_count": matching.len(), "next_page_token": next});
    data[list] = json!(page);
    axum::Json(json!({"code": 0, "message": "Success", "request_id": "test", "data": data})).into_response()
}

/// A fake TikTok Shop Partner API.
pub struct FakeTikTok {
    base: String,
    shared: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeTikTok {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeTikTok {
    pub async fn start() -> FakeTikTok {
        let shared = Shared(Arc::new(Mutex::new(Store::default())));
        let app = Router::new()
            .route("/order/202309/orders", get(order_detail))
            .route("/return_refund/202309/returns/search", post_route(returns_search))
            .route("/return_refund/202309/cancellations/search", post_route(cancellations_search))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeTikTok { base, shared, server }
    }

    /// The API base (`TIKTOK_API_BASE`).
    pub fn base(&self) -> String {
        self.base.clone()
    }

    /// Adds (or replaces, by id) an order the shop has.
    pub fn put_order(&self, order: Value) {
        let mut store = self.shared.lock();
        store.orders.retain(|o| o["id"] != order["id"]);
        store.orders.push(order);
    }

    /// Adds (or replaces, by `return_id`) a return of one of the shop's orders.
    pub fn put_return(&self, r: Value) {
        let mut store = self.shared.lock();
        store.returns.retain(|x| x["return_id"] != r["return_id"]);
        store.returns.push(r);
    }

    /// Adds (or replaces, by `cancel_id`) a cancellation of one of the shop's orders (Search
    /// Cancellations' shape).
    pub fn put_cancellation(&self, c: Value) {
        let mut store = self.shared.lock();
        store.cancellations.retain(|x| x["cancel_id"] != c["cancel_id"]);
        store.cancellations.push(c);
    }

    /// The next answer is an error: HTTP `status` with TikTok `code`.
    pub fn fail_next(&self, status: u16, code: i64) {
        self.shared.lock().failures.push((status, code));
    }

    /// The API requests served, in order.
    pub fn requests(&self) -> Vec<String> {
        self.shared.lock().requests.clone()
    }
}
