//! The murchases side of Stripe webhooks (R-HOOK-1…4): `payment_intent.succeeded` creates the
//! ledger entry, `charge.refunded` converges the clawback to the cumulative `amount_refunded`,
//! `charge.dispute.created` marks the entry disputed. Everything else is acknowledged and
//! recorded without effect.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use domain::metadata::PaymentMetadata;
use domain::money::Currency;
use domain::provider::ProviderKind;
use sea_orm::DatabaseTransaction;
use serde::Deserialize;
use service_core::webhook::{ApplyError, EventApplier, Outcome, StripeEvent};

use super::ledger::{Recorded, RefundOrigin, SucceededPayment};
use super::{Murchases, ServiceError};
use crate::repo;

pub const RECEIVER: &str = "murchases";

/// An id field that Stripe sends either as a string or as an expanded object.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum IdOrObject {
    Id(String),
    Object { id: String },
}

impl IdOrObject {
    fn id(&self) -> &str {
        match self {
            IdOrObject::Id(id) | IdOrObject::Object { id } => id,
        }
    }
}

#[derive(Debug, Deserialize)]
struct TransferData {
    destination: Option<IdOrObject>,
}

#[derive(Debug, Deserialize)]
struct PaymentIntentObject {
    id: String,
    amount: i64,
    #[serde(default)]
    amount_received: Option<i64>,
    currency: String,
    created: i64,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    transfer_data: Option<TransferData>,
    #[serde(default)]
    latest_charge: Option<IdOrObject>,
    #[serde(default)]
    application_fee_amount: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct ChargeObject {
    id: String,
    amount_refunded: i64,
    #[serde(default)]
    payment_intent: Option<IdOrObject>,
    #[serde(default)]
    refunds: Option<RefundList>,
}

#[derive(Debug, Deserialize)]
struct RefundList {
    #[serde(default)]
    data: Vec<RefundItem>,
}

/// A refund in a charge's `refunds` list: an id, or the refund object with its amount.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RefundItem {
    Object {
        id: String,
        amount: i64,
        #[serde(default)]
        status: Option<String>,
    },
    Id(String),
}

impl RefundItem {
    fn id(&self) -> &str {
        match self {
            RefundItem::Object { id, .. } | RefundItem::Id(id) => id,
        }
    }
}

#[derive(Debug, Deserialize)]
struct DisputeObject {
    #[serde(default)]
    status: Option<String>,
    charge: IdOrObject,
    #[serde(default)]
    payment_intent: Option<IdOrObject>,
}

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
        event: &StripeEvent,
    ) -> Result<Outcome, ApplyError> {
        let raw = event.data.object.to_string();
        let pi: PaymentIntentObject = match serde_json::from_value(event.data.object.clone()) {
            Ok(pi) => pi,
            Err(e) => return Ok(Outcome::NeedsAttention(format!("payment intent does not parse: {e}"))),
        };
        let pi_id = pi.id.clone();
        let (raw, pi_id) = (&raw, &pi_id);
        let attention = |reason: String| async move {
            self.record_exception(txn, ProviderKind::StripeConnect, pi_id, Some(&event.id), &reason, raw)
                .await
                .map_err(db)?;
            Ok::<Outcome, ApplyError>(Outcome::NeedsAttention(reason))
        };
        let currency = match Currency::parse(&pi.currency) {
            Ok(c) => c,
            Err(e) => return attention(e.to_string()).await,
        };
        // R-TRUST-4: the amount is range-checked where it enters.
        let amount = pi.amount_received.filter(|a| *a > 0).unwrap_or(pi.amount);
        if let Err(e) = self.config.limits.positive("amount", amount) {
            return attention(e.to_string()).await;
        }
        let mut metadata = match PaymentMetadata::parse(&pi.metadata) {
            Ok(m) => m,
            Err(e) => return attention(e.to_string()).await,
        };
        // R-TRUST-1: where the money went decides who is credited: the destination of a
        // destination charge, else the connected account a direct charge was made on.
        let destination = pi
            .transfer_data
            .as_ref()
            .and_then(|t| t.destination.as_ref())
            .map(|d| d.id().to_owned())
            .or_else(|| event.account.clone());
        let Some(destination) = destination else {
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
        if let Some(checkout) = repo::checkouts::by_payment(txn, ProviderKind::StripeConnect.as_str(), &pi.id).await? {
            if let Some(reason) = checkout_disagreement(&checkout, &metadata, &account.id, amount, currency) {
                return attention(reason).await;
            }
            metadata.subtotal = Some(checkout.subtotal);
            metadata.discount = checkout.discount;
            metadata.tax = checkout.tax;
            metadata.shipping = checkout.shipping;
            metadata.affiliate_id = checkout.affiliate_id.clone();
        }
        let payment = SucceededPayment {
            provider: ProviderKind::StripeConnect,
            payment_id: pi.id.clone(),
            charge_id: pi.latest_charge.as_ref().map(|c| c.id().to_owned()),
            destination: Some(destination),
            account_id: account.id.clone(),
            currency,
            amount,
            provider_fee_amount: pi.application_fee_amount,
            paid_at: Utc.timestamp_opt(pi.created, 0).single().unwrap_or_else(Utc::now),
            metadata,
        };
        match self.record_payment(txn, &payment, &account.malet_id).await {
            Ok(Recorded::Created(_)) => {
                repo::ledger::resolve_exceptions(txn, ProviderKind::StripeConnect, &pi.id).await?;
                Ok(Outcome::Applied)
            }
            Ok(Recorded::AlreadyRecorded(id)) => Ok(Outcome::Ignored(format!("already recorded as {id}"))),
            Err(ServiceError::BadInput(reason)) => attention(reason).await,
            Err(e) => Err(db(e)),
        }
    }

    async fn on_charge_refunded(&self, txn: &DatabaseTransaction, event: &StripeEvent) -> Result<Outcome, ApplyError> {
        let charge: ChargeObject = match serde_json::from_value(event.data.object.clone()) {
            Ok(c) => c,
            Err(e) => return Ok(Outcome::NeedsAttention(format!("charge does not parse: {e}"))),
        };
        let mut entry = None;
        if let Some(pi) = &charge.payment_intent {
            entry =
                repo::ledger::for_update(txn, repo::ledger::by_payment_select(ProviderKind::StripeConnect, pi.id()))
                    .await?;
        }
        if entry.is_none() {
            entry = repo::ledger::for_update(txn, repo::ledger::by_charge_select(&charge.id)).await?;
        }
        // The payment may not be recorded yet (out-of-order delivery): retry later.
        let Some(entry) = entry else {
            return Err(ApplyError::Retry(format!("no ledger entry yet for charge {}", charge.id)));
        };
        if let Err(e) = self.config.limits.non_negative("amount_refunded", charge.amount_refunded) {
            return Ok(Outcome::NeedsAttention(e.to_string()));
        }
        if charge.amount_refunded > entry.gross_amount {
            return Ok(Outcome::NeedsAttention(format!(
                "amount_refunded {} exceeds the entry's gross {}",
                charge.amount_refunded, entry.gross_amount
            )));
        }
        let listed = charge.refunds.as_ref().map(|r| r.data.clone()).unwrap_or_default();
        // Refunds listed with their amounts are facts, each counted once by its id.
        for item in &listed {
            // Only refunds that went (or are going) through count; failed and canceled ones do not.
            if let RefundItem::Object { id, amount, status } = item
                && matches!(status.as_deref(), None | Some("succeeded" | "pending" | "requires_action"))
                && self.config.limits.positive("refund amount", *amount).is_ok()
            {
                repo::refunds::record_provider_refund(txn, &entry, ProviderKind::StripeConnect, id, *amount, "webhook")
                    .await?;
            }
        }
        let known = repo::refunds::known_total(txn, &entry.id).await?;
        // An older event carries a smaller total: converge to the most that is known.
        let cumulative = charge.amount_refunded.max(known).min(entry.gross_amount);
        let newest = listed.first().map(|r| r.id().to_owned());
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

    async fn on_dispute_created(&self, txn: &DatabaseTransaction, event: &StripeEvent) -> Result<Outcome, ApplyError> {
        let dispute: DisputeObject = match serde_json::from_value(event.data.object.clone()) {
            Ok(d) => d,
            Err(e) => return Ok(Outcome::NeedsAttention(format!("dispute does not parse: {e}"))),
        };
        let mut entry = None;
        if let Some(pi) = &dispute.payment_intent {
            entry =
                repo::ledger::for_update(txn, repo::ledger::by_payment_select(ProviderKind::StripeConnect, pi.id()))
                    .await?;
        }
        if entry.is_none() {
            entry = repo::ledger::for_update(txn, repo::ledger::by_charge_select(dispute.charge.id())).await?;
        }
        let Some(entry) = entry else {
            return Err(ApplyError::Retry(format!("no ledger entry yet for charge {}", dispute.charge.id())));
        };
        if event.event_type == "charge.dispute.closed" {
            // Won: the entry settles again like any other. Lost: it stays marked for finance.
            if dispute.status.as_deref() == Some("won") && entry.disputed {
                self.set_disputed(txn, &entry, false).await.map_err(db)?;
                return Ok(Outcome::Applied);
            }
            return Ok(Outcome::Ignored("dispute closed without a win".into()));
        }
        if self.set_disputed(txn, &entry, true).await.map_err(db)? {
            Ok(Outcome::Applied)
        } else {
            Ok(Outcome::Ignored("already disputed".into()))
        }
    }
}

/// Why a payment our checkout created does not match what checkout stored, if it does not.
fn checkout_disagreement(
    checkout: &entity::checkouts::Model,
    metadata: &PaymentMetadata,
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
        if got != want {
            diffs.push(format!("metadata.{field} {got:?} (checkout: {want:?})"));
        }
    }
    if metadata.affiliate_id != checkout.affiliate_id {
        diffs.push(format!("metadata.affiliateId {:?} (checkout: {:?})", metadata.affiliate_id, checkout.affiliate_id));
    }
    (!diffs.is_empty()).then(|| format!("the payment disagrees with its checkout: {}", diffs.join(", ")))
}

/// The [`EventApplier`] registered on murchases' `/webhooks/stripe`.
pub struct MurchasesEvents(pub Murchases);

#[async_trait]
impl EventApplier for MurchasesEvents {
    async fn apply(&self, txn: &DatabaseTransaction, event: &StripeEvent) -> Result<Outcome, ApplyError> {
        match event.event_type.as_str() {
            "payment_intent.succeeded" => self.0.on_payment_succeeded(txn, event).await,
            "charge.refunded" => self.0.on_charge_refunded(txn, event).await,
            "charge.dispute.created" | "charge.dispute.closed" => self.0.on_dispute_created(txn, event).await,
            other => Ok(Outcome::Ignored(format!("{other} is not handled by murchases"))),
        }
    }
}
