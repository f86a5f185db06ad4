//! PayPal as a [`PayoutProvider`]: a thin client of PayPal's REST API (there is no maintained
//! Rust client for these APIs), OAuth2 client credentials with the token cached until it
//! expires.
//!
//! | operation | PayPal |
//! |---|---|
//! | onboarding link | `POST /v2/customer/partner-referrals` (`tracking_id` = our account id; the `action_url` link) |
//! | destination charge | `POST /v2/checkout/orders`: `payee.merchant_id` = the seller, `payment_instruction.platform_fees` = the engine's application fee |
//! | multi-seller order | one `POST /v2/checkout/orders` with one purchase unit per seller (`reference_id` = the Malet, its payee and platform fee); each unit's capture is its own sale |
//! | capture | `POST /v2/checkout/orders/{id}/capture` after the buyer approved |
//! | refund | `POST /v2/payments/captures/{capture}/refund` (`Prefer: return=representation` for the refunded total) |
//! | payout | `POST /v1/payments/payouts`: one item to a payee's PayPal id (an affiliate), `sender_batch_id` = our key |
//! | events (backfill) | `GET /v1/notifications/webhooks-events?start_time=…` (the platform's) |
//! | account, schedule | nothing to call: the seller's id comes with `MERCHANT.ONBOARDING.COMPLETED`; the platform keeps the schedule |
//!
//! Every money-moving call sends our idempotency key as `PayPal-Request-Id`. Errors, by what
//! happened at PayPal: 4xx with PayPal's error body → `Rejected` (code: the first detail's
//! `issue`, else the error `name`), except 429 → `Unavailable`; 5xx, a timeout or a connection
//! lost mid-request → `Ambiguous`; a refused connection → `Unavailable`. A 401 drops the cached
//! token and the call is made once more with a new one (PayPal did nothing with it).

use std::time::{Duration, Instant};

use async_trait::async_trait;
use domain::money::Currency;
use domain::provider::{
    CaptureRequest, Captured, ChargeCreated, CreateAccount, DestinationCharge, FeeRefundCreated, FeeRefundRequest,
    OnboardingLink, OnboardingLinkRequest, PayoutCreated, PayoutProvider, PayoutRequest, PlatformCharge,
    ProviderAccount, ProviderBalance, ProviderError, ProviderEvent, ProviderKind, RefundCreated, RefundRequest,
    TransferCreated, TransferRequest,
};
use domain::schedule::PayoutSchedule;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

/// PayPal's live API.
pub const LIVE_API_BASE: &str = "https://api-m.paypal.com";

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaypalConfigError {
    #[error("PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET are both required")]
    MissingCredentials,
    #[error("invalid PayPal API base URL {0:?}: expected http(s)://host[:port]")]
    InvalidApiBase(String),
}

struct Token {
    value: SecretString,
    expires: Instant,
}

/// The PayPal provider. Cheap to share (`Arc`); the token is refreshed by whichever call finds
/// it expired.
pub struct Paypal {
    http: reqwest::Client,
    base: String,
    client_id: String,
    client_secret: SecretString,
    token: tokio::sync::Mutex<Option<Token>>,
}

impl std::fmt::Debug for Paypal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Paypal").field("base", &self.base).field("client_id", &self.client_id).finish_non_exhaustive()
    }
}

impl Paypal {
    pub fn new(
        client_id: String,
        client_secret: SecretString,
        api_base: Option<String>,
    ) -> Result<Paypal, PaypalConfigError> {
        if client_id.trim().is_empty() || client_secret.expose_secret().trim().is_empty() {
            return Err(PaypalConfigError::MissingCredentials);
        }
        let base = api_base.filter(|b| !b.trim().is_empty()).unwrap_or_else(|| LIVE_API_BASE.to_owned());
        let parsed = reqwest::Url::parse(&base).map_err(|_| PaypalConfigError::InvalidApiBase(base.clone()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(PaypalConfigError::InvalidApiBase(base));
        }
        let http = reqwest::Client::builder()
            .timeout(DEFAULT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| PaypalConfigError::InvalidApiBase(base.clone()))?;
        Ok(Paypal {
            http,
            base: base.trim_end_matches('/').to_owned(),
            client_id: client_id.trim().to_owned(),
            client_secret,
            token: tokio::sync::Mutex::new(None),
        })
    }

    /// `POST /v1/oauth2/token` (client credentials), cached until a minute before it expires.
    async fn token(&self) -> Result<SecretString, ProviderError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref().filter(|t| t.expires > Instant::now()) {
            return Ok(t.value.clone());
        }
        let response = self
            .http
            .post(format!("{}/v1/oauth2/token", self.base))
            .basic_auth(&self.client_id, Some(self.client_secret.expose_secret()))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .map_err(unreachable)?;
        let body = read(response).await?;
        let value = body["access_token"]
            .as_str()
            .ok_or_else(|| ProviderError::Unavailable("PayPal returned no access token".into()))?;
        let lifetime = body["expires_in"].as_u64().unwrap_or(0).saturating_sub(60);
        let token = SecretString::from(value.to_owned());
        *cached = Some(Token { value: token.clone(), expires: Instant::now() + Duration::from_secs(lifetime) });
        Ok(token)
    }

    /// Sends the request `build` makes (given a bearer token), as the platform; on 401 the
    /// cached token is dropped and the request made once more with a new one (PayPal did
    /// nothing with a request it refused for its token).
    async fn send(&self, build: impl Fn(&str) -> reqwest::RequestBuilder) -> Result<Value, ProviderError> {
        for attempt in 0..2 {
            let token = self.token().await?;
            let response = build(token.expose_secret()).send().await.map_err(unreachable)?;
            if response.status() == reqwest::StatusCode::UNAUTHORIZED && attempt == 0 {
                *self.token.lock().await = None;
                continue;
            }
            return read(response).await;
        }
        Err(ProviderError::Rejected {
            code: Some("AUTHENTICATION_FAILURE".into()),
            message: "PayPal refused the token".into(),
        })
    }

    /// `GET {url}` (an absolute URL on the API base).
    async fn get(&self, url: &str) -> Result<Value, ProviderError> {
        self.send(|token| self.http.get(url).bearer_auth(token)).await
    }

    /// `POST {base}{path}` with `body`, with our idempotency key when given.
    /// `POST /v2/checkout/orders` with `body`; the buyer approves the order at its link.
    async fn create_order(&self, body: &Value, key: &str) -> Result<ChargeCreated, ProviderError> {
        let order = self.post("/v2/checkout/orders", body, Some(key)).await?;
        let id = order["id"].as_str().ok_or_else(|| ProviderError::Ambiguous("PayPal returned no order id".into()))?;
        Ok(ChargeCreated {
            payment_id: id.to_owned(),
            client_secret: None,
            approval_url: link(&order, &["approve", "payer-action"]),
        })
    }

    async fn post(&self, path: &str, body: &Value, request_id: Option<&str>) -> Result<Value, ProviderError> {
        self.send(|token| {
            let request = self
                .http
                .post(format!("{}{path}", self.base))
                .bearer_auth(token)
                .header("Prefer", "return=representation")
                .json(body);
            match request_id {
                Some(id) => request.header("PayPal-Request-Id", id),
                None => request,
            }
        })
        .await
    }
}

/// A request that did not complete: refused before sending (nothing happened), or lost midway.
fn unreachable(e: reqwest::Error) -> ProviderError {
    if e.is_connect() {
        ProviderError::Unavailable(format!("PayPal unreachable: {e}"))
    } else {
        ProviderError::Ambiguous(format!("PayPal request interrupted: {e}"))
    }
}

async fn read(response: reqwest::Response) -> Result<Value, ProviderError> {
    let status = response.status();
    let text = response.text().await.map_err(|e| ProviderError::Ambiguous(format!("PayPal response: {e}")))?;
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    let message = body["message"].as_str().or(body["error_description"].as_str()).unwrap_or("").to_owned();
    if status.is_server_error() {
        return Err(ProviderError::Ambiguous(format!("PayPal HTTP {status}: {message}")));
    }
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return Err(ProviderError::Unavailable(format!("PayPal rate limit: {message}")));
    }
    let code =
        body["details"][0]["issue"].as_str().or(body["name"].as_str()).or(body["error"].as_str()).map(str::to_owned);
    Err(ProviderError::Rejected { code, message: if message.is_empty() { format!("HTTP {status}") } else { message } })
}

fn amount(currency: Currency, minor: i64) -> Value {
    json!({"currency_code": currency.code(), "value": currency.decimal_from_minor(minor)})
}

fn link(body: &Value, rels: &[&str]) -> Option<String> {
    body["links"]
        .as_array()?
        .iter()
        .find(|l| rels.contains(&l["rel"].as_str().unwrap_or("")))
        .and_then(|l| l["href"].as_str().map(str::to_owned))
}

/// One purchase unit paying `payee` (its merchant id) `total`, of which the platform keeps
/// `platform_fee`; our order in `invoice_id`, the Malet in `custom_id`.
fn purchase_unit(
    currency: Currency,
    reference_id: &str,
    invoice_id: &str,
    custom_id: &str,
    total: i64,
    payee: &str,
    platform_fee: i64,
) -> Value {
    let mut unit = json!({
        "reference_id": reference_id,
        "invoice_id": invoice_id,
        "custom_id": custom_id,
        "amount": amount(currency, total),
        "payee": {"merchant_id": payee},
    });
    if platform_fee > 0 {
        unit["payment_instruction"] = json!({
            "disbursement_mode": "INSTANT",
            "platform_fees": [{"amount": amount(currency, platform_fee)}]
        });
    }
    unit
}

/// The most purchase units PayPal takes in one order.
const MAX_PURCHASE_UNITS: usize = 10;

fn not_supported(what: &str) -> ProviderError {
    ProviderError::NotSupported(format!("PayPal: {what}"))
}

#[async_trait]
impl PayoutProvider for Paypal {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Paypal
    }

    /// PayPal pays a seller at capture (no transfers); a payee of the platform's own money (an
    /// affiliate) is paid by a Payouts item to its PayPal id.
    fn moves(&self, kind: domain::provider::OutgoingKind) -> bool {
        matches!(kind, domain::provider::OutgoingKind::Payout)
    }

    /// Nothing to create yet: the seller's merchant id arrives with
    /// `MERCHANT.ONBOARDING.COMPLETED`, matched by the referral's `tracking_id`.
    async fn create_account(&self, _req: CreateAccount) -> Result<ProviderAccount, ProviderError> {
        Ok(ProviderAccount {
            provider_account_id: None,
            charges_enabled: false,
            payouts_enabled: false,
            currency: None,
        })
    }

    async fn onboarding_link(&self, req: OnboardingLinkRequest) -> Result<OnboardingLink, ProviderError> {
        let body = json!({
            "tracking_id": req.account_id,
            "operations": [{
                "operation": "API_INTEGRATION",
                "api_integration_preference": {"rest_api_integration": {
                    "integration_method": "PAYPAL",
                    "integration_type": "THIRD_PARTY",
                    "third_party_details": {"features": ["PAYMENT", "REFUND", "PARTNER_FEE"]}
                }}
            }],
            "products": ["EXPRESS_CHECKOUT"],
            "legal_consents": [{"type": "SHARE_DATA_CONSENT", "granted": true}],
            "partner_config_override": {"return_url": req.return_url}
        });
        let created = self.post("/v2/customer/partner-referrals", &body, None).await?;
        let url = link(&created, &["action_url"])
            .ok_or_else(|| ProviderError::Ambiguous("PayPal returned no action_url link".into()))?;
        Ok(OnboardingLink { url, expires_at: None })
    }

    /// The platform pays PayPal sellers on its own schedule: nothing to tell PayPal.
    async fn update_payout_schedule(&self, _account: &str, _schedule: PayoutSchedule) -> Result<(), ProviderError> {
        Ok(())
    }

    async fn create_destination_charge(&self, req: DestinationCharge) -> Result<ChargeCreated, ProviderError> {
        let order_id = req.metadata.get("orderId").cloned().unwrap_or_default();
        let malet_id = req.metadata.get("maletId").cloned().unwrap_or_default();
        let unit = purchase_unit(
            req.currency,
            &order_id,
            &order_id,
            &malet_id,
            req.amount,
            &req.destination,
            req.application_fee_amount,
        );
        let body = json!({"intent": "CAPTURE", "purchase_units": [unit]});
        self.create_order(&body, &req.idempotency_key).await
    }

    /// A multi-seller order: one `POST /v2/checkout/orders` with one purchase unit per seller
    /// (`reference_id` = the Malet, as PayPal requires distinct ids when there are several; the
    /// seller as `payee`, its platform fee in `payment_instruction`); PayPal pays each seller at
    /// capture, and each unit's capture is its own `PAYMENT.CAPTURE.COMPLETED`.
    async fn create_platform_charge(&self, req: PlatformCharge) -> Result<ChargeCreated, ProviderError> {
        if req.parts.is_empty() || req.parts.len() > MAX_PURCHASE_UNITS {
            return Err(not_supported(&format!(
                "an order of {} sellers (PayPal takes 1 to {MAX_PURCHASE_UNITS} purchase units)",
                req.parts.len()
            )));
        }
        let units: Vec<Value> = req
            .parts
            .iter()
            .map(|p| {
                purchase_unit(
                    req.currency,
                    &p.malet_id,
                    &req.transfer_group,
                    &p.malet_id,
                    p.amount,
                    &p.destination,
                    p.platform_fee,
                )
            })
            .collect();
        let body = json!({"intent": "CAPTURE", "purchase_units": units});
        self.create_order(&body, &req.idempotency_key).await
    }

    /// `POST /v2/checkout/orders/{id}/capture` once the buyer approved the order; the
    /// `PAYMENT.CAPTURE.COMPLETED` webhook records the sale.
    async fn capture_payment(&self, req: CaptureRequest) -> Result<Captured, ProviderError> {
        let order = self
            .post(&format!("/v2/checkout/orders/{}/capture", req.payment_id), &json!({}), Some(&req.idempotency_key))
            .await?;
        let capture = &order["purchase_units"][0]["payments"]["captures"][0];
        let id = capture["id"].as_str().ok_or_else(|| ProviderError::Ambiguous("PayPal returned no capture".into()))?;
        Ok(Captured { charge_id: id.to_owned(), completed: capture["status"] == "COMPLETED" })
    }

    async fn transfer(&self, _req: TransferRequest) -> Result<TransferCreated, ProviderError> {
        Err(not_supported("the seller's share is paid at capture; there are no separate transfers"))
    }

    async fn payout(&self, req: PayoutRequest) -> Result<PayoutCreated, ProviderError> {
        let body = json!({
            "sender_batch_header": {
                "sender_batch_id": req.idempotency_key,
                "email_subject": "You have a payout",
                "recipient_type": "PAYPAL_ID"
            },
            "items": [{
                "recipient_type": "PAYPAL_ID",
                "amount": {"value": req.currency.decimal_from_minor(req.amount), "currency": req.currency.code()},
                "receiver": req.provider_account_id,
                "sender_item_id": req.idempotency_key
            }]
        });
        let created = match self.post("/v1/payments/payouts", &body, Some(&req.idempotency_key)).await {
            // Our key names one batch: PayPal refuses it again when its request id has expired,
            // because it made the batch. Its outcome is not "refused": never pay it again.
            Err(ProviderError::Rejected { code: Some(code), message }) if code == "DUPLICATE_SENDER_BATCH_ID" => {
                return Err(ProviderError::Ambiguous(format!(
                    "the batch {} was made before: {message}",
                    req.idempotency_key
                )));
            }
            other => other?,
        };
        if created["batch_header"]["batch_status"] == "DENIED" {
            return Err(ProviderError::Rejected {
                code: Some("DENIED".into()),
                message: "PayPal denied the payout batch".into(),
            });
        }
        let id = created["batch_header"]["payout_batch_id"]
            .as_str()
            .ok_or_else(|| ProviderError::Ambiguous("PayPal returned no payout_batch_id".into()))?;
        Ok(PayoutCreated { payout_id: id.to_owned() })
    }

    async fn refund(&self, req: RefundRequest) -> Result<RefundCreated, ProviderError> {
        let capture = req.charge_id.clone().ok_or_else(|| not_supported("a refund of a payment without a capture"))?;
        let currency = req.currency;
        let body = json!({"amount": amount(currency, req.amount)});
        let refund =
            self.post(&format!("/v2/payments/captures/{capture}/refund"), &body, Some(&req.idempotency_key)).await?;
        let id =
            refund["id"].as_str().ok_or_else(|| ProviderError::Ambiguous("PayPal returned no refund id".into()))?;
        let minor = |v: &Value| v["value"].as_str().and_then(|s| currency.minor_from_decimal(s).ok());
        Ok(RefundCreated {
            refund_id: id.to_owned(),
            amount: minor(&refund["amount"]).unwrap_or(req.amount),
            charge_amount_refunded: minor(&refund["seller_payable_breakdown"]["total_refunded_amount"]),
        })
    }

    async fn refund_application_fee(&self, _req: FeeRefundRequest) -> Result<FeeRefundCreated, ProviderError> {
        Err(not_supported("separate platform-fee refunds"))
    }

    async fn balance(&self, _account: &str) -> Result<ProviderBalance, ProviderError> {
        Err(not_supported("seller balances"))
    }

    /// `GET /v1/notifications/webhooks-events?start_time=…&page_size=…`, following `next` links:
    /// the platform's events (PayPal keeps no per-seller event lists), oldest first, each
    /// event's JSON as PayPal returned it.
    async fn events_since(
        &self,
        account: Option<&str>,
        created_after: i64,
        limit: u32,
    ) -> Result<Vec<ProviderEvent>, ProviderError> {
        if account.is_some() {
            return Ok(Vec::new());
        }
        let start = chrono::DateTime::from_timestamp(created_after, 0)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut url = reqwest::Url::parse(&format!("{}/v1/notifications/webhooks-events", self.base))
            .map_err(|e| ProviderError::Unavailable(e.to_string()))?;
        url.query_pairs_mut().append_pair("start_time", &start).append_pair("page_size", "300");
        let mut next = Some(url.to_string());
        let mut events = Vec::new();
        let max = usize::try_from(limit).unwrap_or(usize::MAX);
        while let Some(page_url) = next.take() {
            // Only ever follow links on our API base (a link elsewhere is not PayPal's).
            if !page_url.starts_with(&self.base) {
                break;
            }
            let page = self.get(&page_url).await?;
            for e in page["events"].as_array().cloned().unwrap_or_default() {
                let created = e["create_time"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.timestamp())
                    .unwrap_or(0);
                if created <= created_after {
                    continue;
                }
                events.push(ProviderEvent {
                    id: e["id"].as_str().unwrap_or_default().to_owned(),
                    event_type: e["event_type"].as_str().unwrap_or_default().to_owned(),
                    created,
                    payload: e.to_string(),
                });
            }
            if events.len() < max {
                next = link(&page, &["next"]);
            }
        }
        events.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        events.truncate(max);
        Ok(events)
    }
}
