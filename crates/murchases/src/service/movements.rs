//! Money that follows ledger changes (issue 12): an adjustment or a dispute changes what the
//! seller holds, and the money moves with it as an outgoing movement (a Transfer to the seller,
//! or a Transfer reversal from it) written in the posting's transaction and sent by
//! `service_core::outgoing`. A movement the provider refuses reverses its adjustment with a
//! REVERSAL posting, so the books and the seller's balance show that the money never moved.
//! A lost dispute's debit is not undone when its reversal fails: the platform did lose the money,
//! and what could not be taken back stays on the seller's balance as a debt.

use std::sync::Arc;

use async_trait::async_trait;
use domain::events::{Dispute, DisputeFunds, DisputeStatus};
use domain::money::Currency;
use domain::provider::OutgoingKind;
use entity::enums::MovementOwner;
use entity::{commission_ledger, ledger_postings};
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};
use service_core::audit::{self, AuditEntry};
use service_core::clock;
use service_core::outgoing::{self, NewOutgoing, OnFailed, Sender};

use super::ledger::{Posting, PostingKind, post};
use super::{Murchases, ServiceError, ServiceResult};
use crate::repo;

/// Movements sent per pass of the job.
pub const SEND_BATCH: u64 = 100;

/// The posting whose movement is a multi-seller entry's net transfer: its earning.
pub(crate) fn net_transfer_posting_key(ledger_id: &str) -> String {
    format!("earning:{ledger_id}")
}

/// Whether `posting_key` names a net transfer of `ledger_id`: the first one, or an admin's
/// retry of a refused one (`earning:<entry>:retry-<n>`).
fn is_net_transfer_of(posting_key: &str, ledger_id: &str) -> bool {
    let first = net_transfer_posting_key(ledger_id);
    posting_key == first || posting_key.strip_prefix(&first).is_some_and(|rest| rest.starts_with(":retry-"))
}

/// The net transfer of a multi-seller entry that holds its seller's money: the newest one not
/// refused (a retry after a refusal), else the newest.
pub(crate) async fn net_transfer_of(
    txn: &DatabaseTransaction,
    ledger_id: &str,
) -> ServiceResult<Option<entity::outgoing_movements::Model>> {
    let mut transfers: Vec<_> = outgoing::of_ledger(txn, ledger_id)
        .await?
        .into_iter()
        .filter(|m| m.kind == entity::enums::OutgoingKind::Transfer && is_net_transfer_of(&m.posting_key, ledger_id))
        .collect();
    let newest_made = transfers.iter().rposition(|m| m.status != entity::enums::OutgoingStatus::Failed);
    Ok(match newest_made {
        Some(i) => Some(transfers.swap_remove(i)),
        None => transfers.pop(),
    })
}

impl Murchases {
    /// The sender of murchases' outgoing movements.
    pub fn movement_sender(&self) -> Sender {
        Sender::new(
            self.db.clone(),
            self.providers.clone(),
            MovementOwner::Murchases,
            Arc::new(ReverseOnFailure(self.clone())),
        )
    }

    /// Queues the movement of a change of `seller_delta` to what the seller holds from `entry`,
    /// caused by the posting `posting_key` (in its transaction): a transfer to the seller when
    /// positive, a reversal of the payment's transfer when negative. Nothing when the entry's
    /// provider moves no money this way (MANUAL: settled outside, at the next payout).
    pub(crate) async fn queue_movement_of(
        &self,
        txn: &DatabaseTransaction,
        entry: &commission_ledger::Model,
        seller_delta: i64,
        posting_key: &str,
    ) -> ServiceResult<Option<entity::outgoing_movements::Model>> {
        let kind = match seller_delta {
            0 => return Ok(None),
            d if d > 0 => OutgoingKind::Transfer,
            _ => OutgoingKind::TransferReversal,
        };
        let (provider_kind, provider, _) = match self.provider_of(entry) {
            Ok(p) => p,
            Err(e) => {
                // No way to move it here: the change stays in the books, for finance.
                tracing::error!(ledger_id = %entry.id, error = %e, "the provider of this entry is not configured; the money does not move");
                return Ok(None);
            }
        };
        let (Some(account_id), true) = (entry.account_id.as_deref(), provider.moves(kind)) else {
            return Ok(None);
        };
        let currency =
            Currency::parse(&entry.currency).map_err(|e| ServiceError::Internal(format!("stored currency: {e}")))?;
        // A multi-seller entry's money reached the seller by our transfer of its net: a reversal
        // takes from that transfer (and waits for it if it is not made yet).
        let mut amount = seller_delta.checked_abs().ok_or_else(|| ServiceError::Internal("delta overflows".into()))?;
        let source_transfer = match (kind, entry.transfers_net()) {
            (OutgoingKind::TransferReversal, true) => {
                let Some(transfer) = net_transfer_of(txn, &entry.id).await? else {
                    tracing::error!(ledger_id = %entry.id, "no net transfer to take back from; the change stays in the books for finance");
                    return Ok(None);
                };
                // At most what is left of the transfer; the rest (the processing fee the seller
                // bears on a full refund, say) stays a debt on its balance, recovered from its
                // later earnings.
                let left = transfer
                    .amount
                    .checked_sub(outgoing::reversed_from(txn, &transfer.id).await?)
                    .ok_or_else(|| ServiceError::Internal("reversals overflow".into()))?;
                // What a receivable's recovery took from this transfer first is owed again when
                // this reversal comes up short because of it (at most what it recovered).
                let shortfall = amount.saturating_sub(left.max(0));
                if shortfall > 0 && !posting_key.starts_with(super::receivables::RECOVERY_KEY_PREFIX) {
                    super::receivables::reopen_recovered_from(txn, &entry.id, shortfall).await?;
                }
                if left <= 0 {
                    return Ok(None);
                }
                amount = amount.min(left);
                Some(transfer.id)
            }
            _ => None,
        };
        let movement = outgoing::enqueue(
            txn,
            NewOutgoing {
                owner: MovementOwner::Murchases,
                kind,
                provider: provider_kind,
                malet_id: &entry.malet_id,
                account_id,
                ledger_id: Some(&entry.id),
                posting_key,
                amount,
                currency,
                destination: entry.destination_account_id.as_deref(),
                source_ref: Some(&entry.provider_payment_id),
                source_charge: None,
                transfer_group: entry.transfer_group.as_deref(),
                source_transfer: source_transfer.as_deref(),
                idempotency_key: None,
                metadata: None,
            },
        )
        .await?;
        Ok(Some(movement))
    }

    /// Queues the transfer of a multi-seller entry's net to its seller, from the charge
    /// (`source_transaction`) and in the order's transfer group, keyed by the entry's earning.
    pub(crate) async fn queue_net_transfer(
        &self,
        txn: &DatabaseTransaction,
        entry: &commission_ledger::Model,
        earning_key: &str,
    ) -> ServiceResult<()> {
        debug_assert_eq!(earning_key, net_transfer_posting_key(&entry.id));
        if entry.net_payout <= 0 {
            return Ok(());
        }
        let (provider_kind, _, _) = self.provider_of(entry)?;
        let (Some(account_id), Some(destination)) =
            (entry.account_id.as_deref(), entry.destination_account_id.as_deref())
        else {
            return Err(ServiceError::Internal(format!("entry {} has no account to transfer to", entry.id)));
        };
        let currency =
            Currency::parse(&entry.currency).map_err(|e| ServiceError::Internal(format!("stored currency: {e}")))?;
        outgoing::enqueue(
            txn,
            NewOutgoing {
                owner: MovementOwner::Murchases,
                kind: OutgoingKind::Transfer,
                provider: provider_kind,
                malet_id: &entry.malet_id,
                account_id,
                ledger_id: Some(&entry.id),
                posting_key: earning_key,
                amount: entry.net_payout,
                currency,
                destination: Some(destination),
                source_ref: Some(&entry.provider_payment_id),
                source_charge: entry.provider_charge_id.as_deref(),
                transfer_group: entry.transfer_group.as_deref(),
                source_transfer: None,
                idempotency_key: None,
                metadata: None,
            },
        )
        .await?;
        Ok(())
    }

    /// `retryOutgoingMovement`: an admin sends again a seller's net transfer from a multi-seller
    /// charge that the provider refused (after fixing its cause, e.g. the account's transfers
    /// capability). The books never stopped owing it; the retry is a new movement of the same
    /// amount under a new key (`earning:<entry>:retry-<n>`: the provider would answer the old key
    /// with its refusal). Refused when anything was taken back from the refused transfer
    /// meanwhile (those changes need finance), or when a retry is already under way.
    pub async fn retry_outgoing_movement(
        &self,
        actor: &domain::permissions::Actor,
        id: &str,
        reason: &str,
    ) -> ServiceResult<entity::outgoing_movements::Model> {
        use entity::enums::{OutgoingKind as Stored, OutgoingStatus};
        actor.can_admin(domain::permissions::Permission::ManageCommissions)?;
        if reason.trim().is_empty() {
            return Err(ServiceError::BadInput("a reason is required".into()));
        }
        let txn = service_core::db::begin_write(&self.db).await?;
        let failed =
            outgoing::by_id(&*txn, id).await?.ok_or_else(|| ServiceError::NotFound(format!("movement {id}")))?;
        let ledger_id = failed.ledger_id.clone().unwrap_or_default();
        if failed.owner != MovementOwner::Murchases
            || failed.kind != Stored::Transfer
            || !is_net_transfer_of(&failed.posting_key, &ledger_id)
        {
            return Err(ServiceError::BadInput(
                "only a seller's net transfer from a multi-seller charge can be retried".into(),
            ));
        }
        if failed.status != OutgoingStatus::Failed {
            return Err(ServiceError::Conflict(format!("movement {id} is {}, not FAILED", failed.status)));
        }
        // Under the entry's lock, as every change that takes back from its transfer: none can
        // pick the refused transfer while the retry is decided.
        repo::ledger::for_update(&*txn, repo::ledger::by_id_select(&ledger_id))
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("ledger entry of movement {id}")))?;
        let of_entry = outgoing::of_ledger(&*txn, &ledger_id).await?;
        let retries: Vec<_> = of_entry
            .iter()
            .filter(|m| m.kind == Stored::Transfer && is_net_transfer_of(&m.posting_key, &ledger_id))
            .collect();
        if retries.iter().any(|m| m.status != OutgoingStatus::Failed) {
            return Err(ServiceError::Conflict("this transfer is already being retried".into()));
        }
        if retries.last().is_some_and(|newest| newest.id != failed.id) {
            return Err(ServiceError::Conflict("only the newest attempt of this transfer can be retried".into()));
        }
        // Anything taken back from any attempt of it (a refund, a dispute, an adjustment) was
        // refused with it: the amount owed is no longer the transfer's, so finance settles it.
        // (A receivable's recovery refused with it owes nothing: the receivable is open again.)
        let settled_elsewhere = |m: &&entity::outgoing_movements::Model| {
            m.status == OutgoingStatus::Failed && m.posting_key.starts_with(super::receivables::RECOVERY_KEY_PREFIX)
        };
        if of_entry
            .iter()
            .filter(|m| !settled_elsewhere(m))
            .any(|m| m.source_transfer.as_deref().is_some_and(|t| retries.iter().any(|r| r.id == t)))
        {
            return Err(ServiceError::Conflict(
                "changes were taken back from this transfer while it was refused: settle them by hand".into(),
            ));
        }
        let posting_key = format!("{}:retry-{}", net_transfer_posting_key(&ledger_id), retries.len());
        let currency =
            Currency::parse(&failed.currency).map_err(|e| ServiceError::Internal(format!("stored currency: {e}")))?;
        let retry = outgoing::enqueue(
            &txn,
            NewOutgoing {
                owner: MovementOwner::Murchases,
                kind: OutgoingKind::Transfer,
                provider: failed.provider.kind(),
                malet_id: &failed.malet_id,
                account_id: &failed.account_id,
                ledger_id: Some(&ledger_id),
                posting_key: &posting_key,
                amount: failed.amount,
                currency,
                destination: failed.destination.as_deref(),
                source_ref: failed.source_ref.as_deref(),
                source_charge: failed.source_charge.as_deref(),
                transfer_group: failed.transfer_group.as_deref(),
                source_transfer: None,
                idempotency_key: None,
                metadata: None,
            },
        )
        .await?;
        audit::record(
            &txn,
            AuditEntry {
                actor: actor.subject().unwrap_or("unknown"),
                action: "retry_outgoing_movement",
                entity_type: "outgoing_movement",
                entity_id: id,
                malet_id: Some(&failed.malet_id),
                before: Some(serde_json::json!({"movement": id, "status": "FAILED", "error": failed.last_error})),
                after: Some(serde_json::json!({"retry": retry.id, "amount": retry.amount})),
                reason: Some(reason),
            },
        )
        .await?;
        txn.commit().await?;
        self.send_movements_of(&ledger_id).await;
        Ok(outgoing::by_id(&self.db, &retry.id).await?.unwrap_or(retry))
    }

    /// Sends the movements of one entry now (after its posting committed); what fails stays
    /// due for the job.
    pub(crate) async fn send_movements_of(&self, ledger_id: &str) {
        if let Err(e) = self.movement_sender().send_due(Some(ledger_id), SEND_BATCH).await {
            tracing::warn!(ledger_id, error = %e, "outgoing movements not sent yet; the job retries");
        }
    }

    /// One pass of the job: every due movement (new, retried, or of unknown outcome).
    pub async fn send_movements(&self) -> ServiceResult<outgoing::SendReport> {
        Ok(self.movement_sender().send_due(None, SEND_BATCH).await?)
    }

    /// Outgoing movements for admins, newest first.
    pub async fn outgoing_movements(
        &self,
        actor: &domain::permissions::Actor,
        ledger_id: Option<&str>,
        status: Option<entity::enums::OutgoingStatus>,
        limit: i32,
    ) -> ServiceResult<Vec<entity::outgoing_movements::Model>> {
        actor.can_admin(domain::permissions::Permission::ManageCommissions)?;
        let limit = u64::try_from(limit)
            .ok()
            .filter(|l| (1..=100).contains(l))
            .ok_or_else(|| ServiceError::BadInput("limit must be between 1 and 100".into()))?;
        Ok(outgoing::list(&self.db, ledger_id, status, limit).await?)
    }

    /// Undoes the adjustment posted as `posting` (its movement failed) with a REVERSAL posting.
    async fn reverse_adjustment(
        &self,
        txn: &DatabaseTransaction,
        posting: &ledger_postings::Model,
        reason: &str,
    ) -> ServiceResult<()> {
        let key = format!("reversal:{}", posting.idempotency_key);
        if repo::ledger::posting_exists(txn, &key).await? {
            return Ok(());
        }
        let entry = repo::ledger::for_update(txn, repo::ledger::by_id_select(&posting.ledger_id))
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("ledger entry {}", posting.ledger_id)))?;
        let undo = posting
            .adjustment_delta
            .checked_neg()
            .ok_or_else(|| ServiceError::Internal("adjustment overflows".into()))?;
        let why = format!("reverses {}: {reason}", posting.idempotency_key);
        // The fee refund the adjustment owed on a partly refunded entry is not owed any more.
        let fee_key = format!("fee-refund:{}:{}", posting.ledger_id, posting.idempotency_key);
        if let Some(fee_refund) = outgoing::by_key(txn, &fee_key).await? {
            let reason = "the adjustment that owed it was reversed";
            if outgoing::cancel_unsent(txn, &fee_refund, reason).await? {
                self.fee_refund_outcome(txn, &fee_refund, Err(&format!("cancelled: {reason}"))).await?;
            } else if fee_refund.status != entity::enums::OutgoingStatus::Failed {
                tracing::error!(movement = %fee_refund.id, "the reversed adjustment's fee refund was already sent; finance must recover it");
            }
        }
        let (updated, _) = self
            .post_adjustment(
                txn,
                &entry,
                undo,
                Posting {
                    kind: PostingKind::Reversal,
                    adjustment: undo,
                    key: &key,
                    actor: None,
                    reason: Some(&why),
                    occurred_at: clock::now(),
                },
            )
            .await?;
        audit::record(
            txn,
            AuditEntry {
                actor: "system",
                action: "reverse_posting",
                entity_type: "commission_ledger",
                entity_id: &entry.id,
                malet_id: Some(&entry.malet_id),
                before: Some(serde_json::json!({"commission": entry.commission_amount, "net": entry.net_payout})),
                after: Some(serde_json::json!({"commission": updated.commission_amount, "net": updated.net_payout,
                    "reversed": posting.idempotency_key})),
                reason: Some(&why),
            },
        )
        .await?;
        Ok(())
    }

    /// A dispute's money (issue 12): the first of a lost decision or the funds withdrawn debits
    /// the seller the disputed amount plus the fee it bears (config `[disputes]`), once per
    /// dispute; a won decision or the funds reinstated gives the debit back, once. Each is a
    /// DISPUTE posting with its movement (a reversal of what the seller still holds of the
    /// payment, and the same amount transferred back on a win). Returns whether it posted.
    pub(crate) async fn apply_dispute_money(
        &self,
        txn: &DatabaseTransaction,
        entry: &commission_ledger::Model,
        dispute: &Dispute,
    ) -> ServiceResult<bool> {
        self.apply_dispute_share(txn, entry, dispute, &dispute.dispute_id, None).await
    }

    /// [`Self::apply_dispute_money`] for one seller of a multi-seller charge: its postings are
    /// keyed by `scope` (the dispute and the entry), and `share` is its part of what the
    /// dispute costs the sellers (`None`: all of it, one seller).
    pub(crate) async fn apply_dispute_share(
        &self,
        txn: &DatabaseTransaction,
        entry: &commission_ledger::Model,
        dispute: &Dispute,
        scope: &str,
        share: Option<i64>,
    ) -> ServiceResult<bool> {
        let debit_key = format!("dispute:{scope}:debit");
        let reinstate_key = format!("dispute:{scope}:reinstate");
        let withdrawn = dispute.status == DisputeStatus::Lost || dispute.funds == Some(DisputeFunds::Withdrawn);
        let reinstated = dispute.status == DisputeStatus::Won || dispute.funds == Some(DisputeFunds::Reinstated);
        if withdrawn && !reinstated {
            if repo::ledger::posting_exists(txn, &debit_key).await? {
                return Ok(false);
            }
            let currency = Currency::parse(&entry.currency)
                .map_err(|e| ServiceError::Internal(format!("stored currency: {e}")))?;
            if currency != dispute.currency {
                return Err(ServiceError::BadInput(format!(
                    "dispute {} is in {} but its payment in {}",
                    dispute.dispute_id, dispute.currency, entry.currency
                )));
            }
            let debit = match share {
                Some(share) => share,
                None => self
                    .config
                    .disputes
                    .seller_debit(dispute.amount, currency)
                    .ok_or_else(|| ServiceError::BadInput("dispute amount overflows".into()))?,
            };
            if debit <= 0 {
                return Ok(false);
            }
            let reason = format!("dispute {} lost: {} plus fee", dispute.dispute_id, dispute.amount);
            let updated = post_dispute(txn, entry, debit, &debit_key, &reason).await?;
            // Take back what the seller still holds of this payment (at most the debit); the
            // rest stays a debt on its balance, recovered from later earnings.
            let recoverable = debit.min(entry.net_payout.max(0));
            if recoverable > 0 {
                self.queue_movement_of(txn, &updated, -recoverable, &debit_key).await?;
            }
            return Ok(true);
        }
        if reinstated {
            let Some(debit) = repo::ledger::posting_by_key(txn, &debit_key).await? else {
                return Ok(false);
            };
            if repo::ledger::posting_exists(txn, &reinstate_key).await? {
                return Ok(false);
            }
            let give_back = debit
                .dispute_delta
                .checked_neg()
                .ok_or_else(|| ServiceError::Internal("dispute debit overflows".into()))?;
            let reason = format!("dispute {} won: debit reinstated", dispute.dispute_id);
            let updated = post_dispute(txn, entry, give_back, &reinstate_key, &reason).await?;
            // Give back what was taken back, once it is known to be taken: a reversal not sent
            // yet is cancelled, one in flight gives back when it is confirmed
            // (`ReverseOnFailure::confirmed`), a failed one took nothing.
            use entity::enums::OutgoingStatus as S;
            if let Some(taken) = outgoing::by_key(txn, &outgoing::key_of(&debit_key)).await? {
                match taken.status {
                    S::Confirmed => {
                        self.queue_movement_of(txn, &updated, taken.amount, &reinstate_key).await?;
                    }
                    S::Pending
                        if taken.attempts == 0
                            && !outgoing::cancel_unsent(txn, &taken, "the dispute was won before it was sent")
                                .await? =>
                    {
                        tracing::info!(movement = %taken.id, "the dispute's reversal is being sent; it gives back when confirmed");
                    }
                    _ => {}
                }
            }
            return Ok(true);
        }
        Ok(false)
    }
}

/// A DISPUTE posting changing the entry's dispute debit by `change` (a debit is positive, its
/// reinstatement negative).
async fn post_dispute(
    txn: &DatabaseTransaction,
    entry: &commission_ledger::Model,
    change: i64,
    key: &str,
    reason: &str,
) -> ServiceResult<commission_ledger::Model> {
    let mut am: commission_ledger::ActiveModel = entry.clone().into();
    am.dispute_debit = Set(entry
        .dispute_debit
        .checked_add(change)
        .ok_or_else(|| ServiceError::BadInput("dispute debit overflows".into()))?);
    am.updated_at = Set(clock::now());
    post(
        txn,
        Some(entry),
        am,
        Posting {
            kind: PostingKind::Dispute,
            adjustment: 0,
            key,
            actor: None,
            reason: Some(reason),
            occurred_at: clock::now(),
        },
    )
    .await
}

/// What a failed movement of murchases does to its posting.
struct ReverseOnFailure(Murchases);

#[async_trait]
impl OnFailed for ReverseOnFailure {
    async fn confirmed(
        &self,
        txn: &DatabaseTransaction,
        movement: &entity::outgoing_movements::Model,
        provider_ref: &str,
    ) -> Result<(), String> {
        if movement.posting_key.starts_with(super::affiliates::PAYOUT_KEY_PREFIX) {
            return self.0.affiliate_payout_outcome(txn, movement, Ok(())).await.map_err(|e| e.to_string());
        }
        if movement.posting_key.starts_with(super::receivables::RECOVERY_KEY_PREFIX) {
            return self.0.recovery_outcome(txn, movement, Ok(())).await.map_err(|e| e.to_string());
        }
        if movement.kind == entity::enums::OutgoingKind::FeeRefund {
            return self.0.fee_refund_outcome(txn, movement, Ok(provider_ref)).await.map_err(|e| e.to_string());
        }
        // A dispute's reversal confirmed after the dispute was won: give it back now.
        if let Some(dispute) =
            movement.posting_key.strip_prefix("dispute:").and_then(|rest| rest.strip_suffix(":debit"))
        {
            let reinstate_key = format!("dispute:{dispute}:reinstate");
            if repo::ledger::posting_exists(txn, &reinstate_key).await.map_err(|e| e.to_string())? {
                let entry = repo::ledger::by_id(txn, movement.ledger_id.as_deref().unwrap_or_default())
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("ledger entry of movement {}", movement.id))?;
                self.0
                    .queue_movement_of(txn, &entry, movement.amount, &reinstate_key)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    async fn reverse(
        &self,
        txn: &DatabaseTransaction,
        movement: &entity::outgoing_movements::Model,
        reason: &str,
    ) -> Result<(), String> {
        // A refused affiliate payout: its amount is due again (the job retries after a delay).
        if movement.posting_key.starts_with(super::affiliates::PAYOUT_KEY_PREFIX) {
            return self.0.affiliate_payout_outcome(txn, movement, Err(reason)).await.map_err(|e| e.to_string());
        }
        // A refused recovery of a receivable: open again for the next earning.
        if movement.posting_key.starts_with(super::receivables::RECOVERY_KEY_PREFIX) {
            return self.0.recovery_outcome(txn, movement, Err(reason)).await.map_err(|e| e.to_string());
        }
        if movement.kind == entity::enums::OutgoingKind::Refund {
            // A refused refund wrote no posting: nothing to reverse (the API told its caller).
            tracing::warn!(movement = %movement.id, reason, "refund refused by the provider");
            return Ok(());
        }
        if movement.kind == entity::enums::OutgoingKind::FeeRefund {
            // The clawback stands; the fee refund it owes is kept FAILED for finance.
            return self.0.fee_refund_outcome(txn, movement, Err(reason)).await.map_err(|e| e.to_string());
        }
        // A multi-seller net transfer the provider refused: the seller is still owed its net (the
        // entry and balance stand, the money is on the platform's balance); an admin retries it
        // once the cause is fixed (`retryOutgoingMovement`), or finance pays it.
        if movement.kind == entity::enums::OutgoingKind::Transfer
            && is_net_transfer_of(&movement.posting_key, movement.ledger_id.as_deref().unwrap_or_default())
        {
            tracing::error!(movement = %movement.id, reason,
                "a seller's net transfer was refused; the seller is owed it (retryOutgoingMovement)");
            return Ok(());
        }
        let posting = ledger_postings::Entity::find()
            .filter(ledger_postings::Column::IdempotencyKey.eq(movement.posting_key.clone()))
            .one(txn)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("posting {} of movement {}", movement.posting_key, movement.id))?;
        match posting.kind {
            PostingKind::Adjustment => {
                self.0.reverse_adjustment(txn, &posting, reason).await.map_err(|e| e.to_string())
            }
            // A lost dispute's debit stands (the platform lost the money), and so does a
            // storefront's explanation that took back less of a refund: what could not be taken
            // back stays a debt on the seller's balance. A reinstatement that could not be
            // transferred is owed to the seller: finance sees the FAILED movement.
            _ => {
                tracing::error!(movement = %movement.id, posting = %posting.idempotency_key, reason,
                    "a movement of a dispute or a refund failed; the posting stands and finance settles the money");
                Ok(())
            }
        }
    }
}
