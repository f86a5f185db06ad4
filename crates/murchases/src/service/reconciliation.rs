//! Reconciliation (issue 12): our books against the provider's records for a window. Each
//! provider object the books explain is compared with what they say; each difference is kept
//! once, by a fingerprint of its class and the ids on both sides, with a resolution state
//! (OPEN, ACKNOWLEDGED with a reason, FIXED), so a run is idempotent and safe on several
//! replicas at once (a second run finds the same rows and changes nothing).
//!
//! | provider object | our side | matched by |
//! |---|---|---|
//! | a `charge` balance transaction | the entry's gross | charge |
//! | a `refund` balance transaction | the refund counted by its id (`provider_refunds`) | refund id |
//! | application fee | the entry's `provider_fee_amount` | charge |
//! | its refunded amount | the entry's SENT `fee_refunds` | charge |
//! | a destination charge's transfer | the entry's gross − fee, to its destination | charge |
//! | a transfer we made | a CONFIRMED outgoing TRANSFER, or a released reserve hold | `movementId` / `reserveHoldId` |
//! | a reversal we made | a CONFIRMED outgoing TRANSFER_REVERSAL | `movementId` |
//! | a connected account's payout | `payouts` (from `payout.*` webhooks) | payout id |
//!
//! Classes (hyperswitch's): MISSING_IN_LEDGER (the provider has it, we do not),
//! MISSING_AT_PROVIDER (the reverse), OVER / UNDER (the provider's amount is above / below
//! ours), CURRENCY_MISMATCH, DATA_MISMATCH (same money, another party or status). Refund
//! reversals Stripe makes itself (`reverse_transfer`) carry none of our keys and are explained
//! by the refunds, not compared here.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use domain::permissions::{Actor, Permission};
use domain::provider::{ProviderRecord, ReconObjectKind};
use entity::enums::{MismatchClass, MismatchState, OutgoingStatus, Provider};
use entity::reconciliation_mismatches::{self, Column};
use entity::{
    commission_ledger, connected_accounts, fee_refunds, outgoing_movements, payouts, provider_refunds, reserve_holds,
};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use service_core::audit::{self, AuditEntry};
use service_core::clock;

use super::{Murchases, ServiceError, ServiceResult};

/// The longest window one report or run may cover.
pub const MAX_WINDOW_DAYS: i64 = 31;

/// How far around the window the provider is read, so an object created just outside it is
/// not reported missing.
const MARGIN_HOURS: i64 = 24;

/// The outbox topic of a reconciliation asked for by an event (`payout.paid`).
pub const TOPIC_RECONCILE: &str = "reconcile";

/// A difference found by a run, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub provider: Provider,
    pub class: MismatchClass,
    pub object: ReconObjectKind,
    pub our_ref: Option<String>,
    pub provider_ref: Option<String>,
    pub our_amount: Option<i64>,
    pub provider_amount: Option<i64>,
    pub currency: Option<String>,
    pub ours: Option<serde_json::Value>,
    pub theirs: Option<serde_json::Value>,
    pub detail: String,
    pub occurred_at: DateTime<Utc>,
}

impl Found {
    fn fingerprint(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            self.provider,
            self.class.as_str(),
            entity::enums::ReconObject::from(self.object).as_str(),
            self.our_ref.as_deref().unwrap_or("-"),
            self.provider_ref.as_deref().unwrap_or("-"),
        )
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    pub compared: usize,
    pub found: usize,
    pub new: usize,
    /// Open mismatches of the window a run no longer finds (corrected since): marked FIXED.
    pub cleared: usize,
}

/// One side of a comparison.
struct Ours {
    object: ReconObjectKind,
    reference: String,
    amount: i64,
    currency: String,
    account: Option<String>,
    status: Option<&'static str>,
    at: DateTime<Utc>,
    json: serde_json::Value,
}

fn record_json(r: &ProviderRecord) -> serde_json::Value {
    serde_json::json!({
        "object": format!("{:?}", r.object), "id": r.id, "parent": r.parent, "account": r.account,
        "amount": r.amount, "currency": r.currency.map(|c| c.code().to_owned()), "status": r.status,
        "created": r.created, "metadata": r.metadata,
    })
}

/// The provider's records of `kinds`, by their id.
fn by_id<'r>(records: &'r [ProviderRecord], kinds: &[ReconObjectKind]) -> HashMap<&'r str, &'r ProviderRecord> {
    records.iter().filter(|r| kinds.contains(&r.object)).map(|r| (r.id.as_str(), r)).collect()
}

fn time_of(unix: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix, 0).unwrap_or_else(clock::now)
}

/// Compares one pair (or a lone side) and returns the difference, if any.
fn compare(provider: Provider, ours: Option<&Ours>, theirs: Option<&ProviderRecord>) -> Option<Found> {
    let base = |class, detail: String| Found {
        provider,
        class,
        object: ours.map(|o| o.object).or(theirs.map(|t| t.object)).unwrap_or(ReconObjectKind::Charge),
        our_ref: ours.map(|o| o.reference.clone()),
        provider_ref: theirs.map(|t| t.id.clone()),
        our_amount: ours.map(|o| o.amount),
        provider_amount: theirs.map(|t| t.amount),
        currency: ours.map(|o| o.currency.clone()).or(theirs.and_then(|t| t.currency.map(|c| c.code().to_owned()))),
        ours: ours.map(|o| o.json.clone()),
        theirs: theirs.map(record_json),
        detail,
        occurred_at: ours.map(|o| o.at).or(theirs.map(|t| time_of(t.created))).unwrap_or_else(clock::now),
    };
    match (ours, theirs) {
        (None, None) => None,
        (Some(o), None) => {
            Some(base(MismatchClass::MissingAtProvider, format!("{} not found at the provider", o.reference)))
        }
        (None, Some(t)) => Some(base(MismatchClass::MissingInLedger, format!("{} is not in our books", t.id))),
        (Some(o), Some(t)) => {
            let their_currency = t.currency.map(|c| c.code().to_owned());
            if their_currency.as_deref() != Some(o.currency.as_str()) {
                return Some(base(
                    MismatchClass::CurrencyMismatch,
                    format!(
                        "ours in {}, the provider's in {}",
                        o.currency,
                        their_currency.as_deref().unwrap_or("an unknown currency")
                    ),
                ));
            }
            if t.amount > o.amount {
                return Some(base(
                    MismatchClass::Over,
                    format!("the provider's {} is above our {}", t.amount, o.amount),
                ));
            }
            if t.amount < o.amount {
                return Some(base(
                    MismatchClass::Under,
                    format!("the provider's {} is below our {}", t.amount, o.amount),
                ));
            }
            if let (Some(ours), Some(theirs)) = (&o.account, &t.account)
                && ours != theirs
            {
                return Some(base(MismatchClass::DataMismatch, format!("our account {ours}, the provider's {theirs}")));
            }
            if let (Some(ours), Some(theirs)) = (o.status, t.status.as_deref())
                && ours != theirs
            {
                return Some(base(MismatchClass::DataMismatch, format!("our status {ours}, the provider's {theirs}")));
            }
            None
        }
    }
}

impl Murchases {
    /// Compares the books with every configured provider that lists its records, for
    /// `[from, to)`, and stores each difference once. Safe to repeat and to run on several
    /// replicas at once.
    pub async fn reconcile(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> ServiceResult<RunReport> {
        check_window(from, to)?;
        let run_started = clock::now();
        let mut report = RunReport::default();
        for provider in self.providers.all() {
            let kind = provider.kind();
            let stored = Provider::from(kind);
            let accounts: Vec<String> = connected_accounts::Entity::find()
                .filter(connected_accounts::Column::Provider.eq(stored))
                .filter(connected_accounts::Column::ProviderAccountId.is_not_null())
                .all(&self.db)
                .await?
                .into_iter()
                .filter_map(|a| a.provider_account_id)
                .collect();
            let margin = Duration::hours(MARGIN_HOURS);
            let records =
                match provider.money_records((from - margin).timestamp(), (to + margin).timestamp(), &accounts).await {
                    Ok(records) => records,
                    Err(domain::provider::ProviderError::NotSupported(_)) => continue,
                    Err(e) => return Err(e.into()),
                };
            let found = self.compare_window(stored, provider.as_ref(), from, to, &records).await?;
            report.compared += records.len();
            report.found += found.len();
            let fingerprints: Vec<String> = found.iter().map(Found::fingerprint).collect();
            for f in found {
                report.new += usize::from(self.store_mismatch(f).await?);
            }
            report.cleared += self.clear_resolved(stored, from, to, &fingerprints, run_started).await?;
        }
        tracing::info!(?report, %from, %to, "reconciliation run");
        Ok(report)
    }

    async fn compare_window(
        &self,
        provider: Provider,
        provider_api: &dyn domain::provider::PayoutProvider,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        records: &[ProviderRecord],
    ) -> ServiceResult<Vec<Found>> {
        let in_window = |t: &ProviderRecord| (from.timestamp()..to.timestamp()).contains(&t.created);
        let margin = Duration::hours(MARGIN_HOURS);
        // Our entries of the window (and of the margin, to explain the provider's objects there).
        let entries = commission_ledger::Entity::find()
            .filter(commission_ledger::Column::Provider.eq(provider))
            .filter(commission_ledger::Column::CreatedAt.gte(from - margin))
            .filter(commission_ledger::Column::CreatedAt.lt(to + margin))
            .all(&self.db)
            .await?;
        // A charge is one entry (a destination charge) or one per seller (a multi-seller charge,
        // whose sellers are paid by our own transfers: no application fee, no automatic transfer).
        let mut by_charge: HashMap<String, Vec<&commission_ledger::Model>> = HashMap::new();
        for e in &entries {
            if let Some(c) = &e.provider_charge_id {
                by_charge.entry(c.clone()).or_default().push(e);
            }
        }
        let destination_entry =
            |charge: &str| by_charge.get(charge).and_then(|v| v.iter().find(|e| !e.transfers_net()).copied());
        let mut found = Vec::new();
        let mut pairs: Vec<(Option<Ours>, Option<&ProviderRecord>)> = Vec::new();

        // Application fees, their refunds and the destination charges' transfers, by charge.
        let mut seen_charges: BTreeMap<(ReconObjectKind, String), ()> = BTreeMap::new();
        for r in records {
            let parent = r.parent.clone().unwrap_or_default();
            match r.object {
                ReconObjectKind::ApplicationFee | ReconObjectKind::FeeRefund => {
                    seen_charges.insert((r.object, parent.clone()), ());
                    let ours = match destination_entry(&parent) {
                        Some(e) => Some(self.fee_side(e, r.object).await?),
                        None => None,
                    };
                    if ours.is_some() || in_window(r) {
                        pairs.push((ours, Some(r)));
                    }
                }
                ReconObjectKind::Transfer if r.parent.is_some() && !r.metadata.contains_key("movementId") => {
                    seen_charges.insert((ReconObjectKind::Transfer, parent.clone()), ());
                    let ours = destination_entry(&parent).map(destination_transfer);
                    if ours.is_some() || in_window(r) {
                        pairs.push((ours, Some(r)));
                    }
                }
                _ => {}
            }
        }
        for e in entries.iter().filter(|e| e.created_at >= from && e.created_at < to && !e.transfers_net()) {
            let Some(charge) = &e.provider_charge_id else { continue };
            for object in [ReconObjectKind::ApplicationFee, ReconObjectKind::FeeRefund, ReconObjectKind::Transfer] {
                if !seen_charges.contains_key(&(object, charge.clone())) {
                    let ours = match object {
                        ReconObjectKind::Transfer => destination_transfer(e),
                        _ => self.fee_side(e, object).await?,
                    };
                    if ours.amount > 0 {
                        pairs.push((Some(ours), None));
                    }
                }
            }
        }

        // Charges and refunds, from the provider's balance transactions: every charge is a sale
        // in our books (its gross), every refund one we counted (its amount).
        let their_charges: std::collections::HashSet<&str> =
            records.iter().filter(|r| r.object == ReconObjectKind::Charge).map(|r| r.id.as_str()).collect();
        for r in records.iter().filter(|r| r.object == ReconObjectKind::Charge) {
            let ours = by_charge.get(&r.id).and_then(|v| charge_side(v));
            if ours.is_some() || in_window(r) {
                pairs.push((ours, Some(r)));
            }
        }
        for (charge, of_charge) in &by_charge {
            if of_charge.iter().any(|e| e.created_at >= from && e.created_at < to)
                && !their_charges.contains(charge.as_str())
            {
                pairs.push((charge_side(of_charge), None));
            }
        }
        let refunds = provider_refunds::Entity::find()
            .filter(provider_refunds::Column::Provider.eq(provider))
            .filter(provider_refunds::Column::CreatedAt.gte(from - margin))
            .filter(provider_refunds::Column::CreatedAt.lt(to + margin))
            .all(&self.db)
            .await?;
        let currency_of: HashMap<&str, &str> = entries.iter().map(|e| (e.id.as_str(), e.currency.as_str())).collect();
        let their_refunds = by_id(records, &[ReconObjectKind::Refund]);
        let mut our_refund_ids = std::collections::HashSet::new();
        for f in &refunds {
            our_refund_ids.insert(f.provider_refund_id.as_str());
            let theirs = their_refunds.get(f.provider_refund_id.as_str()).copied();
            if theirs.is_none() && !(f.created_at >= from && f.created_at < to) {
                continue;
            }
            let currency = match currency_of.get(f.ledger_id.as_str()) {
                Some(c) => (*c).to_owned(),
                None => commission_ledger::Entity::find_by_id(f.ledger_id.clone())
                    .one(&self.db)
                    .await?
                    .map(|e| e.currency)
                    .unwrap_or_default(),
            };
            let ours = Ours {
                object: ReconObjectKind::Refund,
                reference: f.provider_refund_id.clone(),
                amount: f.amount,
                currency: currency.to_uppercase(),
                account: None,
                status: None,
                at: f.created_at,
                json: serde_json::json!({"ledger": f.ledger_id, "refund": f.provider_refund_id, "amount": f.amount, "source": f.source}),
            };
            pairs.push((Some(ours), theirs));
        }
        for (id, r) in &their_refunds {
            if !our_refund_ids.contains(id) && in_window(r) {
                // Not counted by id: known to us if a later lookup finds it (a refund recorded
                // only by its charge's cumulative total has no id of its own in our books).
                let known = provider_refunds::Entity::find()
                    .filter(provider_refunds::Column::ProviderRefundId.eq((*id).to_owned()))
                    .one(&self.db)
                    .await?;
                if known.is_none() {
                    pairs.push((None, Some(*r)));
                }
            }
        }

        // Transfers and reversals we made: outgoing movements and reserve releases.
        let movements = outgoing_movements::Entity::find()
            .filter(outgoing_movements::Column::Provider.eq(provider))
            .filter(outgoing_movements::Column::CreatedAt.gte(from - margin))
            .filter(outgoing_movements::Column::CreatedAt.lt(to + margin))
            .all(&self.db)
            .await?;
        let by_movement: HashMap<&str, &ProviderRecord> = records
            .iter()
            .filter_map(|r| r.metadata.get(domain::provider::MOVEMENT_ID_KEY).map(|m| (m.as_str(), r)))
            .collect();
        // Refunds and fee refunds are compared above (by refund id, and by the fee's refunded
        // amount); transfers and reversals by our id of them.
        let compared = |m: &&outgoing_movements::Model| {
            matches!(m.kind, entity::enums::OutgoingKind::Transfer | entity::enums::OutgoingKind::TransferReversal)
        };
        let by_object = by_id(records, &[ReconObjectKind::Transfer, ReconObjectKind::TransferReversal]);
        for m in movements.iter().filter(compared) {
            let theirs = by_movement
                .get(m.id.as_str())
                .copied()
                .or_else(|| m.provider_ref.as_deref().and_then(|id| by_object.get(id).copied()));
            if theirs.is_none() && !(m.created_at >= from && m.created_at < to) {
                continue;
            }
            match (m.status, theirs) {
                (OutgoingStatus::Confirmed, Some(t)) => pairs.push((Some(movement_side(m)), Some(t))),
                (OutgoingStatus::Confirmed, None) => {
                    // Not among the window's objects (a reversal of an older payment's transfer):
                    // looked up where it should be.
                    match provider_api.find_movement(service_core::outgoing::lookup_of(m)).await {
                        Ok(Some(id)) if Some(id.as_str()) == m.provider_ref.as_deref() => {}
                        Ok(Some(id)) => found.push(Found {
                            detail: format!("the provider's object is {id}, ours names {:?}", m.provider_ref),
                            ..movement_found(provider, m, MismatchClass::DataMismatch)
                        }),
                        Ok(None) => pairs.push((Some(movement_side(m)), None)),
                        Err(e) => {
                            tracing::warn!(movement = %m.id, error = %e, "reconciliation could not look a movement up")
                        }
                    }
                }
                (status, Some(t)) => found.push(Found {
                    provider_ref: Some(t.id.clone()),
                    provider_amount: Some(t.amount),
                    theirs: Some(record_json(t)),
                    detail: format!("ours is {status}, but the provider made it"),
                    ..movement_found(provider, m, MismatchClass::DataMismatch)
                }),
                (_, None) => {}
            }
        }
        let ours_ids: std::collections::HashSet<&str> = movements.iter().map(|m| m.id.as_str()).collect();
        // (A provider object carrying a movement id of a refund or fee refund is compared above.)
        for (id, r) in &by_movement {
            if !ours_ids.contains(id) && in_window(r) {
                // Ours by its key, but not a confirmed movement of ours in the window.
                let known = outgoing_movements::Entity::find_by_id((*id).to_owned()).one(&self.db).await?;
                pairs.push((known.as_ref().map(movement_side), Some(*r)));
            }
        }
        let holds = reserve_holds::Entity::find()
            .filter(reserve_holds::Column::TransferId.is_not_null())
            .filter(reserve_holds::Column::UpdatedAt.gte(from - margin))
            .filter(reserve_holds::Column::UpdatedAt.lt(to + margin))
            .all(&self.db)
            .await?;
        // Releases made as outgoing movements are compared as movements above.
        let by_movement_ledger: std::collections::HashSet<&str> = movements
            .iter()
            .filter(|m| m.owner == entity::enums::MovementOwner::Payments)
            .filter_map(|m| m.ledger_id.as_deref())
            .collect();
        for h in holds.iter().filter(|h| !by_movement_ledger.contains(h.ledger_id.as_str())) {
            let Some(transfer) = &h.transfer_id else { continue };
            let theirs = by_object.get(transfer.as_str()).copied().filter(|r| r.object == ReconObjectKind::Transfer);
            if theirs.is_some() || (h.updated_at >= from && h.updated_at < to) {
                let ours = Ours {
                    object: ReconObjectKind::Transfer,
                    reference: format!("reserve-hold:{}", h.id),
                    amount: h.amount,
                    currency: h.currency.clone(),
                    account: None,
                    status: None,
                    at: h.updated_at,
                    json: serde_json::json!({"reserveHold": h.id, "amount": h.amount, "transfer": transfer}),
                };
                pairs.push((Some(ours), theirs));
            }
        }

        // Payouts of the connected accounts, by payout id.
        let our_payouts = payouts::Entity::find()
            .filter(payouts::Column::ProviderPayoutId.is_not_null())
            .filter(payouts::Column::CreatedAt.gte(from - margin))
            .filter(payouts::Column::CreatedAt.lt(to + margin))
            .all(&self.db)
            .await?;
        let their_payouts = by_id(records, &[ReconObjectKind::Payout]);
        let mut matched = std::collections::HashSet::new();
        for p in &our_payouts {
            let Some(id) = &p.provider_payout_id else { continue };
            let theirs = their_payouts.get(id.as_str()).copied();
            if theirs.is_some() {
                matched.insert(id.as_str());
            }
            if theirs.is_some() || (p.created_at >= from && p.created_at < to) {
                let ours = Ours {
                    object: ReconObjectKind::Payout,
                    reference: id.clone(),
                    amount: p.amount,
                    currency: p.currency.clone(),
                    account: None,
                    status: Some(match p.status {
                        entity::enums::PayoutStatus::Paid => "paid",
                        entity::enums::PayoutStatus::Failed => "failed",
                    }),
                    at: p.created_at,
                    json: serde_json::json!({"payout": p.id, "amount": p.amount, "currency": p.currency, "status": p.status.as_str()}),
                };
                pairs.push((Some(ours), theirs));
            }
        }
        for (id, r) in &their_payouts {
            // Only payouts that reached an end are ours to know; pending and in-transit ones are
            // reported by `payout.paid` / `payout.failed` later.
            let ended = matches!(r.status.as_deref(), Some("paid" | "failed" | "canceled"));
            if !matched.contains(id) && ended && in_window(r) {
                pairs.push((None, Some(*r)));
            }
        }

        for (ours, theirs) in pairs {
            // Compare in the provider's words for statuses.
            if let Some(f) = compare(provider, ours.as_ref(), theirs) {
                found.push(f);
            }
        }
        found.sort_by_key(Found::fingerprint);
        found.dedup_by_key(|f| f.fingerprint());
        Ok(found)
    }

    /// Our side of a charge's application fee (what the provider reported it charged) or of
    /// its refunded part (the fee refunds sent).
    async fn fee_side(&self, e: &commission_ledger::Model, object: ReconObjectKind) -> ServiceResult<Ours> {
        let amount = match object {
            ReconObjectKind::FeeRefund => fee_refunds::Entity::find()
                .filter(fee_refunds::Column::LedgerId.eq(e.id.clone()))
                .filter(fee_refunds::Column::Status.eq(entity::enums::FeeRefundStatus::Sent))
                .all(&self.db)
                .await?
                .iter()
                .try_fold(0_i64, |sum, r| sum.checked_add(r.amount))
                .ok_or_else(|| ServiceError::Internal("fee refunds overflow".into()))?,
            _ => e.provider_fee_amount.unwrap_or(e.application_fee_amount),
        };
        Ok(Ours {
            object,
            reference: format!("ledger:{}", e.id),
            amount,
            currency: e.currency.to_uppercase(),
            account: e.destination_account_id.clone(),
            status: None,
            at: e.created_at,
            json: serde_json::json!({"ledger": e.id, "order": e.order_id, "charge": e.provider_charge_id, "amount": amount}),
        })
    }

    async fn store_mismatch(&self, f: Found) -> ServiceResult<bool> {
        let fingerprint = f.fingerprint();
        let inserted = reconciliation_mismatches::Entity::insert(reconciliation_mismatches::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            provider: Set(f.provider),
            fingerprint: Set(fingerprint.clone()),
            class: Set(f.class),
            object_kind: Set(f.object.into()),
            our_ref: Set(f.our_ref),
            provider_ref: Set(f.provider_ref),
            our_amount: Set(f.our_amount),
            provider_amount: Set(f.provider_amount),
            currency: Set(f.currency),
            ours: Set(f.ours.map(|v| v.to_string())),
            theirs: Set(f.theirs.map(|v| v.to_string())),
            detail: Set(f.detail),
            occurred_at: Set(f.occurred_at),
            state: Set(MismatchState::Open),
            resolution_reason: Set(None),
            resolved_by: Set(None),
            resolved_at: Set(None),
            first_seen_at: Set(clock::now()),
        })
        .on_conflict_do_nothing_on([Column::Fingerprint])
        .exec_without_returning(&self.db)
        .await?;
        Ok(matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0))
    }

    /// Open mismatches of the window that a complete run no longer finds are FIXED.
    async fn clear_resolved(
        &self,
        provider: Provider,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        found: &[String],
        run_started: DateTime<Utc>,
    ) -> ServiceResult<usize> {
        // Only rows seen before this run began: a run at the same time may just have found one.
        let open = reconciliation_mismatches::Entity::find()
            .filter(Column::Provider.eq(provider))
            .filter(Column::State.eq(MismatchState::Open))
            .filter(Column::FirstSeenAt.lt(run_started))
            .filter(Column::OccurredAt.gte(from))
            .filter(Column::OccurredAt.lt(to))
            .all(&self.db)
            .await?;
        let mut cleared = 0;
        for m in open.into_iter().filter(|m| !found.contains(&m.fingerprint)) {
            let res = reconciliation_mismatches::Entity::update_many()
                .col_expr(Column::State, Expr::value(MismatchState::Fixed.as_str()))
                .col_expr(Column::ResolutionReason, Expr::value(Some("no longer found by reconciliation")))
                .col_expr(Column::ResolvedBy, Expr::value(Some("reconciliation")))
                .col_expr(Column::ResolvedAt, Expr::value(Some(clock::now())))
                .filter(Column::Id.eq(m.id.clone()))
                .filter(Column::State.eq(MismatchState::Open))
                .exec(&self.db)
                .await?;
            cleared += usize::try_from(res.rows_affected).unwrap_or(0);
        }
        Ok(cleared)
    }

    /// `reconciliationReport(from, to)` (admins, MANAGE_COMMISSIONS on every Malet): the
    /// mismatches of the window, oldest first.
    pub async fn reconciliation_report(
        &self,
        actor: &Actor,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> ServiceResult<Vec<reconciliation_mismatches::Model>> {
        actor.can_admin(Permission::ManageCommissions)?;
        check_window(from, to)?;
        Ok(reconciliation_mismatches::Entity::find()
            .filter(Column::OccurredAt.gte(from))
            .filter(Column::OccurredAt.lt(to))
            .order_by_asc(Column::OccurredAt)
            .order_by_asc(Column::Id)
            .limit(1000)
            .all(&self.db)
            .await?)
    }

    /// `runReconciliation(from, to)` for admins.
    pub async fn run_reconciliation(
        &self,
        actor: &Actor,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> ServiceResult<RunReport> {
        actor.can_admin(Permission::ManageCommissions)?;
        self.reconcile(from, to).await
    }

    /// `resolveReconciliationMismatch(id, state, reason)`: ACKNOWLEDGED (known, accepted) or
    /// FIXED (corrected), with the reason, audited.
    pub async fn resolve_mismatch(
        &self,
        actor: &Actor,
        id: &str,
        state: MismatchState,
        reason: &str,
    ) -> ServiceResult<reconciliation_mismatches::Model> {
        actor.can_admin(Permission::ManageCommissions)?;
        if reason.trim().is_empty() {
            return Err(ServiceError::BadInput("a reason is required".into()));
        }
        if state == MismatchState::Open {
            return Err(ServiceError::BadInput("a mismatch is resolved as ACKNOWLEDGED or FIXED".into()));
        }
        let txn = service_core::db::begin_write(&self.db).await?;
        let current = reconciliation_mismatches::Entity::find_by_id(id.to_owned())
            .one(&*txn)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("reconciliation mismatch {id}")))?;
        let mut am: reconciliation_mismatches::ActiveModel = current.clone().into();
        am.state = Set(state);
        am.resolution_reason = Set(Some(reason.to_owned()));
        am.resolved_by = Set(actor.subject().map(str::to_owned));
        am.resolved_at = Set(Some(clock::now()));
        let updated = sea_orm::ActiveModelTrait::update(am, &*txn).await?;
        audit::record(
            &*txn,
            AuditEntry {
                actor: actor.subject().unwrap_or("unknown"),
                action: "resolve_reconciliation_mismatch",
                entity_type: "reconciliation_mismatch",
                entity_id: id,
                malet_id: None,
                before: Some(serde_json::json!({"state": current.state.as_str()})),
                after: Some(serde_json::json!({"state": updated.state.as_str()})),
                reason: Some(reason),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(updated)
    }

    /// Runs the reconciliations events asked for (`payout.paid`): the two days before the
    /// event. Returns how many ran.
    pub async fn run_requested_reconciliations(&self) -> ServiceResult<usize> {
        let txn = service_core::db::begin_write(&self.db).await?;
        let due = service_core::outbox::claim_due(&txn, TOPIC_RECONCILE, 10).await?;
        for row in &due {
            service_core::outbox::complete(&*txn, &row.id).await?;
        }
        txn.commit().await?;
        let ran = due.len();
        if ran > 0 {
            let now = clock::now();
            self.reconcile(now - Duration::days(2), now + Duration::hours(1)).await?;
        }
        Ok(ran)
    }
}

fn check_window(from: DateTime<Utc>, to: DateTime<Utc>) -> ServiceResult<()> {
    if from >= to {
        return Err(ServiceError::BadInput("from must be before to".into()));
    }
    if to - from > Duration::days(MAX_WINDOW_DAYS) {
        return Err(ServiceError::BadInput(format!("a window covers at most {MAX_WINDOW_DAYS} days")));
    }
    Ok(())
}

/// Our side of a charge: the gross of its entries (one, or one per seller of a multi-seller
/// charge; never an empty list).
fn charge_side(entries: &[&commission_ledger::Model]) -> Option<Ours> {
    let first = entries.first()?;
    let gross = entries.iter().try_fold(0i64, |acc, e| acc.checked_add(e.gross_amount))?;
    let ledgers: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    Some(Ours {
        object: ReconObjectKind::Charge,
        reference: format!("ledger:{}", ledgers.join(",")),
        amount: gross,
        currency: first.currency.to_uppercase(),
        account: None,
        status: None,
        at: entries.iter().map(|e| e.created_at).min().unwrap_or(first.created_at),
        json: serde_json::json!({"ledger": if ledgers.len() == 1 { serde_json::json!(first.id) } else { serde_json::json!(ledgers) },
            "order": first.order_id, "charge": first.provider_charge_id, "gross": gross}),
    })
}

/// Our side of a destination charge's transfer: the gross less the fee the provider charged,
/// to the entry's destination.
fn destination_transfer(e: &commission_ledger::Model) -> Ours {
    let fee = e.provider_fee_amount.unwrap_or(e.application_fee_amount);
    let amount = e.gross_amount.saturating_sub(fee);
    Ours {
        object: ReconObjectKind::Transfer,
        reference: format!("ledger:{}", e.id),
        amount,
        currency: e.currency.to_uppercase(),
        account: e.destination_account_id.clone(),
        status: None,
        at: e.created_at,
        json: serde_json::json!({"ledger": e.id, "order": e.order_id, "charge": e.provider_charge_id, "amount": amount}),
    }
}

/// A difference about one of our movements, with no provider side yet.
fn movement_found(provider: Provider, m: &outgoing_movements::Model, class: MismatchClass) -> Found {
    let side = movement_side(m);
    Found {
        provider,
        class,
        object: side.object,
        our_ref: Some(side.reference),
        provider_ref: m.provider_ref.clone(),
        our_amount: Some(m.amount),
        provider_amount: None,
        currency: Some(m.currency.clone()),
        ours: Some(side.json),
        theirs: None,
        detail: String::new(),
        occurred_at: m.created_at,
    }
}

fn movement_side(m: &outgoing_movements::Model) -> Ours {
    let object = match m.kind {
        entity::enums::OutgoingKind::TransferReversal => ReconObjectKind::TransferReversal,
        entity::enums::OutgoingKind::Payout => ReconObjectKind::Payout,
        entity::enums::OutgoingKind::FeeRefund => ReconObjectKind::FeeRefund,
        entity::enums::OutgoingKind::Refund => ReconObjectKind::Refund,
        entity::enums::OutgoingKind::Transfer => ReconObjectKind::Transfer,
    };
    Ours {
        object,
        reference: format!("movement:{}", m.id),
        amount: m.amount,
        currency: m.currency.clone(),
        account: if object == ReconObjectKind::Transfer { m.destination.clone() } else { None },
        status: None,
        at: m.created_at,
        json: serde_json::json!({"movement": m.id, "kind": m.kind.as_str(), "amount": m.amount, "providerRef": m.provider_ref}),
    }
}
