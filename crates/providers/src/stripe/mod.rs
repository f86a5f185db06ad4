//! Stripe Connect (Express) as a [`PayoutProvider`], through `async-stripe` 1.0.0-rc.10.
//!
//! Every money-moving call sends the caller's idempotency key as `Idempotency-Key` and is sent
//! once (no automatic retry): a retry is the caller's decision, made after
//! [`ProviderError::Ambiguous`] with the same key.
//!
//! Error mapping (by what happened at Stripe):
//!
//! | outcome | [`ProviderError`] |
//! |---|---|
//! | 4xx with a Stripe error body, except 409 and 429 | `Rejected { code, message }` (1) |
//! | 429 rate limited (nothing happened; retry later) | `Unavailable` |
//! | 409 (concurrent request with the same idempotency key) | `Ambiguous` |
//! | 400 `idempotency_error` (the key was used with other parameters: a request was made) | `Ambiguous` |
//! | 5xx, timeout, connection lost mid-request, unreadable response | `Ambiguous` |
//! | connection refused, DNS or TLS handshake failure (nothing sent) | `Unavailable` |
//!
//! (1) `code` is Stripe's error `code` (`card_declined`, `resource_missing`, …), else its `type`
//! (`idempotency_error`, …).
//!
//! The secret key is held in a [`SecretString`] and only handed to async-stripe, which marks the
//! `Authorization` header sensitive; it is never logged or formatted by this module.

pub mod transformers;
pub mod webhook;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use domain::money::Currency;
use domain::provider::{
    ChargeCreated, CreateAccount, DestinationCharge, FeeRefundCreated, FeeRefundRequest, MovementLookup,
    OnboardingLink, OnboardingLinkRequest, OutgoingKind, PayoutCreated, PayoutProvider, PayoutRequest, PlatformCharge,
    ProviderAccount, ProviderBalance, ProviderError, ProviderEvent, ProviderKind, ProviderRecord, ReconObjectKind,
    RefundCreated, RefundRequest, ReversalCreated, ReversalRequest, TransferCreated, TransferRequest,
};
use domain::schedule::{PayoutSchedule, weekday_name};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use stripe::{AccountId, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_client_core::{CustomizedStripeRequest, RequestBuilder, StripeClient, StripeMethod};
use stripe_connect::ApplicationFeeId;
use stripe_connect::account::{
    CreateAccountCapabilities, CreateAccountCapabilitiesCardPayments, CreateAccountCapabilitiesTransfers,
    CreateAccountType, UpdateAccount, UpdateAccountSettings, UpdateAccountSettingsPayouts,
    UpdateAccountSettingsPayoutsSchedule, UpdateAccountSettingsPayoutsScheduleInterval,
    UpdateAccountSettingsPayoutsScheduleWeeklyAnchor,
};
use stripe_connect::account_link::{CreateAccountLink, CreateAccountLinkType};
use stripe_connect::application_fee_refund::CreateIdApplicationFeeRefund;
use stripe_connect::transfer::CreateTransfer;
use stripe_core::balance::RetrieveForMyAccountBalance;
use stripe_core::payment_intent::{CreatePaymentIntent, CreatePaymentIntentTransferData, RetrievePaymentIntent};
use stripe_core::payout::CreatePayout;
use stripe_core::refund::CreateRefund;
use stripe_types::Expandable;

/// Per-attempt timeout of a Stripe call unless [`StripeConnect::with_timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Page size of the Events API (Stripe's maximum).
const EVENTS_PAGE_SIZE: u32 = 100;

/// Pages read from one `created` window before [`StripeConnect::account_events_since`] narrows it.
const EVENTS_MAX_PAGES_PER_WINDOW: usize = 10;

/// Why a [`StripeConnect`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripeConfigError {
    /// The secret key is empty or not a valid header value (the key itself is not shown).
    #[error("the Stripe secret key is empty or contains characters not allowed in a header")]
    InvalidSecretKey,
    /// The API base URL is not an absolute `http(s)://` URL.
    #[error("invalid Stripe API base URL {0:?}: expected http(s)://host[:port][/path]")]
    InvalidApiBase(String),
}

/// Stripe Connect Express through `async-stripe`.
///
/// Cheap to clone (the HTTP client is shared).
#[derive(Clone)]
pub struct StripeConnect {
    client: stripe::Client,
    timeout: Duration,
    /// The overridden API base, `None` for Stripe itself.
    api_base: Option<String>,
}

impl std::fmt::Debug for StripeConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Deliberately without the client: nothing key-derived is ever formatted.
        f.debug_struct("StripeConnect")
            .field("api_base", &self.api_base)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl StripeConnect {
    /// A provider using `secret_key` (`sk_…`/`rk_…`) against `api_base` (Stripe itself when
    /// `None` or empty; the services pass `STRIPE_API_BASE`, e.g. the base URL of
    /// `test_support::fake_stripe::FakeStripe` in tests). A trailing `/` is optional; the `v1/…`
    /// paths are appended to it.
    ///
    /// # Errors
    /// [`StripeConfigError`] when the key or the URL cannot be used.
    pub fn new(secret_key: SecretString, api_base: Option<String>) -> Result<Self, StripeConfigError> {
        install_crypto_provider();
        let key = secret_key.expose_secret();
        if key.trim().is_empty() {
            return Err(StripeConfigError::InvalidSecretKey);
        }
        let mut builder = stripe::ClientBuilder::new(key).timeout(DEFAULT_TIMEOUT);
        let api_base = match api_base.map(|b| b.trim().to_owned()).filter(|b| !b.is_empty()) {
            Some(base) => {
                let normalized = normalize_api_base(&base)?;
                builder = builder.url(normalized.clone());
                Some(normalized)
            }
            None => None,
        };
        let client = builder.build().map_err(|e| match e {
            StripeError::ConfigError(_) => StripeConfigError::InvalidApiBase(api_base.clone().unwrap_or_default()),
            _ => StripeConfigError::InvalidSecretKey,
        })?;
        Ok(StripeConnect { client, timeout: DEFAULT_TIMEOUT, api_base })
    }

    /// The same provider with another per-attempt timeout (a timed-out call is
    /// [`ProviderError::Ambiguous`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Events created after `created_after` (unix seconds), oldest first (also what
    /// [`PayoutProvider::events_since`] returns): the platform's own events when `account` is
    /// `None`, else the events *of that connected account* (sent with `Stripe-Account`), which is
    /// where Stripe keeps an Express account's `account.updated` and `payout.*` events.
    ///
    /// `GET /v1/events?created[gt]=…&limit=100` (paged with `starting_after`), each event's JSON
    /// returned verbatim. Stripe lists newest first, so the whole window after `created_after` is
    /// read and reversed; when it holds more than 1000 events, the upper bound (`created[lte]`)
    /// of the window is binary-searched so that only about the oldest `max(limit, 1000)` events
    /// are read. `limit` never splits a second: events sharing the `created` of the last one
    /// returned are all returned, so continuing with `created_after = last.created` skips none.
    ///
    /// # Errors
    /// As the other calls (see the module docs).
    pub async fn account_events_since(
        &self,
        account: Option<&str>,
        created_after: i64,
        limit: u32,
    ) -> Result<Vec<ProviderEvent>, ProviderError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let newest = match self.events_window(account, created_after, None, true).await? {
            EventsWindow::Complete(events) => return Ok(oldest_first(events, limit)),
            EventsWindow::TooMany { newest_created } => newest_created,
        };
        // More than one window's budget of events after `created_after`: binary-search an upper
        // bound `lo` such that (created_after, lo] fits the budget (or already holds `limit`
        // events) while (created_after, lo + 1] would not.
        let mut lo = created_after;
        let mut hi = newest.max(created_after.saturating_add(1));
        let mut fitting: Vec<ProviderEvent> = Vec::new();
        while hi.saturating_sub(lo) > 1 {
            let mid = lo + (hi - lo) / 2;
            match self.events_window(account, created_after, Some(mid), true).await? {
                EventsWindow::Complete(events) => {
                    if events.len() >= usize::try_from(limit).unwrap_or(usize::MAX) {
                        return Ok(oldest_first(events, limit));
                    }
                    lo = mid;
                    fitting = events;
                }
                EventsWindow::TooMany { .. } => hi = mid,
            }
        }
        // The second `hi` alone is over the budget: read it whole, it cannot be split.
        let EventsWindow::Complete(mut last_second) = self.events_window(account, lo, Some(hi), false).await? else {
            return Err(ProviderError::Ambiguous("unbounded events window reported as truncated".into()));
        };
        last_second.extend(fitting);
        Ok(oldest_first(last_second, limit))
    }

    /// The application fee of a payment intent's charge:
    /// `GET /v1/payment_intents/{id}?expand[0]=latest_charge`, then the charge's `application_fee`.
    async fn application_fee_of(&self, payment_id: &str) -> Result<ApplicationFeeId, ProviderError> {
        let request = RetrievePaymentIntent::new(payment_id).expand(vec!["latest_charge".to_owned()]);
        let intent = self.send(&request, None, None).await?;
        let no_fee = |what: &str| ProviderError::Rejected {
            code: Some("application_fee_missing".into()),
            message: format!("payment {payment_id} {what}: there is no application fee to refund"),
        };
        match intent.latest_charge {
            None => Err(no_fee("has no charge")),
            Some(Expandable::Id(charge)) => Err(ProviderError::Ambiguous(format!(
                "Stripe did not expand the charge {} of payment {payment_id}",
                charge.as_str()
            ))),
            Some(Expandable::Object(charge)) => {
                charge.application_fee.map(|fee| fee.id().clone()).ok_or_else(|| no_fee("was charged without one"))
            }
        }
    }

    /// The cumulative `amount_refunded` of the payment's charge, or `None` when it cannot be
    /// read (the caller then falls back to its own count; `charge.refunded` converges later).
    async fn charge_amount_refunded(&self, payment_id: &str) -> Option<i64> {
        let request = RetrievePaymentIntent::new(payment_id).expand(vec!["latest_charge".to_owned()]);
        match self.send(&request, None, None).await {
            Ok(intent) => match intent.latest_charge {
                Some(Expandable::Object(charge)) => Some(charge.amount_refunded),
                _ => None,
            },
            Err(e) => {
                tracing::warn!(payment_id, error = %e, "cannot read the refunded total after a refund");
                None
            }
        }
    }

    /// Sends a typed request once, with an optional idempotency key and `Stripe-Account`.
    async fn send<R>(
        &self,
        request: &R,
        idempotency_key: Option<&str>,
        account: Option<&str>,
    ) -> Result<R::Output, ProviderError>
    where
        R: StripeRequest,
        R::Output: miniserde::Deserialize,
    {
        let mut customized = request.customize().timeout(self.timeout).request_strategy(strategy(idempotency_key)?);
        if let Some(account) = account {
            customized = customized.account_id(AccountId::from(account));
        }
        customized.send(&self.client).await.map_err(map_error)
    }

    /// Sends a request built by hand (optionally on a connected account) and returns the raw
    /// response body.
    async fn send_raw(&self, request: RequestBuilder, account: Option<&str>) -> Result<bytes::Bytes, ProviderError> {
        self.send_raw_keyed(request, account, None).await
    }

    /// [`Self::send_raw`] with an idempotency key.
    async fn send_raw_keyed(
        &self,
        request: RequestBuilder,
        account: Option<&str>,
        idempotency_key: Option<&str>,
    ) -> Result<bytes::Bytes, ProviderError> {
        let capture = Capture { client: &self.client, body: Mutex::new(None) };
        let mut customized = request
            .customize::<miniserde::json::Value>()
            .timeout(self.timeout)
            .request_strategy(strategy(idempotency_key)?);
        if let Some(account) = account {
            customized = customized.account_id(AccountId::from(account));
        }
        customized.send(&capture).await.map_err(map_error)?;
        let body =
            capture.body.lock().map_err(|_| ProviderError::Ambiguous("response capture poisoned".into()))?.take();
        body.ok_or_else(|| ProviderError::Ambiguous("no response body captured".into()))
    }

    /// Every object of a list endpoint created in `[from, to)` (all pages), filtered by Stripe.
    async fn list_all(
        &self,
        path: &str,
        destination: Option<&str>,
        from: i64,
        to: i64,
        account: Option<&str>,
    ) -> Result<Vec<ListedObject>, ProviderError> {
        self.list_pages(path, destination, Some(WindowRange { gte: from, lt: to }), account).await
    }

    /// Every object of a nested list (a transfer's reversals, a fee's refunds), which takes no
    /// `created` filter: all pages, unfiltered.
    async fn list_nested(&self, path: &str) -> Result<Vec<ListedObject>, ProviderError> {
        self.list_pages(path, None, None, None).await
    }

    async fn list_pages(
        &self,
        path: &str,
        destination: Option<&str>,
        created: Option<WindowRange>,
        account: Option<&str>,
    ) -> Result<Vec<ListedObject>, ProviderError> {
        let mut objects: Vec<ListedObject> = Vec::new();
        let mut starting_after: Option<String> = None;
        loop {
            let query =
                ListQuery { created: created.clone(), limit: 100, starting_after: starting_after.clone(), destination };
            let body = self.send_raw(RequestBuilder::new(StripeMethod::Get, path).query(&query), account).await?;
            let page: ListPage = serde_json::from_slice(&body)
                .map_err(|e| ProviderError::Ambiguous(format!("unreadable Stripe list {path}: {e}")))?;
            let more = page.has_more;
            objects.extend(page.data);
            match (more, objects.last()) {
                (true, Some(last)) => starting_after = Some(last.id.clone()),
                _ => return Ok(objects),
            }
        }
    }

    /// Every refund of a payment: `GET /v1/refunds?payment_intent=…` (all pages).
    async fn list_refunds(&self, payment_id: &str) -> Result<Vec<ListedObject>, ProviderError> {
        #[derive(Serialize)]
        struct RefundsQuery<'a> {
            payment_intent: &'a str,
            limit: u32,
            #[serde(skip_serializing_if = "Option::is_none")]
            starting_after: Option<String>,
        }
        let mut objects: Vec<ListedObject> = Vec::new();
        let mut starting_after = None;
        loop {
            let query = RefundsQuery { payment_intent: payment_id, limit: 100, starting_after };
            let body = self.send_raw(RequestBuilder::new(StripeMethod::Get, "/refunds").query(&query), None).await?;
            let page: ListPage = serde_json::from_slice(&body)
                .map_err(|e| ProviderError::Ambiguous(format!("unreadable Stripe refunds: {e}")))?;
            let more = page.has_more;
            objects.extend(page.data);
            match (more, objects.last()) {
                (true, Some(last)) => starting_after = Some(last.id.clone()),
                _ => return Ok(objects),
            }
        }
    }

    /// The transfer a destination charge made to the seller: `GET /v1/payment_intents/{id}`
    /// expanded to its charge, whose `transfer` it is.
    /// Creates a PaymentIntent with the idempotency key; its id and client secret.
    async fn create_intent(&self, request: &CreatePaymentIntent, key: &str) -> Result<ChargeCreated, ProviderError> {
        let intent = self.send(request, Some(key), None).await?;
        Ok(ChargeCreated {
            payment_id: intent.id.as_str().to_owned(),
            client_secret: intent.client_secret,
            approval_url: None,
        })
    }

    async fn transfer_of_payment(&self, payment_id: &str) -> Result<String, ProviderError> {
        let request = RetrievePaymentIntent::new(payment_id).expand(vec!["latest_charge".to_owned()]);
        let intent = self.send(&request, None, None).await?;
        let missing = || ProviderError::Rejected {
            code: Some("transfer_missing".into()),
            message: format!("payment {payment_id} made no transfer to a connected account"),
        };
        match intent.latest_charge {
            Some(Expandable::Object(charge)) => charge.transfer.map(|t| t.id().as_str().to_owned()).ok_or_else(missing),
            Some(Expandable::Id(_)) => Err(ProviderError::Ambiguous("Stripe did not expand the charge".into())),
            None => Err(missing()),
        }
    }

    /// Every event with `created_after < created ≤ upper` (newest first, as Stripe lists them).
    /// When `bounded` and the window holds more than the page budget, stops early and reports
    /// the newest `created` seen so the caller can narrow the window.
    async fn events_window(
        &self,
        account: Option<&str>,
        created_after: i64,
        upper: Option<i64>,
        bounded: bool,
    ) -> Result<EventsWindow, ProviderError> {
        let mut events: Vec<ProviderEvent> = Vec::new();
        let mut starting_after: Option<String> = None;
        let mut pages = 0usize;
        loop {
            if bounded && pages >= EVENTS_MAX_PAGES_PER_WINDOW {
                let newest = events.first().map_or(created_after, |e| e.created);
                return Ok(EventsWindow::TooMany { newest_created: newest });
            }
            pages += 1;
            let query = EventsQuery {
                created: CreatedRange { gt: created_after, lte: upper },
                limit: EVENTS_PAGE_SIZE,
                starting_after: starting_after.clone(),
            };
            let body = self.send_raw(RequestBuilder::new(StripeMethod::Get, "/events").query(&query), account).await?;
            let page: EventsPage<'_> = serde_json::from_slice(&body)
                .map_err(|e| ProviderError::Ambiguous(format!("unreadable Stripe events page: {e}")))?;
            for raw in &page.data {
                let head: EventHead = serde_json::from_str(raw.get())
                    .map_err(|e| ProviderError::Ambiguous(format!("unreadable Stripe event: {e}")))?;
                events.push(ProviderEvent {
                    id: head.id,
                    event_type: head.event_type,
                    created: head.created,
                    payload: raw.get().to_owned(),
                });
            }
            match (page.has_more, events.last()) {
                (true, Some(last)) => starting_after = Some(last.id.clone()),
                _ => return Ok(EventsWindow::Complete(events)),
            }
        }
    }
}

/// An object of a Stripe list, as far as reconciliation and lookups read it.
#[derive(Debug, Deserialize)]
struct ListedObject {
    id: String,
    #[serde(default)]
    amount: i64,
    #[serde(default)]
    amount_refunded: Option<i64>,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    created: i64,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    destination: Option<String>,
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    charge: Option<String>,
    #[serde(default)]
    source_transaction: Option<String>,
    #[serde(default)]
    transfer: Option<String>,
    /// A balance transaction's source object and category.
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    reporting_category: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

#[derive(Serialize, Clone)]
struct WindowRange {
    gte: i64,
    lt: i64,
}

/// The query of a list endpoint: a `created` window, a page, and a transfer destination.
#[derive(Serialize)]
struct ListQuery<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<WindowRange>,
    limit: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    starting_after: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination: Option<&'a str>,
}

/// The form of `POST /v1/transfers/{id}/reversals` (`metadata[key]=value`).
#[derive(Serialize)]
struct ReversalForm<'a> {
    amount: i64,
    metadata: &'a BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct ListPage {
    data: Vec<ListedObject>,
    #[serde(default)]
    has_more: bool,
}

impl ListedObject {
    fn record(
        self,
        object: domain::provider::ReconObjectKind,
        parent: Option<String>,
        account: Option<String>,
    ) -> ProviderRecord {
        ProviderRecord {
            object,
            currency: Currency::parse(&self.currency).ok(),
            id: self.id,
            parent,
            account,
            amount: self.amount,
            status: self.status,
            created: self.created,
            metadata: self.metadata,
        }
    }
}

/// One `created` window of the Events API.
enum EventsWindow {
    /// Every event of the window, newest first.
    Complete(Vec<ProviderEvent>),
    /// More events than one window may hold; the newest one seen was created at `newest_created`.
    TooMany { newest_created: i64 },
}

/// async-stripe's rustls connector asks rustls for the process-wide crypto provider; install
/// *ring* (the one this crate compiles in) unless another one already is, so that building a
/// client cannot panic if another crate in the binary enables a second rustls provider.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn normalize_api_base(base: &str) -> Result<String, StripeConfigError> {
    let invalid = || StripeConfigError::InvalidApiBase(base.to_owned());
    let rest = base.strip_prefix("http://").or_else(|| base.strip_prefix("https://")).ok_or_else(invalid)?;
    if rest.is_empty() || rest.starts_with('/') || rest.contains(['?', '#', ' ']) {
        return Err(invalid());
    }
    Ok(if base.ends_with('/') { base.to_owned() } else { format!("{base}/") })
}

fn strategy(idempotency_key: Option<&str>) -> Result<RequestStrategy, ProviderError> {
    match idempotency_key {
        None => Ok(RequestStrategy::Once),
        Some(key) => IdempotencyKey::new(key).map(RequestStrategy::Idempotent).map_err(|e| ProviderError::Rejected {
            code: Some("invalid_idempotency_key".into()),
            message: e.to_string(),
        }),
    }
}

/// Maps an async-stripe error to what it means for our state (see the module docs).
pub fn map_error(err: StripeError) -> ProviderError {
    match err {
        StripeError::Stripe(api, status) => {
            let message = api.message.clone().unwrap_or_else(|| format!("Stripe returned HTTP {status}"));
            match status {
                429 => ProviderError::Unavailable(format!("rate limited by Stripe (HTTP 429): {message}")),
                409 => ProviderError::Ambiguous(format!("conflicting concurrent request (HTTP 409): {message}")),
                400..=499 => {
                    let code = api
                        .code
                        .as_ref()
                        .map(|c| c.as_str().to_owned())
                        .or_else(|| Some(api.type_.as_str().to_owned()));
                    // The key was used before with other parameters: a request with it was made,
                    // and what it did is not known here (never "refused": it may have paid).
                    if code.as_deref() == Some("idempotency_error") {
                        return ProviderError::Ambiguous(format!("idempotency key used before: {message}"));
                    }
                    ProviderError::Rejected { code, message }
                }
                _ => ProviderError::Ambiguous(format!("Stripe returned HTTP {status}: {message}")),
            }
        }
        StripeError::Timeout => ProviderError::Ambiguous("timed out waiting for Stripe".into()),
        StripeError::ClientError(msg) => {
            // hyper-util reports "client error (Connect)" when no connection could be made (refused,
            // DNS, TLS handshake) and "client error (User…)" for requests it refused to send.
            if msg.starts_with("client error (Connect") || msg.starts_with("client error (User") {
                ProviderError::Unavailable(format!("could not reach Stripe: {msg}"))
            } else {
                ProviderError::Ambiguous(format!("connection to Stripe failed during the request: {msg}"))
            }
        }
        StripeError::JSONDeserialize(msg) => ProviderError::Ambiguous(format!("unreadable Stripe response: {msg}")),
        // Raised while building the request (e.g. an account id that is not a header value): nothing was sent.
        StripeError::ConfigError(msg) => ProviderError::Rejected { code: None, message: msg },
    }
}

fn stripe_currency(currency: Currency) -> stripe_types::Currency {
    let Ok(c) = currency.lower().parse::<stripe_types::Currency>();
    c
}

fn hash_map(metadata: &BTreeMap<String, String>) -> HashMap<String, String> {
    metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn domain_amounts(amounts: &[stripe_core::BalanceAmount], account: &str) -> Vec<(Currency, i64)> {
    amounts
        .iter()
        .filter_map(|a| match Currency::parse(&a.currency.to_string()) {
            Ok(c) => Some((c, a.amount)),
            Err(_) => {
                tracing::warn!(account, currency = %a.currency, "ignoring a balance in an unsupported currency");
                None
            }
        })
        .collect()
}

/// A [`StripeClient`] that keeps the raw body of the response it passes on, for calls whose
/// result we want verbatim (events).
struct Capture<'a> {
    client: &'a stripe::Client,
    body: Mutex<Option<bytes::Bytes>>,
}

impl StripeClient for Capture<'_> {
    type Err = StripeError;

    async fn execute(&self, req: CustomizedStripeRequest) -> Result<bytes::Bytes, StripeError> {
        let body = self.client.execute(req).await?;
        if let Ok(mut slot) = self.body.lock() {
            *slot = Some(body.clone());
        }
        Ok(body)
    }
}

#[derive(Serialize)]
struct CreatedRange {
    gt: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    lte: Option<i64>,
}

#[derive(Serialize)]
struct EventsQuery {
    created: CreatedRange,
    limit: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    starting_after: Option<String>,
}

#[derive(Deserialize)]
struct EventsPage<'a> {
    #[serde(borrow)]
    data: Vec<&'a RawValue>,
    #[serde(default)]
    has_more: bool,
}

#[derive(Deserialize)]
struct EventHead {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    created: i64,
}

/// Oldest first, at most `limit` events, except that the last second is never split: events
/// that share the `created` second of the last one returned are all returned, so a caller that
/// continues with `created_after = last.created` cannot skip any.
fn oldest_first(mut newest_first: Vec<ProviderEvent>, limit: u32) -> Vec<ProviderEvent> {
    newest_first.reverse();
    let mut events = newest_first;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if events.len() > limit {
        let mut cut = limit;
        if let Some(last_created) = cut.checked_sub(1).and_then(|i| events.get(i)).map(|e| e.created) {
            while events.get(cut).is_some_and(|e| e.created == last_created) {
                cut += 1;
            }
        }
        events.truncate(cut);
    }
    events
}

#[async_trait]
impl PayoutProvider for StripeConnect {
    fn kind(&self) -> ProviderKind {
        ProviderKind::StripeConnect
    }

    fn events_per_account(&self) -> bool {
        true
    }

    fn moves(&self, kind: OutgoingKind) -> bool {
        matches!(
            kind,
            OutgoingKind::Transfer | OutgoingKind::TransferReversal | OutgoingKind::FeeRefund | OutgoingKind::Refund
        )
    }

    /// `POST /v1/accounts`: `type=express`, `capabilities[card_payments|transfers][requested]=true`,
    /// `metadata[malet_id]`, `metadata[user_id]`, optional `country`/`email`.
    async fn create_account(&self, req: CreateAccount) -> Result<ProviderAccount, ProviderError> {
        let mut capabilities = CreateAccountCapabilities::new();
        capabilities.card_payments = Some(CreateAccountCapabilitiesCardPayments { requested: Some(true) });
        capabilities.transfers = Some(CreateAccountCapabilitiesTransfers { requested: Some(true) });
        let metadata =
            HashMap::from([("malet_id".to_owned(), req.malet_id.clone()), ("user_id".to_owned(), req.user_id.clone())]);
        let mut request = stripe_connect::account::CreateAccount::new()
            .type_(CreateAccountType::Express)
            .capabilities(capabilities)
            .metadata(metadata);
        if let Some(country) = &req.country {
            request = request.country(country.clone());
        }
        if let Some(email) = &req.email {
            request = request.email(email.clone());
        }
        let account = self.send(&request, Some(&req.idempotency_key), None).await?;
        Ok(ProviderAccount {
            provider_account_id: Some(account.id.as_str().to_owned()),
            charges_enabled: account.charges_enabled.unwrap_or(false),
            payouts_enabled: account.payouts_enabled.unwrap_or(false),
            currency: account.default_currency.and_then(|c| Currency::parse(&c.to_string()).ok()),
        })
    }

    /// `POST /v1/account_links`: `account`, `type=account_onboarding`, `refresh_url`, `return_url`.
    async fn onboarding_link(&self, req: OnboardingLinkRequest) -> Result<OnboardingLink, ProviderError> {
        let account = req.provider_account_id.clone().ok_or_else(|| {
            ProviderError::NotSupported("an onboarding link for an account Stripe does not know".into())
        })?;
        let request = CreateAccountLink::new(account, CreateAccountLinkType::AccountOnboarding)
            .refresh_url(req.refresh_url.clone())
            .return_url(req.return_url.clone());
        let link = self.send(&request, None, None).await?;
        Ok(OnboardingLink { url: link.url, expires_at: Some(link.expires_at) })
    }

    /// `POST /v1/accounts/{id}`: `settings[payouts][schedule][interval]` and, for weekly and
    /// monthly schedules, `weekly_anchor` (monday…sunday) or `monthly_anchor` (1…31).
    async fn update_payout_schedule(
        &self,
        provider_account_id: &str,
        schedule: PayoutSchedule,
    ) -> Result<(), ProviderError> {
        use UpdateAccountSettingsPayoutsScheduleInterval as Interval;
        let mut stripe_schedule = UpdateAccountSettingsPayoutsSchedule::new();
        match schedule {
            PayoutSchedule::Daily => stripe_schedule.interval = Some(Interval::Daily),
            PayoutSchedule::Manual => stripe_schedule.interval = Some(Interval::Manual),
            PayoutSchedule::Weekly { day_of_week } => {
                let day = weekday_name(day_of_week).ok_or_else(|| ProviderError::Rejected {
                    code: Some("invalid_schedule".into()),
                    message: format!("dayOfWeek must be 1 (Monday) to 7 (Sunday), got {day_of_week}"),
                })?;
                let Ok(anchor) = day.parse::<UpdateAccountSettingsPayoutsScheduleWeeklyAnchor>();
                stripe_schedule.interval = Some(Interval::Weekly);
                stripe_schedule.weekly_anchor = Some(anchor);
            }
            PayoutSchedule::Monthly { day_of_month } => {
                if !(1..=31).contains(&day_of_month) {
                    return Err(ProviderError::Rejected {
                        code: Some("invalid_schedule".into()),
                        message: format!("dayOfMonth must be 1 to 31, got {day_of_month}"),
                    });
                }
                stripe_schedule.interval = Some(Interval::Monthly);
                stripe_schedule.monthly_anchor = Some(day_of_month);
            }
        }
        let mut payouts = UpdateAccountSettingsPayouts::new();
        payouts.schedule = Some(stripe_schedule);
        let mut settings = UpdateAccountSettings::new();
        settings.payouts = Some(payouts);
        let request = UpdateAccount::new(provider_account_id).settings(settings);
        self.send(&request, None, None).await?;
        Ok(())
    }

    /// `POST /v1/payment_intents`: `amount`, `currency` (lower case), `application_fee_amount`,
    /// `transfer_data[destination]`, `metadata[…]`, with the idempotency key.
    async fn create_destination_charge(&self, req: DestinationCharge) -> Result<ChargeCreated, ProviderError> {
        let request = CreatePaymentIntent::new(req.amount, stripe_currency(req.currency))
            .application_fee_amount(req.application_fee_amount)
            .transfer_data(CreatePaymentIntentTransferData::new(req.destination.clone()))
            .metadata(hash_map(&req.metadata));
        self.create_intent(&request, &req.idempotency_key).await
    }

    /// `POST /v1/payment_intents` on the platform: `amount`, `currency`, `transfer_group` (our
    /// order id), `metadata[…]`; no `transfer_data` and no application fee (the platform keeps
    /// the whole charge until it transfers each seller's net).
    async fn create_platform_charge(&self, req: PlatformCharge) -> Result<ChargeCreated, ProviderError> {
        let request = CreatePaymentIntent::new(req.amount, stripe_currency(req.currency))
            .transfer_group(req.transfer_group.clone())
            .metadata(hash_map(&req.metadata));
        self.create_intent(&request, &req.idempotency_key).await
    }

    /// `POST /v1/transfers`: `amount`, `currency`, `destination`, `metadata[…]`, and for a
    /// transfer from a multi-seller charge `source_transaction` and `transfer_group`; idempotency
    /// key.
    async fn transfer(&self, req: TransferRequest) -> Result<TransferCreated, ProviderError> {
        let mut request = CreateTransfer::new(stripe_currency(req.currency), req.destination.clone())
            .amount(req.amount)
            .metadata(hash_map(&req.metadata));
        if let Some(charge) = &req.source_transaction {
            request = request.source_transaction(charge.clone());
        }
        if let Some(group) = &req.transfer_group {
            request = request.transfer_group(group.clone());
        }
        let transfer = self.send(&request, Some(&req.idempotency_key), None).await?;
        Ok(TransferCreated { transfer_id: transfer.id.as_str().to_owned() })
    }

    /// Finds the payment's transfer, then `POST /v1/transfers/{transfer}/reversals` with
    /// `amount`, `metadata[…]` and the idempotency key.
    async fn reverse_transfer(&self, req: ReversalRequest) -> Result<ReversalCreated, ProviderError> {
        if req.amount <= 0 {
            return Err(ProviderError::Rejected {
                code: Some("parameter_invalid".into()),
                message: format!("a transfer reversal must be positive, got {}", req.amount),
            });
        }
        strategy(Some(&req.idempotency_key))?;
        let transfer = match &req.transfer_id {
            Some(transfer) => transfer.clone(),
            None => self.transfer_of_payment(&req.payment_id).await?,
        };
        let form = ReversalForm { amount: req.amount, metadata: &req.metadata };
        let path = format!("/transfers/{transfer}/reversals");
        let body = self
            .send_raw_keyed(RequestBuilder::new(StripeMethod::Post, path).form(&form), None, Some(&req.idempotency_key))
            .await?;
        let reversal: ListedObject = serde_json::from_slice(&body)
            .map_err(|e| ProviderError::Ambiguous(format!("unreadable Stripe transfer reversal: {e}")))?;
        Ok(ReversalCreated { reversal_id: reversal.id })
    }

    /// Transfers: `GET /v1/transfers?destination=…&created[gte]=…` (every page); reversals:
    /// `GET /v1/transfers/{transfer of the payment}/reversals`; fee refunds:
    /// `GET /v1/application_fees/{fee of the payment}/refunds`; matched by `metadata[movementId]`.
    async fn find_movement(&self, lookup: MovementLookup) -> Result<Option<String>, ProviderError> {
        let now = chrono::Utc::now().timestamp() + 60;
        let found =
            match lookup.kind {
                OutgoingKind::Transfer => {
                    self.list_all("/transfers", lookup.destination.as_deref(), lookup.created_after, now, None).await?
                }
                OutgoingKind::TransferReversal => {
                    let payment = lookup.payment_id.clone().ok_or_else(|| {
                        ProviderError::NotSupported("looking a reversal up without its payment".into())
                    })?;
                    let transfer = match &lookup.transfer_id {
                        Some(transfer) => transfer.clone(),
                        None => self.transfer_of_payment(&payment).await?,
                    };
                    self.list_nested(&format!("/transfers/{transfer}/reversals")).await?
                }
                OutgoingKind::FeeRefund => {
                    let payment = lookup.payment_id.clone().ok_or_else(|| {
                        ProviderError::NotSupported("looking a fee refund up without its payment".into())
                    })?;
                    let fee = self.application_fee_of(&payment).await?;
                    self.list_nested(&format!("/application_fees/{}/refunds", fee.as_str())).await?
                }
                OutgoingKind::Refund => {
                    let payment = lookup
                        .payment_id
                        .clone()
                        .ok_or_else(|| ProviderError::NotSupported("looking a refund up without its payment".into()))?;
                    self.list_refunds(&payment).await?
                }
                other => return Err(ProviderError::NotSupported(format!("looking up a {other:?}"))),
            };
        // The object carrying every key the movement's calls carry (its id, or for calls made
        // by an earlier version the keys that version sent).
        Ok(found
            .into_iter()
            .find(|o| !lookup.metadata.is_empty() && lookup.metadata.iter().all(|(k, v)| o.metadata.get(k) == Some(v)))
            .map(|o| o.id))
    }

    /// The platform's balance transactions (`GET /v1/balance_transactions`) of the
    /// `charge` and `refund` reporting categories, as charges and refunds (by their source, the
    /// amount unsigned); application fees (`GET /v1/application_fees`, with `amount_refunded`), transfers
    /// (`GET /v1/transfers`) and their reversals, and each account's payouts
    /// (`GET /v1/payouts` with `Stripe-Account`), created in `[from, to)`.
    async fn money_records(
        &self,
        from: i64,
        to: i64,
        accounts: &[String],
    ) -> Result<Vec<ProviderRecord>, ProviderError> {
        let mut records = Vec::new();
        for txn in self.list_all("/balance_transactions", None, from, to, None).await? {
            let object = match txn.reporting_category.as_deref() {
                Some("charge") => ReconObjectKind::Charge,
                Some("refund") => ReconObjectKind::Refund,
                _ => continue,
            };
            let Some(source) = txn.source.clone() else { continue };
            let category = txn.reporting_category.clone();
            records.push(ProviderRecord {
                object,
                id: source,
                parent: Some(txn.id.clone()),
                account: None,
                amount: txn.amount.checked_abs().unwrap_or(i64::MAX),
                currency: Currency::parse(&txn.currency).ok(),
                status: category,
                created: txn.created,
                metadata: BTreeMap::new(),
            });
        }
        for fee in self.list_all("/application_fees", None, from, to, None).await? {
            let refunded = fee.amount_refunded.unwrap_or(0);
            let (charge, account) = (fee.charge.clone(), fee.account.clone());
            let fee_id = fee.id.clone();
            let (currency, created) = (fee.currency.clone(), fee.created);
            records.push(fee.record(ReconObjectKind::ApplicationFee, charge.clone(), account.clone()));
            if refunded > 0 {
                records.push(ProviderRecord {
                    object: ReconObjectKind::FeeRefund,
                    id: format!("{fee_id}:refunded"),
                    parent: charge,
                    account,
                    amount: refunded,
                    currency: Currency::parse(&currency).ok(),
                    status: None,
                    created,
                    metadata: BTreeMap::new(),
                });
            }
        }
        for transfer in self.list_all("/transfers", None, from, to, None).await? {
            let parent = transfer.source_transaction.clone();
            let account = transfer.destination.clone();
            let id = transfer.id.clone();
            records.push(transfer.record(ReconObjectKind::Transfer, parent, account.clone()));
            for reversal in self.list_nested(&format!("/transfers/{id}/reversals")).await? {
                let parent = reversal.transfer.clone().or_else(|| Some(id.clone()));
                records.push(reversal.record(ReconObjectKind::TransferReversal, parent, account.clone()));
            }
        }
        for account in accounts {
            for payout in self.list_all("/payouts", None, from, to, Some(account)).await? {
                records.push(payout.record(ReconObjectKind::Payout, None, Some(account.clone())));
            }
        }
        Ok(records)
    }

    /// `POST /v1/payouts` on the connected account (`Stripe-Account` header): `amount`,
    /// `currency`, idempotency key.
    async fn payout(&self, req: PayoutRequest) -> Result<PayoutCreated, ProviderError> {
        let request = CreatePayout::new(req.amount, stripe_currency(req.currency));
        let payout = self.send(&request, Some(&req.idempotency_key), Some(&req.provider_account_id)).await?;
        Ok(PayoutCreated { payout_id: payout.id.as_str().to_owned() })
    }

    /// `POST /v1/refunds`: `payment_intent`, `amount`, `reverse_transfer`,
    /// `refund_application_fee=false` (the fee share is returned exactly by
    /// [`Self::refund_application_fee`], never Stripe's proportional one, which would include the
    /// processing-fee part, R-REF-4), `metadata[…]`, the request's idempotency key. Then reads the
    /// charge's cumulative `amount_refunded` back (`GET /v1/payment_intents/{id}?expand[0]=latest_charge`);
    /// when that read fails the refund is still reported, without the total.
    async fn refund(&self, req: RefundRequest) -> Result<RefundCreated, ProviderError> {
        strategy(Some(&req.idempotency_key))?;
        let request = CreateRefund::new()
            .payment_intent(req.payment_id.clone())
            .amount(req.amount)
            .reverse_transfer(req.reverse_transfer)
            .refund_application_fee(false)
            .metadata(hash_map(&req.metadata));
        let refund = self.send(&request, Some(&req.idempotency_key), None).await?;
        let charge_amount_refunded = self.charge_amount_refunded(&req.payment_id).await;
        Ok(RefundCreated { refund_id: refund.id.as_str().to_owned(), amount: refund.amount, charge_amount_refunded })
    }

    /// Finds the charge's application fee (`GET /v1/payment_intents/{id}?expand[0]=latest_charge`;
    /// `Rejected { code: "application_fee_missing" }` when there is none), then
    /// `POST /v1/application_fees/{fee}/refunds` with `amount`, `metadata[…]` and the key.
    async fn refund_application_fee(&self, req: FeeRefundRequest) -> Result<FeeRefundCreated, ProviderError> {
        if req.amount <= 0 {
            return Err(ProviderError::Rejected {
                code: Some("parameter_invalid".into()),
                message: format!("an application-fee refund must be positive, got {}", req.amount),
            });
        }
        strategy(Some(&req.idempotency_key))?;
        let fee = self.application_fee_of(&req.payment_id).await?;
        let request = CreateIdApplicationFeeRefund::new(fee).amount(req.amount).metadata(hash_map(&req.metadata));
        let fee_refund = self.send(&request, Some(&req.idempotency_key), None).await?;
        Ok(FeeRefundCreated { fee_refund_id: fee_refund.id.as_str().to_owned() })
    }

    /// `GET /v1/balance` with `Stripe-Account`. Amounts in currencies the domain does not support
    /// are skipped (and logged).
    async fn balance(&self, provider_account_id: &str) -> Result<ProviderBalance, ProviderError> {
        let balance = self.send(&RetrieveForMyAccountBalance::new(), None, Some(provider_account_id)).await?;
        Ok(ProviderBalance {
            available: domain_amounts(&balance.available, provider_account_id),
            pending: domain_amounts(&balance.pending, provider_account_id),
        })
    }

    /// [`StripeConnect::account_events_since`]: the platform's events when `account` is `None`,
    /// else the connected account's (`Stripe-Account`).
    async fn events_since(
        &self,
        account: Option<&str>,
        created_after: i64,
        limit: u32,
    ) -> Result<Vec<ProviderEvent>, ProviderError> {
        self.account_events_since(account, created_after, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, created: i64) -> ProviderEvent {
        ProviderEvent { id: id.into(), event_type: "t".into(), created, payload: "{}".into() }
    }

    #[test]
    fn api_base_is_normalized_and_validated() {
        assert_eq!(normalize_api_base("http://127.0.0.1:1234"), Ok("http://127.0.0.1:1234/".into()));
        assert_eq!(normalize_api_base("https://x.test/stripe/"), Ok("https://x.test/stripe/".into()));
        for bad in ["127.0.0.1:1234", "ftp://x", "http://", "http:///x", "http://x?y"] {
            assert!(normalize_api_base(bad).is_err(), "{bad}");
        }
        let secret = SecretString::from("sk_test_x");
        assert!(StripeConnect::new(secret.clone(), Some("127.0.0.1:9".into())).is_err());
        assert!(StripeConnect::new(SecretString::from(" "), None).is_err());
        assert!(StripeConnect::new(SecretString::from("sk_test_\nx"), None).is_err());
        let ok = StripeConnect::new(secret, Some("http://127.0.0.1:9".into())).expect("client");
        assert!(!format!("{ok:?}").contains("sk_test"));
    }

    #[test]
    fn oldest_first_never_splits_a_second() {
        let newest_first = vec![event("e5", 30), event("e4", 20), event("e3", 20), event("e2", 20), event("e1", 10)];
        let ids = |v: Vec<ProviderEvent>| v.into_iter().map(|e| e.id).collect::<Vec<_>>();
        assert_eq!(ids(oldest_first(newest_first.clone(), 1)), ["e1"]);
        assert_eq!(ids(oldest_first(newest_first.clone(), 2)), ["e1", "e2", "e3", "e4"]);
        assert_eq!(ids(oldest_first(newest_first.clone(), 4)), ["e1", "e2", "e3", "e4"]);
        assert_eq!(ids(oldest_first(newest_first.clone(), 5)), ["e1", "e2", "e3", "e4", "e5"]);
        assert_eq!(ids(oldest_first(newest_first, 50)).len(), 5);
    }

    #[test]
    fn idempotency_keys_are_validated_before_sending() {
        assert!(matches!(strategy(Some("")), Err(ProviderError::Rejected { .. })));
        assert!(matches!(strategy(Some(&"k".repeat(256))), Err(ProviderError::Rejected { .. })));
        assert!(matches!(strategy(Some("order-1")), Ok(RequestStrategy::Idempotent(_))));
        assert!(matches!(strategy(None), Ok(RequestStrategy::Once)));
    }
}
