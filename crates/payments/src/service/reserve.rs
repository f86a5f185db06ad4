//! Rolling reserve release (R-RES-2): each hold is released to the seller, as a provider
//! Transfer, once its release date (30 days after settlement) has passed. Idempotent and safe
//! to run concurrently: a hold is claimed by a conditional update only one runner can win; the
//! release (hold RELEASED, reserve → pending) and its Transfer, an outgoing movement
//! (`service_core::outgoing`) with the idempotency key `reserve-release:<hold>`, are written in
//! one transaction, then sent. A transfer of unknown outcome is looked up before it is sent
//! again; one the provider refuses is reversed (pending → reserve, hold HELD again, retried a day
//! later under a new key).

use chrono::{DateTime, Duration, Utc};
use domain::money::Currency;
use domain::provider::{OutgoingKind, ProviderKind};
use entity::enums::MovementOwner;
use entity::reserve_holds;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect};
use service_core::outgoing::{self, NewOutgoing};

use super::balances::{HOLD_HELD, HOLD_RELEASED, HOLD_RELEASING};
use super::{Payments, ServiceError, ServiceResult};
use crate::repo;
use crate::repo::movements::NewMovement;

/// The idempotency key of a hold's release (transfer and movement).
pub fn release_key(hold_id: &str) -> String {
    format!("reserve-release:{hold_id}")
}

/// The release job's query: due holds of ACTIVE sellers (HELD, or RELEASING whose claim ran out),
/// at most 200. Only active sellers' holds: a suspended seller's holds are never claimed, and
/// never crowd the others out of a pass.
pub fn due_holds_select(now: DateTime<Utc>) -> sea_orm::Select<reserve_holds::Entity> {
    let active_accounts = sea_orm::sea_query::Query::select()
        .column(entity::connected_accounts::Column::Id)
        .from(entity::connected_accounts::Entity)
        .and_where(
            Expr::col(entity::connected_accounts::Column::Status).eq(domain::lifecycle::AccountStatus::Active.as_str()),
        )
        .to_owned();
    reserve_holds::Entity::find()
        .filter(reserve_holds::Column::AccountId.in_subquery(active_accounts))
        .filter(reserve_holds::Column::ReleaseAt.lte(now))
        .filter(
            reserve_holds::Column::Status
                .eq(HOLD_HELD)
                .or(reserve_holds::Column::Status.eq(HOLD_RELEASING).and(reserve_holds::Column::ClaimedUntil.lt(now))),
        )
        .limit(200)
}

impl Payments {
    /// Releases every due hold as of `now`; returns how many this run released.
    pub async fn release_due_reserves(&self, now: DateTime<Utc>) -> ServiceResult<usize> {
        let due = due_holds_select(now).all(&self.db).await?;
        let mut released = 0;
        for hold in due {
            // Suspended (or deactivated) sellers keep their reserve until an admin reinstates
            // them: their holds are skipped without being claimed, so a clawback meanwhile
            // shrinks the hold itself (see `balances`).
            let active = repo::accounts::by_id(&self.db, &hold.account_id)
                .await?
                .is_some_and(|a| a.status.domain() == domain::lifecycle::AccountStatus::Active);
            if !active {
                continue;
            }
            // Claim: only one runner gets rows_affected == 1. From here on no clawback changes
            // the hold's amount (it goes to the pending balance instead), so the transfer below
            // is exactly the hold.
            let claim = reserve_holds::Entity::update_many()
                .col_expr(reserve_holds::Column::Status, Expr::value(HOLD_RELEASING))
                .col_expr(reserve_holds::Column::ClaimedUntil, Expr::value(Some(now + Duration::minutes(5))))
                .col_expr(reserve_holds::Column::UpdatedAt, Expr::value(now))
                .filter(reserve_holds::Column::Id.eq(hold.id.clone()))
                .filter(reserve_holds::Column::Status.eq(HOLD_HELD).or(
                    reserve_holds::Column::Status.eq(HOLD_RELEASING).and(reserve_holds::Column::ClaimedUntil.lt(now)),
                ))
                .exec(&self.db)
                .await?;
            if claim.rows_affected != 1 {
                continue;
            }
            // Re-read after claiming: a clawback may have shrunk the hold since the list was read.
            let Some(hold) = reserve_holds::Entity::find_by_id(hold.id.clone()).one(&self.db).await? else {
                continue;
            };
            match self.release(&hold).await {
                Ok(()) => released += 1,
                Err(e) => tracing::warn!(hold_id = %hold.id, error = %e, "reserve release failed; will retry"),
            }
        }
        Ok(released)
    }

    async fn release(&self, hold: &reserve_holds::Model) -> ServiceResult<()> {
        let account = repo::accounts::by_id(&self.db, &hold.account_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound("account of hold".into()))?;
        let kind: ProviderKind = account.provider.kind();
        let provider = self.providers.get(kind)?;
        // A hold whose earlier transfer was refused is released again under a new key.
        let failed = entity::outgoing_movements::Entity::find()
            .filter(entity::outgoing_movements::Column::LedgerId.eq(hold.ledger_id.clone()))
            .filter(entity::outgoing_movements::Column::Owner.eq(MovementOwner::Payments))
            .filter(entity::outgoing_movements::Column::Status.eq(entity::enums::OutgoingStatus::Failed))
            .count(&self.db)
            .await?;
        // The first release carries what releases always carried (an earlier version may have
        // sent it with this key); a retry after a refusal is new and carries our id of it.
        let (key, metadata) = match failed {
            0 => (
                release_key(&hold.id),
                Some(std::collections::BTreeMap::from([
                    ("reserveHoldId".to_owned(), hold.id.clone()),
                    ("ledgerId".to_owned(), hold.ledger_id.clone()),
                ])),
            ),
            n => (format!("{}:retry-{n}", release_key(&hold.id)), None),
        };
        let txn = service_core::db::begin_write(&self.db).await?;
        record_release_keyed(&txn, hold, None, &key).await?;
        // Providers that pay out manually move the balance only.
        if let (true, true, Some(destination)) =
            (hold.amount > 0, provider.moves(OutgoingKind::Transfer), account.provider_account_id.as_deref())
        {
            outgoing::enqueue(
                &txn,
                NewOutgoing {
                    owner: MovementOwner::Payments,
                    kind: OutgoingKind::Transfer,
                    provider: kind,
                    malet_id: &account.malet_id,
                    account_id: &account.id,
                    ledger_id: Some(&hold.ledger_id),
                    posting_key: &key,
                    amount: hold.amount,
                    currency: Currency::parse(&hold.currency).map_err(ServiceError::bad_input)?,
                    destination: Some(destination),
                    source_ref: None,
                    source_charge: None,
                    transfer_group: None,
                    source_transfer: None,
                    idempotency_key: Some(&key),
                    metadata,
                },
            )
            .await?;
        }
        txn.commit().await?;
        if let Err(e) = self.movement_sender().send_due(Some(&hold.ledger_id), 10).await {
            tracing::warn!(hold_id = %hold.id, error = %e, "reserve transfer not sent yet; the job retries");
        }
        Ok(())
    }

    /// The sender of payments' outgoing movements (reserve releases).
    pub fn movement_sender(&self) -> outgoing::Sender {
        outgoing::Sender::new(
            self.db.clone(),
            self.providers.clone(),
            MovementOwner::Payments,
            std::sync::Arc::new(ReleaseOutcome(self.clone())),
        )
    }

    /// One pass of the job: every due movement of payments.
    pub async fn send_movements(&self) -> ServiceResult<usize> {
        let report = self.movement_sender().send_due(None, 100).await?;
        Ok(report.confirmed + report.failed + report.unknown + report.retrying)
    }

    /// Records a release's movement and marks the hold released (exactly once, by key).
    pub async fn record_release(&self, hold: &reserve_holds::Model, transfer_id: Option<&str>) -> ServiceResult<()> {
        let txn = service_core::db::begin_write(&self.db).await?;
        record_release_in(&txn, hold, transfer_id).await?;
        txn.commit().await?;
        Ok(())
    }
}

/// What a reserve release's transfer coming to an end does to the hold.
struct ReleaseOutcome(Payments);

#[async_trait::async_trait]
impl outgoing::OnFailed for ReleaseOutcome {
    async fn confirmed(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        movement: &entity::outgoing_movements::Model,
        provider_ref: &str,
    ) -> Result<(), String> {
        reserve_holds::Entity::update_many()
            .col_expr(reserve_holds::Column::TransferId, Expr::value(Some(provider_ref.to_owned())))
            .filter(reserve_holds::Column::LedgerId.eq(movement.ledger_id.clone().unwrap_or_default()))
            .exec(txn)
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// The release is undone visibly: the money goes back to the reserve (a REVERSAL movement),
    /// the hold is HELD again and due a day later, under a new key.
    async fn reverse(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        movement: &entity::outgoing_movements::Model,
        reason: &str,
    ) -> Result<(), String> {
        let _ = &self.0;
        let hold = reserve_holds::Entity::find()
            .filter(reserve_holds::Column::LedgerId.eq(movement.ledger_id.clone().unwrap_or_default()))
            .one(txn)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("hold of movement {}", movement.id))?;
        let account = repo::accounts::by_id(txn, &hold.account_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("account of hold {}", hold.id))?;
        reserve_holds::Entity::update_many()
            .col_expr(reserve_holds::Column::Status, Expr::value(HOLD_HELD))
            .col_expr(reserve_holds::Column::TransferId, Expr::value(Option::<String>::None))
            .col_expr(reserve_holds::Column::ClaimedUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(
                reserve_holds::Column::ReleaseAt,
                Expr::value(Some(service_core::clock::now() + Duration::days(1))),
            )
            .col_expr(reserve_holds::Column::UpdatedAt, Expr::value(service_core::clock::now()))
            .filter(reserve_holds::Column::Id.eq(hold.id.clone()))
            .exec(txn)
            .await
            .map_err(|e| e.to_string())?;
        let key = format!("reversal:{}", movement.posting_key);
        repo::movements::append(
            txn,
            NewMovement::release_reversed(&account, &hold.currency, movement.amount, &hold.id, &key)
                .memo(Some(format!("transfer refused: {reason}"))),
        )
        .await
        .map_err(|e| e.to_string())?;
        tracing::warn!(hold_id = %hold.id, reason, "reserve transfer refused; the release is reversed and retried in a day");
        Ok(())
    }
}

/// [`Payments::record_release`] inside the caller's transaction (also used by the
/// `transfer.created` webhook to repair a release whose movement was not recorded).
pub async fn record_release_in<C: sea_orm::ConnectionTrait>(
    conn: &C,
    hold: &reserve_holds::Model,
    transfer_id: Option<&str>,
) -> Result<(), sea_orm::DbErr> {
    record_release_keyed(conn, hold, transfer_id, &release_key(&hold.id)).await
}

/// [`record_release_in`] with the release's key (a release retried after a refused transfer has
/// its own).
async fn record_release_keyed<C: sea_orm::ConnectionTrait>(
    conn: &C,
    hold: &reserve_holds::Model,
    transfer_id: Option<&str>,
    key: &str,
) -> Result<(), sea_orm::DbErr> {
    let Some(account) = repo::accounts::by_id(conn, &hold.account_id).await? else {
        return Err(sea_orm::DbErr::RecordNotFound(format!("account of hold {}", hold.id)));
    };
    // The hold first, then the movement (which locks the account's balances row): the ledger
    // consumer takes the hold's lock before the balances row too, so the two never wait for
    // each other in opposite orders (a PostgreSQL deadlock).
    reserve_holds::Entity::update_many()
        .col_expr(reserve_holds::Column::Status, Expr::value(HOLD_RELEASED))
        .col_expr(reserve_holds::Column::TransferId, Expr::value(transfer_id.map(str::to_owned)))
        .col_expr(reserve_holds::Column::UpdatedAt, Expr::value(service_core::clock::now()))
        .filter(reserve_holds::Column::Id.eq(hold.id.clone()))
        .exec(conn)
        .await?;
    repo::movements::append(
        conn,
        NewMovement::reserve_release(&account, &hold.currency, hold.amount, &hold.id, key)
            .memo(transfer_id.map(|t| format!("transfer {t}"))),
    )
    .await?;
    Ok(())
}
