//! An in-process fake of the Stripe API for tests.
//!
//! [`FakeStripe`] is an axum HTTP server on `127.0.0.1:<random port>` that answers the calls
//! [`providers::stripe::StripeConnect`] makes with Stripe's own example objects (`fixtures3.json` from
//! Stripe's OpenAPI repository), adjusted per request: fresh ids, the amounts, currency,
//! destination and metadata of the request, a unique account-link URL, and so on. It behaves like
//! Stripe where tests depend on it:
//!
//! - it records every request (method, path, query, form fields in order with Stripe's bracket
//!   notation kept, `Idempotency-Key`, `Stripe-Account`, `Stripe-Version`) — never the API key;
//! - `Idempotency-Key`s are honoured: the same key (per `Stripe-Account`) on the same endpoint with
//!   the same parameters replays the first response and creates nothing; a different endpoint or
//!   different parameters is a 400 `idempotency_error`; failed requests (injected or 5xx) are not
//!   saved, so a retry with the same key runs again, as on Stripe;
//! - required parameters are checked (400 `parameter_missing`), a request without a bearer key is
//!   a 401, an unknown URL a 404, and refunds cannot exceed the payment;
//! - [`FakeStripe::fail_next`] makes the next call of a path fail with a status and a Stripe error
//!   body, [`FakeStripe::delay_next`] delays the next response (after the object was created, like
//!   a response lost to a timeout);
//! - created payment intents, transfers, payouts and refunds also produce `*.created` events (and
//!   application-fee refunds `application_fee.refunded`) for `GET /v1/events`, next to the ones a
//!   test adds with [`FakeStripe::push_event`]; as on Stripe, an event with an `account` (one that
//!   happened on a connected account, e.g. `account.updated`, `payout.*`) is only listed with that
//!   account's `Stripe-Account` header, the others only without it;
//! - a payment intent is paid at once (`succeeded`): it gets a charge (`latest_charge`, `ch_…`)
//!   and, when its `application_fee_amount` is above 0, the charge gets an application fee
//!   (`application_fee`, `fee_…`, on the destination account); `GET` of a payment intent, charge
//!   or application fee honours `expand[]` (`latest_charge`, `charge`, `application_fee`,
//!   `payment_intent`, dotted paths too); refunds update the charge's `amount_refunded`;
//! - `POST /v1/application_fees/{id}/refunds` refunds `amount` (default: the rest) of a fee it
//!   created, refuses more than is left (400 `amount_too_large`), updates the fee's
//!   `amount_refunded`/`refunded`/`refunds` and emits `application_fee.refunded`. A refund with
//!   `refund_application_fee=true` is recorded but Stripe's proportional fee refund is not
//!   modelled.
//!
//! Connected accounts are not checked for existence: any `acct_…` id is accepted (an update of an
//! unknown account starts from the example account with that id). Payment intents, charges and
//! application fees are: a `GET` of one the fake did not create is a 404 `resource_missing`, as on
//! Stripe (a refund of an unknown payment intent is still accepted).
//!
//! Served: `POST /v1/accounts`, `GET|POST /v1/accounts/{id}`, `POST /v1/account_links`,
//! `POST /v1/payment_intents`, `GET /v1/payment_intents/{id}`, `GET /v1/charges/{id}`,
//! `GET /v1/application_fees/{id}`, `POST /v1/application_fees/{id}/refunds`,
//! `POST /v1/transfers`, `POST /v1/payouts`, `POST /v1/refunds`, `GET /v1/balance`,
//! `GET /v1/events`, `GET /v1/events/{id}`.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// Why the fake could not start.
#[derive(Debug, thiserror::Error)]
pub enum FakeStripeError {
    /// The fixtures file could not be read.
    #[error("cannot read Stripe fixtures {path}: {source}")]
    ReadFixtures {
        /// The path that was tried.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The fixtures file is not Stripe's `fixtures3.json` (or lacks a resource the fake serves).
    #[error("invalid Stripe fixtures {path}: {reason}")]
    InvalidFixtures {
        /// The path that was read.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The listener could not be bound.
    #[error("cannot bind the fake Stripe server: {0}")]
    Bind(#[source] std::io::Error),
}

/// One request the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, e.g. `/v1/accounts/acct_123`.
    pub path: String,
    /// Decoded query parameters, in order (`created[gt]` kept as is).
    pub query: Vec<(String, String)>,
    /// Decoded form fields, in order, with Stripe's bracket notation kept
    /// (`settings[payouts][schedule][interval]`).
    pub form: Vec<(String, String)>,
    /// The raw body.
    pub body: String,
    /// The `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
    /// The `Stripe-Account` header (calls made on a connected account).
    pub stripe_account: Option<String>,
    /// The `Stripe-Version` header.
    pub stripe_version: Option<String>,
}

impl RecordedRequest {
    /// The first form field named `key`.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The first query parameter named `key`.
    pub fn query_param(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The `metadata[…]` form fields as a map.
    pub fn metadata(&self) -> std::collections::BTreeMap<String, String> {
        bracket_map(&self.form, "metadata").into_iter().collect()
    }
}

#[derive(Debug, Clone)]
struct Failure {
    status: StatusCode,
    body: Value,
}

#[derive(Debug, Clone)]
struct SavedResponse {
    method: String,
    path: String,
    form: Vec<(String, String)>,
    status: StatusCode,
    body: Value,
}

#[derive(Debug, Default)]
struct Inner {
    resources: Map<String, Value>,
    requests: Vec<RecordedRequest>,
    failures: HashMap<String, VecDeque<Failure>>,
    delays: HashMap<String, VecDeque<Duration>>,
    idempotency: HashMap<(String, String), SavedResponse>,
    accounts: HashMap<String, Value>,
    payment_intents: HashMap<String, Value>,
    charges: HashMap<String, Value>,
    application_fees: HashMap<String, Value>,
    /// Transfers (destination charges' and created ones), with their `reversals`.
    transfers: HashMap<String, Value>,
    /// Refunds, in the order they were made.
    refunds: Vec<Value>,
    /// The platform's balance transactions (of charges and refunds).
    balance_transactions: Vec<Value>,
    /// Payouts by id, with the connected account they are of (`""`: the platform).
    payouts: HashMap<String, (String, Value)>,
    refunded: HashMap<String, i64>,
    balances: HashMap<String, Value>,
    /// Events in the order they happened.
    events: Vec<Value>,
    /// Account links by the token in their URL: `(account, return_url, refresh_url)`.
    account_links: HashMap<String, (String, String, String)>,
    base_url: String,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(shared: &Shared) -> MutexGuard<'_, Inner> {
    // A panic inside a handler must not hide the recorded requests from the test.
    shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The resources of `fixtures3.json` the fake serves.
const SERVED_RESOURCES: &[&str] = &[
    "account",
    "account_link",
    "payment_intent",
    "charge",
    "application_fee",
    "fee_refund",
    "transfer",
    "transfer_reversal",
    "payout",
    "refund",
    "balance",
    "balance_transaction",
    "event",
];

/// A cloneable handle on a fake's state: what happens at Stripe outside the API (a seller finishing
/// onboarding, a buyer paying), as the local sandbox drives it.
#[derive(Clone)]
pub struct FakeStripeHandle(Shared);

impl FakeStripeHandle {
    /// The `return_url` an account link of `account` was created with (its URL's last segment
    /// is `token`); `None` for an unknown link or a link of another account.
    pub fn link_return_url(&self, account: &str, token: &str) -> Option<String> {
        let inner = lock(&self.0);
        let (acct, return_url, _) = inner.account_links.get(token)?;
        (acct == account).then(|| return_url.clone())
    }

    /// A connected account as Stripe holds it.
    pub fn account(&self, id: &str) -> Option<Value> {
        lock(&self.0).accounts.get(id).cloned()
    }

    /// The seller finished the hosted onboarding of `id`: details submitted, charges and payouts
    /// enabled, nothing due; emits `account.updated` (on the connected account). `None` for an
    /// account the fake never created.
    pub fn complete_onboarding(&self, id: &str) -> Option<Value> {
        let mut inner = lock(&self.0);
        let mut account = inner.accounts.get(id).cloned()?;
        set(&mut account, "details_submitted", json!(true));
        set(&mut account, "charges_enabled", json!(true));
        set(&mut account, "payouts_enabled", json!(true));
        if let Some(caps) = account.get_mut("capabilities").and_then(Value::as_object_mut) {
            for v in caps.values_mut() {
                *v = json!("active");
            }
        }
        if let Some(req) = account.get_mut("requirements").and_then(Value::as_object_mut) {
            for key in ["currently_due", "eventually_due", "past_due", "pending_verification"] {
                req.insert(key.to_owned(), json!([]));
            }
            req.insert("disabled_reason".to_owned(), Value::Null);
        }
        inner.accounts.insert(id.to_owned(), account.clone());
        let req = Req::internal(Some(id));
        emit(&mut inner, "account.updated", &account, &req);
        Some(account)
    }

    /// The buyer paid payment intent `id`: emits `payment_intent.succeeded` with it (the fake's
    /// intents are paid when created). `None` for an intent the fake never created.
    pub fn pay(&self, id: &str) -> Option<Value> {
        let mut inner = lock(&self.0);
        let intent = inner.payment_intents.get(id).cloned()?;
        emit(&mut inner, "payment_intent.succeeded", &intent, &Req::internal(None));
        Some(intent)
    }

    /// A charge as Stripe holds it (with its `amount_refunded`).
    pub fn charge(&self, id: &str) -> Option<Value> {
        lock(&self.0).charges.get(id).cloned()
    }

    /// Records an event of `event_type` for `object` (on connected account `account`, if any),
    /// as Stripe would send it.
    pub fn emit(&self, event_type: &str, object: &Value, account: Option<&str>) {
        emit(&mut lock(&self.0), event_type, object, &Req::internal(account));
    }

    /// Stripe paid out `amount` of connected account `account`'s balance to its bank: a `paid`
    /// payout, and `payout.paid` on the account.
    pub fn payout(&self, account: &str, amount: i64, currency: &str) -> Value {
        let mut inner = lock(&self.0);
        let mut payout = template(&inner, "payout");
        let created = now();
        set(&mut payout, "id", json!(new_id("po")));
        set(&mut payout, "amount", json!(amount));
        set(&mut payout, "currency", json!(currency));
        set(&mut payout, "status", json!("paid"));
        set(&mut payout, "created", json!(created));
        set(&mut payout, "arrival_date", json!(created));
        set(&mut payout, "metadata", json!({}));
        let id = payout["id"].as_str().unwrap_or_default().to_owned();
        inner.payouts.insert(id, (account.to_owned(), payout.clone()));
        emit(&mut inner, "payout.paid", &payout, &Req::internal(Some(account)));
        payout
    }

    /// The buyer disputes the charge of payment intent `id` (its whole amount):
    /// `charge.dispute.created` (needs_response); with an outcome, then what Stripe sends when the
    /// platform loses (`charge.dispute.funds_withdrawn`, `charge.dispute.closed` lost) or wins
    /// (`charge.dispute.funds_reinstated`, `charge.dispute.closed` won). `None` for an intent the
    /// fake never created.
    pub fn dispute(&self, id: &str, outcome: Option<bool>) -> Option<Value> {
        let mut inner = lock(&self.0);
        let intent = inner.payment_intents.get(id).cloned()?;
        let mut dispute = template(&inner, "dispute");
        let amount = intent.get("amount").cloned().unwrap_or(Value::Null);
        set(&mut dispute, "id", json!(new_id("dp")));
        set(&mut dispute, "amount", amount);
        set(&mut dispute, "currency", intent.get("currency").cloned().unwrap_or_else(|| json!("usd")));
        set(&mut dispute, "charge", intent.get("latest_charge").cloned().unwrap_or(Value::Null));
        set(&mut dispute, "payment_intent", json!(id));
        set(&mut dispute, "created", json!(now()));
        set(&mut dispute, "status", json!("needs_response"));
        set(&mut dispute, "reason", json!("fraudulent"));
        let internal = Req::internal(None);
        emit(&mut inner, "charge.dispute.created", &dispute, &internal);
        match outcome {
            Some(false) => {
                set(&mut dispute, "status", json!("lost"));
                emit(&mut inner, "charge.dispute.funds_withdrawn", &dispute, &internal);
                emit(&mut inner, "charge.dispute.closed", &dispute, &internal);
            }
            Some(true) => {
                set(&mut dispute, "status", json!("won"));
                emit(&mut inner, "charge.dispute.funds_reinstated", &dispute, &internal);
                emit(&mut inner, "charge.dispute.closed", &dispute, &internal);
            }
            None => {}
        }
        Some(dispute)
    }

    /// The events from index `from` on (in the order they happened), and the next index.
    pub fn events_from(&self, from: usize) -> (Vec<Value>, usize) {
        let inner = lock(&self.0);
        let events = inner.events.get(from..).map(<[Value]>::to_vec).unwrap_or_default();
        (events, inner.events.len())
    }
}

/// A running fake Stripe API; stopped when dropped.
#[derive(Debug)]
pub struct FakeStripe {
    addr: SocketAddr,
    shared: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeStripe {
    /// `tests/fixtures/stripe/fixtures3.json` of this repository (Stripe's own example objects,
    /// copied from the product's shared fixtures).
    pub fn default_fixtures_path() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/stripe/fixtures3.json")
    }

    /// Starts the fake with [`FakeStripe::default_fixtures_path`].
    ///
    /// # Errors
    /// See [`FakeStripe::start`].
    pub async fn start_default() -> Result<Self, FakeStripeError> {
        Self::start(Self::default_fixtures_path()).await
    }

    /// Loads Stripe's example objects from `fixtures_path` (`fixtures3.json`) and starts serving
    /// on `127.0.0.1:0`. Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// [`FakeStripeError`] when the file is unreadable or not Stripe's fixtures, or binding fails.
    pub async fn start(fixtures_path: impl AsRef<Path>) -> Result<Self, FakeStripeError> {
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::start_at(fixtures_path, addr, |_| Router::new()).await
    }

    /// Like [`FakeStripe::start`], on `addr`, with `extra` routes (given a handle on the fake's
    /// state) served before the API's (the local sandbox's pages).
    ///
    /// # Errors
    /// See [`FakeStripe::start`].
    pub async fn start_at(
        fixtures_path: impl AsRef<Path>,
        addr: SocketAddr,
        extra: impl FnOnce(FakeStripeHandle) -> Router,
    ) -> Result<Self, FakeStripeError> {
        let path = fixtures_path.as_ref().to_path_buf();
        let text = std::fs::read_to_string(&path)
            .map_err(|source| FakeStripeError::ReadFixtures { path: path.clone(), source })?;
        let invalid = |reason: String| FakeStripeError::InvalidFixtures { path: path.clone(), reason };
        let mut root: Value = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let resources = match root.get_mut("resources").map(Value::take) {
            Some(Value::Object(map)) => map,
            _ => return Err(invalid("no \"resources\" object".into())),
        };
        if let Some(missing) = SERVED_RESOURCES.iter().find(|r| !resources.get(**r).is_some_and(Value::is_object)) {
            return Err(invalid(format!("no example object for {missing:?}")));
        }

        let listener = tokio::net::TcpListener::bind(addr).await.map_err(FakeStripeError::Bind)?;
        let addr = listener.local_addr().map_err(FakeStripeError::Bind)?;
        let shared: Shared =
            Arc::new(Mutex::new(Inner { resources, base_url: format!("http://{addr}"), ..Inner::default() }));
        let app =
            extra(FakeStripeHandle(shared.clone())).merge(Router::new().fallback(handle).with_state(shared.clone()));
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "fake Stripe server stopped");
            }
        });
        Ok(FakeStripe { addr, shared, server })
    }

    /// A handle on the fake's state (what the sandbox's pages and jobs act on).
    pub fn handle(&self) -> FakeStripeHandle {
        FakeStripeHandle(self.shared.clone())
    }

    /// `http://127.0.0.1:<port>`: the API base to give `StripeConnect` (`STRIPE_API_BASE`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared).requests.clone()
    }

    /// The requests received for exactly `path` (e.g. `/v1/transfers`), oldest first.
    pub fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        lock(&self.shared).requests.iter().filter(|r| r.path == path).cloned().collect()
    }

    /// The last request received for exactly `path`.
    pub fn last(&self, path: &str) -> Option<RecordedRequest> {
        lock(&self.shared).requests.iter().rev().find(|r| r.path == path).cloned()
    }

    /// Forgets the recorded requests (objects, events and idempotency keys are kept).
    pub fn clear_requests(&self) {
        lock(&self.shared).requests.clear();
    }

    /// Makes the next call of `path` fail with `status` and a Stripe error body typical of that
    /// status (`invalid_request_error` for 4xx, `card_error` for 402, `api_error` for 5xx).
    /// Calls queue: two calls fail the next two requests.
    pub fn fail_next(&self, path: &str, status: u16) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = default_error_body(status);
        self.fail_next_with(path, status.as_u16(), body);
    }

    /// Makes the next call of `path` fail with `status` and exactly `body` (Stripe's error JSON is
    /// `{"error": {"type": …, "code": …, "message": …}}`).
    pub fn fail_next_with(&self, path: &str, status: u16, body: Value) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        lock(&self.shared).failures.entry(path.to_owned()).or_default().push_back(Failure { status, body });
    }

    /// Delays the response to the next call of `path` by `delay`. The request takes effect first,
    /// as when a response is lost to a client timeout.
    pub fn delay_next(&self, path: &str, delay: Duration) {
        lock(&self.shared).delays.entry(path.to_owned()).or_default().push_back(delay);
    }

    /// Adds an event (a full Stripe Event object, e.g. one of the webhook fixtures) to what
    /// `GET /v1/events` lists.
    pub fn push_event(&self, event: Value) {
        lock(&self.shared).events.push(event);
    }

    /// Every event `GET /v1/events` can list, in the order they were added or produced.
    pub fn events(&self) -> Vec<Value> {
        lock(&self.shared).events.clone()
    }

    /// Sets the balance `GET /v1/balance` returns for `account` (`None`: the platform), as
    /// (lower-case currency, amount) pairs.
    pub fn set_balance(&self, account: Option<&str>, available: &[(&str, i64)], pending: &[(&str, i64)]) {
        let amounts = |list: &[(&str, i64)]| {
            list.iter()
                .map(|(c, a)| json!({"amount": a, "currency": c, "source_types": {"card": a}}))
                .collect::<Vec<_>>()
        };
        let balance = json!({
            "object": "balance",
            "available": amounts(available),
            "pending": amounts(pending),
            "connect_reserved": [],
            "livemode": false,
        });
        lock(&self.shared).balances.insert(account.unwrap_or_default().to_owned(), balance);
    }

    /// The connected account with this id as the fake holds it (after creates and updates).
    pub fn account(&self, id: &str) -> Option<Value> {
        lock(&self.shared).accounts.get(id).cloned()
    }

    /// Ids of the connected accounts created so far.
    pub fn account_ids(&self) -> Vec<String> {
        lock(&self.shared).accounts.keys().cloned().collect()
    }

    /// The payment intent with this id as the fake holds it.
    pub fn payment_intent(&self, id: &str) -> Option<Value> {
        lock(&self.shared).payment_intents.get(id).cloned()
    }

    /// The charge with this id (each payment intent the fake creates has one, its
    /// `latest_charge`).
    pub fn charge(&self, id: &str) -> Option<Value> {
        lock(&self.shared).charges.get(id).cloned()
    }

    /// Every transfer the fake holds (destination charges' and created ones), any order.
    pub fn transfers(&self) -> Vec<Value> {
        lock(&self.shared).transfers.values().cloned().collect()
    }

    /// Every refund the fake made, newest first (as a charge's `refunds` list shows them).
    pub fn refunds(&self) -> Vec<Value> {
        lock(&self.shared).refunds.iter().rev().cloned().collect()
    }

    /// The transfer with this id, with its `amount_reversed` and `reversals`.
    pub fn transfer(&self, id: &str) -> Option<Value> {
        lock(&self.shared).transfers.get(id).cloned()
    }

    /// The platform's balance transactions (of charges and refunds), oldest first.
    pub fn balance_transactions(&self) -> Vec<Value> {
        lock(&self.shared).balance_transactions.clone()
    }

    /// Changes what Stripe's balance transaction of `source` says was moved (reconciliation
    /// tests).
    pub fn set_balance_transaction_amount(&self, source: &str, amount: i64) {
        for txn in lock(&self.shared).balance_transactions.iter_mut() {
            if txn.get("source").and_then(Value::as_str) == Some(source) {
                set(txn, "amount", json!(amount));
            }
        }
    }

    /// Forgets a transfer, as if Stripe had no record of it (reconciliation tests).
    pub fn remove_transfer(&self, id: &str) -> Option<Value> {
        lock(&self.shared).transfers.remove(id)
    }

    /// Changes what Stripe says an application fee was (reconciliation tests).
    pub fn set_application_fee_amount(&self, id: &str, amount: i64) {
        if let Some(fee) = lock(&self.shared).application_fees.get_mut(id) {
            set(fee, "amount", json!(amount));
        }
    }

    /// Adds a payout of a connected account as Stripe would hold it (e.g. the automatic payout a
    /// `payout.paid` event reports), from the example object.
    pub fn add_payout(&self, account: &str, id: &str, amount: i64, currency: &str, status: &str, created: i64) {
        let mut inner = lock(&self.shared);
        let mut payout = template(&inner, "payout");
        set(&mut payout, "id", json!(id));
        set(&mut payout, "amount", json!(amount));
        set(&mut payout, "currency", json!(currency));
        set(&mut payout, "status", json!(status));
        set(&mut payout, "created", json!(created));
        set(&mut payout, "arrival_date", json!(created + 2 * 86_400));
        set(&mut payout, "metadata", json!({}));
        inner.payouts.insert(id.to_owned(), (account.to_owned(), payout));
    }

    /// The application fee with this id (`fee_…`, the `application_fee` of a charge made with an
    /// `application_fee_amount`), with its `amount_refunded` and `refunds`.
    pub fn application_fee(&self, id: &str) -> Option<Value> {
        lock(&self.shared).application_fees.get(id).cloned()
    }
}

fn default_error_body(status: StatusCode) -> Value {
    let (type_, code, message) = match status.as_u16() {
        400 => ("invalid_request_error", Some("parameter_invalid"), "Invalid request (injected by FakeStripe)."),
        401 => ("invalid_request_error", None, "Invalid API Key provided (injected by FakeStripe)."),
        402 => ("card_error", Some("card_declined"), "Your card was declined (injected by FakeStripe)."),
        403 => ("invalid_request_error", Some("account_invalid"), "Permission denied (injected by FakeStripe)."),
        404 => ("invalid_request_error", Some("resource_missing"), "No such object (injected by FakeStripe)."),
        409 => ("idempotency_error", Some("lock_timeout"), "Concurrent request (injected by FakeStripe)."),
        429 => ("invalid_request_error", Some("rate_limit"), "Too many requests (injected by FakeStripe)."),
        s if s >= 500 => ("api_error", None, "An unknown error occurred (injected by FakeStripe)."),
        _ => ("invalid_request_error", None, "Request failed (injected by FakeStripe)."),
    };
    let mut error = json!({"type": type_, "message": message});
    if let (Some(code), Some(obj)) = (code, error.as_object_mut()) {
        obj.insert("code".into(), json!(code));
    }
    json!({ "error": error })
}

/// A Stripe error response.
fn stripe_error(status: StatusCode, type_: &str, code: Option<&str>, message: String, param: Option<&str>) -> Reply {
    let mut error = Map::new();
    error.insert("type".into(), json!(type_));
    error.insert("message".into(), json!(message));
    if let Some(code) = code {
        error.insert("code".into(), json!(code));
    }
    if let Some(param) = param {
        error.insert("param".into(), json!(param));
    }
    Reply { status, body: json!({ "error": error }) }
}

fn missing(param: &str) -> Reply {
    stripe_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        Some("parameter_missing"),
        format!("Missing required param: {param}."),
        Some(param),
    )
}

fn invalid_integer(param: &str, value: &str) -> Reply {
    stripe_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        Some("parameter_invalid_integer"),
        format!("Invalid integer: {value}"),
        Some(param),
    )
}

struct Reply {
    status: StatusCode,
    body: Value,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Reply { status: StatusCode::OK, body }
    }
}

impl Req {
    /// What Stripe does on its own (a dashboard action, a buyer), on `account` if any.
    fn internal(account: Option<&str>) -> Req {
        Req {
            method: Method::POST,
            path: String::new(),
            query: Vec::new(),
            form: Vec::new(),
            idempotency_key: None,
            stripe_account: account.map(str::to_owned),
        }
    }
}

/// The parsed request as the route handlers see it.
struct Req {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    form: Vec<(String, String)>,
    idempotency_key: Option<String>,
    stripe_account: Option<String>,
}

impl Req {
    fn field(&self, key: &str) -> Option<&str> {
        self.form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn required(&self, key: &str) -> Result<&str, Reply> {
        self.field(key).filter(|v| !v.is_empty()).ok_or_else(|| missing(key))
    }

    fn int(&self, key: &str) -> Result<Option<i64>, Reply> {
        match self.field(key) {
            None => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| invalid_integer(key, v)),
        }
    }

    fn required_int(&self, key: &str) -> Result<i64, Reply> {
        self.int(key)?.ok_or_else(|| missing(key))
    }

    fn bool(&self, key: &str) -> bool {
        self.field(key) == Some("true")
    }

    fn metadata(&self) -> Map<String, Value> {
        bracket_map(&self.form, "metadata").into_iter().map(|(k, v)| (k, Value::String(v))).collect()
    }

    fn query_param(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// `prefix[key]=value` fields as (key, value) pairs.
fn bracket_map(fields: &[(String, String)], prefix: &str) -> Vec<(String, String)> {
    fields
        .iter()
        .filter_map(|(k, v)| {
            let inner = k.strip_prefix(prefix)?.strip_prefix('[')?.strip_suffix(']')?;
            (!inner.contains(['[', ']'])).then(|| (inner.to_owned(), v.clone()))
        })
        .collect()
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn decode_pairs(text: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(text).unwrap_or_default()
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A Stripe-looking id: `prefix_` and 24 random alphanumerics.
fn new_id(prefix: &str) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_{}", &random[..24])
}

async fn handle(State(shared): State<Shared>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let body_text = String::from_utf8_lossy(&body).into_owned();
    let req = Req {
        method: method.clone(),
        path: uri.path().to_owned(),
        query: uri.query().map(decode_pairs).unwrap_or_default(),
        form: decode_pairs(&body_text),
        idempotency_key: header(&headers, "idempotency-key"),
        stripe_account: header(&headers, "stripe-account"),
    };
    let stripe_version = header(&headers, "stripe-version");
    let authorized = header(&headers, "authorization")
        .and_then(|a| a.strip_prefix("Bearer ").map(|k| !k.trim().is_empty()))
        .unwrap_or(false);

    let (reply, replayed, delay) = {
        let mut inner = lock(&shared);
        inner.requests.push(RecordedRequest {
            method: req.method.to_string(),
            path: req.path.clone(),
            query: req.query.clone(),
            form: req.form.clone(),
            body: body_text,
            idempotency_key: req.idempotency_key.clone(),
            stripe_account: req.stripe_account.clone(),
            stripe_version: stripe_version.clone(),
        });
        let delay = inner.delays.get_mut(&req.path).and_then(VecDeque::pop_front);
        let (reply, replayed) = respond(&mut inner, &req, authorized);
        (reply, replayed, delay)
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }

    let mut response = (reply.status, axum::Json(reply.body)).into_response();
    let response_headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&new_id("req")) {
        response_headers.insert("request-id", v);
    }
    if let Some(v) = stripe_version.and_then(|v| HeaderValue::from_str(&v).ok()) {
        response_headers.insert("stripe-version", v);
    }
    if replayed {
        response_headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// Authentication, injected failures, idempotency, then the route. Returns the reply and whether
/// it is an idempotent replay.
fn respond(inner: &mut Inner, req: &Req, authorized: bool) -> (Reply, bool) {
    if !authorized {
        let reply = stripe_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            None,
            "You did not provide an API key.".into(),
            None,
        );
        return (reply, false);
    }
    if let Some(failure) = inner.failures.get_mut(&req.path).and_then(VecDeque::pop_front) {
        return (Reply { status: failure.status, body: failure.body }, false);
    }
    let idempotency_slot = match (&req.idempotency_key, req.method == Method::POST) {
        (Some(key), true) => Some((req.stripe_account.clone().unwrap_or_default(), key.clone())),
        _ => None,
    };
    if let Some(slot) = &idempotency_slot
        && let Some(saved) = inner.idempotency.get(slot)
    {
        let key = &slot.1;
        if saved.method != req.method.as_str() || saved.path != req.path {
            let message = format!(
                "Keys for idempotent requests can only be used for the same endpoint they were first used for \
                 ('{} {}' vs '{} {}'). Try using a key other than '{key}' if you meant to execute a different request.",
                saved.method, saved.path, req.method, req.path
            );
            return (stripe_error(StatusCode::BAD_REQUEST, "idempotency_error", None, message, None), false);
        }
        if !same_parameters(&saved.form, &req.form) {
            let message = format!(
                "Keys for idempotent requests can only be used with the same parameters they were first used with. \
                 Try using a key other than '{key}' if you meant to execute a different request."
            );
            return (stripe_error(StatusCode::BAD_REQUEST, "idempotency_error", None, message, None), false);
        }
        return (Reply { status: saved.status, body: saved.body.clone() }, true);
    }

    let reply = route(inner, req).unwrap_or_else(|error| error);
    if let Some(slot) = idempotency_slot
        && !reply.status.is_server_error()
    {
        inner.idempotency.insert(
            slot,
            SavedResponse {
                method: req.method.to_string(),
                path: req.path.clone(),
                form: req.form.clone(),
                status: reply.status,
                body: reply.body.clone(),
            },
        );
    }
    (reply, false)
}

/// Stripe compares parameters, not their order (metadata maps are sent in any order).
fn same_parameters(a: &[(String, String)], b: &[(String, String)]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    a == b
}

fn route(inner: &mut Inner, req: &Req) -> Result<Reply, Reply> {
    let segments: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    match (&req.method, segments.as_slice()) {
        (&Method::POST, ["v1", "accounts"]) => create_account(inner, req),
        (&Method::POST, ["v1", "accounts", id]) => update_account(inner, req, id),
        (&Method::GET, ["v1", "accounts", id]) => {
            let account = inner.accounts.get(*id).cloned().ok_or_else(|| no_such("account", id))?;
            Ok(Reply::ok(account))
        }
        (&Method::POST, ["v1", "account_links"]) => create_account_link(inner, req),
        (&Method::POST, ["v1", "payment_intents"]) => create_payment_intent(inner, req),
        (&Method::GET, ["v1", "payment_intents", id]) => {
            let intent = inner.payment_intents.get(*id).cloned().ok_or_else(|| no_such("payment_intent", id))?;
            Ok(Reply::ok(expanded(inner, req, intent)?))
        }
        (&Method::GET, ["v1", "charges", id]) => {
            let charge = inner.charges.get(*id).cloned().ok_or_else(|| no_such("charge", id))?;
            Ok(Reply::ok(expanded(inner, req, charge)?))
        }
        (&Method::GET, ["v1", "application_fees", id]) => {
            let fee = inner.application_fees.get(*id).cloned().ok_or_else(|| no_such("application fee", id))?;
            Ok(Reply::ok(expanded(inner, req, fee)?))
        }
        (&Method::POST, ["v1", "application_fees", id, "refunds"]) => create_fee_refund(inner, req, id),
        (&Method::GET, ["v1", "application_fees", id, "refunds"]) => {
            let fee = inner.application_fees.get(*id).ok_or_else(|| no_such("application fee", id))?;
            let refunds = fee.pointer("/refunds/data").and_then(Value::as_array).cloned().unwrap_or_default();
            paged_list(req, &format!("/v1/application_fees/{id}/refunds"), refunds)
        }
        (&Method::POST, ["v1", "transfers"]) => create_transfer(inner, req),
        (&Method::GET, ["v1", "transfers"]) => list_transfers(inner, req),
        (&Method::GET, ["v1", "transfers", id]) => {
            let transfer = inner.transfers.get(*id).cloned().ok_or_else(|| no_such("transfer", id))?;
            Ok(Reply::ok(transfer))
        }
        (&Method::POST, ["v1", "transfers", id, "reversals"]) => create_reversal(inner, req, id),
        (&Method::GET, ["v1", "transfers", id, "reversals"]) => list_reversals(inner, req, id),
        (&Method::GET, ["v1", "application_fees"]) => {
            let fees = inner.application_fees.values().cloned().collect();
            paged_list(req, "/v1/application_fees", fees)
        }
        (&Method::POST, ["v1", "payouts"]) => create_payout(inner, req),
        (&Method::GET, ["v1", "payouts"]) => list_payouts(inner, req),
        (&Method::POST, ["v1", "refunds"]) => create_refund(inner, req),
        (&Method::GET, ["v1", "refunds"]) => {
            let intent = req.query_param("payment_intent");
            let refunds = inner
                .refunds
                .iter()
                .filter(|r| intent.is_none_or(|i| r.get("payment_intent").and_then(Value::as_str) == Some(i)))
                .cloned()
                .collect();
            paged_list(req, "/v1/refunds", refunds)
        }
        (&Method::GET, ["v1", "balance"]) => Ok(Reply::ok(balance(inner, req))),
        (&Method::GET, ["v1", "balance_transactions"]) => {
            let txns = if req.stripe_account.is_none() { inner.balance_transactions.clone() } else { Vec::new() };
            paged_list(req, "/v1/balance_transactions", txns)
        }
        (&Method::GET, ["v1", "events"]) => list_events(inner, req),
        (&Method::GET, ["v1", "events", id]) => {
            let event = inner
                .events
                .iter()
                .find(|e| e.get("id").and_then(Value::as_str) == Some(*id) && visible(e, req))
                .cloned()
                .ok_or_else(|| no_such("event", id))?;
            Ok(Reply::ok(event))
        }
        _ => Err(stripe_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            None,
            format!("Unrecognized request URL ({}: {}).", req.method, req.path),
            None,
        )),
    }
}

fn no_such(what: &str, id: &str) -> Reply {
    stripe_error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("resource_missing"),
        format!("No such {what}: '{id}'"),
        Some("id"),
    )
}

fn template(inner: &Inner, resource: &str) -> Value {
    inner.resources.get(resource).cloned().unwrap_or_else(|| json!({}))
}

/// Sets `obj[key] = value` when `obj` is an object.
fn set(obj: &mut Value, key: &str, value: Value) {
    if let Some(map) = obj.as_object_mut() {
        map.insert(key.to_owned(), value);
    }
}

fn opt_str(value: Option<&str>) -> Value {
    value.map_or(Value::Null, |v| json!(v))
}

/// Records a `<type>` event for `object` (on `account` when made on a connected account).
fn emit(inner: &mut Inner, event_type: &str, object: &Value, req: &Req) {
    let mut event = template(inner, "event");
    set(&mut event, "id", json!(new_id("evt")));
    set(&mut event, "type", json!(event_type));
    set(&mut event, "created", json!(now()));
    set(&mut event, "api_version", json!(stripe_client_core::VERSION.as_str()));
    set(&mut event, "livemode", json!(false));
    set(&mut event, "pending_webhooks", json!(0));
    set(&mut event, "data", json!({ "object": object }));
    set(
        &mut event,
        "request",
        json!({ "id": new_id("req"), "idempotency_key": opt_str(req.idempotency_key.as_deref()) }),
    );
    if let Some(account) = &req.stripe_account {
        set(&mut event, "account", json!(account));
    }
    inner.events.push(event);
}

fn create_account(inner: &mut Inner, req: &Req) -> Result<Reply, Reply> {
    let id = new_id("acct").chars().take("acct_".len() + 16).collect::<String>();
    let mut account = template(inner, "account");
    let capabilities: Map<String, Value> = req
        .form
        .iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("capabilities[")?.strip_suffix("][requested]")?;
            (v == "true").then(|| (name.to_owned(), json!("inactive")))
        })
        .collect();
    set(&mut account, "id", json!(id));
    set(&mut account, "created", json!(now()));
    set(&mut account, "type", json!(req.field("type").unwrap_or("standard")));
    set(&mut account, "email", opt_str(req.field("email")));
    set(&mut account, "country", json!(req.field("country").unwrap_or("US")));
    set(&mut account, "metadata", Value::Object(req.metadata()));
    set(&mut account, "capabilities", Value::Object(capabilities));
    set(&mut account, "charges_enabled", json!(false));
    set(&mut account, "payouts_enabled", json!(false));
    set(&mut account, "details_submitted", json!(false));
    if let Some(currency) = req.field("default_currency") {
        set(&mut account, "default_currency", json!(currency));
    }
    if let Some(external) = account.get_mut("external_accounts") {
        set(external, "url", json!(format!("/v1/accounts/{id}/external_accounts")));
    }
    inner.accounts.insert(id, account.clone());
    Ok(Reply::ok(account))
}

fn update_account(inner: &mut Inner, req: &Req, id: &str) -> Result<Reply, Reply> {
    let mut account = match inner.accounts.get(id) {
        Some(account) => account.clone(),
        None => {
            let mut account = template(inner, "account");
            set(&mut account, "id", json!(id));
            account
        }
    };
    const SCHEDULE: &str = "settings[payouts][schedule]";
    let schedule_fields = bracket_map(&req.form, SCHEDULE);
    if !schedule_fields.is_empty() {
        let mut schedule = account.pointer("/settings/payouts/schedule").cloned().unwrap_or_else(|| json!({}));
        for (key, value) in &schedule_fields {
            let parsed = match key.as_str() {
                "monthly_anchor" | "delay_days" => match value.parse::<i64>() {
                    Ok(n) => json!(n),
                    Err(_) if key == "delay_days" && value == "minimum" => json!(2),
                    Err(_) => return Err(invalid_integer(&format!("{SCHEDULE}[{key}]"), value)),
                },
                "interval" => {
                    if !["daily", "weekly", "monthly", "manual"].contains(&value.as_str()) {
                        return Err(stripe_error(
                            StatusCode::BAD_REQUEST,
                            "invalid_request_error",
                            Some("parameter_invalid"),
                            format!(
                                "Invalid settings[payouts][schedule][interval]: must be one of daily, weekly, monthly, or manual, got {value}"
                            ),
                            Some("settings[payouts][schedule][interval]"),
                        ));
                    }
                    json!(value)
                }
                _ => json!(value),
            };
            set(&mut schedule, key, parsed);
        }
        // Anchors only exist for their interval, as on Stripe.
        let interval = schedule.get("interval").and_then(Value::as_str).unwrap_or("daily").to_owned();
        if let Some(map) = schedule.as_object_mut() {
            if interval != "weekly" {
                map.remove("weekly_anchor");
            }
            if interval != "monthly" {
                map.remove("monthly_anchor");
            }
        }
        if account.pointer("/settings/payouts").is_none() {
            if let Some(settings) = account.get_mut("settings") {
                set(settings, "payouts", json!({"debit_negative_balances": true, "statement_descriptor": null}));
            } else {
                set(&mut account, "settings", json!({"payouts": {}}));
            }
        }
        if let Some(payouts) = account.pointer_mut("/settings/payouts") {
            set(payouts, "schedule", schedule);
        }
    }
    let metadata = req.metadata();
    if !metadata.is_empty() {
        let mut merged = account.get("metadata").and_then(Value::as_object).cloned().unwrap_or_default();
        for (k, v) in metadata {
            if v.as_str() == Some("") {
                merged.remove(&k);
            } else {
                merged.insert(k, v);
            }
        }
        set(&mut account, "metadata", Value::Object(merged));
    }
    if let Some(email) = req.field("email") {
        set(&mut account, "email", json!(email));
    }
    inner.accounts.insert(id.to_owned(), account.clone());
    Ok(Reply::ok(account))
}

fn create_account_link(inner: &mut Inner, req: &Req) -> Result<Reply, Reply> {
    let account = req.required("account")?;
    let link_type = req.required("type")?;
    if !["account_onboarding", "account_update"].contains(&link_type) {
        return Err(stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("parameter_invalid"),
            format!("Invalid type: must be one of account_onboarding or account_update, got {link_type}"),
            Some("type"),
        ));
    }
    let return_url = req.required("return_url")?.to_owned();
    let refresh_url = req.required("refresh_url")?.to_owned();
    for (key, url) in [("return_url", &return_url), ("refresh_url", &refresh_url)] {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("url_invalid"),
                format!("Not a valid URL: {key} must be an http or https URL"),
                Some(key),
            ));
        }
    }
    let created = now();
    let token = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let mut link = template(inner, "account_link");
    set(&mut link, "created", json!(created));
    set(&mut link, "expires_at", json!(created + 300));
    set(&mut link, "url", json!(format!("{}/setup/e/{account}/{token}", inner.base_url)));
    inner.account_links.insert(token, (account.to_owned(), return_url, refresh_url));
    Ok(Reply::ok(link))
}

fn create_payment_intent(inner: &mut Inner, req: &Req) -> Result<Reply, Reply> {
    let amount = req.required_int("amount")?;
    let currency = req.required("currency")?;
    let application_fee_amount = req.int("application_fee_amount")?;
    let id = new_id("pi");
    let mut intent = template(inner, "payment_intent");
    set(&mut intent, "id", json!(id));
    set(&mut intent, "amount", json!(amount));
    set(&mut intent, "currency", json!(currency));
    set(&mut intent, "application_fee_amount", application_fee_amount.map_or(Value::Null, |a| json!(a)));
    set(&mut intent, "client_secret", json!(format!("{id}_secret_{}", &new_id("s")[2..])));
    set(&mut intent, "created", json!(now()));
    set(&mut intent, "metadata", Value::Object(req.metadata()));
    // Paid at once: the fake has no confirmation step.
    set(&mut intent, "status", json!("succeeded"));
    set(&mut intent, "amount_received", json!(amount));
    set(&mut intent, "amount_capturable", json!(0));
    for key in ["canceled_at", "cancellation_reason", "last_payment_error", "next_action", "processing", "shipping"] {
        set(&mut intent, key, Value::Null);
    }
    set(&mut intent, "customer", opt_str(req.field("customer")));
    set(&mut intent, "description", opt_str(req.field("description")));
    set(&mut intent, "on_behalf_of", opt_str(req.field("on_behalf_of")));
    set(&mut intent, "transfer_group", opt_str(req.field("transfer_group")));
    set(&mut intent, "receipt_email", opt_str(req.field("receipt_email")));
    let transfer_data = match req.field("transfer_data[destination]") {
        Some(destination) => {
            let mut data = json!({ "destination": destination });
            if let Some(amount) = req.int("transfer_data[amount]")? {
                set(&mut data, "amount", json!(amount));
            }
            data
        }
        None => Value::Null,
    };
    set(&mut intent, "transfer_data", transfer_data);
    if let Some(enabled) = req.field("automatic_payment_methods[enabled]") {
        set(&mut intent, "automatic_payment_methods", json!({ "enabled": enabled == "true" }));
    }
    let charge_id = create_charge(inner, &intent, req);
    set(&mut intent, "latest_charge", json!(charge_id));
    inner.payment_intents.insert(id, intent.clone());
    emit(inner, "payment_intent.created", &intent, req);
    Ok(Reply::ok(intent))
}

/// The (succeeded) charge of a new payment intent and, when it has an `application_fee_amount`
/// above 0, its application fee (on the destination account). Returns the charge id.
fn create_charge(inner: &mut Inner, intent: &Value, req: &Req) -> String {
    let field = |key: &str| intent.get(key).cloned().unwrap_or(Value::Null);
    let amount = field("amount");
    let created = field("created");
    let destination = intent.pointer("/transfer_data/destination").and_then(Value::as_str).map(str::to_owned);
    let fee_amount = intent.get("application_fee_amount").and_then(Value::as_i64).filter(|a| *a > 0);
    let charge_id = new_id("ch");
    let fee_id = fee_amount.map(|_| new_id("fee"));

    let mut charge = template(inner, "charge");
    set(&mut charge, "id", json!(charge_id));
    set(&mut charge, "amount", amount.clone());
    set(&mut charge, "amount_captured", amount.clone());
    set(&mut charge, "amount_refunded", json!(0));
    set(&mut charge, "application_fee", opt_str(fee_id.as_deref()));
    set(&mut charge, "application_fee_amount", fee_amount.map_or(Value::Null, |a| json!(a)));
    set(&mut charge, "balance_transaction", json!(new_id("txn")));
    set(&mut charge, "captured", json!(true));
    set(&mut charge, "created", created.clone());
    set(&mut charge, "currency", field("currency"));
    for key in ["customer", "description", "metadata", "on_behalf_of", "receipt_email", "transfer_group"] {
        set(&mut charge, key, field(key));
    }
    set(&mut charge, "paid", json!(true));
    set(&mut charge, "payment_intent", field("id"));
    set(&mut charge, "refunded", json!(false));
    set(&mut charge, "refunds", list(&format!("/v1/charges/{charge_id}/refunds")));
    set(&mut charge, "source", Value::Null);
    set(&mut charge, "status", json!("succeeded"));
    match &destination {
        Some(destination) => {
            let transfer_amount = intent.pointer("/transfer_data/amount").cloned().unwrap_or(Value::Null);
            set(&mut charge, "transfer_data", json!({"amount": transfer_amount, "destination": destination}));
            let transfer_id = new_id("tr");
            set(&mut charge, "transfer", json!(transfer_id));
            let total = amount.as_i64().unwrap_or(0);
            let to_seller = transfer_amount.as_i64().unwrap_or(total - fee_amount.unwrap_or(0));
            let mut transfer = template(inner, "transfer");
            set(&mut transfer, "id", json!(transfer_id));
            set(&mut transfer, "amount", json!(to_seller));
            set(&mut transfer, "amount_reversed", json!(0));
            set(&mut transfer, "currency", field("currency"));
            set(&mut transfer, "destination", json!(destination));
            set(&mut transfer, "destination_payment", json!(new_id("py")));
            set(&mut transfer, "balance_transaction", json!(new_id("txn")));
            set(&mut transfer, "created", created.clone());
            set(&mut transfer, "metadata", json!({}));
            set(&mut transfer, "source_transaction", json!(charge_id));
            set(&mut transfer, "transfer_group", Value::Null);
            set(&mut transfer, "description", Value::Null);
            set(&mut transfer, "reversed", json!(false));
            set(&mut transfer, "reversals", list(&format!("/v1/transfers/{transfer_id}/reversals")));
            inner.transfers.insert(transfer_id, transfer);
        }
        None => set(&mut charge, "transfer_data", Value::Null),
    }

    if let (Some(fee_id), Some(fee_amount)) = (fee_id, fee_amount) {
        let mut fee = template(inner, "application_fee");
        set(&mut fee, "id", json!(fee_id));
        set(&mut fee, "account", opt_str(destination.as_deref().or(req.stripe_account.as_deref())));
        set(&mut fee, "amount", json!(fee_amount));
        set(&mut fee, "amount_refunded", json!(0));
        set(&mut fee, "balance_transaction", json!(new_id("txn")));
        set(&mut fee, "charge", json!(charge_id));
        set(&mut fee, "created", created.clone());
        set(&mut fee, "currency", field("currency"));
        set(&mut fee, "fee_source", json!({"charge": charge_id, "type": "charge"}));
        set(&mut fee, "originating_transaction", Value::Null);
        set(&mut fee, "refunded", json!(false));
        set(&mut fee, "refunds", list(&format!("/v1/application_fees/{fee_id}/refunds")));
        inner.application_fees.insert(fee_id, fee);
    }
    let txn_id = charge.get("balance_transaction").cloned().unwrap_or(Value::Null);
    let gross = amount.as_i64().unwrap_or(0);
    record_balance_transaction(inner, txn_id, "charge", gross, &field("currency"), &created, &charge_id);
    inner.charges.insert(charge_id.clone(), charge);
    charge_id
}

/// A balance transaction of the platform for `source` (a charge, or a refund with a negative
/// amount), from the example object.
fn record_balance_transaction(
    inner: &mut Inner,
    id: Value,
    category: &str,
    amount: i64,
    currency: &Value,
    created: &Value,
    source: &str,
) {
    let mut txn = template(inner, "balance_transaction");
    set(&mut txn, "id", id);
    set(&mut txn, "amount", json!(amount));
    set(&mut txn, "net", json!(amount));
    set(&mut txn, "fee", json!(0));
    set(&mut txn, "currency", currency.clone());
    set(&mut txn, "created", created.clone());
    set(&mut txn, "available_on", created.clone());
    set(&mut txn, "reporting_category", json!(category));
    set(&mut txn, "type", json!(category));
    set(&mut txn, "source", json!(source));
    set(&mut txn, "status", json!("pending"));
    inner.balance_transactions.push(txn);
}

/// An empty Stripe list object.
fn list(url: &str) -> Value {
    json!({"object": "list", "data": [], "has_more": false, "total_count": 0, "url": url})
}

/// `POST /v1/application_fees/{id}/refunds`: `amount` (default: what is left of the fee) and
/// `metadata[…]`. Refunding more than what is left of the fee is refused.
fn create_fee_refund(inner: &mut Inner, req: &Req, fee_id: &str) -> Result<Reply, Reply> {
    let mut fee = inner.application_fees.get(fee_id).cloned().ok_or_else(|| no_such("application fee", fee_id))?;
    let fee_amount = fee.get("amount").and_then(Value::as_i64).unwrap_or(0);
    let already = fee.get("amount_refunded").and_then(Value::as_i64).unwrap_or(0);
    let left = fee_amount - already;
    let amount = req.int("amount")?.unwrap_or(left);
    if amount <= 0 {
        return Err(stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("parameter_invalid_integer"),
            format!("Invalid positive integer: amount must be at least 1, got {amount}"),
            Some("amount"),
        ));
    }
    if amount > left {
        return Err(stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("amount_too_large"),
            format!("Refund amount ({amount}) is greater than unrefunded amount on fee ({left})"),
            Some("amount"),
        ));
    }
    let mut fee_refund = template(inner, "fee_refund");
    set(&mut fee_refund, "id", json!(new_id("fr")));
    set(&mut fee_refund, "amount", json!(amount));
    set(&mut fee_refund, "balance_transaction", json!(new_id("txn")));
    set(&mut fee_refund, "created", json!(now()));
    set(&mut fee_refund, "currency", fee.get("currency").cloned().unwrap_or_else(|| json!("usd")));
    set(&mut fee_refund, "fee", json!(fee_id));
    set(&mut fee_refund, "metadata", Value::Object(req.metadata()));

    set(&mut fee, "amount_refunded", json!(already + amount));
    set(&mut fee, "refunded", json!(already + amount == fee_amount));
    if let Some(refunds) = fee.get_mut("refunds") {
        if let Some(Value::Array(data)) = refunds.get_mut("data") {
            data.insert(0, fee_refund.clone());
        }
        let count = refunds.get("total_count").and_then(Value::as_i64).unwrap_or(0);
        set(refunds, "total_count", json!(count + 1));
    }
    inner.application_fees.insert(fee_id.to_owned(), fee.clone());
    emit(inner, "application_fee.refunded", &fee, req);
    Ok(Reply::ok(fee_refund))
}

/// `object` with the fields named by the request's `expand[]` parameters replaced by the objects
/// the fake holds (`latest_charge`, `charge`, `application_fee`, `payment_intent`; dotted paths
/// such as `latest_charge.application_fee` expand nested objects). As on Stripe, any other field
/// is a 400.
fn expanded(inner: &Inner, req: &Req, mut object: Value) -> Result<Value, Reply> {
    let paths: Vec<&str> = req
        .query
        .iter()
        .chain(&req.form)
        .filter(|(k, _)| k == "expand" || k.starts_with("expand["))
        .map(|(_, v)| v.as_str())
        .collect();
    for path in paths {
        expand_path(inner, &mut object, path, path)?;
    }
    Ok(object)
}

fn expand_path(inner: &Inner, object: &mut Value, path: &str, full: &str) -> Result<(), Reply> {
    let cannot = || {
        stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            None,
            format!("This property cannot be expanded ({full})."),
            Some("expand"),
        )
    };
    let (head, rest) = path.split_once('.').map_or((path, None), |(h, r)| (h, Some(r)));
    let store = match head {
        "latest_charge" | "charge" => &inner.charges,
        "application_fee" => &inner.application_fees,
        "payment_intent" => &inner.payment_intents,
        _ => return Err(cannot()),
    };
    let field = object.get_mut(head).ok_or_else(cannot)?;
    if let Some(found) = field.as_str().and_then(|id| store.get(id)) {
        *field = found.clone();
    }
    match rest {
        Some(rest) if field.is_object() => expand_path(inner, field, rest, full),
        _ => Ok(()),
    }
}

fn create_transfer(inner: &mut Inner, req: &Req) -> Result<Reply, Reply> {
    let amount = req.required_int("amount")?;
    let currency = req.required("currency")?;
    let destination = req.required("destination")?;
    // As on Stripe: a transfer from a charge (`source_transaction`) names a charge of the
    // platform in the same currency, and the transfers from it never exceed what it captured.
    if let Some(source) = req.field("source_transaction") {
        let charge = inner.charges.get(source).cloned().ok_or_else(|| no_such("charge", source))?;
        let captured = charge.get("amount").and_then(Value::as_i64).unwrap_or(0);
        if charge.get("currency").and_then(Value::as_str) != Some(currency) {
            return Err(stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("parameter_invalid"),
                "The currency of source_transaction's balance transaction must be the same as the transfer currency."
                    .into(),
                Some("currency"),
            ));
        }
        let already: i64 = inner
            .transfers
            .values()
            .filter(|t| t.get("source_transaction").and_then(Value::as_str) == Some(source))
            .map(|t| t.get("amount").and_then(Value::as_i64).unwrap_or(0))
            .sum();
        if already + amount > captured {
            return Err(stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("amount_too_large"),
                format!("Transfers from {source} ({}) would exceed its amount ({captured})", already + amount),
                Some("amount"),
            ));
        }
    }
    let id = new_id("tr");
    let mut transfer = template(inner, "transfer");
    set(&mut transfer, "id", json!(id));
    set(&mut transfer, "amount", json!(amount));
    set(&mut transfer, "amount_reversed", json!(0));
    set(&mut transfer, "currency", json!(currency));
    set(&mut transfer, "destination", json!(destination));
    set(&mut transfer, "destination_payment", json!(new_id("py")));
    set(&mut transfer, "balance_transaction", json!(new_id("txn")));
    set(&mut transfer, "created", json!(now()));
    set(&mut transfer, "metadata", Value::Object(req.metadata()));
    set(&mut transfer, "description", opt_str(req.field("description")));
    set(&mut transfer, "transfer_group", opt_str(req.field("transfer_group")));
    set(&mut transfer, "source_transaction", opt_str(req.field("source_transaction")));
    set(&mut transfer, "reversed", json!(false));
    set(
        &mut transfer,
        "reversals",
        json!({"object": "list", "data": [], "has_more": false, "url": format!("/v1/transfers/{id}/reversals")}),
    );
    inner.transfers.insert(id, transfer.clone());
    emit(inner, "transfer.created", &transfer, req);
    Ok(Reply::ok(transfer))
}

/// `POST /v1/transfers/{id}/reversals`: `amount` (default: what is left of the transfer) and
/// `metadata[…]`. Reversing more than what is left is refused, as on Stripe.
fn create_reversal(inner: &mut Inner, req: &Req, transfer_id: &str) -> Result<Reply, Reply> {
    let mut transfer = inner.transfers.get(transfer_id).cloned().ok_or_else(|| no_such("transfer", transfer_id))?;
    let total = transfer.get("amount").and_then(Value::as_i64).unwrap_or(0);
    let already = transfer.get("amount_reversed").and_then(Value::as_i64).unwrap_or(0);
    let left = total - already;
    let amount = req.int("amount")?.unwrap_or(left);
    if amount <= 0 || amount > left {
        return Err(stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("amount_too_large"),
            format!("Reversal amount ({amount}) is greater than the amount left on the transfer ({left})"),
            Some("amount"),
        ));
    }
    let mut reversal = template(inner, "transfer_reversal");
    set(&mut reversal, "id", json!(new_id("trr")));
    set(&mut reversal, "amount", json!(amount));
    set(&mut reversal, "balance_transaction", json!(new_id("txn")));
    set(&mut reversal, "created", json!(now()));
    set(&mut reversal, "currency", transfer.get("currency").cloned().unwrap_or_else(|| json!("usd")));
    set(&mut reversal, "metadata", Value::Object(req.metadata()));
    set(&mut reversal, "transfer", json!(transfer_id));
    set(&mut transfer, "amount_reversed", json!(already + amount));
    set(&mut transfer, "reversed", json!(already + amount == total));
    if let Some(reversals) = transfer.get_mut("reversals") {
        if let Some(Value::Array(data)) = reversals.get_mut("data") {
            data.insert(0, reversal.clone());
        }
        let count = reversals.get("total_count").and_then(Value::as_i64).unwrap_or(0);
        set(reversals, "total_count", json!(count + 1));
    }
    inner.transfers.insert(transfer_id.to_owned(), transfer);
    emit(inner, "transfer.reversed", &reversal, req);
    Ok(Reply::ok(reversal))
}

/// A Stripe list of `objects` (any order), newest first, filtered by `created[gt|gte|lt|lte]`,
/// paged by `limit` (default 10, at most 100) and `starting_after`.
fn paged_list(req: &Req, url: &str, mut objects: Vec<Value>) -> Result<Reply, Reply> {
    let limit = match req.query_param("limit") {
        None => 10,
        Some(v) => {
            v.parse::<usize>().ok().filter(|n| (1..=100).contains(n)).ok_or_else(|| invalid_integer("limit", v))?
        }
    };
    let mut bounds: Vec<(&str, i64)> = Vec::new();
    for op in ["gt", "gte", "lt", "lte"] {
        let key = format!("created[{op}]");
        if let Some(v) = req.query_param(&key) {
            bounds.push((op, v.parse::<i64>().map_err(|_| invalid_integer(&key, v))?));
        }
    }
    let created = |o: &Value| o.get("created").and_then(Value::as_i64).unwrap_or(0);
    objects.retain(|o| {
        bounds.iter().all(|(op, b)| match *op {
            "gt" => created(o) > *b,
            "gte" => created(o) >= *b,
            "lt" => created(o) < *b,
            _ => created(o) <= *b,
        })
    });
    let id = |o: &Value| o.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
    objects.sort_by(|a, b| created(b).cmp(&created(a)).then_with(|| id(b).cmp(&id(a))));
    let start = match req.query_param("starting_after") {
        Some(after) => objects.iter().position(|o| id(o) == after).ok_or_else(|| no_such("object", after))? + 1,
        None => 0,
    };
    let end = (start + limit).min(objects.len());
    let data = objects.get(start..end).map(<[Value]>::to_vec).unwrap_or_default();
    Ok(Reply::ok(json!({"object": "list", "url": url, "has_more": end < objects.len(), "data": data})))
}

fn list_transfers(inner: &Inner, req: &Req) -> Result<Reply, Reply> {
    let destination = req.query_param("destination");
    let transfers = inner
        .transfers
        .values()
        .filter(|t| destination.is_none_or(|d| t.get("destination").and_then(Value::as_str) == Some(d)))
        .cloned()
        .collect();
    paged_list(req, "/v1/transfers", transfers)
}

fn list_reversals(inner: &Inner, req: &Req, transfer_id: &str) -> Result<Reply, Reply> {
    let transfer = inner.transfers.get(transfer_id).ok_or_else(|| no_such("transfer", transfer_id))?;
    let reversals = transfer.pointer("/reversals/data").and_then(Value::as_array).cloned().unwrap_or_default();
    paged_list(req, &format!("/v1/transfers/{transfer_id}/reversals"), reversals)
}

fn list_payouts(inner: &Inner, req: &Req) -> Result<Reply, Reply> {
    let account = req.stripe_account.clone().unwrap_or_default();
    let payouts = inner.payouts.values().filter(|(a, _)| *a == account).map(|(_, p)| p.clone()).collect();
    paged_list(req, "/v1/payouts", payouts)
}

fn create_payout(inner: &mut Inner, req: &Req) -> Result<Reply, Reply> {
    let amount = req.required_int("amount")?;
    let currency = req.required("currency")?;
    let created = now();
    let mut payout = template(inner, "payout");
    set(&mut payout, "id", json!(new_id("po")));
    set(&mut payout, "amount", json!(amount));
    set(&mut payout, "currency", json!(currency));
    set(&mut payout, "created", json!(created));
    set(&mut payout, "arrival_date", json!(created + 2 * 86_400));
    set(&mut payout, "automatic", json!(false));
    set(&mut payout, "status", json!("pending"));
    set(&mut payout, "balance_transaction", json!(new_id("txn")));
    set(&mut payout, "metadata", Value::Object(req.metadata()));
    set(&mut payout, "description", opt_str(req.field("description")));
    set(&mut payout, "method", json!(req.field("method").unwrap_or("standard")));
    set(&mut payout, "trace_id", json!({"status": "pending", "value": null}));
    if let Some(destination) = req.field("destination") {
        set(&mut payout, "destination", json!(destination));
    }
    let id = payout.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
    inner.payouts.insert(id, (req.stripe_account.clone().unwrap_or_default(), payout.clone()));
    emit(inner, "payout.created", &payout, req);
    Ok(Reply::ok(payout))
}

fn create_refund(inner: &mut Inner, req: &Req) -> Result<Reply, Reply> {
    let payment_intent = req.field("payment_intent").filter(|v| !v.is_empty());
    let charge = req.field("charge").filter(|v| !v.is_empty());
    if payment_intent.is_none() && charge.is_none() {
        return Err(stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("parameter_missing"),
            "One of the following params should be provided for this request: payment_intent or charge.".into(),
            None,
        ));
    }
    let intent = payment_intent.and_then(|id| inner.payment_intents.get(id).cloned());
    let intent_amount = intent.as_ref().and_then(|i| i.get("amount")).and_then(Value::as_i64);
    let amount = match (req.int("amount")?, intent_amount) {
        (Some(a), _) => a,
        (None, Some(total)) => total - payment_intent.and_then(|id| inner.refunded.get(id)).copied().unwrap_or(0),
        (None, None) => template(inner, "refund").get("amount").and_then(Value::as_i64).unwrap_or(0),
    };
    if let (Some(id), Some(total)) = (payment_intent, intent_amount) {
        let already = inner.refunded.get(id).copied().unwrap_or(0);
        if already >= total {
            return Err(stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("charge_already_refunded"),
                format!("PaymentIntent {id} has already been refunded."),
                None,
            ));
        }
        if amount <= 0 || already + amount > total {
            return Err(stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("amount_too_large"),
                format!("Refund amount ({amount}) is greater than unrefunded amount on charge ({})", total - already),
                Some("amount"),
            ));
        }
        inner.refunded.insert(id.to_owned(), already + amount);
    }
    let known_charge = intent
        .as_ref()
        .and_then(|i| i.get("latest_charge"))
        .and_then(Value::as_str)
        .and_then(|id| inner.charges.get_mut(id));
    let charge_id = match known_charge {
        Some(known) => {
            let refunded = known.get("amount_refunded").and_then(Value::as_i64).unwrap_or(0) + amount;
            let captured = known.get("amount").and_then(Value::as_i64).unwrap_or(0);
            set(known, "amount_refunded", json!(refunded));
            set(known, "refunded", json!(refunded >= captured));
            known.get("id").cloned().unwrap_or(Value::Null)
        }
        None => json!(charge.map_or_else(|| new_id("ch"), str::to_owned)),
    };
    let currency = intent.as_ref().and_then(|i| i.get("currency")).cloned().unwrap_or_else(|| json!("usd"));
    let mut refund = template(inner, "refund");
    set(&mut refund, "id", json!(new_id("re")));
    set(&mut refund, "amount", json!(amount));
    set(&mut refund, "currency", currency);
    set(&mut refund, "created", json!(now()));
    set(&mut refund, "payment_intent", opt_str(payment_intent));
    set(&mut refund, "charge", charge_id);
    set(&mut refund, "metadata", Value::Object(req.metadata()));
    set(&mut refund, "reason", opt_str(req.field("reason")));
    set(&mut refund, "status", json!("succeeded"));
    set(&mut refund, "balance_transaction", json!(new_id("txn")));
    set(
        &mut refund,
        "transfer_reversal",
        if req.bool("reverse_transfer") { json!(new_id("trr")) } else { Value::Null },
    );
    let refund_id = refund.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
    let txn_id = refund.get("balance_transaction").cloned().unwrap_or(Value::Null);
    let currency = refund.get("currency").cloned().unwrap_or(Value::Null);
    let created = refund.get("created").cloned().unwrap_or(Value::Null);
    record_balance_transaction(inner, txn_id, "refund", -amount, &currency, &created, &refund_id);
    inner.refunds.push(refund.clone());
    emit(inner, "refund.created", &refund, req);
    Ok(Reply::ok(refund))
}

fn balance(inner: &Inner, req: &Req) -> Value {
    let key = req.stripe_account.clone().unwrap_or_default();
    inner.balances.get(&key).cloned().unwrap_or_else(|| template(inner, "balance"))
}

/// An event is listed on the account it happened on: the platform's (no `account`) without
/// `Stripe-Account`, a connected account's with that account's `Stripe-Account`.
fn visible(event: &Value, req: &Req) -> bool {
    event.get("account").and_then(Value::as_str) == req.stripe_account.as_deref()
}

fn list_events(inner: &Inner, req: &Req) -> Result<Reply, Reply> {
    let limit = match req.query_param("limit") {
        None => 10,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                return Err(stripe_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    Some("parameter_invalid_integer"),
                    format!("Invalid limit: must be an integer between 1 and 100, got {v}"),
                    Some("limit"),
                ));
            }
        },
    };
    let mut bounds: Vec<(&str, i64)> = Vec::new();
    for op in ["gt", "gte", "lt", "lte"] {
        let key = format!("created[{op}]");
        if let Some(v) = req.query_param(&key) {
            bounds.push((op, v.parse::<i64>().map_err(|_| invalid_integer(&key, v))?));
        }
    }
    if let Some(exact) = req.query_param("created") {
        let exact = exact.parse::<i64>().map_err(|_| invalid_integer("created", exact))?;
        bounds.push(("gte", exact));
        bounds.push(("lte", exact));
    }
    let event_type = req.query_param("type");
    let mut matching: Vec<(usize, &Value)> = inner
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| visible(e, req))
        .filter(|(_, e)| {
            let created = e.get("created").and_then(Value::as_i64).unwrap_or(0);
            bounds.iter().all(|(op, b)| match *op {
                "gt" => created > *b,
                "gte" => created >= *b,
                "lt" => created < *b,
                _ => created <= *b,
            }) && event_type.is_none_or(|t| e.get("type").and_then(Value::as_str) == Some(t))
        })
        .collect();
    // Newest first; among equal `created`, the later-added first.
    matching.sort_by(|(ia, a), (ib, b)| {
        let ca = a.get("created").and_then(Value::as_i64).unwrap_or(0);
        let cb = b.get("created").and_then(Value::as_i64).unwrap_or(0);
        cb.cmp(&ca).then(ib.cmp(ia))
    });
    let position = |id: &str| matching.iter().position(|(_, e)| e.get("id").and_then(Value::as_str) == Some(id));
    let (start, end) = if let Some(after) = req.query_param("starting_after") {
        let p = position(after).ok_or_else(|| no_such("event", after))?;
        (p + 1, (p + 1 + limit).min(matching.len()))
    } else if let Some(before) = req.query_param("ending_before") {
        let p = position(before).ok_or_else(|| no_such("event", before))?;
        (p.saturating_sub(limit), p)
    } else {
        (0, limit.min(matching.len()))
    };
    let has_more = if req.query_param("ending_before").is_some() { start > 0 } else { end < matching.len() };
    let data: Vec<Value> = matching[start..end].iter().map(|(_, e)| (*e).clone()).collect();
    Ok(Reply::ok(json!({"object": "list", "url": "/v1/events", "has_more": has_more, "data": data})))
}
