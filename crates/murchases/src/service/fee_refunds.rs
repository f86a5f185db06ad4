//! Application-fee refunds (R-REF-1, R-REF-4): the share of a refund the platform returns to the
//! seller from its application fee. Every step that raises an entry's cumulative refunded total
//! (an API refund, `charge.refunded` for a refund made anywhere, a retry) queues exactly the fee
//! share of that step, in the same transaction and under the entry's lock, keyed by the entry and
//! the total it reached; sending is separate and idempotent by that key. So concurrent refunds
//! add up to the cumulative clawback, a refund made in the Stripe dashboard returns its fee share
//! too, and no step is ever sent twice. What exceeds what the provider still holds of the fee
//! (after an adjustment raised the commission) is kept as UNCOLLECTED for finance, never sent.

use domain::provider::{FeeRefundRequest, ProviderError};
use domain::refund::{self, RefundedParts};
use entity::{commission_ledger, fee_refunds};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};
use service_core::clock;

use super::{Murchases, ServiceError, ServiceResult};
use crate::repo;
use crate::repo::refunds::FeeRefundStatus;

/// Sends of one fee refund before it is left FAILED for finance.
pub const MAX_ATTEMPTS: i64 = 20;

impl Murchases {
    /// Queues the fee refund of the step `before` → `after` of `entry` (call in the clawback's
    /// transaction, with the entry locked).
    pub(crate) async fn queue_fee_refund(
        &self,
        txn: &DatabaseTransaction,
        entry: &commission_ledger::Model,
        before: &RefundedParts,
        after: &RefundedParts,
    ) -> ServiceResult<()> {
        let step = after.refunded_amount.to_string();
        self.queue_fee_refund_keyed(txn, entry, before, after, &step).await
    }

    /// [`Self::queue_fee_refund`] with the step named by `step` (the cumulative total reached, or
    /// an adjustment's key): one fee refund per step, whatever retries.
    pub(crate) async fn queue_fee_refund_keyed(
        &self,
        txn: &DatabaseTransaction,
        entry: &commission_ledger::Model,
        before: &RefundedParts,
        after: &RefundedParts,
        step_key: &str,
    ) -> ServiceResult<()> {
        // The platform still holds a reserve that was not released to the seller.
        let reserve_held = match entity::queries::reserve_hold_for_ledger(txn, &entry.id).await? {
            Some(hold) => hold.status == entity::enums::HoldStatus::Held,
            None => true,
        };
        let fee_held = entry.provider_fee_amount.unwrap_or(entry.application_fee_amount);
        let already = repo::refunds::fee_refunded_or_sending(txn, &entry.id).await?;
        let step = refund::fee_refund_step(before, after, reserve_held, fee_held - already)
            .map_err(ServiceError::bad_input)?;
        let at = step_key;
        if step.send > 0 {
            let key = format!("fee-refund:{}:{at}", entry.id);
            repo::refunds::queue_fee_refund(txn, &entry.id, step.send, FeeRefundStatus::Pending, &key).await?;
        }
        if step.uncollected > 0 {
            let key = format!("fee-uncollected:{}:{at}", entry.id);
            repo::refunds::queue_fee_refund(txn, &entry.id, step.uncollected, FeeRefundStatus::Uncollected, &key)
                .await?;
            tracing::warn!(ledger_id = %entry.id, amount = step.uncollected,
                "fee refund owed beyond what the provider holds of the fee; left for finance");
        }
        Ok(())
    }

    /// Fee refunds for admins, newest first (optionally of one status).
    pub async fn fee_refunds(
        &self,
        actor: &domain::permissions::Actor,
        status: Option<FeeRefundStatus>,
        limit: i32,
    ) -> ServiceResult<Vec<fee_refunds::Model>> {
        actor.can_admin(domain::permissions::Permission::ManageCommissions)?;
        if !(1..=100).contains(&limit) {
            return Err(ServiceError::BadInput("limit must be between 1 and 100".into()));
        }
        Ok(repo::refunds::list_fee_refunds(&self.db, status, u64::try_from(limit).unwrap_or(100)).await?)
    }

    /// Sends pending fee refunds (of one entry, or the oldest of all); returns how many were
    /// made. Safe to run concurrently and to repeat: each is sent with its own key.
    pub async fn send_fee_refunds(&self, ledger_id: Option<&str>, limit: u64) -> ServiceResult<usize> {
        let mut sent = 0;
        let mut first_error = None;
        for row in repo::refunds::pending_fee_refunds(&self.db, ledger_id, limit).await? {
            match self.send_fee_refund(&row).await {
                Ok(()) => sent += 1,
                Err(e) => {
                    tracing::warn!(fee_refund = %row.id, error = %e, "application-fee refund not made");
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if sent == 0 => Err(e),
            _ => Ok(sent),
        }
    }

    async fn send_fee_refund(&self, row: &fee_refunds::Model) -> ServiceResult<()> {
        let entry = repo::ledger::by_id(&self.db, &row.ledger_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("ledger entry {}", row.ledger_id)))?;
        let (_, provider, mut metadata) = self.provider_of(&entry)?;
        metadata.insert("feeRefundId".to_owned(), row.id.clone());
        let result = provider
            .refund_application_fee(FeeRefundRequest {
                payment_id: entry.provider_payment_id.clone(),
                amount: row.amount,
                metadata,
                idempotency_key: row.idempotency_key.clone(),
            })
            .await;
        let (status, provider_id, error) = match &result {
            Ok(made) => (FeeRefundStatus::Sent, Some(made.fee_refund_id.clone()), None),
            // Definitive: kept with the reason for finance (reconciliation settles it).
            Err(e @ (ProviderError::Rejected { .. } | ProviderError::NotSupported(_))) => {
                (FeeRefundStatus::Failed, None, Some(e.to_string()))
            }
            // Not known to be made: retried with the same key, a bounded number of times (well
            // within the provider's idempotency window), then left FAILED for finance.
            Err(e) if row.attempts + 1 >= MAX_ATTEMPTS => (FeeRefundStatus::Failed, None, Some(e.to_string())),
            Err(e) => (FeeRefundStatus::Pending, None, Some(e.to_string())),
        };
        fee_refunds::Entity::update_many()
            .col_expr(fee_refunds::Column::Status, Expr::value(status.as_str()))
            .col_expr(fee_refunds::Column::ProviderFeeRefundId, Expr::value(provider_id))
            .col_expr(fee_refunds::Column::Attempts, Expr::value(row.attempts + 1))
            .col_expr(fee_refunds::Column::LastError, Expr::value(error))
            .col_expr(fee_refunds::Column::UpdatedAt, Expr::value(clock::now()))
            .filter(fee_refunds::Column::Id.eq(row.id.clone()))
            .filter(fee_refunds::Column::Status.eq(FeeRefundStatus::Pending.as_str()))
            .exec(&self.db)
            .await?;
        result.map(|_| ()).map_err(Into::into)
    }
}
