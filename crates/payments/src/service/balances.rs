//! Balances (R-PAY-2): the totals on a ConnectedAccount are always the sums of its append-only
//! movements. Movements come from murchases' ledger events (consumed from the outbox exactly
//! once), payouts, and reserve releases.

use domain::ledger_events::{BalanceEvent, BalanceEventKind};
use domain::permissions::{Actor, Permission};
use entity::{connected_accounts, reserve_holds};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
};
use service_core::{clock, outbox};

use super::{Payments, ServiceError, ServiceResult};
use crate::repo;
use crate::repo::movements::{Balances, NewMovement};

/// Ledger events applied per transaction by the consumer.
pub const LEDGER_BATCH: u64 = 50;

pub use domain::ledger_events::TOPIC_BALANCE;

impl Payments {
    pub async fn balances(&self, actor: &Actor, account: &connected_accounts::Model) -> ServiceResult<Balances> {
        actor.can(Permission::ViewPayouts, &account.malet_id)?;
        Ok(repo::movements::balances(&self.db, &account.id, &account.currency).await?)
    }

    /// Consumes ledger events in batches of `batch` until none is due (or a batch applies
    /// nothing, e.g. every due event is waiting for its earning); returns how many were applied.
    pub async fn drain_ledger_events(&self, batch: u64) -> ServiceResult<usize> {
        let mut total = 0;
        loop {
            let applied = self.consume_ledger_events(batch).await?;
            total += applied;
            if applied == 0 || u64::try_from(applied).unwrap_or(0) < batch {
                return Ok(total);
            }
        }
    }

    /// Consumes up to `limit` due ledger events, in transactions of up to [`LEDGER_BATCH`]
    /// events (one commit per batch), each event in its own savepoint so one that fails or is
    /// refused does not undo the others; returns how many were applied. Safe with several
    /// consumers and replicas: the events are claimed by the transaction's row locks (nothing is
    /// left claimed by a consumer that dies: its batch rolls back and is due again at once), and
    /// each movement's idempotency key is the event's key.
    pub async fn consume_ledger_events(&self, limit: u64) -> ServiceResult<usize> {
        use sea_orm::TransactionTrait;
        let mut applied = 0;
        let mut left = limit;
        while left > 0 {
            let batch = std::cmp::min(left, LEDGER_BATCH);
            let txn = service_core::db::begin_write(&self.db).await?;
            let claimed = outbox::claim_due(&txn, TOPIC_BALANCE, batch).await?;
            // Each payload parsed once. Applied in the order of the accounts they credit (each
            // account's events keep their order): every movement locks its account's balances
            // row until commit, and two replicas taking those locks in one order never deadlock.
            let mut rows: Vec<(entity::outbox::Model, Result<BalanceEvent, String>)> = claimed
                .into_iter()
                .map(|r| {
                    let event = BalanceEvent::parse(&r.payload);
                    (r, event)
                })
                .collect();
            rows.sort_by_cached_key(|(r, e)| {
                let account = e.as_ref().map(|e| e.account_key().to_owned()).unwrap_or_default();
                (account, r.created_at, r.id.clone())
            });
            if rows.is_empty() {
                txn.rollback().await?;
                break;
            }
            let mut done = 0;
            for (row, event) in &rows {
                let savepoint = txn.begin().await?;
                let applied = match event {
                    Ok(event) => self.apply_ledger_event(&savepoint, row, event).await,
                    // Not a balance event: parked for an admin, never retried forever.
                    Err(e) => Ok(Applied::Refused(e.clone())),
                };
                match applied {
                    Ok(Applied::Done) => {
                        savepoint.commit().await?;
                        done += 1;
                    }
                    Ok(Applied::Refused(reason)) => {
                        savepoint.rollback().await?;
                        // Never retried forever, never applied to another account: parked for
                        // an admin with its reason (R-TRUST-1, issue 8 item 5).
                        tracing::error!(outbox_id = %row.id, reason = %reason, "ledger event refused; parked for an admin");
                        metrics::counter!("ledger_events_refused_total").increment(1);
                        outbox::park(&*txn, row, &reason).await?;
                    }
                    Err(e) => {
                        savepoint.rollback().await?;
                        tracing::warn!(outbox_id = %row.id, error = %e, "ledger event not applied; will retry");
                        outbox::fail(&*txn, row, &e.to_string()).await?;
                    }
                }
            }
            txn.commit().await?;
            applied += done;
            let claimed = u64::try_from(rows.len()).unwrap_or(batch);
            left = left.saturating_sub(claimed);
            if claimed < batch {
                break;
            }
        }
        Ok(applied)
    }

    /// Applies one claimed ledger event in `txn` (the caller commits).
    async fn apply_ledger_event(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        row: &entity::outbox::Model,
        event: &BalanceEvent,
    ) -> ServiceResult<Applied> {
        // The account the entry names, and no other: an entry is never credited to "the live
        // account of the Malet" (R-TRUST-1).
        let account = match (&event.account_id, &event.destination) {
            (Some(id), _) => repo::accounts::by_id(txn, id).await?,
            (None, Some(acct)) => repo::accounts::by_provider_account(txn, acct).await?,
            (None, None) => None,
        };
        let Some(account) = account else {
            return Ok(Applied::Refused(format!(
                "ledger entry {} names no known account (account {:?}, destination {:?})",
                event.ledger_id, event.account_id, event.destination
            )));
        };
        if account.malet_id != event.malet_id {
            return Ok(Applied::Refused(format!(
                "ledger entry {} is for Malet {} but its account belongs to {}",
                event.ledger_id, event.malet_id, account.malet_id
            )));
        }
        if event.currency.code() != account.currency {
            return Ok(Applied::Refused(format!(
                "ledger event in {} for an account in {}: needs an admin",
                event.currency, account.currency
            )));
        }
        // Events of one entry apply in order: nothing before its earning (a receivable is its
        // own first event).
        if !matches!(event.kind, BalanceEventKind::Earning | BalanceEventKind::Receivable) {
            let earned = entity::balance_movements::Entity::find()
                .filter(entity::balance_movements::Column::IdempotencyKey.eq(format!("earning:{}", event.ledger_id)))
                .one(txn)
                .await?
                .is_some();
            if !earned {
                return Err(ServiceError::Conflict(format!("earning of {} not applied yet", event.ledger_id)));
            }
        }
        // A receivable's later events (lowered by a refund, `…:refund:<base>`, or given back,
        // `…:cancelled`) apply only after its debit (`receivable:<id>`).
        let debit = format!("receivable:{}", event.ledger_id);
        if event.kind == BalanceEventKind::Receivable && row.idempotency_key != debit {
            let debited = entity::balance_movements::Entity::find()
                .filter(entity::balance_movements::Column::IdempotencyKey.eq(debit))
                .one(txn)
                .await?
                .is_some();
            if !debited {
                return Err(ServiceError::Conflict(format!("debit of receivable {} not applied yet", event.ledger_id)));
            }
        }
        let key = row.idempotency_key.as_str();
        // A clawback of a held reserve shrinks the hold; of a reserve already released (or being
        // released) it comes out of the pending balance, where the release puts the money. The
        // decision is the conditional update itself (only a HELD hold shrinks), so it cannot
        // disagree with a release running at the same time: the release transfers exactly the
        // hold's amount after every clawback.
        let (mut pending_delta, mut reserve_delta) = (event.net_delta, event.reserve_delta);
        // The hold's row lock orders this event against a reserve release running at the same
        // time (SQLite's write transactions are serialized anyway).
        if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
            reserve_holds::Entity::find()
                .filter(reserve_holds::Column::LedgerId.eq(event.ledger_id.clone()))
                .lock_exclusive()
                .all(txn)
                .await?;
        }
        let already_applied = entity::balance_movements::Entity::find()
            .filter(entity::balance_movements::Column::IdempotencyKey.eq(row.idempotency_key.clone()))
            .one(txn)
            .await?
            .is_some();
        if reserve_delta < 0
            && !already_applied
            && matches!(event.kind, BalanceEventKind::RefundClawback | BalanceEventKind::Adjustment)
        {
            let shrunk = reserve_holds::Entity::update_many()
                .col_expr(reserve_holds::Column::Amount, Expr::col(reserve_holds::Column::Amount).add(reserve_delta))
                .col_expr(reserve_holds::Column::UpdatedAt, Expr::value(clock::now()))
                .filter(reserve_holds::Column::LedgerId.eq(event.ledger_id.clone()))
                .filter(reserve_holds::Column::Status.eq(HOLD_HELD))
                .exec(txn)
                .await?;
            if shrunk.rows_affected == 0 {
                let exists = reserve_holds::Entity::find()
                    .filter(reserve_holds::Column::LedgerId.eq(event.ledger_id.clone()))
                    .one(txn)
                    .await?
                    .is_some();
                if exists {
                    pending_delta += reserve_delta;
                    reserve_delta = 0;
                }
            }
        }
        // The seller's share moves: net to pending, reserve to reserve, both to earnings.
        if let Some(movement) =
            NewMovement::ledger_share(&account, event.kind, event, pending_delta, reserve_delta, key)
        {
            repo::movements::append(txn, movement).await?;
        }
        match event.kind {
            BalanceEventKind::Earning => {
                if event.reserve_delta > 0 {
                    reserve_holds::Entity::insert(reserve_holds::ActiveModel {
                        id: Set(uuid::Uuid::now_v7().to_string()),
                        account_id: Set(account.id.clone()),
                        ledger_id: Set(event.ledger_id.clone()),
                        amount: Set(event.reserve_delta),
                        currency: Set(event.currency.code().to_owned()),
                        release_at: Set(event.settlement_date.map(|s| domain::reserve::release_at(&self.config, s))),
                        status: Set(HOLD_HELD),
                        claimed_by: Set(None),
                        claimed_until: Set(None),
                        transfer_id: Set(None),
                        created_at: Set(clock::now()),
                        updated_at: Set(clock::now()),
                    })
                    .on_conflict_do_nothing_on([reserve_holds::Column::LedgerId])
                    .exec(txn)
                    .await?;
                }
                if account.reserve_expires_at.is_none() {
                    let mut am: connected_accounts::ActiveModel = account.clone().into();
                    am.reserve_expires_at = Set(Some(domain::reserve::expires_at(&self.config, event.occurred_at)));
                    am.update(txn).await?;
                }
            }
            BalanceEventKind::Settled => {
                if let Some(settled) = event.settlement_date {
                    reserve_holds::Entity::update_many()
                        .col_expr(
                            reserve_holds::Column::ReleaseAt,
                            Expr::value(Some(domain::reserve::release_at(&self.config, settled))),
                        )
                        .filter(reserve_holds::Column::LedgerId.eq(event.ledger_id.clone()))
                        .filter(reserve_holds::Column::ReleaseAt.is_null())
                        .exec(txn)
                        .await?;
                }
            }
            BalanceEventKind::RefundClawback
            | BalanceEventKind::Adjustment
            | BalanceEventKind::Dispute
            | BalanceEventKind::Reversal
            | BalanceEventKind::Receivable => {}
        }
        outbox::complete(txn, &row.id).await?;
        Ok(Applied::Done)
    }
}

/// What applying one ledger event came to.
enum Applied {
    Done,
    /// It can never apply as it is (unknown account, another Malet's, another currency).
    Refused(String),
}

pub use entity::enums::HoldStatus;
pub const HOLD_HELD: HoldStatus = HoldStatus::Held;
pub const HOLD_RELEASING: HoldStatus = HoldStatus::Releasing;
pub const HOLD_RELEASED: HoldStatus = HoldStatus::Released;

use sea_orm::sea_query::ExprTrait as _;
