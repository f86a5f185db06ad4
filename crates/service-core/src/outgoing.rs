//! Outgoing money movement (issue 12): every provider call that moves money is first a row of
//! `outgoing_movements`, written in the transaction of the ledger posting that causes it, with an
//! idempotency key derived from that posting. A sender then makes the call:
//!
//! ```text
//! PENDING ──claim──► SENT ──made──────────► CONFIRMED
//!    ▲                 │ ──refused────────► FAILED (its posting is reversed by a new posting)
//!    │                 │ ──timeout / 5xx──► UNKNOWN ──lookup finds it──► CONFIRMED
//!    └── not sent ─────┘                       └──── lookup finds none ──► sent again (same key)
//! ```
//!
//! A movement whose outcome is unknown (a timeout, a connection lost mid-request, a sender that
//! died while it was SENT) is looked up at the provider by our id in the object's metadata before
//! anything is sent again, and is sent again only with the same idempotency key: nothing is ever
//! paid twice. Claims are conditional updates (one sender wins, on any number of replicas), and
//! a SENT claim that outlives its lease is treated as UNKNOWN.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use domain::money::Currency;
use domain::provider::{
    FeeRefundRequest, MOVEMENT_ID_KEY, MovementLookup, OutgoingKind, PayoutRequest, ProviderError, ProviderKind,
    RefundRequest, ReversalRequest, TransferRequest,
};
use entity::enums::{MovementOwner, OutgoingStatus};
use entity::outgoing_movements::{self, Column, Model};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use crate::clock;
use crate::registry::ProviderRegistry;

/// How long a claim (SENT) lasts before another sender treats the movement as UNKNOWN: longer
/// than any provider call's timeout.
pub const SENT_LEASE_SECS: i64 = 120;

/// The longest wait between two attempts.
pub const MAX_BACKOFF_SECS: i64 = 3600;

/// A movement to write with its posting.
#[derive(Debug, Clone)]
pub struct NewOutgoing<'a> {
    pub owner: MovementOwner,
    pub kind: OutgoingKind,
    pub provider: ProviderKind,
    pub malet_id: &'a str,
    pub account_id: &'a str,
    pub ledger_id: Option<&'a str>,
    /// The idempotency key of the posting that causes this movement: the movement's own key
    /// is derived from it, so the posting can cause it only once.
    pub posting_key: &'a str,
    pub amount: i64,
    pub currency: Currency,
    /// The seller's provider account (a transfer's destination).
    pub destination: Option<&'a str>,
    /// The provider payment a reversal or fee refund is taken from.
    pub source_ref: Option<&'a str>,
    /// The captured money of that payment, where the provider names it apart (PayPal); for a
    /// transfer from a multi-seller charge, that charge (Stripe `source_transaction`).
    pub source_charge: Option<&'a str>,
    /// A transfer's group at the provider (a multi-seller order's id).
    pub transfer_group: Option<&'a str>,
    /// The movement id of the transfer a reversal takes money back from, when the payment did
    /// not make that transfer itself: the reversal waits until that transfer is made.
    pub source_transfer: Option<&'a str>,
    /// The metadata every call carries, when it must stay what an earlier version of the flow
    /// sent (with the key below); else our id of the movement, its posting, Malet and entry.
    pub metadata: Option<BTreeMap<String, String>>,
    /// The provider idempotency key, when it must stay what an earlier version of the flow sent
    /// (fee refunds `fee-refund:…`, reserve releases `reserve-release:…`, so a call made before
    /// an upgrade is never repeated under another key); else [`key_of`] the posting.
    pub idempotency_key: Option<&'a str>,
}

/// The idempotency key of the movement a posting causes.
pub fn key_of(posting_key: &str) -> String {
    format!("out:{posting_key}")
}

/// Writes a movement in `txn` (the posting's transaction); a second call for the same posting
/// writes nothing. Returns the movement.
pub async fn enqueue(txn: &DatabaseTransaction, new: NewOutgoing<'_>) -> Result<Model, DbErr> {
    Ok(enqueue_flagged(txn, new).await?.0)
}

/// [`enqueue`], and whether this call wrote the movement (else one with its key existed).
async fn enqueue_flagged(txn: &DatabaseTransaction, new: NewOutgoing<'_>) -> Result<(Model, bool), DbErr> {
    if new.amount <= 0 {
        return Err(DbErr::Custom(format!("an outgoing movement must be positive, got {}", new.amount)));
    }
    let key = new.idempotency_key.map_or_else(|| key_of(new.posting_key), str::to_owned);
    let now = clock::now();
    let id = uuid::Uuid::now_v7().to_string();
    let metadata = match &new.metadata {
        Some(m) => m.clone(),
        None => default_metadata(&id, new.posting_key, new.malet_id, new.ledger_id),
    };
    let metadata = serde_json::to_string(&metadata).map_err(|e| DbErr::Custom(e.to_string()))?;
    let inserted_rows = outgoing_movements::Entity::insert(outgoing_movements::ActiveModel {
        id: Set(id),
        metadata: Set(Some(metadata)),
        owner: Set(new.owner),
        kind: Set(new.kind.into()),
        status: Set(OutgoingStatus::Pending),
        provider: Set(new.provider.into()),
        malet_id: Set(new.malet_id.to_owned()),
        account_id: Set(new.account_id.to_owned()),
        ledger_id: Set(new.ledger_id.map(str::to_owned)),
        posting_key: Set(new.posting_key.to_owned()),
        idempotency_key: Set(key.clone()),
        amount: Set(new.amount),
        currency: Set(new.currency.code().to_owned()),
        destination: Set(new.destination.map(str::to_owned)),
        source_ref: Set(new.source_ref.map(str::to_owned)),
        source_charge: Set(new.source_charge.map(str::to_owned)),
        transfer_group: Set(new.transfer_group.map(str::to_owned)),
        source_transfer: Set(new.source_transfer.map(str::to_owned)),
        provider_ref: Set(None),
        attempts: Set(0),
        last_error: Set(None),
        next_attempt_at: Set(now),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict_do_nothing_on([Column::IdempotencyKey])
    .exec_without_returning(txn)
    .await?;
    let row = outgoing_movements::Entity::find()
        .filter(Column::IdempotencyKey.eq(key))
        .one(txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("outgoing movement just written".into()))?;
    let inserted = matches!(inserted_rows, sea_orm::TryInsertResult::Inserted(1));
    Ok((row, inserted))
}

/// [`enqueue`] for a call the caller makes itself right away (a refund the API answers with):
/// the movement is written already claimed (SENT, with the lease), so the sender leaves it alone
/// unless the caller dies. Returns the movement and whether this call wrote (and so claimed)
/// it; an earlier one with the same key is returned as it is.
pub async fn enqueue_sent(txn: &DatabaseTransaction, new: NewOutgoing<'_>) -> Result<(Model, bool), DbErr> {
    let (row, inserted) = enqueue_flagged(txn, new).await?;
    if !inserted {
        return Ok((row, false));
    }
    let now = clock::now();
    outgoing_movements::Entity::update_many()
        .col_expr(Column::Status, Expr::value(OutgoingStatus::Sent.as_str()))
        .col_expr(Column::Attempts, Expr::value(1))
        .col_expr(Column::NextAttemptAt, Expr::value(now + Duration::seconds(SENT_LEASE_SECS)))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(row.id.clone()))
        .exec(txn)
        .await?;
    let row =
        by_id(txn, &row.id).await?.ok_or_else(|| DbErr::RecordNotFound("outgoing movement just written".into()))?;
    Ok((row, true))
}

/// Records the outcome of a call the caller made itself ([`enqueue_sent`]), in `conn` (the
/// transaction that records its effect, for a CONFIRMED one): the provider's id on success,
/// FAILED with the reason when refused, PENDING (sent by the sender after its backoff) when it
/// was not sent, UNKNOWN (looked up by the sender after its backoff) when the outcome is unknown.
/// Only the claim the caller holds is settled (status SENT with its attempt).
pub async fn settle<C: ConnectionTrait>(
    conn: &C,
    movement: &Model,
    outcome: Result<&str, &ProviderError>,
) -> Result<OutgoingStatus, DbErr> {
    let now = clock::now();
    let (status, provider_ref, error, next) = match outcome {
        Ok(id) => (OutgoingStatus::Confirmed, Some(id.to_owned()), None, now),
        Err(e @ ProviderError::Ambiguous(_)) => (
            OutgoingStatus::Unknown,
            None,
            Some(e.to_string()),
            now + Duration::seconds(backoff_secs(movement.attempts)),
        ),
        Err(e @ ProviderError::Unavailable(_)) => (
            OutgoingStatus::Pending,
            None,
            Some(e.to_string()),
            now + Duration::seconds(backoff_secs(movement.attempts)),
        ),
        Err(e) => (OutgoingStatus::Failed, None, Some(e.to_string()), now),
    };
    outgoing_movements::Entity::update_many()
        .col_expr(Column::Status, Expr::value(status.as_str()))
        .col_expr(Column::ProviderRef, Expr::value(provider_ref))
        .col_expr(Column::LastError, Expr::value(error))
        .col_expr(Column::NextAttemptAt, Expr::value(next))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(movement.id.clone()))
        .filter(Column::Status.eq(OutgoingStatus::Sent.as_str()))
        .filter(Column::Attempts.eq(movement.attempts))
        .exec(conn)
        .await?;
    Ok(status)
}

/// What the owner does in the transaction that records a movement's outcome. On FAILED it
/// reverses the posting that caused it with a new posting, so the books and the seller's balance
/// show that the money never moved; on CONFIRMED it may note the provider's id where its own
/// records keep it.
#[async_trait]
pub trait OnFailed: Send + Sync {
    async fn reverse(&self, txn: &DatabaseTransaction, movement: &Model, reason: &str) -> Result<(), String>;
    async fn confirmed(&self, txn: &DatabaseTransaction, movement: &Model, provider_ref: &str) -> Result<(), String> {
        let _ = (txn, movement, provider_ref);
        Ok(())
    }
}

/// What one pass of the sender did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendReport {
    pub confirmed: usize,
    pub failed: usize,
    pub unknown: usize,
    pub retrying: usize,
}

/// Sends one owner's due movements.
#[derive(Clone)]
pub struct Sender {
    db: DatabaseConnection,
    providers: ProviderRegistry,
    owner: MovementOwner,
    on_failed: Arc<dyn OnFailed>,
}

/// The outcome of one provider call, as the row records it.
enum Outcome {
    Made(String),
    Refused(String),
    NotSent(String),
    Unknown(String),
}

impl Sender {
    pub fn new(
        db: DatabaseConnection,
        providers: ProviderRegistry,
        owner: MovementOwner,
        on_failed: Arc<dyn OnFailed>,
    ) -> Self {
        Sender { db, providers, owner, on_failed }
    }

    /// Sends (or looks up) up to `limit` due movements, optionally only those of one ledger
    /// entry. Safe on any number of replicas at once.
    pub async fn send_due(&self, ledger_id: Option<&str>, limit: u64) -> Result<SendReport, DbErr> {
        self.send_due_of(ledger_id, None, limit).await
    }

    /// [`Self::send_due`] of one kind only.
    pub async fn send_due_of(
        &self,
        ledger_id: Option<&str>,
        kind: Option<OutgoingKind>,
        limit: u64,
    ) -> Result<SendReport, DbErr> {
        let mut query = due_select(self.owner, clock::now(), limit);
        if let Some(id) = ledger_id {
            query = query.filter(Column::LedgerId.eq(id));
        }
        if let Some(kind) = kind {
            query = query.filter(Column::Kind.eq(entity::enums::OutgoingKind::from(kind)));
        }
        let mut report = SendReport::default();
        for row in query.all(&self.db).await? {
            // One movement that cannot be recorded never holds up the others.
            let sent = match self.send_one(&row).await {
                Ok(sent) => sent,
                Err(e) => {
                    tracing::error!(movement = %row.id, error = %e, "outgoing movement not recorded; retried after its lease");
                    report.retrying += 1;
                    continue;
                }
            };
            match sent {
                Some(OutgoingStatus::Confirmed) => report.confirmed += 1,
                Some(OutgoingStatus::Failed) => report.failed += 1,
                Some(OutgoingStatus::Unknown) => report.unknown += 1,
                Some(_) => report.retrying += 1,
                None => {}
            }
        }
        Ok(report)
    }

    /// Makes (or finds) one movement now, whatever its backoff: a caller retrying the operation
    /// that caused it. `None` when another sender claimed it first.
    pub async fn resolve(&self, row: &Model) -> Result<Option<OutgoingStatus>, DbErr> {
        if !OutgoingStatus::OPEN.contains(&row.status) {
            return Ok(Some(row.status));
        }
        self.send_one(row).await
    }

    /// Claims one movement and makes (or finds) it; `None` when another sender has it.
    async fn send_one(&self, row: &Model) -> Result<Option<OutgoingStatus>, DbErr> {
        let now = clock::now();
        let claimed = outgoing_movements::Entity::update_many()
            .col_expr(Column::Status, Expr::value(OutgoingStatus::Sent.as_str()))
            .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
            .col_expr(Column::NextAttemptAt, Expr::value(now + Duration::seconds(SENT_LEASE_SECS)))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::Id.eq(row.id.clone()))
            .filter(Column::Status.eq(row.status))
            .filter(Column::Attempts.eq(row.attempts))
            .exec(&self.db)
            .await?;
        if claimed.rows_affected != 1 {
            return Ok(None);
        }
        let attempts = row.attempts + 1;
        // Sent before with no known outcome (UNKNOWN, or a sender that died while SENT): find it
        // before anything is sent again.
        let outcome = if row.status != OutgoingStatus::Pending || row.attempts > 0 {
            match self.look_up(row).await {
                Ok(Some(found)) => Outcome::Made(found),
                Ok(None) => self.call(row).await,
                // The provider cannot look it up: the same idempotency key makes a resend
                // return the first outcome instead of moving the money again.
                Err(ProviderError::NotSupported(_)) => self.call(row).await,
                Err(e) => Outcome::Unknown(format!("lookup failed: {e}")),
            }
        } else {
            self.call(row).await
        };
        self.record(row, attempts, outcome).await.map(Some)
    }

    async fn look_up(&self, row: &Model) -> Result<Option<String>, ProviderError> {
        let provider = self.providers.get(row.provider.into())?;
        let mut lookup = lookup_of(row);
        if row.source_transfer.is_some() {
            match source_transfer_of(&self.db, row).await {
                Ok(transfer) => lookup.transfer_id = transfer,
                // Its transfer is not made yet: neither is the reversal.
                Err(_) => return Ok(None),
            }
        }
        provider.find_movement(lookup).await
    }
}

/// What finds `row` at its provider.
pub fn lookup_of(row: &Model) -> MovementLookup {
    MovementLookup {
        kind: row.kind.into(),
        movement_id: row.id.clone(),
        metadata: metadata_of(row),
        destination: row.destination.clone(),
        payment_id: row.source_ref.clone(),
        transfer_id: None,
        charge_id: row.source_charge.clone(),
        created_after: row.created_at.timestamp() - 60,
    }
}

/// The metadata of a new movement: our id of it (what the lookup matches), the posting key, the
/// Malet and the ledger entry.
fn default_metadata(id: &str, posting_key: &str, malet_id: &str, ledger_id: Option<&str>) -> BTreeMap<String, String> {
    let mut metadata = BTreeMap::new();
    metadata.insert(MOVEMENT_ID_KEY.to_owned(), id.to_owned());
    metadata.insert("postingKey".to_owned(), posting_key.to_owned());
    metadata.insert("maletId".to_owned(), malet_id.to_owned());
    if let Some(ledger) = ledger_id {
        metadata.insert("ledgerId".to_owned(), ledger.to_owned());
    }
    metadata
}

/// The metadata a movement's calls carry, as stored with it: the same on every attempt, so a
/// retry with the same idempotency key sends the same parameters.
pub fn metadata_of(row: &Model) -> BTreeMap<String, String> {
    row.metadata
        .as_deref()
        .and_then(|m| serde_json::from_str(m).ok())
        .unwrap_or_else(|| default_metadata(&row.id, &row.posting_key, &row.malet_id, row.ledger_id.as_deref()))
}

/// The provider's id of the transfer a reversal takes money back from (`source_transfer`): `Ok(None)`
/// when the reversal is of the payment's own transfer; an outcome when it cannot be sent now.
async fn source_transfer_of<C: ConnectionTrait>(conn: &C, row: &Model) -> Result<Option<String>, Outcome> {
    let Some(source) = &row.source_transfer else { return Ok(None) };
    let transfer = by_id(conn, source).await.map_err(|e| Outcome::NotSent(format!("reading its transfer: {e}")))?;
    match transfer {
        Some(t) if t.status == OutgoingStatus::Confirmed => match t.provider_ref {
            Some(id) => Ok(Some(id)),
            None => Err(Outcome::Refused(format!("the transfer {source} it reverses has no provider id"))),
        },
        Some(t) if t.status == OutgoingStatus::Failed => {
            Err(Outcome::Refused(format!("the transfer {source} it would take back from was never made")))
        }
        Some(_) => Err(Outcome::NotSent(format!("waits for the transfer {source} it takes back from"))),
        None => Err(Outcome::Refused(format!("the transfer {source} it reverses is unknown"))),
    }
}

impl Sender {
    async fn call(&self, row: &Model) -> Outcome {
        let provider = match self.providers.get(row.provider.into()) {
            Ok(p) => p,
            Err(e) => return Outcome::Refused(e.to_string()),
        };
        let currency = match Currency::parse(&row.currency) {
            Ok(c) => c,
            Err(e) => return Outcome::Refused(format!("stored currency: {e}")),
        };
        let result = match (OutgoingKind::from(row.kind), &row.destination, &row.source_ref) {
            (OutgoingKind::Transfer, Some(destination), _) => provider
                .transfer(TransferRequest {
                    amount: row.amount,
                    currency,
                    destination: destination.clone(),
                    source_transaction: row.source_charge.clone(),
                    transfer_group: row.transfer_group.clone(),
                    metadata: metadata_of(row),
                    idempotency_key: row.idempotency_key.clone(),
                })
                .await
                .map(|t| t.transfer_id),
            (OutgoingKind::TransferReversal, _, Some(payment)) => provider
                .reverse_transfer(ReversalRequest {
                    payment_id: payment.clone(),
                    transfer_id: match source_transfer_of(&self.db, row).await {
                        Ok(transfer) => transfer,
                        Err(outcome) => return outcome,
                    },
                    charge_id: None,
                    amount: row.amount,
                    currency,
                    metadata: metadata_of(row),
                    idempotency_key: row.idempotency_key.clone(),
                })
                .await
                .map(|r| r.reversal_id),
            // A payout of the platform's money to a payee's provider account (an affiliate's
            // PayPal id).
            (OutgoingKind::Payout, Some(destination), _) => provider
                .payout(PayoutRequest {
                    provider_account_id: destination.clone(),
                    amount: row.amount,
                    currency,
                    idempotency_key: row.idempotency_key.clone(),
                })
                .await
                .map(|p| p.payout_id),
            (OutgoingKind::Refund, _, Some(payment)) => provider
                .refund(RefundRequest {
                    payment_id: payment.clone(),
                    charge_id: row.source_charge.clone(),
                    amount: row.amount,
                    currency,
                    // A refund of a multi-seller charge (it has a transfer group) reverses its
                    // sellers' transfers by their own movements.
                    reverse_transfer: row.transfer_group.is_none(),
                    metadata: metadata_of(row),
                    idempotency_key: row.idempotency_key.clone(),
                })
                .await
                .map(|r| r.refund_id),
            (OutgoingKind::FeeRefund, _, Some(payment)) => provider
                .refund_application_fee(FeeRefundRequest {
                    payment_id: payment.clone(),
                    amount: row.amount,
                    metadata: metadata_of(row),
                    idempotency_key: row.idempotency_key.clone(),
                })
                .await
                .map(|r| r.fee_refund_id),
            (kind, _, _) => {
                Err(ProviderError::NotSupported(format!("an outgoing {kind:?} with this movement's fields")))
            }
        };
        match result {
            Ok(id) => Outcome::Made(id),
            Err(e @ (ProviderError::Rejected { .. } | ProviderError::NotSupported(_))) => {
                Outcome::Refused(e.to_string())
            }
            Err(e @ ProviderError::Unavailable(_)) => Outcome::NotSent(e.to_string()),
            Err(e @ ProviderError::Ambiguous(_)) => Outcome::Unknown(e.to_string()),
        }
    }

    /// Records the outcome of the claim `attempts`; a refusal reverses the posting in the same
    /// transaction.
    async fn record(&self, row: &Model, attempts: i64, outcome: Outcome) -> Result<OutgoingStatus, DbErr> {
        let now = clock::now();
        let backoff = |attempts: i64| now + Duration::seconds(backoff_secs(attempts));
        let (status, provider_ref, error, next): (OutgoingStatus, Option<String>, Option<String>, DateTime<Utc>) =
            match outcome {
                Outcome::Made(id) => (OutgoingStatus::Confirmed, Some(id), None, now),
                Outcome::Refused(e) => (OutgoingStatus::Failed, None, Some(e), now),
                Outcome::NotSent(e) => (OutgoingStatus::Pending, None, Some(e), backoff(attempts)),
                Outcome::Unknown(e) => (OutgoingStatus::Unknown, None, Some(e), backoff(attempts)),
            };
        let txn = crate::db::begin_write(&self.db).await?;
        let updated = outgoing_movements::Entity::update_many()
            .col_expr(Column::Status, Expr::value(status.as_str()))
            .col_expr(Column::ProviderRef, Expr::value(provider_ref.clone()))
            .col_expr(Column::LastError, Expr::value(error.clone()))
            .col_expr(Column::NextAttemptAt, Expr::value(next))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::Id.eq(row.id.clone()))
            .filter(Column::Status.eq(OutgoingStatus::Sent.as_str()))
            .filter(Column::Attempts.eq(attempts))
            .exec(&*txn)
            .await?;
        if updated.rows_affected != 1 {
            // Our claim expired and another sender took the movement over: its outcome counts.
            txn.rollback().await?;
            return Ok(OutgoingStatus::Sent);
        }
        match status {
            OutgoingStatus::Confirmed => {
                if let Some(id) = &provider_ref
                    && let Err(e) = self.on_failed.confirmed(&txn, row, id).await
                {
                    txn.rollback().await?;
                    return Err(DbErr::Custom(format!("recording the confirmation of movement {}: {e}", row.id)));
                }
            }
            OutgoingStatus::Failed => {
                let reason = error.as_deref().unwrap_or("refused by the provider");
                if let Err(e) = self.on_failed.reverse(&txn, row, reason).await {
                    // The refusal is final whatever happens here: it is kept FAILED, and what
                    // could not be reversed is left to finance (never sent again).
                    txn.rollback().await?;
                    tracing::error!(movement = %row.id, error = %e, "a refused movement's posting could not be reversed; finance must correct it");
                    metrics::counter!("outgoing_movements_unreversed_total").increment(1);
                    outgoing_movements::Entity::update_many()
                        .col_expr(Column::Status, Expr::value(OutgoingStatus::Failed.as_str()))
                        .col_expr(
                            Column::LastError,
                            Expr::value(Some(format!("{reason}; its posting is NOT reversed: {e}"))),
                        )
                        .col_expr(Column::UpdatedAt, Expr::value(now))
                        .filter(Column::Id.eq(row.id.clone()))
                        .filter(Column::Status.eq(OutgoingStatus::Sent.as_str()))
                        .filter(Column::Attempts.eq(attempts))
                        .exec(&self.db)
                        .await?;
                    return Ok(OutgoingStatus::Failed);
                }
                tracing::warn!(movement = %row.id, kind = %row.kind, amount = row.amount, reason, "outgoing movement failed; its posting is reversed");
                metrics::counter!("outgoing_movements_failed_total").increment(1);
            }
            OutgoingStatus::Unknown => {
                tracing::warn!(movement = %row.id, error = ?error, "outgoing movement outcome unknown; it is looked up before any retry");
            }
            _ => {}
        }
        txn.commit().await?;
        Ok(status)
    }
}

/// The sender's query: one owner's movements that are not final and are due, oldest due first
/// (served by the partial index `outgoing_movements_due`).
pub fn due_select(owner: MovementOwner, now: DateTime<Utc>, limit: u64) -> sea_orm::Select<outgoing_movements::Entity> {
    outgoing_movements::Entity::find()
        .filter(Column::Owner.eq(owner))
        .filter(Column::Status.is_in(OutgoingStatus::OPEN))
        .filter(Column::NextAttemptAt.lte(now))
        .order_by_asc(Column::NextAttemptAt)
        .limit(limit)
}

/// Seconds before attempt `attempts + 1`: doubling from 1 s, at most [`MAX_BACKOFF_SECS`].
pub fn backoff_secs(attempts: i64) -> i64 {
    let exponent = u32::try_from(attempts.clamp(0, 12)).unwrap_or(12);
    std::cmp::min(2_i64.pow(exponent), MAX_BACKOFF_SECS)
}

/// A movement by id.
pub async fn by_id<C: ConnectionTrait>(conn: &C, id: &str) -> Result<Option<Model>, DbErr> {
    outgoing_movements::Entity::find_by_id(id.to_owned()).one(conn).await
}

/// What reversals (not failed) take, or will take, from the transfer movement `transfer_id`.
pub async fn reversed_from<C: ConnectionTrait>(conn: &C, transfer_id: &str) -> Result<i64, DbErr> {
    let rows = outgoing_movements::Entity::find()
        .filter(Column::SourceTransfer.eq(transfer_id))
        .filter(Column::Status.ne(OutgoingStatus::Failed.as_str()))
        .all(conn)
        .await?;
    rows.iter()
        .try_fold(0i64, |acc, r| acc.checked_add(r.amount))
        .ok_or_else(|| DbErr::Custom("reversals overflow".into()))
}

/// The movement with this idempotency key ([`key_of`] its posting's).
pub async fn by_key<C: ConnectionTrait>(conn: &C, key: &str) -> Result<Option<Model>, DbErr> {
    outgoing_movements::Entity::find().filter(Column::IdempotencyKey.eq(key)).one(conn).await
}

/// The movements of a ledger entry, oldest first.
pub async fn of_ledger<C: ConnectionTrait>(conn: &C, ledger_id: &str) -> Result<Vec<Model>, DbErr> {
    outgoing_movements::Entity::find()
        .filter(Column::LedgerId.eq(ledger_id))
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Id)
        .all(conn)
        .await
}

/// Cancels a movement nobody has sent yet (PENDING, never attempted): FAILED with `reason`, in
/// the caller's transaction. False when a sender claimed it first.
pub async fn cancel_unsent<C: ConnectionTrait>(conn: &C, movement: &Model, reason: &str) -> Result<bool, DbErr> {
    let res = outgoing_movements::Entity::update_many()
        .col_expr(Column::Status, Expr::value(OutgoingStatus::Failed.as_str()))
        .col_expr(Column::LastError, Expr::value(Some(format!("cancelled: {reason}"))))
        .col_expr(Column::UpdatedAt, Expr::value(clock::now()))
        .filter(Column::Id.eq(movement.id.clone()))
        .filter(Column::Status.eq(OutgoingStatus::Pending.as_str()))
        .filter(Column::Attempts.eq(0))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Movements newest first, optionally of one ledger entry and one status.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    ledger_id: Option<&str>,
    status: Option<OutgoingStatus>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = outgoing_movements::Entity::find();
    if let Some(id) = ledger_id {
        query = query.filter(Column::LedgerId.eq(id));
    }
    if let Some(status) = status {
        query = query.filter(Column::Status.eq(status));
    }
    query.order_by_desc(Column::CreatedAt).order_by_desc(Column::Id).limit(limit).all(conn).await
}

/// Makes every PENDING or UNKNOWN movement of a ledger entry due now (a caller retrying the
/// operation that caused them).
pub async fn make_due_of_ledger<C: ConnectionTrait>(conn: &C, ledger_id: &str) -> Result<u64, DbErr> {
    let res = outgoing_movements::Entity::update_many()
        .col_expr(Column::NextAttemptAt, Expr::value(clock::now()))
        .filter(Column::LedgerId.eq(ledger_id))
        .filter(Column::Status.is_in([OutgoingStatus::Pending, OutgoingStatus::Unknown]))
        .exec(conn)
        .await?;
    Ok(res.rows_affected)
}

/// Makes an UNKNOWN or PENDING movement due now (an admin retry after fixing a cause).
pub async fn make_due<C: ConnectionTrait>(conn: &C, id: &str) -> Result<bool, DbErr> {
    let res = outgoing_movements::Entity::update_many()
        .col_expr(Column::NextAttemptAt, Expr::value(clock::now()))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.is_in([OutgoingStatus::Pending, OutgoingStatus::Unknown]))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_bounded() {
        assert_eq!(backoff_secs(0), 1);
        assert_eq!(backoff_secs(1), 2);
        assert_eq!(backoff_secs(5), 32);
        assert_eq!(backoff_secs(40), MAX_BACKOFF_SECS);
        assert_eq!(backoff_secs(-3), 1);
    }

    #[test]
    fn keys_derive_from_the_posting() {
        assert_eq!(key_of("adjustment:abc"), "out:adjustment:abc");
    }
}
