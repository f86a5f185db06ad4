//! The murchases side of provider webhooks (R-HOOK-1…5), on provider-neutral events: a
//! succeeded payment creates the ledger entry, a refund converges the clawback to the payment's
//! cumulative refunded total, a dispute marks the entry disputed (and a won one clears it).
//! Everything else is acknowledged and recorded without effect.

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use domain::events::{
    Category, Dispute, DisputeStatus, EventKind, PaymentRef, PaymentRefunded, PaymentSucceeded, ProviderEvent,
};
use domain::metadata::PaymentMetadata;
use domain::money::Currency;
use sea_orm::DatabaseTransaction;
use service_core::webhook::{ApplyError, EventApplier, Outcome};

use super::ledger::{Recorded, RefundOrigin, SucceededPayment};
use super::{Murchases, ServiceError};
use crate::repo;

pub const RECEIVER: &str = "murchases";

fn db(e: ServiceError) -> ApplyError {
    match e {
        ServiceError::Db(d) => ApplyError::Db(d),
        other => ApplyError::Retry(other.to_string()),
    }
}

impl Murchases {
    async fn on_payment_succeeded(
        &self,
        txn: &DatabaseTransaction,
        event: &ProviderEvent,
        pi: &PaymentSucceeded,
        raw: &str,
    ) -> Result<Outcome, ApplyError> {
        let provider = event.provider;
        let attention = |reason: String| async move {
            self.record_exception(txn, provider, &pi.payment_id, Some(&event.id), &reason, raw).await.map_err(db)?;
            Ok::<Outcome, ApplyError>(Outcome::NeedsAttention(reason))
        };
        let (currency, amount) = (pi.currency, pi.amount);
        // R-TRUST-4: the amount is range-checked where it enters.
        if let Err(e) = self.config.limits.positive("amount", amount) {
            return attention(e.to_string()).await;
        }
        let mut metadata = match PaymentMetadata::parse(&pi.metadata) {
            Ok(m) => m,
            Err(e) => return attention(e.to_string()).await,
        };
        // R-TRUST-1: where the money went decides who is credited (the provider module tells
        // where: a destination charge's destination, a direct charge's account, a PayPal payee).
        let Some(destination) = pi.destination.clone() else {
            return attention("the payment has no destination account: nobody is credited".into()).await;
        };
        let Some(account) = repo::accounts::by_provider_account(txn, &destination).await? else {
            return attention(format!("destination account {destination} is not a known payout account")).await;
        };
        if let Some(m) = &metadata.malet_id
            && *m != account.malet_id
        {
            return attention(format!(
                "metadata.maletId {m} does not own the destination account {destination} (owned by {})",
                account.malet_id
            ))
            .await;
        }
        if !account.currency.eq_ignore_ascii_case(currency.code()) {
            return attention(format!(
                "a {} payment to an account that settles in {}: convert or refund it",
                currency.code(),
                account.currency
            ))
            .await;
        }
        // A payment our checkout created is recorded with the breakdown checkout charged.
        if let Some(checkout) = repo::checkouts::by_payment(txn, provider, &pi.payment_id).await? {
            if let Some(reason) =
                checkout_disagreement(&checkout, &metadata, &pi.metadata, &account.id, amount, currency)
            {
                return attention(reason).await;
            }
            metadata.subtotal = Some(checkout.subtotal);
            metadata.discount = checkout.discount;
            metadata.tax = checkout.tax;
            metadata.shipping = checkout.shipping;
            metadata.affiliate_id = checkout.affiliate_id.clone();
        }
        let payment = SucceededPayment {
            provider,
            payment_id: pi.payment_id.clone(),
            charge_id: pi.charge_id.clone(),
            destination: Some(destination),
            account_id: account.id.clone(),
            currency,
            amount,
            provider_fee_amount: pi.platform_fee,
            paid_at: Utc.timestamp_opt(pi.paid_at, 0).single().unwrap_or_else(Utc::now),
            metadata,
        };
        match self.record_payment(txn, &payment, &account.malet_id).await {
            Ok(Recorded::Created(_)) => {
                repo::ledger::resolve_exceptions(txn, provider, &pi.payment_id).await?;
                Ok(Outcome::Applied)
            }
            Ok(Recorded::AlreadyRecorded(id)) => Ok(Outcome::Ignored(format!("already recorded as {id}"))),
            Err(ServiceError::BadInput(reason)) => attention(reason).await,
            Err(e) => Err(db(e)),
        }
    }

    /// The ledger entry a payment reference names, locked for update.
    async fn entry_for(
        &self,
        txn: &DatabaseTransaction,
        provider: domain::provider::ProviderKind,
        payment: &PaymentRef,
    ) -> Result<Option<entity::commission_ledger::Model>, ApplyError> {
        let mut entry = None;
        if let Some(id) = &payment.payment_id {
            entry = repo::ledger::for_update(txn, repo::ledger::by_payment_select(provider, id)).await?;
        }
        if entry.is_none()
            && let Some(id) = &payment.charge_id
        {
            entry = repo::ledger::for_update(txn, repo::ledger::by_charge_select(id)).await?;
        }
        Ok(entry)
    }

    async fn on_payment_refunded(
        &self,
        txn: &DatabaseTransaction,
        event: &ProviderEvent,
        refund: &PaymentRefunded,
    ) -> Result<Outcome, ApplyError> {
        // The payment may not be recorded yet (out-of-order delivery): retry later.
        let Some(entry) = self.entry_for(txn, event.provider, &refund.payment).await? else {
            return Err(ApplyError::Retry(format!("no ledger entry yet for payment {}", refund.payment.describe())));
        };
        let refunded = refund.cumulative_refunded;
        if let Err(e) = self.config.limits.non_negative("cumulative refunded", refunded) {
            return Ok(Outcome::NeedsAttention(e.to_string()));
        }
        if refunded > entry.gross_amount {
            return Ok(Outcome::NeedsAttention(format!(
                "cumulative refunded {refunded} exceeds the entry's gross {}",
                entry.gross_amount
            )));
        }
        // Refunds listed with their amounts are facts, each counted once by its id; only those
        // that went (or are going) through count.
        for fact in refund.refunds.iter().filter(|f| f.counts) {
            if let Some(amount) = fact.amount
                && self.config.limits.positive("refund amount", amount).is_ok()
            {
                repo::refunds::record_provider_refund(txn, &entry, event.provider, &fact.refund_id, amount, "webhook")
                    .await?;
            }
        }
        let known = repo::refunds::known_total(txn, &entry.id).await?;
        // An older event carries a smaller total: converge to the most that is known.
        let cumulative = refunded.max(known).min(entry.gross_amount);
        let newest = refund.refunds.first().map(|r| r.refund_id.clone());
        let refund_id = match newest {
            Some(id) if !repo::refunds::posting_names_refund(txn, &id).await? => Some(id),
            _ => None,
        };
        match self
            .apply_cumulative_refund(
                txn,
                &entry,
                cumulative,
                RefundOrigin { provider_refund_id: refund_id.as_deref(), source: "webhook", reason: None, actor: None },
            )
            .await
        {
            Ok(Some(_)) => Ok(Outcome::Applied),
            Ok(None) => Ok(Outcome::Ignored("refund already reflected".into())),
            Err(ServiceError::Db(e)) if service_core::db::is_unique_violation(&e) => {
                Err(ApplyError::Retry("refund id recorded concurrently".into()))
            }
            Err(ServiceError::BadInput(m))
            | Err(ServiceError::Transition(domain::lifecycle::TransitionError { from: m, .. })) => {
                Ok(Outcome::NeedsAttention(m))
            }
            Err(e) => Err(db(e)),
        }
    }

    async fn on_dispute(
        &self,
        txn: &DatabaseTransaction,
        event: &ProviderEvent,
        dispute: &Dispute,
    ) -> Result<Outcome, ApplyError> {
        let Some(entry) = self.entry_for(txn, event.provider, &dispute.payment).await? else {
            return Err(ApplyError::Retry(format!("no ledger entry yet for payment {}", dispute.payment.describe())));
        };
        if let Err(e) = self.config.limits.positive("dispute amount", dispute.amount) {
            return Ok(Outcome::NeedsAttention(e.to_string()));
        }
        // The money first: a lost dispute debits the seller, a won one gives the debit back.
        let moved = match self.apply_dispute_money(txn, &entry, dispute).await {
            Ok(moved) => moved,
            Err(ServiceError::BadInput(m)) => return Ok(Outcome::NeedsAttention(m)),
            Err(e) => return Err(db(e)),
        };
        let entry = match moved {
            true => repo::ledger::by_id(txn, &entry.id).await.map_err(|e| db(e.into()))?.unwrap_or(entry),
            false => entry,
        };
        // The mark: open disputes hold the entry's settlement; a won one releases it, a lost one
        // stays marked for finance.
        let marked = match dispute.status {
            DisputeStatus::Open => self.set_disputed(txn, &entry, true).await.map_err(db)?,
            DisputeStatus::Won if entry.disputed => self.set_disputed(txn, &entry, false).await.map_err(db)?,
            DisputeStatus::Won | DisputeStatus::Lost => false,
        };
        if moved || marked { Ok(Outcome::Applied) } else { Ok(Outcome::Ignored("dispute already reflected".into())) }
    }
}

/// Why a payment our checkout created does not match what checkout stored, if it does not. The
/// breakdown fields are compared where the payment carries them (`carried`: a provider with no
/// room for them, like PayPal's order, carries only the order and the Malet); the entry is
/// recorded with checkout's breakdown either way.
fn checkout_disagreement(
    checkout: &entity::checkouts::Model,
    metadata: &PaymentMetadata,
    carried: &std::collections::BTreeMap<String, String>,
    account_id: &str,
    amount: i64,
    currency: Currency,
) -> Option<String> {
    let mut diffs = Vec::new();
    if checkout.account_id != account_id {
        diffs.push(format!("destination account (checkout: {})", checkout.account_id));
    }
    if checkout.gross_amount != amount {
        diffs.push(format!("amount {amount} (checkout: {})", checkout.gross_amount));
    }
    if !checkout.currency.eq_ignore_ascii_case(currency.code()) {
        diffs.push(format!("currency {} (checkout: {})", currency.code(), checkout.currency));
    }
    if metadata.order_id != checkout.order_id {
        diffs.push(format!("metadata.orderId {} (checkout: {})", metadata.order_id, checkout.order_id));
    }
    let amounts = [
        ("subtotal", metadata.subtotal, Some(checkout.subtotal)),
        ("discount", Some(metadata.discount), Some(checkout.discount)),
        ("tax", Some(metadata.tax), Some(checkout.tax)),
        ("shipping", Some(metadata.shipping), Some(checkout.shipping)),
    ];
    for (field, got, want) in amounts {
        if carried.contains_key(field) && got != want {
            diffs.push(format!("metadata.{field} {got:?} (checkout: {want:?})"));
        }
    }
    if carried.contains_key("affiliateId") && metadata.affiliate_id != checkout.affiliate_id {
        diffs.push(format!("metadata.affiliateId {:?} (checkout: {:?})", metadata.affiliate_id, checkout.affiliate_id));
    }
    (!diffs.is_empty()).then(|| format!("the payment disagrees with its checkout: {}", diffs.join(", ")))
}

/// The [`EventApplier`] of murchases' webhook routes (every provider).
pub struct MurchasesEvents(pub Murchases);

#[async_trait]
impl EventApplier for MurchasesEvents {
    async fn apply(&self, txn: &DatabaseTransaction, event: &ProviderEvent, raw: &str) -> Result<Outcome, ApplyError> {
        match &event.kind {
            EventKind::PaymentSucceeded(p) => self.0.on_payment_succeeded(txn, event, p, raw).await,
            EventKind::PaymentRefunded(r) => self.0.on_payment_refunded(txn, event, r).await,
            EventKind::Dispute(d) => self.0.on_dispute(txn, event, d).await,
            // A paid payout closes a stretch of the seller's money: reconcile it (the job runs
            // the request, outside this transaction).
            EventKind::Payout(p) if p.outcome == domain::events::PayoutOutcome::Paid => {
                let key = format!("reconcile:{}:{}", event.provider, p.payout_id);
                service_core::outbox::enqueue(txn, super::reconciliation::TOPIC_RECONCILE, &p.payout_id, "{}", &key)
                    .await
                    .map_err(|e| db(e.into()))?;
                Ok(Outcome::Applied)
            }
            EventKind::Invalid(invalid)
                if matches!(invalid.category, Category::Payment | Category::Refund | Category::Dispute) =>
            {
                if let Some(payment_id) = &invalid.unread_payment {
                    self.0
                        .record_exception(txn, event.provider, payment_id, Some(&event.id), &invalid.reason, raw)
                        .await
                        .map_err(db)?;
                }
                Ok(Outcome::NeedsAttention(invalid.reason.clone()))
            }
            _ => Ok(Outcome::Ignored(format!("{} is not handled by murchases", event.event_type))),
        }
    }
}
