//! The local Stripe sandbox (issue 15): the project's fake Stripe as a process for development,
//! so a fresh clone without Stripe keys can see onboarding and payments end to end.
//!
//! - The API of [`FakeStripe`] on a fixed address (`STRIPE_API_BASE` of both subgraphs).
//! - Its onboarding links open a local page (`GET /setup/e/<acct>/<token>`) whose "Complete
//!   onboarding" button enables charges and payouts on the account and emits `account.updated`.
//! - `POST /sandbox/payment_intents/<id>/succeed`: the buyer pays a created PaymentIntent
//!   (`payment_intent.succeeded`). `POST /sandbox/accounts/<acct>/payouts` `{"amount": …}`: Stripe
//!   pays a connected account out (`payout.paid`). `POST /sandbox/payment_intents/<id>/dispute`
//!   `{"outcome": "lost" | "won"}` (optional): the buyer disputes the charge
//!   (`charge.dispute.created`, then the funds and the close of the outcome). A refund made through the API is also a
//!   `charge.refunded`, as on Stripe. `GET /sandbox/health` answers 200 once it serves.
//! - Every event is sent, signed like Stripe signs (`Stripe-Signature: t=…,v1=…` with the
//!   sandbox's webhook secret), to every configured endpoint (Stripe sends each endpoint what it
//!   subscribed to; both subgraphs subscribe to everything and act on their own types), in order,
//!   retried while the endpoint is unreachable or answers 5xx (a 4xx is logged and skipped).
//!
//! It keeps its state in memory for the run. It is for development only: nothing in it checks
//! real credentials, and the subgraphs never start it (`scripts/dev` does, when no
//! `STRIPE_SECRET_KEY` is set).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::fake_stripe::{FakeStripe, FakeStripeError, FakeStripeHandle};

/// Where the sandbox listens and whom it tells.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub addr: SocketAddr,
    /// Webhook endpoints (`http://127.0.0.1:4001/webhooks/stripe`, …).
    pub endpoints: Vec<String>,
    /// The signing secret both subgraphs verify with (`STRIPE_WEBHOOK_SECRETS`).
    pub webhook_secret: String,
}

/// A running sandbox: its API and pages, and the job that delivers its events.
pub struct Sandbox {
    pub fake: FakeStripe,
    deliveries: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for d in &self.deliveries {
            d.abort();
        }
    }
}

impl Sandbox {
    /// Starts the API, the pages and one delivery job per endpoint.
    ///
    /// # Errors
    /// When the fixtures cannot be read or the address cannot be bound.
    pub async fn start(config: SandboxConfig) -> Result<Sandbox, FakeStripeError> {
        let fake = FakeStripe::start_at(FakeStripe::default_fixtures_path(), config.addr, pages).await?;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
        let derive = tokio::spawn(derive(fake.handle()));
        let deliveries = std::iter::once(derive)
            .chain(config.endpoints.iter().map(|endpoint| {
                let (handle, http, endpoint, secret) =
                    (fake.handle(), http.clone(), endpoint.clone(), config.webhook_secret.clone());
                tokio::spawn(async move { deliver(handle, http, endpoint, secret).await })
            }))
            .collect();
        Ok(Sandbox { fake, deliveries })
    }

    pub fn base_url(&self) -> String {
        self.fake.base_url()
    }
}

/// The events Stripe sends alongside the API's own: a refund also updates its charge
/// (`charge.refunded`, with the charge's cumulative `amount_refunded`).
async fn derive(handle: FakeStripeHandle) {
    let mut next = 0usize;
    loop {
        let (events, upto) = handle.events_from(next);
        next = upto;
        for event in events {
            if event["type"] == "refund.created"
                && let Some(charge) = event["data"]["object"]["charge"].as_str().and_then(|id| handle.charge(id))
            {
                handle.emit("charge.refunded", &charge, None);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends the events to `endpoint` in order, each until it is accepted (a 2xx) or refused (a 4xx),
/// retrying an unreachable endpoint or a 5xx with backoff, as Stripe does.
async fn deliver(handle: FakeStripeHandle, http: reqwest::Client, endpoint: String, secret: String) {
    let mut next = 0usize;
    loop {
        let (events, _) = handle.events_from(next);
        if events.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        for event in events {
            let body = event.to_string();
            let mut backoff = Duration::from_millis(200);
            loop {
                let signature =
                    providers::stripe::webhook::sign(body.as_bytes(), &secret, chrono::Utc::now().timestamp());
                let sent = http
                    .post(&endpoint)
                    .header("Stripe-Signature", signature)
                    .header("content-type", "application/json; charset=utf-8")
                    .body(body.clone())
                    .send()
                    .await;
                match sent {
                    Ok(res) if res.status().is_success() => break,
                    // Refused as such (a bad signature, a body it does not take): sending it
                    // again would change nothing, and the next events must not wait behind it.
                    Ok(res) if res.status().is_client_error() => {
                        tracing::error!(%endpoint, status = %res.status(), event = %event["id"], "webhook refused; skipped");
                        break;
                    }
                    Ok(res) => {
                        tracing::warn!(%endpoint, status = %res.status(), event = %event["id"], "webhook not taken; retrying");
                    }
                    Err(e) => tracing::warn!(%endpoint, error = %e, "webhook endpoint unreachable; retrying"),
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
            tracing::info!(%endpoint, event = %event["id"], kind = %event["type"], "webhook delivered");
            next += 1;
        }
    }
}

fn pages(handle: FakeStripeHandle) -> Router {
    Router::new()
        .route("/setup/e/{account}/{token}", get(onboarding_page))
        .route("/setup/e/{account}/{token}/complete", post(complete_onboarding))
        .route("/sandbox/payment_intents/{id}/succeed", post(succeed))
        .route("/sandbox/accounts/{account}/payouts", post(payout))
        .route("/sandbox/payment_intents/{id}/dispute", post(dispute))
        .route("/sandbox/health", get(|| async { axum::Json(json!({"sandbox": true})) }))
        .with_state(handle)
}

fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem;color:#1a1a2e}}\
         .badge{{display:inline-block;background:#635bff;color:#fff;border-radius:4px;padding:2px 8px;font-size:.8rem}}\
         button{{background:#635bff;color:#fff;border:0;border-radius:6px;padding:.7rem 1.4rem;font-size:1rem;cursor:pointer}}</style>\
         </head><body><p><span class=\"badge\">Stripe sandbox (local, test data)</span></p>{body}</body></html>"
    ))
}

/// A link back to where the account link says the seller returns (the Malet's dashboard).
fn return_link(h: &FakeStripeHandle, account: &str, token: &str) -> String {
    h.link_return_url(account, token)
        .map(|url| format!("<p><a id=\"return\" href=\"{}\">Return to Mallnline</a></p>", escape(&url)))
        .unwrap_or_default()
}

async fn onboarding_page(
    State(h): State<FakeStripeHandle>,
    Path((account, token)): Path<(String, String)>,
) -> Response {
    let Some(acct) = h.account(&account) else {
        return (StatusCode::NOT_FOUND, page("Unknown account", "<h1>No such account</h1>")).into_response();
    };
    let done = acct["charges_enabled"].as_bool() == Some(true) && acct["payouts_enabled"].as_bool() == Some(true);
    let back = return_link(&h, &account, &token);
    let (account, token) = (escape(&account), escape(&token));
    let body = if done {
        format!(
            "<h1>Onboarding of {account}</h1><p id=\"state\">Onboarding is complete: charges and payouts are enabled.</p>{back}"
        )
    } else {
        format!(
            "<h1>Onboarding of {account}</h1><p id=\"state\">A real Stripe page asks for identity and bank details here. \
             In the sandbox one click completes it.</p>\
             <form method=\"post\" action=\"/setup/e/{account}/{token}/complete\"><button type=\"submit\">Complete onboarding</button></form>"
        )
    };
    page("Stripe sandbox onboarding", &body).into_response()
}

async fn complete_onboarding(
    State(h): State<FakeStripeHandle>,
    Path((account, token)): Path<(String, String)>,
) -> Response {
    match h.complete_onboarding(&account) {
        Some(_) => page(
            "Onboarding complete",
            &format!(
                "<h1>Onboarding of {} complete</h1><p id=\"state\">Onboarding is complete: charges and payouts are enabled. \
                 <code>account.updated</code> was sent to the subgraphs.</p>{}",
                escape(&account),
                return_link(&h, &account, &token)
            ),
        )
        .into_response(),
        None => (StatusCode::NOT_FOUND, page("Unknown account", "<h1>No such account</h1>")).into_response(),
    }
}

async fn payout(
    State(h): State<FakeStripeHandle>,
    Path(account): Path<String>,
    axum::Json(req): axum::Json<serde_json::Value>,
) -> Response {
    let amount = req["amount"].as_i64().unwrap_or(0);
    let currency = req["currency"].as_str().unwrap_or("usd").to_ascii_lowercase();
    if h.account(&account).is_none() || amount <= 0 {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": {"message": "unknown account or amount"}})))
            .into_response();
    }
    axum::Json(h.payout(&account, amount, &currency)).into_response()
}

async fn dispute(
    State(h): State<FakeStripeHandle>,
    Path(id): Path<String>,
    body: Option<axum::Json<serde_json::Value>>,
) -> Response {
    let outcome = match body.as_ref().and_then(|b| b["outcome"].as_str()) {
        Some("lost") => Some(false),
        Some("won") => Some(true),
        None => None,
        Some(other) => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": {"message": format!("outcome {other:?}: lost or won")}})),
            )
                .into_response();
        }
    };
    match h.dispute(&id, outcome) {
        Some(d) => axum::Json(d).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": {"type": "invalid_request_error", "message": format!("No such payment_intent: '{id}'")}})),
        )
            .into_response(),
    }
}

async fn succeed(State(h): State<FakeStripeHandle>, Path(id): Path<String>) -> Response {
    match h.pay(&id) {
        Some(intent) => axum::Json(json!({"paid": true, "payment_intent": intent})).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": {"type": "invalid_request_error", "message": format!("No such payment_intent: '{id}'")}})),
        )
            .into_response(),
    }
}
