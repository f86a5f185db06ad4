//! An in-process fake of the PayPal REST API for tests: an axum server on `127.0.0.1:<random
//! port>` answering with PayPal's own example objects (`tests/fixtures/paypal`, from PayPal's
//! published OpenAPI files), adjusted to the request, and checking what we send:
//!
//! - `POST /v1/oauth2/token`: HTTP Basic with the test client id and secret,
//!   `grant_type=client_credentials`; tokens expire after `expires_in` (configurable).
//! - every other call: a current bearer token (else 401, like PayPal).
//! - `POST /v2/customer/partner-referrals`: `tracking_id`, `operations`, granted
//!   `legal_consents` → the example response with its `action_url`.
//! - `POST /v2/checkout/orders`: `intent`, 1–10 `purchase_units` each with an `amount` (and
//!   distinct `reference_id`s when there are several), `.payee.merchant_id`,
//!   `PayPal-Request-Id` → the example order with a new id (the same one again for the same
//!   request id).
//! - `POST /v2/checkout/orders/{id}/capture`: an order it created, once → the order COMPLETED
//!   with one capture per unit (PayPal's example capture with the unit's amount, payee, ids and
//!   fees).
//! - `POST /v2/payments/captures/{id}/refund`: `amount` → the example refund, with the capture's
//!   refunded total.
//! - `POST /v1/payments/payouts`: `sender_batch_header.sender_batch_id`, one item → the example
//!   batch; a `sender_batch_id` seen before with another request id → 400
//!   `DUPLICATE_SENDER_BATCH_ID`, as PayPal answers.
//!
//! - `GET /v1/notifications/webhooks-events?start_time=…`: the events added with
//!   [`FakePaypal::add_event`], newest first.
//!
//! Every request is recorded for assertions; [`FakePaypal::fail_next`] makes the next API call
//! answer with a given status.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub const TEST_CLIENT_ID: &str = "AYSq3RDGsmBLJE-otTkBtM-jBRd1TCQwFf9RGfwddNXWz0uFU9ztymylOhRS";
pub const TEST_CLIENT_SECRET: &str = "EGnHDxD_qRPdaLdZz8iCr8N7_MzF-YHPTkjs6NKYQvQSBngp4PTTVWkPZRbL";

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    requests: Vec<Recorded>,
    tokens: Vec<String>,
    token_lifetime_secs: u64,
    fail_next: Option<(u16, Value)>,
    orders: HashMap<String, Value>,
    /// Orders by order id (created ones, and captured ones once captured).
    by_id: HashMap<String, Value>,
    batches: HashMap<String, (String, Value)>,
    refunded: HashMap<String, i64>,
    token_requests: usize,
    /// Webhook events PayPal keeps for the platform (what its events list serves).
    events: Vec<Value>,
}

#[derive(Clone)]
struct Shared(Arc<Mutex<Inner>>);

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct FakePaypal {
    base: String,
    shared: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakePaypal {
    fn drop(&mut self) {
        self.server.abort();
    }
}

use crate::paypal::fixture;

fn error(status: StatusCode, name: &str, issue: &str, message: &str) -> Response {
    let body = json!({"name": name, "message": message, "debug_id": "f00dcafe",
        "details": [{"issue": issue, "description": message}]});
    (status, axum::Json(body)).into_response()
}

fn header_map(headers: &HeaderMap) -> HashMap<String, String> {
    headers
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_ascii_lowercase(), v.to_owned())))
        .collect()
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..17].to_ascii_uppercase()
}

impl FakePaypal {
    pub async fn start() -> FakePaypal {
        let shared = Shared(Arc::new(Mutex::new(Inner { token_lifetime_secs: 32_400, ..Inner::default() })));
        let app = Router::new()
            .route("/v1/oauth2/token", post(token))
            .route("/v2/customer/partner-referrals", post(referral))
            .route("/v2/checkout/orders", post(order))
            .route("/v2/checkout/orders/{id}/capture", post(capture))
            .route("/v2/payments/captures/{id}/refund", post(refund))
            .route("/v1/payments/payouts", post(payout))
            .route("/v1/notifications/webhooks-events", get(list_events))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakePaypal { base, shared, server }
    }

    pub fn base_url(&self) -> String {
        self.base.clone()
    }

    /// API requests received (token requests excluded), oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.clone()
    }

    pub fn last(&self, path: &str) -> Option<Recorded> {
        self.requests().into_iter().rev().find(|r| r.path == path)
    }

    /// The capture of a captured order (what `PAYMENT.CAPTURE.COMPLETED` carries).
    pub fn capture_of(&self, order_id: &str) -> Option<Value> {
        self.captures_of(order_id).into_iter().next()
    }

    /// Every capture of a captured order, one per purchase unit (each its own
    /// `PAYMENT.CAPTURE.COMPLETED`).
    pub fn captures_of(&self, order_id: &str) -> Vec<Value> {
        let Some(order) = self.shared.lock().by_id.get(order_id).cloned() else { return Vec::new() };
        order["purchase_units"]
            .as_array()
            .map(|units| units.iter().map(|u| u["payments"]["captures"][0].clone()).filter(|c| !c.is_null()).collect())
            .unwrap_or_default()
    }

    /// Keeps a webhook event (a body as sent) in PayPal's events list, as PayPal does for every
    /// event it sends, delivered or not.
    pub fn add_event(&self, body: &str) {
        let event: Value = serde_json::from_str(body).expect("event JSON");
        self.shared.lock().events.push(event);
    }

    pub fn token_requests(&self) -> usize {
        self.shared.lock().token_requests
    }

    /// Tokens issued from now on expire after `secs`.
    pub fn set_token_lifetime(&self, secs: u64) {
        self.shared.lock().token_lifetime_secs = secs;
    }

    /// Forgets every issued token: the next call with one gets 401.
    pub fn revoke_tokens(&self) {
        self.shared.lock().tokens.clear();
    }

    /// The next API call answers `status` with `body`.
    pub fn fail_next(&self, status: u16, body: Value) {
        self.shared.lock().fail_next = Some((status, body));
    }

    /// Settings for a subgraph using this fake (webhooks as [`crate::paypal::settings`]).
    pub fn settings(&self) -> service_core::paypal::PaypalSettings {
        let mut s = crate::paypal::settings();
        s.paypal_client_id = Some(TEST_CLIENT_ID.to_owned());
        s.paypal_client_secret = Some(secrecy::SecretString::from(TEST_CLIENT_SECRET.to_owned()));
        s.paypal_api_base = Some(self.base_url());
        s
    }
}

async fn token(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    use base64::Engine as _;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{TEST_CLIENT_ID}:{TEST_CLIENT_SECRET}"))
    );
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if auth != expected {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client", "error_description": "Client Authentication failed"})),
        )
            .into_response();
    }
    if !form.iter().any(|(k, v)| k == "grant_type" && v == "client_credentials") {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "unsupported_grant_type", "error_description": "Grant Type is NULL"})),
        )
            .into_response();
    }
    let mut inner = s.lock();
    inner.token_requests += 1;
    let value = format!("A21AA{}", new_id());
    inner.tokens.push(value.clone());
    axum::Json(json!({"scope": "https://uri.paypal.com/services/payments/payment", "access_token": value,
        "token_type": "Bearer", "app_id": "APP-80W284485P519543T", "expires_in": inner.token_lifetime_secs,
        "nonce": "2026-12-02T00:00:00ZnonCe"}))
    .into_response()
}

/// Records the request and checks its token; `Err` is the answer to give instead.
#[allow(clippy::result_large_err)]
fn admit(s: &Shared, path: String, headers: &HeaderMap, body: &Bytes) -> Result<Value, Response> {
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut inner = s.lock();
    inner.requests.push(Recorded { path, headers: header_map(headers), body: body.clone() });
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if !bearer.is_some_and(|t| inner.tokens.iter().any(|k| k == t)) {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "AUTHENTICATION_FAILURE",
            "INVALID_TOKEN",
            "Authentication failed due to invalid authentication credentials or a missing Authorization header.",
        ));
    }
    if let Some((status, failure)) = inner.fail_next.take() {
        return Err((StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), axum::Json(failure))
            .into_response());
    }
    if body.is_null() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "MALFORMED_REQUEST_JSON",
            "The request JSON is not well formed.",
        ));
    }
    Ok(body)
}

fn missing(field: &str) -> Response {
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "UNPROCESSABLE_ENTITY",
        "MISSING_REQUIRED_PARAMETER",
        &format!("{field} is required"),
    )
}

async fn referral(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let body = match admit(&s, "/v2/customer/partner-referrals".into(), &headers, &body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if body["tracking_id"].as_str().is_none_or(str::is_empty) {
        return missing("tracking_id");
    }
    if body["operations"].as_array().is_none_or(Vec::is_empty) {
        return missing("operations");
    }
    if !body["legal_consents"].as_array().is_some_and(|c| c.iter().any(|c| c["granted"] == true)) {
        return missing("legal_consents");
    }
    (StatusCode::CREATED, axum::Json(fixture("partner_referral_response"))).into_response()
}

async fn order(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let body = match admit(&s, "/v2/checkout/orders".into(), &headers, &body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if body["intent"].as_str().is_none() {
        return missing("intent");
    }
    let units = body["purchase_units"].as_array().cloned().unwrap_or_default();
    if units.is_empty() {
        return missing("purchase_units");
    }
    // As PayPal: at most 10 units, each with an amount, and distinct `reference_id`s when there
    // are several.
    if units.len() > 10 {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "UNPROCESSABLE_ENTITY",
            "MAX_NUMBER_OF_PURCHASE_UNITS_EXCEEDED",
            "At most 10 purchase units.",
        );
    }
    for (i, unit) in units.iter().enumerate() {
        if unit["amount"]["value"].as_str().is_none() || unit["amount"]["currency_code"].as_str().is_none() {
            return missing(&format!("purchase_units[{i}].amount"));
        }
    }
    if units.len() > 1 {
        let mut ids: Vec<&str> = units.iter().filter_map(|u| u["reference_id"].as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != units.len() {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "UNPROCESSABLE_ENTITY",
                "REFERENCE_ID_REQUIRED",
                "Each purchase unit needs a distinct reference_id.",
            );
        }
    }
    let request_id = headers.get("paypal-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut inner = s.lock();
    if let Some(existing) = request_id.as_ref().and_then(|id| inner.orders.get(id)) {
        return (StatusCode::OK, axum::Json(existing.clone())).into_response();
    }
    let mut order = fixture("order");
    let id = new_id();
    order["id"] = json!(id);
    order["purchase_units"] = body["purchase_units"].clone();
    if let Some(links) = order["links"].as_array_mut() {
        for l in links {
            if let Some(href) = l["href"].as_str() {
                l["href"] = json!(href.replace("5O190127TN364715T", &id));
            }
        }
    }
    if let Some(rid) = request_id {
        inner.orders.insert(rid, order.clone());
    }
    inner.by_id.insert(id, order.clone());
    (StatusCode::CREATED, axum::Json(order)).into_response()
}

async fn capture(State(s): State<Shared>, Path(order_id): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let body = if body.is_empty() { Bytes::from_static(b"{}") } else { body };
    if let Err(r) = admit(&s, format!("/v2/checkout/orders/{order_id}/capture"), &headers, &body) {
        return r;
    }
    let mut inner = s.lock();
    let Some(order) = inner.by_id.get(&order_id).cloned() else {
        return error(
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_FOUND",
            "INVALID_RESOURCE_ID",
            "Specified resource ID does not exist.",
        );
    };
    if order["status"] == "COMPLETED" {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "UNPROCESSABLE_ENTITY",
            "ORDER_ALREADY_CAPTURED",
            "Order already captured.",
        );
    }
    let mut captured = order.clone();
    captured["status"] = json!("COMPLETED");
    // Each purchase unit is captured for its own payee.
    let count = order["purchase_units"].as_array().map_or(0, Vec::len);
    for i in 0..count {
        let unit = &order["purchase_units"][i];
        let mut c = fixture("capture");
        c["id"] = json!(new_id());
        c["amount"] = unit["amount"].clone();
        c["payee"] = unit["payee"].clone();
        c["invoice_id"] = unit["invoice_id"].clone();
        c["custom_id"] = unit["custom_id"].clone();
        c["supplementary_data"]["related_ids"]["order_id"] = json!(order_id);
        c["seller_receivable_breakdown"]["gross_amount"] = unit["amount"].clone();
        c["seller_receivable_breakdown"]["platform_fees"] =
            unit["payment_instruction"]["platform_fees"].as_array().cloned().map(Value::Array).unwrap_or(json!([]));
        captured["purchase_units"][i]["payments"] = json!({"captures": [c]});
    }
    inner.by_id.insert(order_id, captured.clone());
    (StatusCode::CREATED, axum::Json(captured)).into_response()
}

async fn refund(State(s): State<Shared>, Path(capture): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let body = match admit(&s, format!("/v2/payments/captures/{capture}/refund"), &headers, &body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let (Some(value), Some(currency)) = (body["amount"]["value"].as_str(), body["amount"]["currency_code"].as_str())
    else {
        return missing("amount");
    };
    let Ok(code) = domain::money::Currency::parse(currency) else {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE_ENTITY", "CURRENCY_NOT_SUPPORTED", "currency");
    };
    let Ok(minor) = code.minor_from_decimal(value) else {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE_ENTITY", "DECIMAL_PRECISION", "amount");
    };
    let mut inner = s.lock();
    let total = inner.refunded.entry(capture.clone()).or_insert(0);
    *total += minor;
    let total = code.decimal_from_minor(*total);
    let mut r = fixture("refund");
    r["id"] = json!(new_id());
    r["amount"] = json!({"currency_code": currency, "value": value});
    r["seller_payable_breakdown"]["total_refunded_amount"] = json!({"currency_code": currency, "value": total});
    r["links"][1]["href"] = json!(format!("https://api-m.paypal.com/v2/payments/captures/{capture}"));
    (StatusCode::CREATED, axum::Json(r)).into_response()
}

async fn payout(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let body = match admit(&s, "/v1/payments/payouts".into(), &headers, &body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(batch_id) = body["sender_batch_header"]["sender_batch_id"].as_str().map(str::to_owned) else {
        return missing("sender_batch_header.sender_batch_id");
    };
    if body["items"].as_array().is_none_or(Vec::is_empty) {
        return missing("items");
    }
    let request_id = headers.get("paypal-request-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let mut inner = s.lock();
    if let Some((seen_request, response)) = inner.batches.get(&batch_id) {
        if *seen_request == request_id {
            return (StatusCode::CREATED, axum::Json(response.clone())).into_response();
        }
        return error(
            StatusCode::BAD_REQUEST,
            "USER_BUSINESS_ERROR",
            "DUPLICATE_SENDER_BATCH_ID",
            "Batch with given sender_batch_id already exists",
        );
    }
    let mut response = fixture("payout_batch_response");
    response["batch_header"]["payout_batch_id"] = json!(new_id());
    response["batch_header"]["sender_batch_header"]["sender_batch_id"] = json!(batch_id);
    inner.batches.insert(batch_id, (request_id, response.clone()));
    (StatusCode::CREATED, axum::Json(response)).into_response()
}

async fn list_events(
    State(s): State<Shared>,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(&s, "/v1/notifications/webhooks-events".into(), &headers, &Bytes::from_static(b"{}")) {
        return r;
    }
    let since = query.get("start_time").and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    let mut events: Vec<Value> = s
        .lock()
        .events
        .iter()
        .filter(|e| {
            let created = e["create_time"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
            since.is_none_or(|since| created.is_some_and(|c| c >= since))
        })
        .cloned()
        .collect();
    // Newest first, as PayPal lists them.
    events.reverse();
    let count = events.len();
    axum::Json(json!({"events": events, "count": count, "links": []})).into_response()
}
