//! The commission ledger: one entry per paid order, changed only by postings (earning, refund,
//! adjustment, settlement) that are each mirrored to payments through the outbox in the same
//! transaction.

use chrono::{DateTime, Utc};
use domain::commission::{self, OrderAmounts};
use domain::ids::{MaletId, OrderId};
use domain::lifecycle::LedgerStatus;
use domain::metadata::PaymentMetadata;
use domain::money::Currency;
use domain::permissions::{Actor, Permission};
use domain::provider::OutgoingKind;
use domain::provider::{ProviderError, ProviderKind, RefundCreated, RefundRequest};
use domain::rate::Rate;
use domain::refund::{self, OriginalParts, RefundedParts};
use domain::reserve::ReservePolicy;
use entity::enums::{Funding, MovementOwner, OutgoingStatus};
use entity::{commission_ledger, ledger_postings, malet_settings, payment_exceptions, refunds};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DatabaseTransaction, EntityTrait};
use service_core::audit::{self, AuditEntry};
use service_core::outgoing::{self, NewOutgoing};
use service_core::{clock, outbox};

use domain::ledger_events::{BalanceEvent, BalanceEventKind, TOPIC_BALANCE};

use super::{Murchases, ServiceError, ServiceResult};
use crate::repo;

/// A payment the provider reports as succeeded, as far as the ledger needs it.
#[derive(Debug, Clone)]
pub struct SucceededPayment {
    pub provider: ProviderKind,
    pub payment_id: String,
    pub charge_id: Option<String>,
    pub destination: Option<String>,
    /// Our connected account that owns `destination`: the one credited (R-TRUST-1).
    pub account_id: String,
    pub currency: Currency,
    pub amount: i64,
    /// The application fee the provider reports it charged (`None`: not reported; the
    /// engine's fee is assumed).
    pub provider_fee_amount: Option<i64>,
    pub paid_at: DateTime<Utc>,
    pub metadata: PaymentMetadata,
    /// How the seller is paid: by this charge (destination charge), or by a transfer of its net
    /// from the platform's charge (a multi-seller order, issue 13).
    pub funding: Funding,
    /// The multi-seller order's group at the provider.
    pub transfer_group: Option<String>,
    /// The commissionable base of the storefront order it pays (0: none), kept on the entry so
    /// the storefront's item refunds take back their items' share.
    pub items_base: i64,
    /// This seller's share of the order's processing fee (multi-seller); `None`: estimated on
    /// this payment's own gross.
    pub processing_fee_estimate: Option<i64>,
}

/// The provider of an entry, its kind, and the metadata every call about the entry carries.
pub(crate) type EntryProvider =
    (ProviderKind, std::sync::Arc<dyn domain::provider::PayoutProvider>, std::collections::BTreeMap<String, String>);

impl Murchases {
    /// The provider an entry was paid through, and the metadata every call about it carries.
    pub(crate) fn provider_of(&self, entry: &commission_ledger::Model) -> ServiceResult<EntryProvider> {
        let kind: ProviderKind = entry.provider.kind();
        let provider = self.providers.get(kind)?;
        let mut metadata = std::collections::BTreeMap::new();
        metadata.insert("orderId".to_owned(), entry.order_id.clone());
        metadata.insert("ledgerId".to_owned(), entry.id.clone());
        Ok((kind, provider, metadata))
    }
}

/// Where a refund came from (recorded with it).
#[derive(Debug, Clone, Copy)]
pub struct RefundOrigin<'a> {
    pub provider_refund_id: Option<&'a str>,
    /// `api` (refundMurchase) or `webhook` (charge.refunded).
    pub source: &'a str,
    pub reason: Option<&'a str>,
    pub actor: Option<&'a str>,
}

/// The entry with the parts of a refund state (the posting of the difference is `post`'s).
fn with_refunded_parts(entry: &commission_ledger::Model, parts: &RefundedParts) -> commission_ledger::ActiveModel {
    let mut am: commission_ledger::ActiveModel = entry.clone().into();
    am.refunded_commission = Set(parts.refunded_commission);
    am.commission_amount = Set(parts.commission);
    am.reserve_amount = Set(parts.reserve);
    am.affiliate_amount = Set(parts.affiliate);
    am.net_payout = Set(parts.net);
    am.updated_at = Set(clock::now());
    am
}

/// What recording a payment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    Created(String),
    AlreadyRecorded(String),
}

pub(crate) fn original_parts(e: &commission_ledger::Model) -> OriginalParts {
    OriginalParts {
        gross: e.gross_amount,
        commission: e.original_commission,
        processing_fee: e.processing_fee,
        reserve: e.original_reserve,
        affiliate: e.original_affiliate,
        items: domain::refund::ItemRefunds {
            base: e.items_base,
            refunded_base: e.items_refunded_base,
            refunded_amount: e.items_refunded_amount,
        },
    }
}

/// The balance event payments consumes: how the seller's balances change.
pub use entity::enums::PostingKind;

/// The balance event each posting kind is mirrored to payments as.
fn balance_event_kind(kind: PostingKind) -> BalanceEventKind {
    match kind {
        PostingKind::Earning => BalanceEventKind::Earning,
        PostingKind::Refund => BalanceEventKind::RefundClawback,
        PostingKind::Adjustment => BalanceEventKind::Adjustment,
        PostingKind::Dispute => BalanceEventKind::Dispute,
        PostingKind::Reversal => BalanceEventKind::Reversal,
    }
}

/// One posting: what it is, its idempotency key, who made it and why, and when it happened.
pub struct Posting<'a> {
    pub kind: PostingKind,
    /// What an adjustment moved from the platform's commission (positive) or to the seller
    /// (negative): `adjustCommission`'s amount, what undoing it needs; 0 for other kinds.
    pub adjustment: i64,
    pub key: &'a str,
    pub actor: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub occurred_at: DateTime<Utc>,
}

/// The one way an entry's amounts change (R-LEDGER-1): writes the entry (`before` is `None` for
/// a new entry, which `write` inserts; else `write` updates it), appends the posting of exactly
/// the difference, and queues the seller's balance event, all in `txn`. Postings are never
/// modified: a correction is a new posting.
pub(crate) async fn post(
    txn: &DatabaseTransaction,
    before: Option<&commission_ledger::Model>,
    write: commission_ledger::ActiveModel,
    posting: Posting<'_>,
) -> ServiceResult<commission_ledger::Model> {
    let after = match before {
        None => write.insert(txn).await?,
        Some(_) => write.update(txn).await?,
    };
    let diff = |a: i64, b: Option<i64>| {
        a.checked_sub(b.unwrap_or(0)).ok_or_else(|| ServiceError::Internal("posting delta overflows".into()))
    };
    let commission_delta = diff(after.commission_amount, before.map(|b| b.commission_amount))?;
    let reserve_delta = diff(after.reserve_amount, before.map(|b| b.reserve_amount))?;
    let affiliate_delta = diff(after.affiliate_amount, before.map(|b| b.affiliate_amount))?;
    let net_delta = diff(after.net_payout, before.map(|b| b.net_payout))?;
    let refunded_delta = diff(after.refunded_amount, before.map(|b| b.refunded_amount))?;
    let dispute_delta = diff(after.dispute_debit, before.map(|b| b.dispute_debit))?;
    // What the seller's balance gains: its net, less what disputes took.
    let balance_delta =
        net_delta.checked_sub(dispute_delta).ok_or_else(|| ServiceError::Internal("posting delta overflows".into()))?;
    ledger_postings::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        ledger_id: Set(after.id.clone()),
        kind: Set(posting.kind),
        commission_delta: Set(commission_delta),
        reserve_delta: Set(reserve_delta),
        affiliate_delta: Set(affiliate_delta),
        net_delta: Set(net_delta),
        refunded_delta: Set(refunded_delta),
        dispute_delta: Set(dispute_delta),
        adjustment_delta: Set(posting.adjustment),
        idempotency_key: Set(posting.key.to_owned()),
        actor: Set(posting.actor.map(str::to_owned)),
        reason: Set(posting.reason.map(str::to_owned)),
        created_at: Set(clock::now()),
    }
    .insert(txn)
    .await?;
    let event =
        balance_event(&after, balance_event_kind(posting.kind), balance_delta, reserve_delta, posting.occurred_at)?;
    outbox::enqueue(txn, TOPIC_BALANCE, &after.id, &event.to_payload(), posting.key).await?;
    Ok(after)
}

/// The balance event of `entry` (after the change).
pub(crate) fn balance_event(
    entry: &commission_ledger::Model,
    kind: BalanceEventKind,
    net_delta: i64,
    reserve_delta: i64,
    occurred_at: DateTime<Utc>,
) -> ServiceResult<BalanceEvent> {
    Ok(BalanceEvent {
        kind,
        ledger_id: entry.id.clone(),
        order_id: Some(entry.order_id.clone()),
        malet_id: entry.malet_id.clone(),
        account_id: entry.account_id.clone(),
        destination: entry.destination_account_id.clone(),
        currency: Currency::parse(&entry.currency)
            .map_err(|e| ServiceError::Internal(format!("stored currency: {e}")))?,
        net_delta,
        reserve_delta,
        occurred_at,
        settlement_date: entry.settlement_date,
    })
}

impl Murchases {
    /// Records a payment that needs an admin (unusable metadata, unknown Malet): never guessed.
    pub async fn record_exception<C: ConnectionTrait>(
        &self,
        conn: &C,
        provider: ProviderKind,
        payment_id: &str,
        event_id: Option<&str>,
        reason: &str,
        payload: &str,
    ) -> ServiceResult<()> {
        let row = payment_exceptions::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            provider: Set(provider.into()),
            provider_payment_id: Set(payment_id.to_owned()),
            event_id: Set(event_id.map(str::to_owned)),
            reason: Set(reason.to_owned()),
            payload: Set(payload.to_owned()),
            resolved_at: Set(None),
            created_at: Set(clock::now()),
        };
        // One exception per payment. A payment not recorded yet: a new reason replaces the old
        // one and reopens it if it had been resolved (a waiting payment whose order then
        // disagrees). A recorded one keeps its exception as it is: recording resolved it, and
        // nothing would resolve it again.
        let recorded = repo::ledger::by_payment_select(provider, payment_id).one(conn).await?.is_some();
        let mut conflict = sea_orm::sea_query::OnConflict::columns([
            payment_exceptions::Column::Provider,
            payment_exceptions::Column::ProviderPaymentId,
        ])
        .to_owned();
        let conflict = if recorded {
            conflict.do_nothing().to_owned()
        } else {
            conflict
                .update_columns([
                    payment_exceptions::Column::EventId,
                    payment_exceptions::Column::Reason,
                    payment_exceptions::Column::Payload,
                    payment_exceptions::Column::ResolvedAt,
                ])
                .to_owned()
        };
        payment_exceptions::Entity::insert(row).on_conflict(conflict).exec_without_returning(conn).await?;
        tracing::warn!(payment_id, reason, "payment needs attention");
        Ok(())
    }

    /// Creates the ledger entry of a succeeded payment (once per order and per payment), with
    /// the Malet's rule at the moment of payment, and the earning event for payments.
    pub async fn record_payment(
        &self,
        txn: &DatabaseTransaction,
        p: &SucceededPayment,
        malet_id: &str,
    ) -> ServiceResult<Recorded> {
        if let Some(existing) =
            repo::ledger::for_update(txn, repo::ledger::by_payment_malet_select(p.provider, &p.payment_id, malet_id))
                .await?
        {
            return Ok(Recorded::AlreadyRecorded(existing.id));
        }
        let separate = p.funding == Funding::SeparateTransfer;
        // A destination charge pays one seller: never credited to a second one. (One PayPal
        // order of a cart has one capture per seller: the capture is the charge.)
        let same_charge = match &p.charge_id {
            Some(charge) => repo::ledger::by_charge_select(charge),
            None => repo::ledger::by_payment_select(p.provider, &p.payment_id),
        };
        if !separate && let Some(other) = repo::ledger::for_update(txn, same_charge).await? {
            return Err(ServiceError::BadInput(format!(
                "payment {} is already recorded for Malet {}",
                p.payment_id, other.malet_id
            )));
        }
        if let Some(existing) =
            repo::ledger::for_update(txn, repo::ledger::by_order_select(malet_id, &p.metadata.order_id)).await?
        {
            // A second payment for a recorded order is never merged or dropped silently: it
            // needs an admin. (Order ids are scoped to the Malet: another shop's id is its own.)
            return Err(ServiceError::BadInput(format!(
                "order {} is already recorded with payment {}",
                p.metadata.order_id, existing.provider_payment_id
            )));
        }
        let effective = self.effective_rule(txn, malet_id, p.paid_at).await?;
        let settings = repo::rules::settings(txn, malet_id).await?;
        let first_sale_at = settings.as_ref().and_then(|s| s.first_sale_at);
        let order = OrderAmounts::new(
            p.currency,
            p.amount,
            p.metadata.subtotal,
            p.metadata.discount,
            p.metadata.tax,
            p.metadata.shipping,
            p.metadata.affiliate_id.is_some(),
        )
        .map_err(ServiceError::bad_input)?;
        let reserve_rate = self.reserve_rate(txn, malet_id, effective.rule.tier, first_sale_at, p.paid_at).await?;
        let b = commission::compute_with_fee(
            &order,
            &effective.rule,
            reserve_rate,
            Some(effective.version),
            p.processing_fee_estimate,
        )
        .map_err(ServiceError::bad_input)?;
        // Config bounds apply to every source of an order (R-TRUST-2).
        self.config.limits.check(&b)?;
        // The platform must have collected what the breakdown says it keeps: otherwise the
        // commission, reserve and affiliate share would later be paid out of money it never
        // received (a provider reports no fee as null, i.e. 0).
        // A platform charge (multi-seller) collects everything: the platform transfers the net.
        let collected = if separate { b.application_fee_amount } else { p.provider_fee_amount.unwrap_or(0) };
        if collected < b.application_fee_amount {
            return Err(ServiceError::BadInput(format!(
                "the payment's application fee {collected} is below the breakdown's {}: the platform did not collect its share",
                b.application_fee_amount
            )));
        }
        let now = clock::now();
        let entry_id = uuid::Uuid::now_v7().to_string();
        let new_entry = commission_ledger::ActiveModel {
            id: Set(entry_id.clone()),
            order_id: Set(p.metadata.order_id.clone()),
            malet_id: Set(malet_id.to_owned()),
            provider: Set(p.provider.into()),
            provider_payment_id: Set(p.payment_id.clone()),
            provider_charge_id: Set(p.charge_id.clone()),
            destination_account_id: Set(p.destination.clone()),
            account_id: Set(Some(p.account_id.clone())),
            currency: Set(p.currency.code().to_owned()),
            gross_amount: Set(b.gross),
            commission_rate: Set(b.commission_rate.to_string()),
            original_commission: Set(b.commission),
            original_reserve: Set(b.reserve),
            original_affiliate: Set(b.affiliate),
            commission_amount: Set(b.commission),
            processing_fee: Set(b.processing_fee),
            reserve_amount: Set(b.reserve),
            affiliate_amount: Set(b.affiliate),
            affiliate_id: Set(p.metadata.affiliate_id.clone()),
            net_payout: Set(b.net),
            application_fee_amount: Set(b.application_fee_amount),
            refunded_amount: Set(0),
            refunded_commission: Set(0),
            status: Set(LedgerStatus::Pending.into()),
            disputed: Set(false),
            rule_version: Set(effective.version),
            breakdown: Set(serde_json::to_string(&b.trace).map_err(|e| ServiceError::Internal(e.to_string()))?),
            settlement_date: Set(None),
            provider_fee_amount: Set(Some(collected)),
            dispute_debit: Set(0),
            funding: Set(p.funding),
            transfer_group: Set(p.transfer_group.clone()),
            // Item refunds re-split the commission by the items' share of the base it was
            // computed on: only when that base is the items (a rule that commissions tax or
            // shipping shares refunds by money, R-REF-1).
            items_base: Set(if b.commissionable_base == p.items_base { p.items_base } else { 0 }),
            items_refunded_base: Set(0),
            items_refunded_amount: Set(0),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let key = super::movements::net_transfer_posting_key(&entry_id);
        let entry = post(
            txn,
            None,
            new_entry,
            Posting {
                kind: PostingKind::Earning,
                adjustment: 0,
                key: &key,
                actor: None,
                reason: None,
                occurred_at: p.paid_at,
            },
        )
        .await?;
        // The seller of a multi-seller charge is paid its net by a transfer from that charge,
        // written with the earning and keyed by the entry (sent once, whatever the retries).
        if separate {
            self.queue_net_transfer(txn, &entry, &key).await?;
        }
        // What the seller owes on orders a storefront collected is taken from this earning.
        self.recover_receivables(txn, &entry).await?;
        // Remember the first sale: it starts the new-seller reserve window (R-RES-1).
        match settings {
            Some(s) if s.first_sale_at.is_none() => {
                let mut am: malet_settings::ActiveModel = s.into();
                am.first_sale_at = Set(Some(p.paid_at));
                am.updated_at = Set(now);
                am.update(txn).await?;
            }
            Some(_) => {}
            None => {
                // A new seller's first sales may arrive concurrently: the first insert wins and
                // the others only fill in the first sale if it is still missing (no unique
                // violation, no retry).
                let inserted = malet_settings::Entity::insert(malet_settings::ActiveModel {
                    malet_id: Set(malet_id.to_owned()),
                    tier: Set(effective.rule.tier.as_str().to_owned()),
                    currency: Set(p.currency.code().to_owned()),
                    first_sale_at: Set(Some(p.paid_at)),
                    rule_version: Set(effective.version),
                    created_at: Set(now),
                    updated_at: Set(now),
                })
                .on_conflict_do_nothing_on([malet_settings::Column::MaletId])
                .exec(txn)
                .await?;
                if !matches!(inserted, sea_orm::TryInsertResult::Inserted(_)) {
                    use sea_orm::{ColumnTrait as _, QueryFilter as _};
                    malet_settings::Entity::update_many()
                        .col_expr(malet_settings::Column::FirstSaleAt, sea_orm::sea_query::Expr::value(Some(p.paid_at)))
                        .filter(malet_settings::Column::MaletId.eq(malet_id))
                        .filter(malet_settings::Column::FirstSaleAt.is_null())
                        .exec(txn)
                        .await?;
                }
            }
        }
        metrics::counter!("ledger_entries_created_total").increment(1);
        Ok(Recorded::Created(entry.id))
    }

    /// The reserve rate of a sale: the tier's (Enterprise 0) or the account's rolling rate,
    /// only within the new-seller window.
    pub async fn reserve_rate<C: ConnectionTrait>(
        &self,
        conn: &C,
        malet_id: &str,
        tier: domain::commission::Tier,
        first_sale_at: Option<DateTime<Utc>>,
        sale_at: DateTime<Utc>,
    ) -> ServiceResult<Rate> {
        let mut policy = ReservePolicy::for_seller(&self.config, tier, first_sale_at)
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        if self.config.tier(tier).map(|t| t.reserve_rate.is_none()).unwrap_or(true)
            && let Some(account) = repo::accounts::live_account(conn, malet_id).await?
        {
            policy.rate = account
                .rolling_reserve_rate
                .parse::<Rate>()
                .map_err(|e| ServiceError::Internal(format!("stored reserve rate: {e}")))?;
        }
        Ok(policy.rate_at(sale_at))
    }

    /// Brings an entry to a cumulative refunded amount (R-REF-1). Converges: a cumulative
    /// amount at or below what is recorded changes nothing. Returns the new parts, or `None`
    /// when nothing changed.
    pub async fn apply_cumulative_refund(
        &self,
        txn: &DatabaseTransaction,
        entry: &commission_ledger::Model,
        cumulative: i64,
        origin: RefundOrigin<'_>,
    ) -> ServiceResult<Option<RefundedParts>> {
        let RefundOrigin { provider_refund_id, source, reason, actor } = origin;
        if cumulative <= entry.refunded_amount {
            return Ok(None);
        }
        let original = original_parts(entry);
        let before = refund::clawback(&original, entry.refunded_amount).map_err(ServiceError::bad_input)?;
        let parts = refund::clawback(&original, cumulative).map_err(ServiceError::bad_input)?;
        let status: LedgerStatus = entry.status.domain();
        let new_status = status.after_refund(cumulative, entry.gross_amount)?;
        let delta = [
            parts.commission - entry.commission_amount,
            parts.reserve - entry.reserve_amount,
            parts.affiliate - entry.affiliate_amount,
            parts.net - entry.net_payout,
            cumulative - entry.refunded_amount,
        ];
        let mut am = with_refunded_parts(entry, &parts);
        am.refunded_amount = Set(cumulative);
        am.status = Set(new_status.into());
        let key = format!("refund:{}:{cumulative}", entry.id);
        let updated = post(
            txn,
            Some(entry),
            am,
            Posting { kind: PostingKind::Refund, adjustment: 0, key: &key, actor, reason, occurred_at: clock::now() },
        )
        .await?;
        refunds::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            ledger_id: Set(entry.id.clone()),
            provider_refund_id: Set(provider_refund_id.map(str::to_owned)),
            amount: Set(delta[4]),
            cumulative_refunded: Set(cumulative),
            application_fee_refunded: Set(parts.application_fee_refunded().map_err(ServiceError::bad_input)?),
            reason: Set(reason.map(str::to_owned)),
            source: Set(source.to_owned()),
            idempotency_key: Set(key.clone()),
            created_at: Set(clock::now()),
        }
        .insert(txn)
        .await?;
        self.move_refund_money(txn, entry, &updated, &before, &parts, &key, true).await?;
        Ok(Some(parts))
    }

    /// The money a refund step moves with the seller: for a multi-seller charge, what it takes
    /// from the seller is reversed out of our transfer (with the reserve share when the reserve
    /// was already released to it); otherwise the application-fee share is refunded.
    #[allow(clippy::too_many_arguments)]
    async fn move_refund_money(
        &self,
        txn: &DatabaseTransaction,
        entry: &commission_ledger::Model,
        updated: &commission_ledger::Model,
        before: &RefundedParts,
        parts: &RefundedParts,
        key: &str,
        money_step: bool,
    ) -> ServiceResult<()> {
        if updated.transfers_net() {
            let mut taken = entry.net_payout - updated.net_payout;
            let released = match entity::queries::reserve_hold_for_ledger(txn, &entry.id).await? {
                Some(hold) => hold.status != entity::enums::HoldStatus::Held,
                None => false,
            };
            if released {
                taken += entry.reserve_amount - updated.reserve_amount;
            }
            self.queue_movement_of(txn, updated, -taken, key).await?;
        } else if money_step {
            self.queue_fee_refund(txn, updated, before, parts).await?;
        } else if parts.application_fee_refunded().map_err(ServiceError::bad_input)?
            < before.application_fee_refunded().map_err(ServiceError::bad_input)?
        {
            // The storefront explained money as something that takes back less (shipping, a
            // smaller base): what the fee refunds already returned beyond the new state goes
            // back to the platform by a reversal from the seller, so the entry and the money
            // end where they would have had the storefront spoken first.
            let owed = parts.application_fee_refunded().map_err(ServiceError::bad_input)?;
            let fee_held = entry.provider_fee_amount.unwrap_or(entry.application_fee_amount);
            let returned = repo::refunds::fee_refunded_or_sending(txn, &entry.id).await?;
            let excess = returned.saturating_sub(owed.min(fee_held));
            if excess > 0 {
                self.queue_movement_of(txn, updated, -excess, key).await?;
            }
        } else {
            self.queue_fee_refund_keyed(txn, updated, before, parts, key).await?;
        }
        Ok(())
    }

    /// Brings an entry of a storefront order to the storefront's item refunds (cumulative: the
    /// refunded base and the money its refunds returned, issue 14). The refunded items take back
    /// exactly their commission and affiliate share; the money refunded stays what the payment
    /// provider reported. Returns whether anything changed.
    pub(crate) async fn apply_item_refunds(
        &self,
        txn: &DatabaseTransaction,
        entry: &commission_ledger::Model,
        refunded_base: i64,
        refunded_amount: i64,
    ) -> ServiceResult<bool> {
        let refunded_base = refunded_base.clamp(0, entry.items_base.max(0));
        if entry.items_base <= 0
            || (entry.items_refunded_base, entry.items_refunded_amount) == (refunded_base, refunded_amount)
        {
            return Ok(false);
        }
        let old = original_parts(entry);
        let mut new = old;
        new.items.refunded_base = refunded_base;
        new.items.refunded_amount = refunded_amount;
        let before = refund::clawback(&old, entry.refunded_amount).map_err(ServiceError::bad_input)?;
        let parts = refund::clawback(&new, entry.refunded_amount).map_err(ServiceError::bad_input)?;
        let mut am = with_refunded_parts(entry, &parts);
        am.items_refunded_base = Set(refunded_base);
        am.items_refunded_amount = Set(refunded_amount);
        let key = format!("storefront-refund:{}:{refunded_base}:{refunded_amount}", entry.id);
        let updated = post(
            txn,
            Some(entry),
            am,
            Posting {
                kind: PostingKind::Refund,
                adjustment: 0,
                key: &key,
                actor: None,
                reason: Some("the storefront's item refunds"),
                occurred_at: clock::now(),
            },
        )
        .await?;
        self.move_refund_money(txn, entry, &updated, &before, &parts, &key, false).await?;
        Ok(true)
    }

    /// `refundMurchase`: refunds through the provider (reversing the transfer and returning
    /// exactly the application-fee share of the clawback), then records the clawback.
    /// Over-refunds and bad amounts are rejected before anything is sent.
    pub async fn refund_order(
        &self,
        actor: &Actor,
        malet_id: &MaletId,
        order_id: &OrderId,
        amount: i64,
        reason: &str,
        idempotency_key: Option<&str>,
    ) -> ServiceResult<commission_ledger::Model> {
        // Decide on the permission before looking anything up (R-TRUST-3). The result is a
        // ledger entry: a caller who could not read it would not learn that the refund was made
        // (and might retry it), so VIEW_REVENUE is needed too.
        actor.can(Permission::ManageCommissions, malet_id.as_str())?;
        actor.can(Permission::ViewRevenue, malet_id.as_str())?;
        let entry =
            repo::ledger::for_update(&self.db, repo::ledger::by_order_select(malet_id.as_str(), order_id.as_str()))
                .await?
                .ok_or_else(|| ServiceError::NotFound(format!("ledger entry for order {order_id}")))?;
        if reason.trim().is_empty() {
            return Err(ServiceError::BadInput("a reason is required".into()));
        }
        // Over-refunds and bad amounts are refused before anything is sent.
        refund::refund(&original_parts(&entry), entry.refunded_amount, amount).map_err(ServiceError::bad_input)?;
        let (kind, provider, _) = self.provider_of(&entry)?;
        // The key depends on the request, not on the ledger's state, so retrying the same request
        // (after a timeout, or after a webhook recorded part of it) never refunds twice. Callers
        // that mean two identical refunds pass distinct idempotency keys.
        let request_key = match idempotency_key.map(str::trim).filter(|k| !k.is_empty()) {
            Some(k) if k.len() > 100 => return Err(ServiceError::BadInput("idempotencyKey is too long".into())),
            Some(k) => k.to_owned(),
            None => format!("{amount}:{}", service_core::clock::short_hash(reason.trim())),
        };
        let refund_key = format!("refund:{}:{request_key}", entry.id);
        let currency =
            Currency::parse(&entry.currency).map_err(|e| ServiceError::Internal(format!("stored currency: {e}")))?;
        // The request is an outgoing movement before anything is sent (issue 12), claimed by
        // this call: if the call's outcome is unknown (a timeout), the sender looks the refund up
        // at the provider after its backoff, and sends it again with the same key only if the
        // provider has none; a retry of the same request finds the same movement.
        let (movement, claimed) = {
            let txn = service_core::db::begin_write(&self.db).await?;
            let written = outgoing::enqueue_sent(
                &txn,
                NewOutgoing {
                    owner: MovementOwner::Murchases,
                    kind: OutgoingKind::Refund,
                    provider: kind,
                    malet_id: &entry.malet_id,
                    account_id: entry.account_id.as_deref().unwrap_or_default(),
                    ledger_id: Some(&entry.id),
                    posting_key: &refund_key,
                    amount,
                    currency,
                    destination: None,
                    source_ref: Some(&entry.provider_payment_id),
                    source_charge: entry.provider_charge_id.as_deref(),
                    transfer_group: entry.transfer_group.as_deref(),
                    source_transfer: None,
                    idempotency_key: Some(&refund_key),
                    metadata: None,
                },
            )
            .await?;
            txn.commit().await?;
            written
        };
        if movement.amount != amount {
            return Err(ServiceError::BadInput(format!(
                "idempotencyKey was used for a refund of {}, not {amount}",
                movement.amount
            )));
        }
        let created = if claimed {
            let sent = provider
                .refund(RefundRequest {
                    payment_id: entry.provider_payment_id.clone(),
                    charge_id: entry.provider_charge_id.clone(),
                    amount,
                    currency,
                    // A destination charge's transfer is reversed with the refund; a multi-seller
                    // charge's transfers are reversed by their own movements.
                    reverse_transfer: !entry.transfers_net(),
                    metadata: outgoing::metadata_of(&movement),
                    idempotency_key: refund_key.clone(),
                })
                .await;
            match sent {
                Ok(created) => created,
                Err(e) => {
                    outgoing::settle(&self.db, &movement, Err(&e)).await?;
                    return Err(match e {
                        ProviderError::Unavailable(m) => ServiceError::Provider(ProviderError::Unavailable(format!(
                            "{m}; the refund is queued and is made when the provider is reachable"
                        ))),
                        e => e.into(),
                    });
                }
            }
        } else {
            // A retry of a request already made: never sent blindly again. A movement not
            // settled yet is made (or found) now, lookup first.
            if OutgoingStatus::OPEN.contains(&movement.status) {
                self.movement_sender().resolve(&movement).await?;
            }
            let row = outgoing::by_id(&self.db, &movement.id)
                .await?
                .ok_or_else(|| ServiceError::NotFound("refund movement".into()))?;
            match (row.status, row.provider_ref) {
                (OutgoingStatus::Confirmed, Some(refund_id)) => {
                    RefundCreated { refund_id, amount: row.amount, charge_amount_refunded: None }
                }
                (OutgoingStatus::Failed, _) => {
                    return Err(ServiceError::Provider(ProviderError::Rejected {
                        code: None,
                        message: row.last_error.unwrap_or_else(|| "the provider refused this refund".into()),
                    }));
                }
                _ => {
                    return Err(ServiceError::Provider(ProviderError::Ambiguous(
                        "the refund's outcome is not known yet; it is looked up at the provider".into(),
                    )));
                }
            }
        };
        // The buyer has the money back: from here on the refund is recorded whatever else fails.
        let txn = service_core::db::begin_write(&self.db).await?;
        if claimed {
            outgoing::settle(&*txn, &movement, Ok(&created.refund_id)).await?;
        }
        let current = repo::ledger::for_update(&txn, repo::ledger::by_id_select(&entry.id))
            .await?
            .ok_or_else(|| ServiceError::NotFound("ledger entry".into()))?;
        // Counted once by its provider id (a retry, or a webhook that came first, knows it).
        repo::refunds::record_provider_refund(&txn, &current, kind, &created.refund_id, created.amount, "api").await?;
        let known = repo::refunds::known_total(&txn, &current.id).await?;
        // Converge to the most the provider is known to have refunded: its reported total, or
        // the refunds known by id, never "what was recorded plus this request".
        let cumulative = current
            .refunded_amount
            .max(known)
            .max(created.charge_amount_refunded.unwrap_or(0))
            .min(current.gross_amount);
        let id_recorded = repo::refunds::posting_names_refund(&txn, &created.refund_id).await?;
        let changed = self
            .apply_cumulative_refund(
                &txn,
                &current,
                cumulative,
                RefundOrigin {
                    provider_refund_id: (!id_recorded).then_some(created.refund_id.as_str()),
                    source: "api",
                    reason: Some(reason),
                    actor: actor.subject(),
                },
            )
            .await?
            .is_some();
        // Audited once: by the request that asked the provider, or by the one that recorded it; a
        // retry that found everything done already adds no second line.
        if claimed || changed {
            audit::record(
            &txn,
            AuditEntry {
                actor: actor.subject().unwrap_or("unknown"),
                action: "refund_murchase",
                entity_type: "commission_ledger",
                entity_id: &entry.id,
                malet_id: Some(&entry.malet_id),
                before: Some(serde_json::json!({"refunded_amount": current.refunded_amount, "commission": current.commission_amount})),
                after: Some(serde_json::json!({"refunded_amount": cumulative, "provider_refund_id": created.refund_id,
                    "provider_total": created.charge_amount_refunded})),
                reason: Some(reason),
            },
        )
        .await?;
        }
        txn.commit().await?;
        // Send the fee refunds this (and any earlier step) queued, now, even one waiting for its
        // backoff (the caller is retrying): one of unknown outcome is looked up first. A failure
        // stays queued for the job and never turns a refund the buyer received into an error.
        if let Err(e) = service_core::outgoing::make_due_of_ledger(&self.db, &entry.id).await {
            tracing::warn!(ledger_id = %entry.id, error = %e, "cannot make the fee refunds due");
        }
        if let Err(e) = self.send_fee_refunds(Some(&entry.id), 20).await {
            tracing::warn!(ledger_id = %entry.id, error = %e, "application-fee refund not sent yet; the job retries");
        }
        // A multi-seller entry's clawback is a reversal of its transfer: sent now too.
        if entry.transfers_net() {
            self.send_movements_of(&entry.id).await;
        }
        repo::ledger::by_id(&self.db, &entry.id).await?.ok_or_else(|| ServiceError::NotFound("ledger entry".into()))
    }

    /// `adjustCommission`: moves `amount` (positive or negative) between the platform's
    /// commission and the seller's net, as a posting with an audit entry (R-COMM-4).
    pub async fn adjust_commission(
        &self,
        actor: &Actor,
        ledger_id: &str,
        amount: i64,
        reason: &str,
    ) -> ServiceResult<commission_ledger::Model> {
        actor.may(Permission::ManageCommissions)?;
        let txn = service_core::db::begin_write(&self.db).await?;
        let entry = repo::ledger::for_update(&txn, repo::ledger::by_id_select(ledger_id))
            .await?
            .ok_or_else(|| ServiceError::missing(actor, format!("ledger entry {ledger_id}")))?;
        actor.can(Permission::ManageCommissions, &entry.malet_id)?;
        if reason.trim().is_empty() {
            return Err(ServiceError::BadInput("a reason is required".into()));
        }
        if amount == 0 {
            return Err(ServiceError::BadInput("amount must not be zero".into()));
        }
        let before = serde_json::json!({"commission": entry.commission_amount, "net": entry.net_payout});
        let key = format!("adjustment:{}", uuid::Uuid::now_v7());
        let (updated, fee_owed) = self
            .post_adjustment(
                &txn,
                &entry,
                amount,
                Posting {
                    kind: PostingKind::Adjustment,
                    adjustment: amount,
                    key: &key,
                    actor: actor.subject(),
                    reason: Some(reason),
                    occurred_at: clock::now(),
                },
            )
            .await?;
        // The seller's share changed: the money follows, as a transfer to the seller or a
        // reversal from it, written with the posting (issue 12). On a partly refunded entry a
        // higher commission also raises the refunded commission, which reaches the seller as a
        // fee refund: the reversal takes that back too, so the seller's money changes by exactly
        // its net (e.g. +100 after a 40% refund: net −60 = reversal 100, fee refund 40).
        let seller_delta = updated
            .net_payout
            .checked_sub(entry.net_payout)
            .and_then(|d| d.checked_sub(fee_owed))
            .ok_or_else(|| ServiceError::Internal("net change overflows".into()))?;
        self.queue_movement_of(&txn, &updated, seller_delta, &key).await?;
        audit::record(
            &txn,
            AuditEntry {
                actor: actor.subject().unwrap_or("unknown"),
                action: "adjust_commission",
                entity_type: "commission_ledger",
                entity_id: &entry.id,
                malet_id: Some(&entry.malet_id),
                before: Some(before),
                after: Some(serde_json::json!({"commission": updated.commission_amount, "net": updated.net_payout, "amount": amount})),
                reason: Some(reason),
            },
        )
        .await?;
        txn.commit().await?;
        self.send_movements_of(&updated.id).await;
        Ok(updated)
    }

    /// Posts an adjustment of `amount` to the commission of `entry` (locked in `txn`): the
    /// original commission and the fee move by `amount`, the clawed-back parts follow the
    /// refunded share, and the seller's net takes the rest. Also queues the fee refund a higher
    /// clawback owes on a partly refunded entry (adjustments only, not their reversals).
    pub(crate) async fn post_adjustment(
        &self,
        txn: &DatabaseTransaction,
        entry: &commission_ledger::Model,
        amount: i64,
        posting: Posting<'_>,
    ) -> ServiceResult<(commission_ledger::Model, i64)> {
        let mut original = original_parts(entry);
        original.commission =
            original.commission.checked_add(amount).ok_or_else(|| ServiceError::BadInput("amount overflows".into()))?;
        if original.commission < 0 {
            return Err(ServiceError::BadInput(format!(
                "adjustment {amount} would make the commission negative ({})",
                original.commission
            )));
        }
        let refunded_before =
            refund::clawback(&original_parts(entry), entry.refunded_amount).map_err(ServiceError::bad_input)?;
        let parts = refund::clawback(&original, entry.refunded_amount).map_err(ServiceError::bad_input)?;
        if parts.net < 0 && entry.net_payout >= 0 {
            return Err(ServiceError::BadInput(format!("adjustment {amount} exceeds the seller's net payout")));
        }
        let application_fee = entry
            .application_fee_amount
            .checked_add(amount)
            .ok_or_else(|| ServiceError::BadInput("amount overflows".into()))?;
        let mut am: commission_ledger::ActiveModel = entry.clone().into();
        am.original_commission = Set(original.commission);
        am.commission_amount = Set(parts.commission);
        am.refunded_commission = Set(parts.refunded_commission);
        am.net_payout = Set(parts.net);
        am.application_fee_amount = Set(application_fee);
        am.updated_at = Set(clock::now());
        let is_adjustment = posting.kind == PostingKind::Adjustment;
        let key = posting.key.to_owned();
        let updated = post(txn, Some(entry), am, posting).await?;
        // On a partly refunded entry the adjustment changes the clawed-back commission too: an
        // increase owes the seller that much more of the fee (a decrease is carried by the
        // seller's transfer, never by "unrefunding" a fee refund).
        let fee_owed = if is_adjustment {
            self.queue_fee_refund_keyed(txn, &updated, &refunded_before, &parts, &key).await?
        } else {
            0
        };
        Ok((updated, fee_owed))
    }

    /// Marks (or, for a won dispute, unmarks) the entry of a disputed charge; false when it
    /// already was so.
    pub async fn set_disputed(
        &self,
        txn: &DatabaseTransaction,
        entry: &commission_ledger::Model,
        disputed: bool,
    ) -> ServiceResult<bool> {
        if entry.disputed == disputed {
            return Ok(false);
        }
        let mut am: commission_ledger::ActiveModel = entry.clone().into();
        am.disputed = Set(disputed);
        am.updated_at = Set(clock::now());
        am.update(txn).await?;
        Ok(true)
    }

    // ---- reads --------------------------------------------------------------------------

    /// `order(orderId)`: the entries of an order across its sellers (one per Malet of a cart)
    /// that the caller may read: all of them for platform-wide readers (admins, the order
    /// service), a seller's own for a Malet Owner. Permission comes before the lookup; a caller
    /// who may read none of them learns nothing (FORBIDDEN), an admin gets NOT_FOUND.
    pub async fn order_entries(
        &self,
        actor: &Actor,
        order_id: &OrderId,
    ) -> ServiceResult<Vec<commission_ledger::Model>> {
        use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
        actor.may(Permission::ViewRevenue)?;
        let entries = commission_ledger::Entity::find()
            .filter(commission_ledger::Column::OrderId.eq(order_id.as_str()))
            .order_by_asc(commission_ledger::Column::MaletId)
            .limit(MAX_PAGE as u64)
            .all(&self.db)
            .await?;
        let visible: Vec<_> =
            entries.into_iter().filter(|e| actor.can(Permission::ViewRevenue, &e.malet_id).is_ok()).collect();
        if visible.is_empty() {
            return Err(ServiceError::missing(actor, format!("order {order_id}")));
        }
        Ok(visible)
    }

    /// A page of a Malet's entries, newest first: `offset` paging, or keyset paging with
    /// `after` (the `cursor` of the last entry of the previous page), which costs the same at
    /// any depth of the ledger. Not both.
    pub async fn ledger_page(
        &self,
        actor: &Actor,
        malet_id: &str,
        limit: i32,
        offset: i32,
        after: Option<&str>,
    ) -> ServiceResult<Vec<commission_ledger::Model>> {
        actor.can(Permission::ViewRevenue, malet_id)?;
        let limit = u64::try_from(limit)
            .ok()
            .filter(|l| (1..=MAX_PAGE as u64).contains(l))
            .ok_or_else(|| ServiceError::BadInput(format!("limit must be between 1 and {MAX_PAGE}")))?;
        let offset = u64::try_from(offset).map_err(|_| ServiceError::BadInput("offset must not be negative".into()))?;
        match after {
            None => Ok(repo::ledger::page(&self.db, malet_id, limit, offset).await?),
            Some(_) if offset > 0 => Err(ServiceError::BadInput("use offset or after, not both".into())),
            Some(cursor) => {
                let cursor = LedgerCursor::parse(cursor)?;
                Ok(repo::ledger::page_after(&self.db, malet_id, limit, cursor.created_at, &cursor.id).await?)
            }
        }
    }

    pub async fn ledger_count(&self, actor: &Actor, malet_id: &str) -> ServiceResult<u64> {
        actor.can(Permission::ViewRevenue, malet_id)?;
        Ok(repo::ledger::count(&self.db, malet_id).await?)
    }

    pub async fn ledger_entry(&self, actor: &Actor, id: &str) -> ServiceResult<Option<commission_ledger::Model>> {
        actor.may(Permission::ViewRevenue)?;
        let Some(entry) = repo::ledger::by_id(&self.db, id).await? else {
            // Only a platform-wide actor learns that an id does not exist.
            return if actor.is_platform_wide() { Ok(None) } else { Err(ServiceError::missing(actor, "ledger entry")) };
        };
        actor.can(Permission::ViewRevenue, &entry.malet_id)?;
        Ok(Some(entry))
    }

    /// `earningsSummary`: one currency per summary (R-MONEY-4), defaulting to the Malet's
    /// account currency, then its settings, then USD.
    pub async fn earnings_summary(
        &self,
        actor: &Actor,
        malet_id: &str,
        currency: Option<&str>,
    ) -> ServiceResult<EarningsSummary> {
        actor.can(Permission::ViewPayouts, malet_id)?;
        let currency = match currency {
            Some(c) => Currency::parse(c).map_err(ServiceError::bad_input)?,
            None => {
                let from_account = repo::accounts::live_account(&self.db, malet_id).await?.map(|a| a.currency);
                let from_settings = repo::rules::settings(&self.db, malet_id).await?.map(|s| s.currency);
                Currency::parse(from_account.or(from_settings).as_deref().unwrap_or("USD"))
                    .map_err(ServiceError::bad_input)?
            }
        };
        let totals = repo::ledger::totals(&self.db, malet_id, currency.code()).await?;
        let (pending, reserve) = repo::accounts::balances(&self.db, malet_id, currency.code()).await?;
        Ok(EarningsSummary {
            malet_id: malet_id.to_owned(),
            currency,
            total_gross: totals.gross - totals.refunded,
            total_commission: totals.commission,
            total_net_payouts: totals.net,
            pending_balance: pending,
            reserve_balance: reserve,
        })
    }

    pub async fn exceptions(&self, actor: &Actor) -> ServiceResult<Vec<payment_exceptions::Model>> {
        actor.can_admin(Permission::ManageCommissions)?;
        Ok(repo::ledger::exceptions(&self.db, 100).await?)
    }
}

pub const MAX_PAGE: i32 = 100;

/// The position of an entry in a Malet's ledger (newest first): its creation time and id,
/// as an opaque string `<RFC 3339 time>|<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerCursor {
    pub created_at: DateTime<Utc>,
    pub id: String,
}

impl LedgerCursor {
    pub fn of(entry: &commission_ledger::Model) -> String {
        format!("{}|{}", entry.created_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true), entry.id)
    }

    pub fn parse(text: &str) -> ServiceResult<Self> {
        let bad = || ServiceError::BadInput("after is not a ledger cursor".into());
        let (time, id) = text.split_once('|').ok_or_else(bad)?;
        let created_at = DateTime::parse_from_rfc3339(time).map_err(|_| bad())?.with_timezone(&Utc);
        let id = domain::ids::RecordId::parse(id).map_err(|_| bad())?.into_string();
        Ok(LedgerCursor { created_at, id })
    }
}

#[derive(Debug, Clone)]
pub struct EarningsSummary {
    pub malet_id: String,
    pub currency: Currency,
    /// Gross sales net of refunds.
    pub total_gross: i64,
    pub total_commission: i64,
    pub total_net_payouts: i64,
    pub pending_balance: i64,
    pub reserve_balance: i64,
}
