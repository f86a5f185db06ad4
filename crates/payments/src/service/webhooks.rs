//! The payments side of provider webhooks (R-HOOK-1…5), on provider-neutral events: account
//! snapshots (never older over newer), transfers (audit; repairs a reserve release), payouts paid
//! or failed, disputes (suspension above the threshold). Other events are acknowledged and
//! recorded without effect.

use async_trait::async_trait;
use chrono::{Duration, TimeZone, Utc};
use domain::events::{
    AccountSnapshot, Category, Dispute, EventKind, PayoutOutcome, PayoutUpdate, ProviderEvent, TransferCreated,
};
use domain::lifecycle::AccountStatus;
use entity::{commission_ledger, connected_accounts, disputes, payouts, reserve_holds};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
};
use service_core::audit::{self, AuditEntry};
use service_core::clock;
use service_core::webhook::{ApplyError, EventApplier, Outcome};

use super::Payments;
use super::balances::HOLD_RELEASED;
use entity::enums::PayoutStatus;

use crate::repo;
use crate::repo::movements::NewMovement;

pub const RECEIVER: &str = "payments";

impl Payments {
    async fn on_account_snapshot(
        &self,
        txn: &DatabaseTransaction,
        event: &ProviderEvent,
        obj: &AccountSnapshot,
    ) -> Result<Outcome, ApplyError> {
        let account = match repo::accounts::by_provider_account(txn, &obj.provider_account_id).await? {
            Some(account) => repo::accounts::for_update(txn, &account.id).await?.unwrap_or(account),
            None => {
                // A provider that names the seller's account only now: our account it refers to,
                // of that provider and not linked to another seller account yet.
                let linked = match &obj.reference {
                    Some(our_id) => repo::accounts::for_update(txn, our_id).await?,
                    None => None,
                };
                let Some(account) = linked else {
                    return Ok(Outcome::Ignored(format!("unknown account {}", obj.provider_account_id)));
                };
                if account.provider.kind() != event.provider {
                    return Ok(Outcome::NeedsAttention(format!(
                        "{} names account {} of provider {}",
                        event.provider, account.id, account.provider
                    )));
                }
                if let Some(other) = &account.provider_account_id {
                    return Ok(Outcome::NeedsAttention(format!(
                        "account {} is already linked to {other}, not {}",
                        account.id, obj.provider_account_id
                    )));
                }
                let mut am: connected_accounts::ActiveModel = account.into();
                am.provider_account_id = Set(Some(obj.provider_account_id.clone()));
                am.update(txn).await?
            }
        };
        // R-HOOK-2: an older snapshot never overwrites a newer one.
        // (`created` has second resolution: a snapshot of the same second is applied, in
        // delivery order.)
        if account.provider_snapshot_at.is_some_and(|seen| seen > event.created) {
            return Ok(Outcome::Ignored("older snapshot".into()));
        }
        let status: AccountStatus = account.status.domain();
        let enabled = obj.charges_enabled && obj.payouts_enabled;
        let new_status = match status {
            AccountStatus::Pending | AccountStatus::Onboarding if enabled => AccountStatus::Active,
            s => s,
        };
        let before = serde_json::json!({"status": account.status, "kyc_verified": account.kyc_verified});
        let mut am: connected_accounts::ActiveModel = account.clone().into();
        am.charges_enabled = Set(obj.charges_enabled);
        am.payouts_enabled = Set(obj.payouts_enabled);
        am.kyc_verified = Set(enabled && obj.details_submitted);
        am.provider_snapshot_at = Set(Some(event.created));
        am.status = Set(new_status.into());
        if let Some(c) = obj.default_currency {
            am.currency = Set(c.code().to_owned());
        }
        am.updated_at = Set(clock::now());
        let updated = am.update(txn).await?;
        if new_status != status {
            audit::record(
                txn,
                AuditEntry {
                    actor: event.provider.as_str(),
                    action: "account_activated",
                    entity_type: "connected_account",
                    entity_id: &updated.id,
                    malet_id: Some(&updated.malet_id),
                    before: Some(before),
                    after: Some(serde_json::json!({"status": updated.status, "kyc_verified": updated.kyc_verified})),
                    reason: Some(&event.id),
                },
            )
            .await?;
        }
        Ok(Outcome::Applied)
    }

    /// The seller withdrew the platform's access (e.g. PayPal consent revoked): nothing more is
    /// charged or paid out through the account, and an ACTIVE account is suspended for an admin.
    async fn on_account_revoked(
        &self,
        txn: &DatabaseTransaction,
        event: &ProviderEvent,
        provider_account_id: &str,
    ) -> Result<Outcome, ApplyError> {
        let Some(account) = repo::accounts::by_provider_account(txn, provider_account_id).await? else {
            return Ok(Outcome::Ignored(format!("unknown account {provider_account_id}")));
        };
        let account = repo::accounts::for_update(txn, &account.id).await?.unwrap_or(account);
        let status: AccountStatus = account.status.domain();
        let before = serde_json::json!({"status": account.status, "charges_enabled": account.charges_enabled,
            "payouts_enabled": account.payouts_enabled});
        let mut am: connected_accounts::ActiveModel = account.clone().into();
        am.charges_enabled = Set(false);
        am.payouts_enabled = Set(false);
        if status == AccountStatus::Active {
            am.status = Set(AccountStatus::Suspended.into());
            am.status_reason = Set(Some(format!("the seller revoked the platform's access at {}", event.provider)));
        }
        am.updated_at = Set(clock::now());
        let updated = am.update(txn).await?;
        audit::record(
            txn,
            AuditEntry {
                actor: event.provider.as_str(),
                action: "account_access_revoked",
                entity_type: "connected_account",
                entity_id: &updated.id,
                malet_id: Some(&updated.malet_id),
                before: Some(before),
                after: Some(serde_json::json!({"status": updated.status, "charges_enabled": false,
                    "payouts_enabled": false})),
                reason: Some(&event.id),
            },
        )
        .await?;
        Ok(Outcome::Applied)
    }

    async fn on_transfer_created(
        &self,
        txn: &DatabaseTransaction,
        event: &ProviderEvent,
        obj: &TransferCreated,
    ) -> Result<Outcome, ApplyError> {
        if let Err(e) = self.config.limits.positive("transfer amount", obj.amount) {
            return Ok(Outcome::NeedsAttention(e.to_string()));
        }
        // The Malet whose account received the transfer, when it is one of ours.
        let destination = match obj.destination.as_deref() {
            Some(acct) => repo::accounts::by_provider_account(txn, acct).await?,
            None => None,
        };
        audit::record(
            txn,
            AuditEntry {
                actor: event.provider.as_str(),
                action: "transfer_created",
                entity_type: "transfer",
                entity_id: &obj.transfer_id,
                malet_id: destination.as_ref().map(|a| a.malet_id.as_str()),
                before: None,
                after: Some(serde_json::json!({"amount": obj.amount, "currency": obj.currency.code(),
                    "destination": obj.destination, "metadata": obj.metadata})),
                reason: Some(&event.id),
            },
        )
        .await?;
        // A reserve release whose movement was not recorded (crash after the transfer): record
        // it now; the shared idempotency key keeps it to one movement.
        let hold = match obj.metadata.get("reserveHoldId") {
            Some(hold_id) => reserve_holds::Entity::find_by_id(hold_id.clone()).one(txn).await?,
            None => None,
        };
        if let Some(hold) = hold.filter(|h| h.status != HOLD_RELEASED) {
            super::reserve::record_release_in(txn, &hold, Some(&obj.transfer_id)).await?;
        }
        Ok(Outcome::Applied)
    }

    async fn on_payout(
        &self,
        txn: &DatabaseTransaction,
        event: &ProviderEvent,
        obj: &PayoutUpdate,
    ) -> Result<Outcome, ApplyError> {
        let paid = obj.outcome == PayoutOutcome::Paid;
        let Some(acct) = &obj.account else {
            return Ok(Outcome::Ignored("platform payout (no connected account)".into()));
        };
        let Some(account) = repo::accounts::by_provider_account(txn, acct).await? else {
            return Ok(Outcome::Ignored(format!("unknown account {acct}")));
        };
        // R-TRUST-4: a payout moves a positive amount, within the per-transaction maximum.
        if let Err(e) = self.config.limits.positive("payout amount", obj.amount) {
            return Ok(Outcome::NeedsAttention(e.to_string()));
        }
        let currency = obj.currency;
        if currency.code() != account.currency {
            return Ok(Outcome::NeedsAttention(format!(
                "a {} payout from an account that settles in {}",
                currency.code(),
                account.currency
            )));
        }
        let existing = payouts::Entity::find()
            .filter(payouts::Column::ProviderPayoutId.eq(obj.payout_id.clone()))
            .one(txn)
            .await?;
        // A payout that failed stays failed: a `payout.paid` delivered after `payout.failed`
        // (out of order) must not count it as paid.
        if paid && existing.as_ref().is_some_and(|p| p.status == PayoutStatus::Failed) {
            return Ok(Outcome::Ignored("payout already reported failed".into()));
        }
        let status = if paid { PayoutStatus::Paid } else { PayoutStatus::Failed };
        match existing {
            Some(p) => {
                let mut am: payouts::ActiveModel = p.into();
                am.status = Set(status);
                am.updated_at = Set(clock::now());
                am.update(txn).await?;
            }
            None => {
                payouts::ActiveModel {
                    id: Set(uuid::Uuid::now_v7().to_string()),
                    account_id: Set(account.id.clone()),
                    provider_payout_id: Set(Some(obj.payout_id.clone())),
                    amount: Set(obj.amount),
                    currency: Set(currency.code().to_owned()),
                    status: Set(status),
                    recorded_by: Set(Some(event.provider.as_str().to_owned())),
                    created_at: Set(clock::now()),
                    updated_at: Set(clock::now()),
                }
                .insert(txn)
                .await?;
            }
        }
        let key = format!("payout:{}", obj.payout_id);
        if paid {
            repo::movements::append(
                txn,
                NewMovement::payout(&account, currency.code(), obj.amount, &obj.payout_id, &key),
            )
            .await?;
        } else {
            // A failed payout returns the money to the balance if it had been counted as paid.
            let counted = entity::balance_movements::Entity::find()
                .filter(entity::balance_movements::Column::IdempotencyKey.eq(key.clone()))
                .count(txn)
                .await?;
            if counted > 0 {
                let returned = format!("payout-failed:{}", obj.payout_id);
                repo::movements::append(
                    txn,
                    NewMovement::payout_returned(&account, currency.code(), obj.amount, &obj.payout_id, &returned),
                )
                .await?;
            }
        }
        Ok(Outcome::Applied)
    }

    async fn on_dispute(
        &self,
        txn: &DatabaseTransaction,
        event: &ProviderEvent,
        obj: &Dispute,
    ) -> Result<Outcome, ApplyError> {
        let closed = obj.status.is_closed();
        if let Err(e) = self.config.limits.positive("dispute amount", obj.amount) {
            return Ok(Outcome::NeedsAttention(e.to_string()));
        }
        // Which seller: the account the disputed sale credited (murchases' ledger, read-only),
        // never "the Malet's live account".
        // The disputed charge first (a PayPal order of a cart has one capture per seller), else
        // the payment.
        let mut entries = Vec::new();
        if let Some(charge_id) = &obj.payment.charge_id {
            entries = commission_ledger::Entity::find()
                .filter(commission_ledger::Column::ProviderChargeId.eq(charge_id.clone()))
                .all(txn)
                .await?;
        }
        if entries.is_empty()
            && let Some(payment_id) = &obj.payment.payment_id
        {
            entries = commission_ledger::Entity::find()
                .filter(commission_ledger::Column::Provider.eq(entity::enums::Provider::from(event.provider)))
                .filter(commission_ledger::Column::ProviderPaymentId.eq(payment_id.clone()))
                .all(txn)
                .await?;
        }
        // A multi-seller charge on the platform (separate charges and transfers) is the
        // platform's own: the dispute is the platform's, its cost is shared across the sellers by
        // murchases, and it counts toward no single seller's chargeback threshold.
        let platform_charge = entries.iter().any(|e| e.transfers_net());
        let charge_id = obj.payment.charge_id.clone().or_else(|| obj.payment.payment_id.clone()).unwrap_or_default();
        let account = match entries.first().map(|e| (e.account_id.clone(), e.destination_account_id.clone())) {
            _ if platform_charge => None,
            Some((Some(id), _)) => repo::accounts::by_id(txn, &id).await?,
            Some((None, Some(acct))) => repo::accounts::by_provider_account(txn, &acct).await?,
            _ => None,
        };
        let existing = disputes::Entity::find()
            .filter(disputes::Column::Provider.eq(entity::enums::Provider::from(event.provider)))
            .filter(disputes::Column::ProviderDisputeId.eq(obj.dispute_id.clone()))
            .one(txn)
            .await?;
        let now = clock::now();
        match existing {
            Some(d) => {
                let mut am: disputes::ActiveModel = d.into();
                am.status = Set(obj.status.into());
                if closed {
                    am.closed_at = Set(Some(now));
                }
                am.update(txn).await?;
            }
            None => {
                disputes::ActiveModel {
                    id: Set(uuid::Uuid::now_v7().to_string()),
                    provider: Set(event.provider.into()),
                    provider_dispute_id: Set(obj.dispute_id.clone()),
                    account_id: Set(account.as_ref().map(|a| a.id.clone())),
                    charge_id: Set(charge_id),
                    amount: Set(obj.amount),
                    currency: Set(obj.currency.code().to_owned()),
                    status: Set(obj.status.into()),
                    opened_at: Set(Utc.timestamp_opt(event.created, 0).single().unwrap_or(now)),
                    closed_at: Set(closed.then_some(now)),
                }
                .insert(txn)
                .await?;
            }
        }
        if closed {
            return Ok(Outcome::Applied);
        }
        if platform_charge {
            tracing::info!(dispute = %obj.dispute_id, sellers = entries.len(), "a dispute on a multi-seller platform charge");
            return Ok(Outcome::Applied);
        }
        let Some(account) = account else {
            return Ok(Outcome::NeedsAttention("dispute on a charge with no known seller account".into()));
        };
        // R-ACCT-3: suspend when disputes in the trailing window exceed the threshold.
        let since = now - Duration::days(self.settings.dispute_window_days);
        // The history is the Malet's, over all its accounts: a new account does not reset it.
        let accounts: Vec<String> =
            repo::accounts::all_for_malet(txn, &account.malet_id).await?.into_iter().map(|a| a.id).collect();
        let recent = disputes::Entity::find()
            .filter(disputes::Column::AccountId.is_in(accounts))
            .filter(disputes::Column::OpenedAt.gte(since))
            .count(txn)
            .await?;
        if recent > self.settings.chargeback_threshold && account.status.domain() == AccountStatus::Active {
            let mut am: connected_accounts::ActiveModel = account.clone().into();
            am.status = Set(AccountStatus::Active
                .transition(AccountStatus::Suspended)
                .map_err(|e| ApplyError::Retry(e.to_string()))?
                .into());
            am.status_reason = Set(Some(format!("{recent} disputes in {} days", self.settings.dispute_window_days)));
            am.updated_at = Set(now);
            am.update(txn).await?;
            audit::record(
                txn,
                AuditEntry {
                    actor: "system",
                    action: "suspend_connected_account",
                    entity_type: "connected_account",
                    entity_id: &account.id,
                    malet_id: Some(&account.malet_id),
                    before: Some(serde_json::json!({"status": account.status})),
                    after: Some(serde_json::json!({"status": "SUSPENDED", "disputes": recent})),
                    reason: Some("chargeback threshold exceeded"),
                },
            )
            .await?;
        }
        Ok(Outcome::Applied)
    }
}

/// The [`EventApplier`] of payments' webhook routes (every provider).
pub struct PaymentsEvents(pub Payments);

#[async_trait]
impl EventApplier for PaymentsEvents {
    async fn apply(&self, txn: &DatabaseTransaction, event: &ProviderEvent, _raw: &str) -> Result<Outcome, ApplyError> {
        match &event.kind {
            EventKind::AccountSnapshot(a) => self.0.on_account_snapshot(txn, event, a).await,
            EventKind::AccountRevoked { provider_account_id } => {
                self.0.on_account_revoked(txn, event, provider_account_id).await
            }
            EventKind::TransferCreated(t) => self.0.on_transfer_created(txn, event, t).await,
            EventKind::Payout(p) => self.0.on_payout(txn, event, p).await,
            EventKind::Dispute(d) => self.0.on_dispute(txn, event, d).await,
            EventKind::Invalid(invalid)
                if matches!(
                    invalid.category,
                    Category::Account | Category::Payout | Category::Transfer | Category::Dispute
                ) =>
            {
                Ok(Outcome::NeedsAttention(invalid.reason.clone()))
            }
            _ => Ok(Outcome::Ignored(format!("{} is not handled by payments", event.event_type))),
        }
    }
}
