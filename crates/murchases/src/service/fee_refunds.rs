//! Application-fee refunds (R-REF-1, R-REF-4): the share of a refund the platform returns to the
//! seller from its application fee. Every step that raises an entry's cumulative refunded total
//! (an API refund, `charge.refunded` for a refund made anywhere, a retry) queues exactly the fee
//! share of that step, in the same transaction and under the entry's lock, keyed by the entry and
//! the total it reached; sending is separate and idempotent by that key. So concurrent refunds
//! add up to the cumulative clawback, a refund made in the Stripe dashboard returns its fee share
//! too, and no step is ever sent twice. What exceeds what the provider still holds of the fee
//! (after an adjustment raised the commission) is kept as UNCOLLECTED for finance, never sent.

use domain::provider::OutgoingKind;
use domain::refund::{self, RefundedParts};
use entity::enums::MovementOwner;
use entity::{commission_ledger, fee_refunds};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};
use service_core::clock;
use service_core::outgoing::{self, NewOutgoing};

use super::{Murchases, ServiceError, ServiceResult};
use crate::repo;
use crate::repo::refunds::FeeRefundStatus;

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
        self.queue_fee_refund_keyed(txn, entry, before, after, &step).await.map(|_| ())
    }

    /// [`Self::queue_fee_refund`] with the step named by `step` (the cumulative total reached, or
    /// an adjustment's key): one fee refund per step, whatever retries. Returns what the step
    /// owes the seller from the fee (sent, or kept UNCOLLECTED for finance).
    pub(crate) async fn queue_fee_refund_keyed(
        &self,
        txn: &DatabaseTransaction,
        entry: &commission_ledger::Model,
        before: &RefundedParts,
        after: &RefundedParts,
        step_key: &str,
    ) -> ServiceResult<i64> {
        // A multi-seller entry has no application fee: its seller's share moves by transfers and
        // their reversals instead (`queue_movement_of`).
        if entry.transfers_net() {
            return Ok(0);
        }
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
            let row_id = fee_refunds::Entity::find()
                .filter(fee_refunds::Column::IdempotencyKey.eq(key.clone()))
                .one(txn)
                .await?
                .map(|r| r.id)
                .ok_or_else(|| ServiceError::Internal("fee refund just queued".into()))?;
            // What every fee refund has carried (and an earlier version sent with this key).
            let metadata = std::collections::BTreeMap::from([
                ("orderId".to_owned(), entry.order_id.clone()),
                ("ledgerId".to_owned(), entry.id.clone()),
                ("feeRefundId".to_owned(), row_id),
            ]);
            // The call itself is an outgoing movement of the clawback's transaction (issue 12),
            // sent with the fee refund's own key.
            let provider_kind: domain::provider::ProviderKind = entry.provider.kind();
            let currency = domain::money::Currency::parse(&entry.currency)
                .map_err(|e| ServiceError::Internal(format!("stored currency: {e}")))?;
            outgoing::enqueue(
                txn,
                NewOutgoing {
                    owner: MovementOwner::Murchases,
                    kind: OutgoingKind::FeeRefund,
                    provider: provider_kind,
                    malet_id: &entry.malet_id,
                    account_id: entry.account_id.as_deref().unwrap_or_default(),
                    ledger_id: Some(&entry.id),
                    posting_key: &key,
                    amount: step.send,
                    currency,
                    destination: entry.destination_account_id.as_deref(),
                    source_ref: Some(&entry.provider_payment_id),
                    source_charge: None,
                    transfer_group: None,
                    source_transfer: None,
                    idempotency_key: Some(&key),
                    metadata: Some(metadata),
                },
            )
            .await?;
        }
        if step.uncollected > 0 {
            let key = format!("fee-uncollected:{}:{at}", entry.id);
            repo::refunds::queue_fee_refund(txn, &entry.id, step.uncollected, FeeRefundStatus::Uncollected, &key)
                .await?;
            tracing::warn!(ledger_id = %entry.id, amount = step.uncollected,
                "fee refund owed beyond what the provider holds of the fee; left for finance");
        }
        step.send.checked_add(step.uncollected).ok_or_else(|| ServiceError::Internal("fee refund overflows".into()))
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

    /// Sends pending fee refunds (of one entry, or the oldest of all) through their outgoing
    /// movements; returns how many were made. Safe to run concurrently and to repeat: each is
    /// sent with its own key, and one whose outcome is unknown is looked up before it is sent
    /// again.
    pub async fn send_fee_refunds(&self, ledger_id: Option<&str>, limit: u64) -> ServiceResult<usize> {
        let report = self.movement_sender().send_due_of(ledger_id, Some(OutgoingKind::FeeRefund), limit).await?;
        Ok(report.confirmed)
    }

    /// A fee refund's movement reached an end: its `fee_refunds` row follows (SENT with the
    /// provider's id, or FAILED with the reason, kept for finance).
    pub(crate) async fn fee_refund_outcome(
        &self,
        txn: &DatabaseTransaction,
        movement: &entity::outgoing_movements::Model,
        outcome: Result<&str, &str>,
    ) -> ServiceResult<()> {
        let (status, provider_id, error) = match outcome {
            Ok(id) => (FeeRefundStatus::Sent, Some(id.to_owned()), None),
            Err(reason) => (FeeRefundStatus::Failed, None, Some(reason.to_owned())),
        };
        fee_refunds::Entity::update_many()
            .col_expr(fee_refunds::Column::Status, Expr::value(status.as_str()))
            .col_expr(fee_refunds::Column::ProviderFeeRefundId, Expr::value(provider_id))
            .col_expr(fee_refunds::Column::Attempts, Expr::value(movement.attempts + 1))
            .col_expr(fee_refunds::Column::LastError, Expr::value(error))
            .col_expr(fee_refunds::Column::UpdatedAt, Expr::value(clock::now()))
            .filter(fee_refunds::Column::IdempotencyKey.eq(movement.posting_key.clone()))
            .filter(fee_refunds::Column::Status.eq(FeeRefundStatus::Pending.as_str()))
            .exec(txn)
            .await?;
        Ok(())
    }
}
