//! Stripe webhook inbox shared by both subgraphs (R-HOOK-1…3).
//!
//! `POST /webhooks/stripe`: the signature is verified (every configured secret, every `v1`)
//! before anything is parsed; the event is stored once (unique on receiver + provider + event
//! id) before the 200 is sent; then it is applied in a transaction that also marks it processed.
//! A failed apply leaves it stored and due for retry with backoff; a background loop retries
//! due events, so nothing is lost if the process dies at any point.

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use entity::webhook_events;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde::Deserialize;

use crate::clock;

pub const PROVIDER_STRIPE: &str = "stripe";

/// The Stripe event envelope: what we need to route an event; the object stays JSON until the
/// handler that owns its type parses it.
#[derive(Debug, Clone, Deserialize)]
pub struct StripeEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub created: i64,
    #[serde(default)]
    pub account: Option<String>,
    pub data: EventData,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventData {
    pub object: serde_json::Value,
}

/// What applying an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// Not this receiver's event type, or nothing to do (recorded, no effect).
    Ignored(String),
    /// Stored for an admin to look at (e.g. unusable metadata); never guessed.
    NeedsAttention(String),
}

/// Applying failed; the event stays stored and is retried.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("{0}")]
    Retry(String),
}

/// The subgraph-specific part: applies one event inside `txn`.
#[async_trait]
pub trait EventApplier: Send + Sync + 'static {
    async fn apply(&self, txn: &DatabaseTransaction, event: &StripeEvent) -> Result<Outcome, ApplyError>;
}

/// Verifies a raw body against the request headers (signature, timestamp tolerance).
pub trait SignatureVerifier: Send + Sync + 'static {
    fn verify(&self, payload: &[u8], headers: &HeaderMap) -> Result<(), String>;
}

pub const STATUS_RECEIVED: &str = "RECEIVED";
pub const STATUS_PROCESSED: &str = "PROCESSED";
pub const STATUS_IGNORED: &str = "IGNORED";
pub const STATUS_NEEDS_ATTENTION: &str = "NEEDS_ATTENTION";
pub const STATUS_FAILED: &str = "FAILED";

#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("malformed event: {0}")]
    Malformed(String),
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

/// Whether a delivery was new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    New { row_id: String },
    Duplicate,
}

/// The inbox of one receiver (subgraph).
#[derive(Clone)]
pub struct Inbox {
    pub db: DatabaseConnection,
    pub receiver: &'static str,
    pub applier: Arc<dyn EventApplier>,
}

impl Inbox {
    /// Parses the envelope and stores the event; a known event id is a duplicate.
    pub async fn store(&self, payload: &[u8]) -> Result<(Received, StripeEvent), InboxError> {
        let text = std::str::from_utf8(payload).map_err(|_| InboxError::Malformed("body is not UTF-8".into()))?;
        let event: StripeEvent = serde_json::from_str(text).map_err(|e| InboxError::Malformed(e.to_string()))?;
        if event.id.is_empty() || event.event_type.is_empty() {
            return Err(InboxError::Malformed("event id and type are required".into()));
        }
        let row_id = uuid::Uuid::now_v7().to_string();
        let row = webhook_events::ActiveModel {
            id: Set(row_id.clone()),
            receiver: Set(self.receiver.to_owned()),
            provider: Set(PROVIDER_STRIPE.to_owned()),
            event_id: Set(event.id.clone()),
            event_type: Set(event.event_type.clone()),
            provider_created: Set(event.created),
            payload: Set(text.to_owned()),
            status: Set(STATUS_RECEIVED.to_owned()),
            attempts: Set(0),
            last_error: Set(None),
            next_attempt_at: Set(Some(clock::now())),
            locked_until: Set(None),
            received_at: Set(clock::now()),
            processed_at: Set(None),
        };
        match webhook_events::Entity::insert(row).exec_without_returning(&self.db).await {
            Ok(_) => Ok((Received::New { row_id }, event)),
            Err(e) if crate::db::is_unique_violation(&e) => Ok((Received::Duplicate, event)),
            Err(e) => Err(e.into()),
        }
    }

    /// Claims and applies one stored event. Returns `Ok(None)` when another worker holds it or
    /// it is already done.
    pub async fn process(&self, row_id: &str) -> Result<Option<Outcome>, DbErr> {
        let now = clock::now();
        let claimed = webhook_events::Entity::update_many()
            .col_expr(webhook_events::Column::LockedUntil, Expr::value(now + Duration::seconds(60)))
            .filter(webhook_events::Column::Id.eq(row_id))
            .filter(webhook_events::Column::Status.is_in([STATUS_RECEIVED, STATUS_FAILED]))
            .filter(webhook_events::Column::LockedUntil.is_null().or(webhook_events::Column::LockedUntil.lt(now)))
            .exec(&self.db)
            .await?;
        if claimed.rows_affected != 1 {
            return Ok(None);
        }
        let Some(row) = webhook_events::Entity::find_by_id(row_id.to_owned()).one(&self.db).await? else {
            return Ok(None);
        };
        let event: StripeEvent = match serde_json::from_str(&row.payload) {
            Ok(e) => e,
            Err(e) => {
                self.finish(&self.db, row_id, STATUS_NEEDS_ATTENTION, Some(format!("unparseable: {e}"))).await?;
                return Ok(Some(Outcome::NeedsAttention(e.to_string())));
            }
        };
        let txn = crate::db::begin_write(&self.db).await?;
        match self.applier.apply(&txn, &event).await {
            Ok(outcome) => {
                let (status, note) = match &outcome {
                    Outcome::Applied => (STATUS_PROCESSED, None),
                    Outcome::Ignored(why) => (STATUS_IGNORED, Some(why.clone())),
                    Outcome::NeedsAttention(why) => (STATUS_NEEDS_ATTENTION, Some(why.clone())),
                };
                self.finish(&txn, row_id, status, note).await?;
                txn.commit().await?;
                metrics::counter!("webhook_events_applied_total", "receiver" => self.receiver, "status" => status)
                    .increment(1);
                Ok(Some(outcome))
            }
            Err(e) => {
                let _ = txn.rollback().await;
                tracing::warn!(event_id = %event.id, event_type = %event.event_type, error = %e, "applying webhook event failed; will retry");
                metrics::counter!("webhook_events_failed_total", "receiver" => self.receiver).increment(1);
                let attempts = row.attempts + 1;
                webhook_events::Entity::update_many()
                    .col_expr(webhook_events::Column::Status, Expr::value(STATUS_FAILED))
                    .col_expr(webhook_events::Column::Attempts, Expr::value(attempts))
                    .col_expr(webhook_events::Column::LastError, Expr::value(e.to_string()))
                    .col_expr(
                        webhook_events::Column::NextAttemptAt,
                        Expr::value(clock::now() + clock::backoff(attempts)),
                    )
                    .col_expr(
                        webhook_events::Column::LockedUntil,
                        Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
                    )
                    .filter(webhook_events::Column::Id.eq(row_id))
                    .exec(&self.db)
                    .await?;
                Ok(None)
            }
        }
    }

    async fn finish<C: sea_orm::ConnectionTrait>(
        &self,
        conn: &C,
        row_id: &str,
        status: &str,
        note: Option<String>,
    ) -> Result<(), DbErr> {
        webhook_events::Entity::update_many()
            .col_expr(webhook_events::Column::Status, Expr::value(status))
            .col_expr(webhook_events::Column::LastError, Expr::value(note))
            .col_expr(webhook_events::Column::ProcessedAt, Expr::value(Some(clock::now())))
            .col_expr(webhook_events::Column::LockedUntil, Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None))
            .filter(webhook_events::Column::Id.eq(row_id))
            .exec(conn)
            .await?;
        Ok(())
    }

    /// Applies every stored event that is due (new or failed, not locked). Returns how many
    /// were applied. Run periodically by [`Inbox::spawn_retry_loop`].
    pub async fn process_due(&self, limit: u64) -> Result<usize, DbErr> {
        let now = clock::now();
        let due = webhook_events::Entity::find()
            .filter(webhook_events::Column::Receiver.eq(self.receiver))
            .filter(webhook_events::Column::Status.is_in([STATUS_RECEIVED, STATUS_FAILED]))
            .filter(webhook_events::Column::NextAttemptAt.is_null().or(webhook_events::Column::NextAttemptAt.lte(now)))
            .order_by_asc(webhook_events::Column::ProviderCreated)
            .limit(limit)
            .all(&self.db)
            .await?;
        let mut done = 0;
        for row in due {
            if self.process(&row.id).await?.is_some() {
                done += 1;
            }
        }
        Ok(done)
    }

    /// Retries due events every `every` until the process stops.
    pub fn spawn_retry_loop(&self, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let inbox = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Err(e) = inbox.process_due(100).await {
                    tracing::warn!(error = %e, "webhook retry pass failed");
                }
            }
        })
    }
}

/// State of the webhook route.
#[derive(Clone)]
pub struct WebhookState {
    pub inbox: Inbox,
    pub verifier: Arc<dyn SignatureVerifier>,
}

fn reject(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({"error": {"code": code, "message": message}}))).into_response()
}

/// `POST /webhooks/stripe`. Body size is limited by the router (413 above the limit).
pub async fn stripe_webhook(State(state): State<WebhookState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(why) = state.verifier.verify(&body, &headers) {
        tracing::info!(reason = %why, "webhook signature rejected");
        metrics::counter!("webhook_rejected_total", "reason" => "signature").increment(1);
        return reject(StatusCode::BAD_REQUEST, "INVALID_SIGNATURE", &why);
    }
    // Storing and applying run in their own task: a client that hangs up after sending does not
    // cancel them halfway (the event would then wait for the retry loop, or not be stored).
    let inbox = state.inbox.clone();
    let outcome = tokio::spawn(async move {
        let stored = inbox.store(&body).await;
        if let Ok((Received::New { row_id }, event)) = &stored
            && let Err(e) = inbox.process(row_id).await
        {
            // Stored durably; a failure to apply is retried by the loop, the 200 stands.
            tracing::warn!(event_id = %event.id, error = %e, "webhook apply deferred");
        }
        stored
    })
    .await;
    match outcome {
        Err(e) => {
            tracing::error!(error = %e, "webhook task failed");
            reject(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "try again")
        }
        Ok(Err(InboxError::Malformed(why))) => reject(StatusCode::BAD_REQUEST, "MALFORMED_EVENT", &why),
        Ok(Err(InboxError::Db(e))) => {
            tracing::error!(error = %e, "cannot store webhook event");
            // Not stored: a 5xx makes Stripe deliver it again.
            reject(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "try again")
        }
        Ok(Ok((Received::Duplicate, event))) => {
            tracing::debug!(event_id = %event.id, "duplicate webhook delivery");
            (StatusCode::OK, axum::Json(serde_json::json!({"received": true, "duplicate": true}))).into_response()
        }
        Ok(Ok((Received::New { .. }, _))) => {
            (StatusCode::OK, axum::Json(serde_json::json!({"received": true}))).into_response()
        }
    }
}

/// What a backfill did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BackfillReport {
    pub fetched: usize,
    pub stored: usize,
    pub duplicates: usize,
}

impl Inbox {
    /// Replays events the provider still has (R-HOOK-3): every event created after
    /// `created_after` on the platform (`None`) and on each listed connected account is stored
    /// like a delivery (a known event id is a duplicate) and applied. Idempotent.
    pub async fn backfill(
        &self,
        provider: &dyn domain::provider::PayoutProvider,
        accounts: &[Option<String>],
        created_after: i64,
    ) -> Result<BackfillReport, anyhow::Error> {
        let mut report = BackfillReport::default();
        for account in accounts {
            let events = provider.events_since(account.as_deref(), created_after, 10_000).await?;
            report.fetched += events.len();
            for e in events {
                match self.store(e.payload.as_bytes()).await? {
                    (Received::New { row_id }, _) => {
                        report.stored += 1;
                        self.process(&row_id).await?;
                    }
                    (Received::Duplicate, _) => report.duplicates += 1,
                }
            }
        }
        Ok(report)
    }
}
