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
use sea_orm::{DatabaseTransaction, TransactionTrait as _};
use service_core::webhook::{ApplyError, EventApplier, Outcome};

use super::ledger::{Recorded, RefundOrigin, SucceededPayment};
use super::{Murchases, ServiceError};
use crate::repo;
use entity::enums::Funding;

pub const RECEIVER: &str = "murchases";

/// Keeps what `outcome` did inside `savepoint` when it took effect (or had nothing to do), and
/// undoes all of it otherwise: an event that needs attention or fails moves no entry.
async fn all_or_none(
    savepoint: DatabaseTransaction,
    outcome: Result<Outcome, ApplyError>,
) -> Result<Outcome, ApplyError> {
    match outcome {
        Ok(Outcome::Applied | Outcome::Ignored(_)) => savepoint.commit().await?,
        _ => savepoint.rollback().await?,
    }
    outcome
}

fn db(e: ServiceError) -> ApplyError {
    match e {
        ServiceError::Db(d) => ApplyError::Db(d),
        other => ApplyError::Retry(other.to_string()),
    }
}

impl Murchases {
    pub(crate) async fn on_payment_succeeded(
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
        let checkouts = repo::checkouts::by_payment(txn, provider, &pi.payment_id).await?;
        let sellers_of_payment = checkouts.len().max(1);
        // One charge for several sellers: the sellers are the ones our checkout stored for it.
        if checkouts.iter().any(|c| c.funding == Funding::SeparateTransfer) {
            return match self.order_parts(txn, pi, &metadata, &checkouts).await? {
                Ok(parts) => self.record_order_payment(txn, event, pi, raw, parts).await,
                Err(reason) => attention(reason).await,
            };
        }
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
        // The provider dates a payment in whole seconds; it cannot be older than the checkout that
        // created it, whose rule is the one the buyer was charged with.
        let mut paid_at = Utc.timestamp_opt(pi.paid_at, 0).single().unwrap_or_else(Utc::now);
        // A payment our checkout created is recorded with the breakdown checkout charged: the
        // checkout of the seller the money went to (a PayPal order of a cart pays each seller
        // by its own unit and capture).
        let mut processing_fee_estimate = None;
        let checkout = match checkouts.len() {
            0 => None,
            1 => checkouts.into_iter().next(),
            _ => match checkouts.into_iter().find(|c| c.account_id == account.id) {
                Some(c) => Some(c),
                None => {
                    return attention(format!(
                        "the payment's destination {destination} is none of its checkout's sellers"
                    ))
                    .await;
                }
            },
        };
        // A storefront order we receive by webhook: its record's numbers, never the metadata's.
        let mut items_base = 0;
        let mut storefront_order = None;
        if checkout.is_none() {
            let payment = (pi.payment_id.as_str(), amount, currency);
            match self.storefront_join(txn, event, payment, &metadata, &pi.metadata, &account.malet_id).await? {
                super::storefronts::Join::NotStorefront => {}
                super::storefronts::Join::Attention(reason) => return attention(reason).await,
                super::storefronts::Join::Order(order) => {
                    metadata.subtotal = Some(order.subtotal);
                    metadata.discount = order.discount;
                    metadata.tax = order.tax;
                    metadata.shipping = order.shipping;
                    metadata.affiliate_id = order.affiliate_id.clone();
                    items_base = order.subtotal - order.discount;
                    storefront_order = Some(order);
                }
            }
        }
        if let Some(checkout) = checkout {
            paid_at = paid_at.max(checkout.created_at);
            processing_fee_estimate = checkout.processing_fee_estimate;
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
            paid_at,
            metadata,
            funding: Funding::DestinationCharge,
            transfer_group: None,
            processing_fee_estimate,
            items_base,
        };
        match self.record_payment(txn, &payment, &account.malet_id).await {
            Ok(Recorded::Created(entry_id)) => {
                // The payment's exception is resolved once every seller of it is recorded (a
                // PayPal order of a cart has one capture per seller under one order id).
                // (Counted only for a cart: a single-seller payment is whole once recorded.)
                let whole = sellers_of_payment <= 1 || {
                    let select = repo::ledger::by_payment_select(provider, &pi.payment_id);
                    let recorded = sea_orm::PaginatorTrait::count(select, txn).await?;
                    usize::try_from(recorded).unwrap_or(usize::MAX) >= sellers_of_payment
                };
                if whole {
                    repo::ledger::resolve_exceptions(txn, provider, &pi.payment_id).await?;
                }
                if let Some(order) = storefront_order {
                    match self.link_storefront_order(txn, &order, &entry_id, event, &pi.payment_id).await {
                        Ok(()) => {}
                        Err(ServiceError::BadInput(reason)) => return attention(reason).await,
                        Err(e) => return Err(db(e)),
                    }
                }
                Ok(Outcome::Applied)
            }
            Ok(Recorded::AlreadyRecorded(id)) => Ok(Outcome::Ignored(format!("already recorded as {id}"))),
            Err(ServiceError::BadInput(reason)) => attention(reason).await,
            Err(e) => Err(db(e)),
        }
    }

    /// The dispute mark of an entry: open disputes hold its settlement; a won one releases it, a
    /// lost one stays marked for finance. Returns whether it changed.
    async fn mark_disputed(
        &self,
        txn: &DatabaseTransaction,
        entry: &entity::commission_ledger::Model,
        dispute: &Dispute,
    ) -> Result<bool, ApplyError> {
        Ok(match dispute.status {
            DisputeStatus::Open => self.set_disputed(txn, entry, true).await.map_err(db)?,
            DisputeStatus::Won if entry.disputed => self.set_disputed(txn, entry, false).await.map_err(db)?,
            DisputeStatus::Won | DisputeStatus::Lost => false,
        })
    }

    /// Every ledger entry of a payment (one, or one per seller of a multi-seller charge), locked
    /// for update.
    async fn entries_for(
        &self,
        txn: &DatabaseTransaction,
        provider: domain::provider::ProviderKind,
        payment: &PaymentRef,
    ) -> Result<Vec<entity::commission_ledger::Model>, ApplyError> {
        use sea_orm::QueryOrder as _;
        let Some(first) = self.entry_for(txn, provider, payment).await? else { return Ok(Vec::new()) };
        if !first.transfers_net() {
            return Ok(vec![first]);
        }
        let select = repo::ledger::by_payment_select(provider, &first.provider_payment_id)
            .order_by_asc(entity::commission_ledger::Column::MaletId);
        Ok(repo::ledger::all_for_update(txn, select).await?)
    }

    /// The ledger entry a payment reference names, locked for update.
    async fn entry_for(
        &self,
        txn: &DatabaseTransaction,
        provider: domain::provider::ProviderKind,
        payment: &PaymentRef,
    ) -> Result<Option<entity::commission_ledger::Model>, ApplyError> {
        // The charge first: a PayPal order of a cart has one capture per seller (each its own
        // entry) under one order id.
        let mut entry = None;
        if let Some(id) = &payment.charge_id {
            entry = repo::ledger::for_update(txn, repo::ledger::by_charge_select(id)).await?;
        }
        if entry.is_none()
            && let Some(id) = &payment.payment_id
        {
            entry = repo::ledger::for_update(txn, repo::ledger::by_payment_select(provider, id)).await?;
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
        let mut entries = self.entries_for(txn, event.provider, &refund.payment).await?;
        if entries.len() > 1 {
            return self.on_order_refunded(txn, event, refund, entries).await;
        }
        let Some(entry) = entries.pop() else {
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
        let mut entries = self.entries_for(txn, event.provider, &dispute.payment).await?;
        if let Err(e) = self.config.limits.positive("dispute amount", dispute.amount) {
            return Ok(Outcome::NeedsAttention(e.to_string()));
        }
        if entries.len() > 1 {
            return self.on_order_dispute(txn, dispute, entries).await;
        }
        let Some(entry) = entries.pop() else {
            return Err(ApplyError::Retry(format!("no ledger entry yet for payment {}", dispute.payment.describe())));
        };
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
        let marked = self.mark_disputed(txn, &entry, dispute).await?;
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
            // A payout item of an affiliate's payout failed after its batch was accepted (PayPal:
            // unclaimed, returned, blocked…): the amount is due again.
            EventKind::Payout(p)
                if p.outcome == domain::events::PayoutOutcome::Failed
                    && p.reference.as_deref().is_some_and(|r| {
                        r.starts_with(&service_core::outgoing::key_of(super::affiliates::PAYOUT_KEY_PREFIX))
                    }) =>
            {
                let key = p.reference.as_deref().unwrap_or_default();
                let Some(movement) = service_core::outgoing::by_key(txn, key).await.map_err(|e| db(e.into()))? else {
                    return Ok(Outcome::NeedsAttention(format!("no affiliate payout has the key {key}")));
                };
                let reason = format!("{} ({})", event.event_type, p.payout_id);
                self.0.affiliate_payout_outcome(txn, &movement, Err(&reason)).await.map_err(db)?;
                Ok(Outcome::Applied)
            }
            // An affiliate's payout account finished its onboarding (sellers' accounts are
            // payments' business: it is not an affiliate's, nothing happens here).
            EventKind::AccountSnapshot(a) => match self.0.on_affiliate_account(txn, event.provider, a).await {
                Ok(Some(true)) => Ok(Outcome::Applied),
                Ok(Some(false)) => Ok(Outcome::Ignored("affiliate account unchanged".into())),
                Ok(None) => Ok(Outcome::Ignored(format!("{} is not handled by murchases", event.event_type))),
                Err(e) => Err(db(e)),
            },
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

impl Murchases {
    /// The sellers' parts of a multi-seller charge, checked against what our checkout stored:
    /// `Err(reason)` when the payment disagrees (it then needs an admin, and nobody is credited).
    async fn order_parts(
        &self,
        txn: &DatabaseTransaction,
        pi: &PaymentSucceeded,
        metadata: &PaymentMetadata,
        checkouts: &[entity::checkouts::Model],
    ) -> Result<Result<Vec<SucceededPayment>, String>, ApplyError> {
        let Some(first) = checkouts.first() else { return Ok(Err("no checkout".into())) };
        let group = first.transfer_group.clone();
        let mut problems = Vec::new();
        if pi.destination.is_some() {
            problems.push("it names a destination account, but the order is charged on the platform".to_owned());
        }
        if pi.transfer_group != group {
            problems.push(format!("transfer_group {:?} (checkout: {group:?})", pi.transfer_group));
        }
        if metadata.order_id != first.order_id {
            problems.push(format!("metadata.orderId {} (checkout: {})", metadata.order_id, first.order_id));
        }
        if checkouts.iter().any(|c| c.funding != Funding::SeparateTransfer || c.transfer_group != group) {
            problems.push("its checkout rows disagree on how the order is paid".to_owned());
        }
        let total = checkouts.iter().try_fold(0i64, |acc, c| acc.checked_add(c.gross_amount));
        if total != Some(pi.amount) {
            problems.push(format!("amount {} (checkout: {total:?})", pi.amount));
        }
        if checkouts.iter().any(|c| !c.currency.eq_ignore_ascii_case(pi.currency.code())) {
            problems.push(format!("currency {} differs from its checkout", pi.currency.code()));
        }
        if pi.charge_id.is_none() {
            problems.push("it names no charge to transfer the sellers' shares from".to_owned());
        }
        let mut parts = Vec::with_capacity(checkouts.len());
        for c in checkouts {
            let account = entity::queries::account_by_id(txn, &c.account_id).await?;
            let account = match account {
                Some(a) if a.malet_id == c.malet_id && a.provider_account_id.is_some() => a,
                _ => {
                    problems.push(format!("the payout account {} of Malet {} is gone", c.account_id, c.malet_id));
                    continue;
                }
            };
            if !account.currency.eq_ignore_ascii_case(pi.currency.code()) {
                problems.push(format!("Malet {}'s account settles in {}", c.malet_id, account.currency));
            }
            let mut part = metadata.clone();
            part.malet_id = Some(c.malet_id.clone());
            part.subtotal = Some(c.subtotal);
            part.discount = c.discount;
            part.tax = c.tax;
            part.shipping = c.shipping;
            part.affiliate_id = c.affiliate_id.clone();
            parts.push(SucceededPayment {
                provider: c.provider.kind(),
                payment_id: pi.payment_id.clone(),
                charge_id: pi.charge_id.clone(),
                destination: account.provider_account_id.clone(),
                account_id: account.id.clone(),
                currency: pi.currency,
                amount: c.gross_amount,
                provider_fee_amount: None,
                // Priced with the rule checkout quoted (the payment is not older than it).
                paid_at: Utc.timestamp_opt(pi.paid_at, 0).single().unwrap_or_else(Utc::now).max(c.created_at),
                metadata: part,
                funding: Funding::SeparateTransfer,
                transfer_group: group.clone(),
                processing_fee_estimate: c.processing_fee_estimate,
                items_base: 0,
            });
        }
        if !problems.is_empty() {
            return Ok(Err(format!("the multi-seller payment disagrees with its checkout: {}", problems.join(", "))));
        }
        Ok(Ok(parts))
    }

    /// Records every seller's entry of a multi-seller charge, all or none (a savepoint): a part
    /// that cannot be recorded leaves the whole payment for an admin.
    async fn record_order_payment(
        &self,
        txn: &DatabaseTransaction,
        event: &ProviderEvent,
        pi: &PaymentSucceeded,
        raw: &str,
        parts: Vec<SucceededPayment>,
    ) -> Result<Outcome, ApplyError> {
        let savepoint = txn.begin().await?;
        let mut created = 0usize;
        for part in &parts {
            let malet = part.metadata.malet_id.clone().unwrap_or_default();
            match self.record_payment(&savepoint, part, &malet).await {
                Ok(Recorded::Created(_)) => created += 1,
                Ok(Recorded::AlreadyRecorded(_)) => {}
                Err(ServiceError::BadInput(reason)) => {
                    savepoint.rollback().await?;
                    let reason = format!("Malet {malet}'s part: {reason}");
                    self.record_exception(txn, event.provider, &pi.payment_id, Some(&event.id), &reason, raw)
                        .await
                        .map_err(db)?;
                    return Ok(Outcome::NeedsAttention(reason));
                }
                Err(e) => return Err(db(e)),
            }
        }
        savepoint.commit().await?;
        if created == 0 {
            return Ok(Outcome::Ignored("every seller's part is already recorded".into()));
        }
        repo::ledger::resolve_exceptions(txn, event.provider, &pi.payment_id).await?;
        Ok(Outcome::Applied)
    }

    /// The refunds of a multi-seller charge: each refund our API made is the seller's whose
    /// entry it names (`ledgerId` in its metadata); what no refund names (a refund made in the
    /// provider's dashboard) is shared across the sellers by the largest-remainder method on what
    /// each still has unrefunded, so a full refund refunds every seller in full.
    /// A refund of a multi-seller charge changes every seller's entry or none (a savepoint): when
    /// one entry cannot take its share, the event needs attention and no entry has moved.
    async fn on_order_refunded(
        &self,
        txn: &DatabaseTransaction,
        event: &ProviderEvent,
        refund: &PaymentRefunded,
        entries: Vec<entity::commission_ledger::Model>,
    ) -> Result<Outcome, ApplyError> {
        let savepoint = txn.begin().await?;
        let outcome = self.apply_order_refund(&savepoint, event, refund, entries).await;
        all_or_none(savepoint, outcome).await
    }

    async fn apply_order_refund(
        &self,
        txn: &DatabaseTransaction,
        event: &ProviderEvent,
        refund: &PaymentRefunded,
        entries: Vec<entity::commission_ledger::Model>,
    ) -> Result<Outcome, ApplyError> {
        let total_gross: i64 = entries.iter().map(|e| e.gross_amount).sum();
        let refunded = refund.cumulative_refunded;
        if let Err(e) = self.config.limits.non_negative("cumulative refunded", refunded) {
            return Ok(Outcome::NeedsAttention(e.to_string()));
        }
        if refunded > total_gross {
            return Ok(Outcome::NeedsAttention(format!(
                "cumulative refunded {refunded} exceeds the order's gross {total_gross}"
            )));
        }
        let mut named: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
        for fact in refund.refunds.iter().filter(|f| f.counts) {
            let Some(entry) = fact.ledger_id.as_ref().and_then(|id| entries.iter().find(|e| &e.id == id)) else {
                continue;
            };
            if let Some(amount) = fact.amount
                && self.config.limits.positive("refund amount", amount).is_ok()
            {
                repo::refunds::record_provider_refund(txn, entry, event.provider, &fact.refund_id, amount, "webhook")
                    .await?;
                if !named.contains_key(&entry.id) && !repo::refunds::posting_names_refund(txn, &fact.refund_id).await? {
                    named.insert(entry.id.clone(), fact.refund_id.clone());
                }
            }
        }
        let mut targets = Vec::with_capacity(entries.len());
        for entry in &entries {
            let known = repo::refunds::known_total(txn, &entry.id).await?;
            targets.push(entry.refunded_amount.max(known).min(entry.gross_amount));
        }
        let attributed: i64 = targets.iter().sum();
        if refunded > attributed {
            let weights: Vec<(usize, rust_decimal::Decimal)> = entries
                .iter()
                .zip(&targets)
                .enumerate()
                .map(|(i, (e, t))| (i, rust_decimal::Decimal::from(e.gross_amount - t)))
                .collect();
            match domain::allocation::allocate(refunded - attributed, &weights) {
                Ok(shares) => {
                    for (i, share) in shares {
                        targets[i] += share;
                    }
                }
                Err(e) => return Ok(Outcome::NeedsAttention(format!("cannot share the refund: {e}"))),
            }
        }
        let mut changed = false;
        for (entry, target) in entries.iter().zip(targets) {
            let refund_id = named.get(&entry.id).map(String::as_str);
            match self
                .apply_cumulative_refund(
                    txn,
                    entry,
                    target,
                    RefundOrigin { provider_refund_id: refund_id, source: "webhook", reason: None, actor: None },
                )
                .await
            {
                Ok(Some(_)) => changed = true,
                Ok(None) => {}
                Err(ServiceError::Db(e)) if service_core::db::is_unique_violation(&e) => {
                    return Err(ApplyError::Retry("refund id recorded concurrently".into()));
                }
                Err(ServiceError::BadInput(m))
                | Err(ServiceError::Transition(domain::lifecycle::TransitionError { from: m, .. })) => {
                    return Ok(Outcome::NeedsAttention(m));
                }
                Err(e) => return Err(db(e)),
            }
        }
        if changed { Ok(Outcome::Applied) } else { Ok(Outcome::Ignored("refund already reflected".into())) }
    }
}

impl Murchases {
    /// A dispute of a multi-seller charge: what it costs the sellers (the disputed amount, plus
    /// the fee when the sellers bear it) is shared across them by the largest-remainder method on
    /// each entry's gross, each share posted and moved as for a one-seller dispute (keyed by the
    /// dispute and the entry). The entries are marked disputed while it is open.
    /// A dispute on a multi-seller charge moves every seller's share or none (a savepoint).
    async fn on_order_dispute(
        &self,
        txn: &DatabaseTransaction,
        dispute: &Dispute,
        entries: Vec<entity::commission_ledger::Model>,
    ) -> Result<Outcome, ApplyError> {
        let savepoint = txn.begin().await?;
        let outcome = self.apply_order_dispute(&savepoint, dispute, entries).await;
        all_or_none(savepoint, outcome).await
    }

    async fn apply_order_dispute(
        &self,
        txn: &DatabaseTransaction,
        dispute: &Dispute,
        entries: Vec<entity::commission_ledger::Model>,
    ) -> Result<Outcome, ApplyError> {
        let Some(total) = self.config.disputes.seller_debit(dispute.amount, dispute.currency) else {
            return Ok(Outcome::NeedsAttention("dispute amount overflows".into()));
        };
        let weights: Vec<(usize, rust_decimal::Decimal)> =
            entries.iter().enumerate().map(|(i, e)| (i, rust_decimal::Decimal::from(e.gross_amount))).collect();
        let shares = match domain::allocation::allocate(total, &weights) {
            Ok(shares) => shares,
            Err(e) => return Ok(Outcome::NeedsAttention(format!("cannot share the dispute: {e}"))),
        };
        let mut changed = false;
        for (i, share) in shares {
            let entry = &entries[i];
            let scope = format!("{}:{}", dispute.dispute_id, entry.id);
            let moved = match self.apply_dispute_share(txn, entry, dispute, &scope, Some(share)).await {
                Ok(moved) => moved,
                Err(ServiceError::BadInput(m)) => return Ok(Outcome::NeedsAttention(m)),
                Err(e) => return Err(db(e)),
            };
            let entry = match moved {
                true => repo::ledger::by_id(txn, &entry.id).await.map_err(|e| db(e.into()))?.unwrap_or(entry.clone()),
                false => entry.clone(),
            };
            let marked = self.mark_disputed(txn, &entry, dispute).await?;
            changed |= moved || marked;
        }
        if changed { Ok(Outcome::Applied) } else { Ok(Outcome::Ignored("dispute already reflected".into())) }
    }
}
