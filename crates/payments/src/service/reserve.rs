//! Rolling reserve release (R-RES-2): each hold is released to the seller, as a provider
//! Transfer, once its release date (30 days after settlement) has passed. Idempotent and safe
//! to run concurrently: a hold is claimed by a conditional update only one runner can win,
//! the transfer's idempotency key is derived from the hold, and the balance movement uses the
//! same key, so a crash between the transfer and the movement is repaired by the next run (or
//! by the `transfer.created` webhook) without paying twice.

use chrono::{DateTime, Duration, Utc};
use domain::money::Currency;
use domain::provider::{ProviderError, ProviderKind, TransferRequest};
use entity::reserve_holds;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

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
        let key = release_key(&hold.id);
        let mut transfer_id = None;
        if hold.amount > 0 {
            let kind: ProviderKind = account.provider.kind();
            let provider = self.providers.get(kind)?;
            if let Some(destination) = &account.provider_account_id {
                let mut metadata = std::collections::BTreeMap::new();
                metadata.insert("reserveHoldId".to_owned(), hold.id.clone());
                metadata.insert("ledgerId".to_owned(), hold.ledger_id.clone());
                match provider
                    .transfer(TransferRequest {
                        amount: hold.amount,
                        currency: Currency::parse(&hold.currency).map_err(ServiceError::bad_input)?,
                        destination: destination.clone(),
                        metadata,
                        idempotency_key: key.clone(),
                    })
                    .await
                {
                    Ok(t) => transfer_id = Some(t.transfer_id),
                    // Providers that pay out manually move the balance only.
                    Err(ProviderError::NotSupported(_)) => {}
                    Err(ProviderError::Rejected { message, .. }) => {
                        // Definitive: back to HELD for an admin or a later retry.
                        reserve_holds::Entity::update_many()
                            .col_expr(reserve_holds::Column::Status, Expr::value(HOLD_HELD))
                            .filter(reserve_holds::Column::Id.eq(hold.id.clone()))
                            .exec(&self.db)
                            .await?;
                        return Err(ServiceError::Provider(ProviderError::Rejected { code: None, message }));
                    }
                    // Ambiguous or unavailable: stay RELEASING; the claim expires and the
                    // retry reuses the same idempotency key.
                    Err(e) => return Err(e.into()),
                }
            }
        }
        self.record_release(hold, transfer_id.as_deref()).await
    }

    /// Records a release's movement and marks the hold released (exactly once, by key).
    pub async fn record_release(&self, hold: &reserve_holds::Model, transfer_id: Option<&str>) -> ServiceResult<()> {
        let txn = service_core::db::begin_write(&self.db).await?;
        record_release_in(&txn, hold, transfer_id).await?;
        txn.commit().await?;
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
    let key = release_key(&hold.id);
    repo::movements::append(
        conn,
        NewMovement::reserve_release(&account, &hold.currency, hold.amount, &hold.id, &key)
            .memo(transfer_id.map(|t| format!("transfer {t}"))),
    )
    .await?;
    Ok(())
}
