//! The webhook inbox shared by both subgraphs (R-HOOK-1…3, R-HOOK-5), for every provider.
//!
//! `POST /webhooks/<provider>`: the provider's signature is verified before anything is parsed;
//! the body is read into a provider-neutral [`ProviderEvent`] by the providers crate and stored
//! raw, keyed by (receiver, provider, event id). The subgraphs apply neutral events only.
//!
//! A new event is stored and applied in **one transaction** that also
//! marks it processed, so an event is either stored-and-applied or not stored at all (and then not
//! acknowledged: the provider delivers it again). Only when applying fails is the event stored on
//! its own, as FAILED, for the retry loop.
//!
//! Claims are the transaction's own row lock (PostgreSQL `FOR UPDATE SKIP LOCKED`, SQLite's write
//! lock), never a lease with an expiry: work claimed by a process that dies is rolled back by the
//! database and is free again at once. A redelivery of an event that is stored but not applied
//! (FAILED, or RECEIVED from a backfill) applies it at once; the retry loop applies what is due.
//! An operator replays an event waiting for an admin with [`Inbox::replay`].

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::events::ProviderEvent;
use domain::provider::ProviderKind;
use entity::webhook_events;
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, TryInsertResult,
};

use crate::clock;

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
    /// `payload` is the raw body as the provider sent it, opaque to the subgraph (kept with
    /// what it records for an admin).
    async fn apply(
        &self,
        txn: &DatabaseTransaction,
        event: &ProviderEvent,
        payload: &str,
    ) -> Result<Outcome, ApplyError>;
}

/// Verifies a raw body against the request headers (signature, timestamp tolerance), before
/// anything is parsed. One per provider.
#[async_trait]
pub trait SignatureVerifier: Send + Sync + 'static {
    async fn verify(&self, payload: &[u8], headers: &HeaderMap) -> Result<(), String>;
}

pub use entity::enums::WebhookStatus;

#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("malformed event: {0}")]
    Malformed(String),
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

/// What a delivery came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A new event: stored, and applied unless `outcome` is `None` (applying failed; it is stored
    /// as FAILED and retried).
    New { row_id: String, outcome: Option<Outcome> },
    /// A known event. `applied_now` when it was stored but not applied yet and this delivery
    /// applied it.
    Duplicate { row_id: String, applied_now: bool },
}

/// A page of inbox events for operators.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub receiver: Option<String>,
    pub status: Option<WebhookStatus>,
    pub limit: u64,
    pub offset: u64,
}

/// Who replays an event, and why (audited).
#[derive(Debug, Clone)]
pub struct Replay<'a> {
    pub actor: &'a str,
    pub reason: &'a str,
}

/// What a replay came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replayed {
    /// Applied again now; the event's status afterwards.
    Applied(WebhookStatus),
    /// It was already PROCESSED or IGNORED: nothing to do (a replay twice is a no-op).
    AlreadyDone(WebhookStatus),
    /// Applying failed again; stored as FAILED with the error.
    Failed(String),
    /// Another receiver's event: made due now (RECEIVED) for that subgraph's retry loop.
    Queued,
}

fn parse_event(provider: ProviderKind, payload: &[u8]) -> Result<(&str, ProviderEvent), InboxError> {
    let text = std::str::from_utf8(payload).map_err(|_| InboxError::Malformed("body is not UTF-8".into()))?;
    let event = providers::events::normalize(provider, text).map_err(|e| InboxError::Malformed(e.0))?;
    Ok((text, event))
}

/// Locks the selected rows for this transaction on PostgreSQL: `SKIP LOCKED` when another worker
/// may hold them (that worker applies them), a plain `FOR UPDATE` when we must wait for it.
/// SQLite's write transaction already excludes every other writer.
fn locked<S: QuerySelect>(query: S, backend: DbBackend, skip: bool) -> S {
    if backend != DbBackend::Postgres {
        return query;
    }
    if skip { query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked) } else { query.lock_exclusive() }
}

/// The inbox of one receiver (subgraph).
#[derive(Clone)]
pub struct Inbox {
    pub db: DatabaseConnection,
    pub receiver: &'static str,
    pub applier: Arc<dyn EventApplier>,
}

impl Inbox {
    fn new_row(&self, row_id: &str, text: &str, event: &ProviderEvent) -> webhook_events::ActiveModel {
        webhook_events::ActiveModel {
            id: Set(row_id.to_owned()),
            receiver: Set(self.receiver.to_owned()),
            provider: Set(event.provider.into()),
            event_id: Set(event.id.clone()),
            event_type: Set(event.event_type.clone()),
            provider_created: Set(event.created),
            payload: Set(text.to_owned()),
            status: Set(WebhookStatus::Received),
            attempts: Set(0),
            last_error: Set(None),
            next_attempt_at: Set(Some(clock::now())),
            locked_until: Set(None),
            received_at: Set(clock::now()),
            processed_at: Set(None),
        }
    }

    async fn insert_new<C: ConnectionTrait>(&self, conn: &C, row: webhook_events::ActiveModel) -> Result<bool, DbErr> {
        let res = webhook_events::Entity::insert(row)
            .on_conflict_do_nothing_on([
                webhook_events::Column::Receiver,
                webhook_events::Column::Provider,
                webhook_events::Column::EventId,
            ])
            .exec_without_returning(conn)
            .await?;
        Ok(matches!(res, TryInsertResult::Inserted(n) if n > 0))
    }

    /// A delivery: stores a new event and applies it in the same transaction; applies a known
    /// event that is stored but not applied (and not being applied elsewhere); acknowledges the
    /// rest as duplicates. `Err` means nothing new was stored (answer 5xx: the provider retries).
    pub async fn receive(
        &self,
        provider: ProviderKind,
        payload: &[u8],
    ) -> Result<(Received, ProviderEvent), InboxError> {
        let (text, event) = parse_event(provider, payload)?;
        let row_id = uuid::Uuid::now_v7().to_string();
        let txn = crate::db::begin_write(&self.db).await?;
        if self.insert_new(&txn, self.new_row(&row_id, text, &event)).await? {
            let outcome = match self.applier.apply(&txn, &event, text).await {
                Ok(outcome) => {
                    self.finish(&txn, &row_id, &outcome).await?;
                    txn.commit().await?;
                    self.count(&outcome);
                    Some(outcome)
                }
                Err(e) => {
                    let _ = txn.rollback().await;
                    self.log_failure(&event, &e);
                    // Stored on its own as FAILED, so the 200 that follows is true.
                    let mut row = self.new_row(&row_id, text, &event);
                    row.status = Set(WebhookStatus::Failed);
                    row.attempts = Set(1);
                    row.last_error = Set(Some(e.to_string()));
                    row.next_attempt_at = Set(Some(clock::now() + clock::backoff(1)));
                    self.insert_new(&self.db, row).await?;
                    None
                }
            };
            return Ok((Received::New { row_id, outcome }, event));
        }
        // Known. If it is stored but not applied and nobody is applying it, apply it now: a
        // redelivery must not wait for the retry loop.
        let pending = locked(
            self.by_event_id(event.provider, &event.id)
                .filter(webhook_events::Column::Status.is_in(WebhookStatus::DUE)),
            txn.get_database_backend(),
            true,
        )
        .one(&txn)
        .await?;
        let Some(row) = pending else {
            txn.commit().await?;
            let known =
                self.by_event_id(event.provider, &event.id).one(&self.db).await?.map(|r| r.id).unwrap_or_default();
            return Ok((Received::Duplicate { row_id: known, applied_now: false }, event));
        };
        let applied = self.apply_locked(txn, &row, &event, text, None).await?;
        Ok((Received::Duplicate { row_id: row.id, applied_now: applied.is_some() }, event))
    }

    fn by_event_id(&self, provider: ProviderKind, event_id: &str) -> sea_orm::Select<webhook_events::Entity> {
        webhook_events::Entity::find()
            .filter(webhook_events::Column::Receiver.eq(self.receiver))
            .filter(webhook_events::Column::Provider.eq(entity::enums::Provider::from(provider)))
            .filter(webhook_events::Column::EventId.eq(event_id))
    }

    /// Stores an event without applying it (status RECEIVED); `None` for a known event id.
    /// The retry loop (or [`Inbox::process`]) applies it.
    pub async fn store(
        &self,
        provider: ProviderKind,
        payload: &[u8],
    ) -> Result<(Option<String>, ProviderEvent), InboxError> {
        let (text, event) = parse_event(provider, payload)?;
        let row_id = uuid::Uuid::now_v7().to_string();
        let stored = self.insert_new(&self.db, self.new_row(&row_id, text, &event)).await?;
        Ok((stored.then_some(row_id), event))
    }

    /// Claims and applies one stored, due event (RECEIVED or FAILED). `Ok(None)` when another
    /// worker is applying it, it is already done, or applying failed (it stays FAILED).
    pub async fn process(&self, row_id: &str) -> Result<Option<Outcome>, DbErr> {
        let txn = crate::db::begin_write(&self.db).await?;
        let row = locked(
            webhook_events::Entity::find_by_id(row_id.to_owned())
                .filter(webhook_events::Column::Status.is_in(WebhookStatus::DUE)),
            txn.get_database_backend(),
            true,
        )
        .one(&txn)
        .await?;
        let Some(row) = row else {
            txn.rollback().await?;
            return Ok(None);
        };
        self.apply_row(txn, row, None).await
    }

    /// Applies an event again after its cause was fixed (an operator's replay): RECEIVED, FAILED
    /// or NEEDS_ATTENTION. Waits for a worker applying it at the same moment; an event already
    /// PROCESSED or IGNORED is left alone. Idempotent like every apply, and audited. `None` when
    /// this receiver has no such event.
    pub async fn replay(&self, row_id: &str, who: Replay<'_>) -> Result<Option<Replayed>, DbErr> {
        let (txn, row, status) = match lock_replayable(&self.db, row_id, Some(self.receiver)).await? {
            Ok(claimed) => claimed,
            Err(answer) => return Ok(answer),
        };
        let before = serde_json::json!({"status": status.as_str(), "lastError": row.last_error});
        let row_id = row.id.clone();
        match self.apply_row(txn, row, Some((&who, before.clone()))).await? {
            Some(outcome) => Ok(Some(Replayed::Applied(status_of(&outcome)))),
            None => {
                let failed = webhook_events::Entity::find_by_id(row_id.clone()).one(&self.db).await?;
                let error = failed.and_then(|r| r.last_error).unwrap_or_default();
                crate::audit::record(
                    &self.db,
                    crate::audit::AuditEntry {
                        actor: who.actor,
                        action: "webhook_event.replay_failed",
                        entity_type: "webhook_event",
                        entity_id: &row_id,
                        malet_id: None,
                        before: Some(before),
                        after: Some(serde_json::json!({"status": "FAILED", "lastError": error})),
                        reason: Some(who.reason),
                    },
                )
                .await?;
                Ok(Some(Replayed::Failed(error)))
            }
        }
    }

    /// Applies a claimed row (its payload parsed here) in `txn`.
    async fn apply_row(
        &self,
        txn: crate::db::WriteTxn,
        row: webhook_events::Model,
        audit: Option<(&Replay<'_>, serde_json::Value)>,
    ) -> Result<Option<Outcome>, DbErr> {
        let event = match providers::events::normalize(row.provider.kind(), &row.payload) {
            Ok(e) => e,
            Err(e) => {
                let outcome = Outcome::NeedsAttention(format!("unparseable: {e}"));
                self.finish(&txn, &row.id, &outcome).await?;
                txn.commit().await?;
                return Ok(Some(outcome));
            }
        };
        self.apply_locked(txn, &row, &event, &row.payload, audit).await
    }

    /// Applies `event` of the claimed `row` in `txn` and commits; on failure rolls back and
    /// records the attempt (FAILED, with backoff).
    async fn apply_locked(
        &self,
        txn: crate::db::WriteTxn,
        row: &webhook_events::Model,
        event: &ProviderEvent,
        payload: &str,
        audit: Option<(&Replay<'_>, serde_json::Value)>,
    ) -> Result<Option<Outcome>, DbErr> {
        match self.applier.apply(&txn, event, payload).await {
            Ok(outcome) => {
                self.finish(&txn, &row.id, &outcome).await?;
                if let Some((who, before)) = audit {
                    let (status, note) = status_and_note(&outcome);
                    crate::audit::record(
                        &txn,
                        crate::audit::AuditEntry {
                            actor: who.actor,
                            action: "webhook_event.replay",
                            entity_type: "webhook_event",
                            entity_id: &row.id,
                            malet_id: None,
                            before: Some(before),
                            after: Some(serde_json::json!({"status": status.as_str(), "lastError": note})),
                            reason: Some(who.reason),
                        },
                    )
                    .await?;
                }
                txn.commit().await?;
                self.count(&outcome);
                Ok(Some(outcome))
            }
            Err(e) => {
                let _ = txn.rollback().await;
                self.log_failure(event, &e);
                let attempts = row.attempts + 1;
                webhook_events::Entity::update_many()
                    .col_expr(webhook_events::Column::Status, Expr::value(WebhookStatus::Failed.as_str()))
                    .col_expr(webhook_events::Column::Attempts, Expr::value(attempts))
                    .col_expr(webhook_events::Column::LastError, Expr::value(e.to_string()))
                    .col_expr(
                        webhook_events::Column::NextAttemptAt,
                        Expr::value(clock::now() + clock::backoff(attempts)),
                    )
                    .filter(webhook_events::Column::Id.eq(row.id.clone()))
                    // Only if nobody applied it since our rollback released it (another delivery
                    // or replica may have): never turn PROCESSED back into FAILED.
                    .filter(webhook_events::Column::Status.is_in(WebhookStatus::REPLAYABLE))
                    .filter(webhook_events::Column::Attempts.eq(row.attempts))
                    .exec(&self.db)
                    .await?;
                Ok(None)
            }
        }
    }

    fn log_failure(&self, event: &ProviderEvent, e: &ApplyError) {
        tracing::warn!(event_id = %event.id, event_type = %event.event_type, error = %e, "applying webhook event failed; will retry");
        metrics::counter!("webhook_events_failed_total", "receiver" => self.receiver).increment(1);
    }

    fn count(&self, outcome: &Outcome) {
        let status = status_of(outcome).as_str();
        metrics::counter!("webhook_events_applied_total", "receiver" => self.receiver, "status" => status).increment(1);
    }

    async fn finish<C: ConnectionTrait>(&self, conn: &C, row_id: &str, outcome: &Outcome) -> Result<(), DbErr> {
        let (status, note) = status_and_note(outcome);
        webhook_events::Entity::update_many()
            .col_expr(webhook_events::Column::Status, Expr::value(status.as_str()))
            .col_expr(webhook_events::Column::LastError, Expr::value(note))
            .col_expr(webhook_events::Column::ProcessedAt, Expr::value(Some(clock::now())))
            .filter(webhook_events::Column::Id.eq(row_id))
            .exec(conn)
            .await?;
        Ok(())
    }

    /// Applies every stored event that is due (RECEIVED, or FAILED whose backoff is over), oldest
    /// first, skipping those another worker is applying. Returns how many were applied. Run
    /// periodically by [`crate::subgraph::SubgraphState::spawn_webhook_retries`].
    pub async fn process_due(&self, limit: u64) -> Result<usize, DbErr> {
        let due: Vec<String> = due_select(self.receiver, clock::now(), limit).into_tuple().all(&self.db).await?;
        let mut done = 0;
        for id in due {
            if self.process(&id).await?.is_some() {
                done += 1;
            }
        }
        Ok(done)
    }
}

/// What a replay found: the event locked in a new write transaction with its replayable status,
/// or the answer to give at once (`None`: no such event, of `receiver` when named; `AlreadyDone`:
/// it is PROCESSED or IGNORED). Waits for a worker applying the event at the same moment.
type Locked = Result<(crate::db::WriteTxn, webhook_events::Model, WebhookStatus), Option<Replayed>>;

async fn lock_replayable(db: &DatabaseConnection, row_id: &str, receiver: Option<&str>) -> Result<Locked, DbErr> {
    let txn = crate::db::begin_write(db).await?;
    let mut query = webhook_events::Entity::find_by_id(row_id.to_owned());
    if let Some(receiver) = receiver {
        query = query.filter(webhook_events::Column::Receiver.eq(receiver));
    }
    let Some(row) = locked(query, txn.get_database_backend(), false).one(&txn).await? else {
        txn.rollback().await?;
        return Ok(Err(None));
    };
    let status = row.status;
    if !WebhookStatus::REPLAYABLE.contains(&status) {
        txn.rollback().await?;
        return Ok(Err(Some(Replayed::AlreadyDone(status))));
    }
    Ok(Ok((txn, row, status)))
}

/// Makes another receiver's replayable event due now (RECEIVED, no backoff), audited, for that
/// subgraph's retry loop to apply (every `WEBHOOK_RETRY_INTERVAL_MS`). `None` when there is no
/// such event.
pub async fn requeue(db: &DatabaseConnection, row_id: &str, who: Replay<'_>) -> Result<Option<Replayed>, DbErr> {
    let (txn, row, status) = match lock_replayable(db, row_id, None).await? {
        Ok(claimed) => claimed,
        Err(answer) => return Ok(answer),
    };
    webhook_events::Entity::update_many()
        .col_expr(webhook_events::Column::Status, Expr::value(WebhookStatus::Received.as_str()))
        .col_expr(webhook_events::Column::NextAttemptAt, Expr::value(Some(clock::now())))
        .filter(webhook_events::Column::Id.eq(row_id))
        .exec(&txn)
        .await?;
    crate::audit::record(
        &txn,
        crate::audit::AuditEntry {
            actor: who.actor,
            action: "webhook_event.replay_requested",
            entity_type: "webhook_event",
            entity_id: row_id,
            malet_id: None,
            before: Some(serde_json::json!({"status": status.as_str(), "lastError": row.last_error})),
            after: Some(serde_json::json!({"status": "RECEIVED", "receiver": row.receiver})),
            reason: Some(who.reason),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(Some(Replayed::Queued))
}

/// The retry loop's query: ids of `receiver`'s due events (RECEIVED, or FAILED after backoff),
/// oldest first.
pub fn due_select(
    receiver: &str,
    now: chrono::DateTime<chrono::Utc>,
    limit: u64,
) -> sea_orm::Select<webhook_events::Entity> {
    webhook_events::Entity::find()
        .select_only()
        .column(webhook_events::Column::Id)
        .filter(webhook_events::Column::Receiver.eq(receiver))
        .filter(webhook_events::Column::Status.is_in(WebhookStatus::DUE))
        .filter(webhook_events::Column::NextAttemptAt.is_null().or(webhook_events::Column::NextAttemptAt.lte(now)))
        .order_by_asc(webhook_events::Column::ProviderCreated)
        .limit(limit)
}

fn status_and_note(outcome: &Outcome) -> (WebhookStatus, Option<String>) {
    match outcome {
        Outcome::Applied => (WebhookStatus::Processed, None),
        Outcome::Ignored(why) => (WebhookStatus::Ignored, Some(why.clone())),
        Outcome::NeedsAttention(why) => (WebhookStatus::NeedsAttention, Some(why.clone())),
    }
}

fn status_of(outcome: &Outcome) -> WebhookStatus {
    status_and_note(outcome).0
}

/// Inbox events for operators, newest first (every receiver unless one is named).
pub async fn list_events<C: ConnectionTrait>(
    conn: &C,
    filter: &EventFilter,
) -> Result<Vec<webhook_events::Model>, DbErr> {
    let mut query = webhook_events::Entity::find();
    if let Some(receiver) = &filter.receiver {
        query = query.filter(webhook_events::Column::Receiver.eq(receiver.clone()));
    }
    if let Some(status) = filter.status {
        query = query.filter(webhook_events::Column::Status.eq(status.as_str()));
    }
    query
        .order_by_desc(webhook_events::Column::ReceivedAt)
        .order_by_desc(webhook_events::Column::Id)
        .limit(filter.limit)
        .offset(filter.offset)
        .all(conn)
        .await
}

/// State of one provider's webhook route (`POST /webhooks/<path>`).
#[derive(Clone)]
pub struct WebhookState {
    pub inbox: Inbox,
    pub provider: ProviderKind,
    /// The route's last segment (`stripe`).
    pub path: &'static str,
    pub verifier: Arc<dyn SignatureVerifier>,
}

fn reject(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({"error": {"code": code, "message": message}}))).into_response()
}

/// `POST /webhooks/<provider>`. Body size is limited by the router (413 above the limit).
pub async fn receive_webhook(State(state): State<WebhookState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(why) = state.verifier.verify(&body, &headers).await {
        tracing::info!(reason = %why, "webhook signature rejected");
        metrics::counter!("webhook_rejected_total", "reason" => "signature").increment(1);
        return reject(StatusCode::BAD_REQUEST, "INVALID_SIGNATURE", &why);
    }
    // Storing and applying run in their own task: a client that hangs up after sending does not
    // cancel them halfway (the transaction would roll back and the event wait for redelivery).
    let (inbox, provider) = (state.inbox.clone(), state.provider);
    let outcome = tokio::spawn(async move { inbox.receive(provider, &body).await }).await;
    match outcome {
        Err(e) => {
            tracing::error!(error = %e, "webhook task failed");
            reject(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "try again")
        }
        Ok(Err(InboxError::Malformed(why))) => reject(StatusCode::BAD_REQUEST, "MALFORMED_EVENT", &why),
        Ok(Err(InboxError::Db(e))) => {
            tracing::error!(error = %e, "cannot store webhook event");
            // Not stored: a 5xx makes the provider deliver it again.
            reject(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "try again")
        }
        Ok(Ok((Received::Duplicate { applied_now, .. }, event))) => {
            tracing::debug!(event_id = %event.id, applied_now, "duplicate webhook delivery");
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
    /// Replays the events every configured provider still has (R-HOOK-3), as [`Inbox::backfill`]:
    /// the platform's, and for providers that keep events per seller account, those of
    /// `seller_accounts` of that provider. Providers without an events API are skipped.
    pub async fn backfill_all(
        &self,
        registry: &crate::registry::ProviderRegistry,
        seller_accounts: &[(ProviderKind, String)],
        created_after: i64,
    ) -> Result<BackfillReport, anyhow::Error> {
        let mut total = BackfillReport::default();
        for provider in registry.all() {
            let mut accounts = vec![None];
            if provider.events_per_account() {
                accounts.extend(
                    seller_accounts.iter().filter(|(k, _)| *k == provider.kind()).map(|(_, id)| Some(id.clone())),
                );
            }
            match self.backfill(provider.as_ref(), &accounts, created_after).await {
                Ok(report) => {
                    total.fetched += report.fetched;
                    total.stored += report.stored;
                    total.duplicates += report.duplicates;
                }
                Err(e) if matches!(e.downcast_ref(), Some(domain::provider::ProviderError::NotSupported(_))) => {
                    tracing::info!(provider = %provider.kind(), "no events to backfill from this provider");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }

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
                match self.receive(provider.kind(), e.payload.as_bytes()).await? {
                    (Received::New { .. }, _) => report.stored += 1,
                    (Received::Duplicate { .. }, _) => report.duplicates += 1,
                }
            }
        }
        Ok(report)
    }
}
