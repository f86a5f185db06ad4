//! The payments side of Stripe webhooks (R-HOOK-1…3): `account.updated` (snapshot, never
//! older over newer), `transfer.created` (audit; repairs a reserve release), `payout.paid` /
//! `payout.failed`, `charge.dispute.created` / `closed` (suspension above the threshold).
//! Other types are acknowledged and recorded without effect.

use async_trait::async_trait;
use chrono::{Duration, TimeZone, Utc};
use domain::lifecycle::AccountStatus;
use entity::{commission_ledger, connected_accounts, disputes, payouts, reserve_holds};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
};
use serde::Deserialize;
use service_core::audit::{self, AuditEntry};
use service_core::clock;
use service_core::webhook::{ApplyError, EventApplier, Outcome, StripeEvent};

use super::Payments;
use super::balances::HOLD_RELEASED;
use crate::repo;
use crate::repo::movements::NewMovement;

pub const RECEIVER: &str = "payments";

#[derive(Debug, Deserialize)]
struct AccountObject {
    id: String,
    #[serde(default)]
    charges_enabled: bool,
    #[serde(default)]
    payouts_enabled: bool,
    #[serde(default)]
    details_submitted: bool,
    #[serde(default)]
    default_currency: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TransferObject {
    id: String,
    amount: i64,
    currency: String,
    #[serde(default)]
    destination: Option<serde_json::Value>,
    #[serde(default)]
    metadata: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct PayoutObject {
    id: String,
    amount: i64,
    currency: String,
}

#[derive(Debug, Deserialize)]
struct DisputeObject {
    id: String,
    amount: i64,
    currency: String,
    charge: serde_json::Value,
    status: String,
}

fn id_of(v: &serde_json::Value) -> Option<String> {
    v.as_str().map(str::to_owned).or_else(|| v.get("id").and_then(|i| i.as_str()).map(str::to_owned))
}

fn parse<T: serde::de::DeserializeOwned>(event: &StripeEvent) -> Result<T, Outcome> {
    serde_json::from_value(event.data.object.clone())
        .map_err(|e| Outcome::NeedsAttention(format!("{} object does not parse: {e}", event.event_type)))
}

impl Payments {
    async fn on_account_updated(&self, txn: &DatabaseTransaction, event: &StripeEvent) -> Result<Outcome, ApplyError> {
        let obj: AccountObject = match parse(event) {
            Ok(o) => o,
            Err(o) => return Ok(o),
        };
        let Some(account) = repo::accounts::by_provider_account(txn, &obj.id).await? else {
            return Ok(Outcome::Ignored(format!("unknown account {}", obj.id)));
        };
        let account = repo::accounts::for_update(txn, &account.id).await?.unwrap_or(account);
        // R-HOOK-2: an older snapshot never overwrites a newer one.
        // (Stripe's `created` has second resolution: a snapshot of the same second is applied,
        // in delivery order.)
        if account.provider_snapshot_at.is_some_and(|seen| seen > event.created) {
            return Ok(Outcome::Ignored("older snapshot".into()));
        }
        let status: AccountStatus = account.status.parse().map_err(|e| ApplyError::Retry(format!("{e}")))?;
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
        am.status = Set(new_status.as_str().to_owned());
        if let Some(c) = obj.default_currency.as_deref().and_then(|c| domain::money::Currency::parse(c).ok()) {
            am.currency = Set(c.code().to_owned());
        }
        am.updated_at = Set(clock::now());
        let updated = am.update(txn).await?;
        if new_status != status {
            audit::record(
                txn,
                AuditEntry {
                    actor: "stripe",
                    action: "account_activated",
                    entity_type: "connected_account",
                    entity_id: &updated.id,
                    before: Some(before),
                    after: Some(serde_json::json!({"status": updated.status, "kyc_verified": updated.kyc_verified})),
                    reason: Some(&event.id),
                },
            )
            .await?;
        }
        Ok(Outcome::Applied)
    }

    async fn on_transfer_created(&self, txn: &DatabaseTransaction, event: &StripeEvent) -> Result<Outcome, ApplyError> {
        let obj: TransferObject = match parse(event) {
            Ok(o) => o,
            Err(o) => return Ok(o),
        };
        if let Err(e) = self.config.limits.positive("transfer amount", obj.amount) {
            return Ok(Outcome::NeedsAttention(e.to_string()));
        }
        audit::record(
            txn,
            AuditEntry {
                actor: "stripe",
                action: "transfer_created",
                entity_type: "transfer",
                entity_id: &obj.id,
                before: None,
                after: Some(serde_json::json!({"amount": obj.amount, "currency": obj.currency,
                    "destination": obj.destination.as_ref().and_then(id_of), "metadata": obj.metadata})),
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
            super::reserve::record_release_in(txn, &hold, Some(&obj.id)).await?;
        }
        Ok(Outcome::Applied)
    }

    async fn on_payout(
        &self,
        txn: &DatabaseTransaction,
        event: &StripeEvent,
        paid: bool,
    ) -> Result<Outcome, ApplyError> {
        let obj: PayoutObject = match parse(event) {
            Ok(o) => o,
            Err(o) => return Ok(o),
        };
        let Some(acct) = &event.account else {
            return Ok(Outcome::Ignored("platform payout (no connected account)".into()));
        };
        let Some(account) = repo::accounts::by_provider_account(txn, acct).await? else {
            return Ok(Outcome::Ignored(format!("unknown account {acct}")));
        };
        // R-TRUST-4: a payout moves a positive amount, within the per-transaction maximum.
        if let Err(e) = self.config.limits.positive("payout amount", obj.amount) {
            return Ok(Outcome::NeedsAttention(e.to_string()));
        }
        let currency = match domain::money::Currency::parse(&obj.currency) {
            Ok(c) => c,
            Err(e) => return Ok(Outcome::NeedsAttention(e.to_string())),
        };
        if currency.code() != account.currency {
            return Ok(Outcome::NeedsAttention(format!(
                "a {} payout from an account that settles in {}",
                currency.code(),
                account.currency
            )));
        }
        let existing =
            payouts::Entity::find().filter(payouts::Column::ProviderPayoutId.eq(obj.id.clone())).one(txn).await?;
        // A payout that failed stays failed: a `payout.paid` delivered after `payout.failed`
        // (out of order) must not count it as paid.
        if paid && existing.as_ref().is_some_and(|p| p.status == "FAILED") {
            return Ok(Outcome::Ignored("payout already reported failed".into()));
        }
        let status = if paid { "PAID" } else { "FAILED" };
        match existing {
            Some(p) => {
                let mut am: payouts::ActiveModel = p.into();
                am.status = Set(status.into());
                am.updated_at = Set(clock::now());
                am.update(txn).await?;
            }
            None => {
                payouts::ActiveModel {
                    id: Set(uuid::Uuid::now_v7().to_string()),
                    account_id: Set(account.id.clone()),
                    provider_payout_id: Set(Some(obj.id.clone())),
                    amount: Set(obj.amount),
                    currency: Set(currency.code().to_owned()),
                    status: Set(status.into()),
                    recorded_by: Set(Some("stripe".into())),
                    created_at: Set(clock::now()),
                    updated_at: Set(clock::now()),
                }
                .insert(txn)
                .await?;
            }
        }
        let key = format!("payout:{}", obj.id);
        if paid {
            repo::movements::append(
                txn,
                NewMovement {
                    account_id: &account.id,
                    malet_id: &account.malet_id,
                    kind: "PAYOUT",
                    currency: currency.code(),
                    earnings_delta: 0,
                    pending_delta: -obj.amount,
                    reserve_delta: 0,
                    payouts_delta: obj.amount,
                    source_type: "payout",
                    source_id: &obj.id,
                    idempotency_key: &key,
                    memo: None,
                },
            )
            .await?;
        } else {
            // A failed payout returns the money to the balance if it had been counted as paid.
            let counted = entity::balance_movements::Entity::find()
                .filter(entity::balance_movements::Column::IdempotencyKey.eq(key.clone()))
                .count(txn)
                .await?;
            if counted > 0 {
                repo::movements::append(
                    txn,
                    NewMovement {
                        account_id: &account.id,
                        malet_id: &account.malet_id,
                        kind: "PAYOUT_FAILED",
                        currency: currency.code(),
                        earnings_delta: 0,
                        pending_delta: obj.amount,
                        reserve_delta: 0,
                        payouts_delta: -obj.amount,
                        source_type: "payout",
                        source_id: &obj.id,
                        idempotency_key: &format!("payout-failed:{}", obj.id),
                        memo: None,
                    },
                )
                .await?;
            }
        }
        Ok(Outcome::Applied)
    }

    async fn on_dispute(
        &self,
        txn: &DatabaseTransaction,
        event: &StripeEvent,
        closed: bool,
    ) -> Result<Outcome, ApplyError> {
        let obj: DisputeObject = match parse(event) {
            Ok(o) => o,
            Err(o) => return Ok(o),
        };
        let charge_id = id_of(&obj.charge).unwrap_or_default();
        if let Err(e) = self.config.limits.positive("dispute amount", obj.amount) {
            return Ok(Outcome::NeedsAttention(e.to_string()));
        }
        // Which seller: the account the disputed sale credited (murchases' ledger, read-only),
        // never "the Malet's live account".
        let entry = commission_ledger::Entity::find()
            .filter(commission_ledger::Column::ProviderChargeId.eq(charge_id.clone()))
            .one(txn)
            .await?;
        let account = match entry.as_ref().map(|e| (e.account_id.clone(), e.destination_account_id.clone())) {
            Some((Some(id), _)) => repo::accounts::by_id(txn, &id).await?,
            Some((None, Some(acct))) => repo::accounts::by_provider_account(txn, &acct).await?,
            _ => None,
        };
        let existing = disputes::Entity::find()
            .filter(disputes::Column::Provider.eq("stripe"))
            .filter(disputes::Column::ProviderDisputeId.eq(obj.id.clone()))
            .one(txn)
            .await?;
        let now = clock::now();
        match existing {
            Some(d) => {
                let mut am: disputes::ActiveModel = d.into();
                am.status = Set(obj.status.clone());
                if closed {
                    am.closed_at = Set(Some(now));
                }
                am.update(txn).await?;
            }
            None => {
                disputes::ActiveModel {
                    id: Set(uuid::Uuid::now_v7().to_string()),
                    provider: Set("stripe".into()),
                    provider_dispute_id: Set(obj.id.clone()),
                    account_id: Set(account.as_ref().map(|a| a.id.clone())),
                    charge_id: Set(charge_id),
                    amount: Set(obj.amount),
                    currency: Set(obj.currency.to_uppercase()),
                    status: Set(obj.status.clone()),
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
        if recent > self.settings.chargeback_threshold && account.status == AccountStatus::Active.as_str() {
            let mut am: connected_accounts::ActiveModel = account.clone().into();
            am.status = Set(AccountStatus::Active
                .transition(AccountStatus::Suspended)
                .map_err(|e| ApplyError::Retry(e.to_string()))?
                .as_str()
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

/// The [`EventApplier`] registered on payments' `/webhooks/stripe`.
pub struct PaymentsEvents(pub Payments);

#[async_trait]
impl EventApplier for PaymentsEvents {
    async fn apply(&self, txn: &DatabaseTransaction, event: &StripeEvent) -> Result<Outcome, ApplyError> {
        match event.event_type.as_str() {
            "account.updated" => self.0.on_account_updated(txn, event).await,
            "transfer.created" => self.0.on_transfer_created(txn, event).await,
            "payout.paid" => self.0.on_payout(txn, event, true).await,
            "payout.failed" => self.0.on_payout(txn, event, false).await,
            "charge.dispute.created" => self.0.on_dispute(txn, event, false).await,
            "charge.dispute.closed" => self.0.on_dispute(txn, event, true).await,
            other => Ok(Outcome::Ignored(format!("{other} is not handled by payments"))),
        }
    }
}
