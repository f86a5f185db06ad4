//! Commission receivables (issue 14 item 4): an order a storefront collected itself — TikTok
//! Shop takes the buyer's money and pays its sellers — has no payment of ours to withhold the
//! platform's commission from. The commission is then owed by the seller:
//!
//! - When such an order is paid, its commission is computed from the order record (the Malet's
//!   rule now, the items less discounts as the base, no processing fee and no reserve: the
//!   platform holds none of this money) and recorded as the order's receivable. It is posted to
//!   the seller's balances as a RECEIVABLE movement of minus the commission (on the Malet's
//!   live payout account, which must be in the order's currency), so the seller's ledger and
//!   statement show the debt.
//! - Each later earning of the seller on the same payout account recovers what is still owed,
//!   oldest receivable first, up to the earning's net, once payments has applied the debit
//!   (a debit it has not consumed yet, or refused, is not on the balance): a reversal of that
//!   payment's transfer, written with the earning (key `receivable:<receivable>:<entry>`, once
//!   per receivable and earning). The balance does not move again (the debt was posted
//!   already); the money does. A reversal the provider refuses counts for nothing, and the
//!   receivable is open for the next earning. A later clawback from the same transfer (a
//!   refund of a multi-seller sale) that comes up short because the recovery took part of it
//!   first gives that part back to the receivable, to be recovered again. On providers that
//!   move no money back (MANUAL, PayPal) the earning and the debt are both on the balance the
//!   seller's payouts pay, so the earning recovers the debt by netting (a NETTED recovery, no
//!   movement, confirmed at once), and a gift back is the balance's too. A debt on an account
//!   since replaced is carried by payments with the balance, not reversed.
//! - A refund the storefront made (a TikTok Shop return) lowers what is owed to the commission
//!   on the items it did not refund (the rounding of the refunded share is half-even, as a
//!   payment's clawback): a RECEIVABLE movement of plus the difference. A cancelled order owes
//!   nothing (plus what was owed). What the seller already paid beyond the lower amount is
//!   given back (`give_back_excess`), once the recoveries that took it are confirmed: a transfer
//!   to the seller from the earning each came from, newest first. A gift the provider refuses is
//!   kept FAILED for finance (the seller's balance already shows the money as its own).

use domain::commission;
use domain::ledger_events::{BalanceEvent, BalanceEventKind, TOPIC_BALANCE};
use domain::money::Currency;
use domain::money::{Rounding, mul_div};
use domain::rate::Rate;
use domain::storefront::{StorefrontOrder, StorefrontOrderStatus};
use entity::enums::{ReceivableStatus, RecoveryMethod, RecoveryStatus};
use entity::{
    commission_ledger, commission_receivables, receivable_givebacks, receivable_recoveries, storefront_orders,
    storefront_shops,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use service_core::{clock, outbox};

use super::{Murchases, ServiceError, ServiceResult};
use crate::repo;

/// The posting key (and outbox key) of a receivable's debit.
fn debit_key(receivable_id: &str) -> String {
    format!("receivable:{receivable_id}")
}

/// The key of a receivable's recovery from one earning (its transfer reversal).
fn recovery_key(receivable_id: &str, ledger_id: &str) -> String {
    format!("receivable:{receivable_id}:{ledger_id}")
}

/// The key of the `n`th gift back of part of `recovery_id` (a transfer to the seller).
fn giveback_key(receivable_id: &str, recovery_id: &str, n: usize) -> String {
    format!("receivable:{receivable_id}:giveback:{recovery_id}:{n}")
}

/// The prefix of every recovery movement's posting key (and of every gift back).
pub(crate) const RECOVERY_KEY_PREFIX: &str = "receivable:";

/// A receivable and what is recovered of it: recoveries not refused, less what was given back.
#[derive(Debug, Clone)]
pub struct ReceivableView {
    pub receivable: commission_receivables::Model,
    pub recovered: i64,
    /// Given back to the seller after a refund or a cancellation lowered what it owes.
    pub given_back: i64,
}

impl ReceivableView {
    /// What is still owed.
    pub fn open(&self) -> i64 {
        self.receivable.amount.saturating_sub(self.recovered).max(0)
    }
}

fn total(amounts: impl Iterator<Item = i64>) -> ServiceResult<i64> {
    let mut sum = 0i64;
    for a in amounts {
        sum = sum.checked_add(a).ok_or_else(|| ServiceError::Internal("recoveries overflow".into()))?;
    }
    Ok(sum)
}

/// What is recovered of a receivable: its recoveries not refused, less every gift back (a
/// refused gift included: the seller's balance counts it as the seller's, finance pays it).
async fn recovered<C: ConnectionTrait>(conn: &C, receivable_id: &str) -> ServiceResult<i64> {
    let rows = receivable_recoveries::Entity::find()
        .filter(receivable_recoveries::Column::ReceivableId.eq(receivable_id))
        .filter(receivable_recoveries::Column::Status.ne(RecoveryStatus::Failed))
        .all(conn)
        .await?;
    let given = receivable_givebacks::Entity::find()
        .filter(receivable_givebacks::Column::ReceivableId.eq(receivable_id))
        .all(conn)
        .await?;
    let taken = total(rows.iter().map(|r| r.amount))?;
    taken
        .checked_sub(total(given.iter().map(|g| g.amount))?)
        .ok_or_else(|| ServiceError::Internal("recoveries overflow".into()))
}

/// Stores what is still to recover of receivable `id` (`open_amount`: its amount less what is
/// recovered, never below 0), after any change of either.
async fn refresh_open(txn: &DatabaseTransaction, id: &str) -> ServiceResult<()> {
    let Some(r) = commission_receivables::Entity::find_by_id(id.to_owned()).one(txn).await? else {
        return Ok(());
    };
    let open = r
        .amount
        .checked_sub(recovered(txn, id).await?)
        .ok_or_else(|| ServiceError::Internal("receivable amounts overflow".into()))?
        .max(0);
    if open != r.open_amount {
        commission_receivables::Entity::update_many()
            .col_expr(commission_receivables::Column::OpenAmount, Expr::value(open))
            .filter(commission_receivables::Column::Id.eq(id))
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// The receivables of `malet_id` in `currency` with something still to recover, oldest first
/// (the partial index `commission_receivables_open`: an earning reads only the open ones).
pub fn open_receivables_select(malet_id: &str, currency: &str) -> sea_orm::Select<commission_receivables::Entity> {
    commission_receivables::Entity::find()
        .filter(commission_receivables::Column::MaletId.eq(malet_id))
        .filter(commission_receivables::Column::Currency.eq(currency))
        // (A literal, so that both databases can use the partial index.)
        .filter(Expr::cust("open_amount > 0"))
        .order_by_asc(commission_receivables::Column::CreatedAt)
        .order_by_asc(commission_receivables::Column::Id)
}

/// Whether payments applied the receivable's debit to its account.
async fn debit_applied<C: ConnectionTrait>(conn: &C, r: &commission_receivables::Model) -> ServiceResult<bool> {
    Ok(entity::balance_movements::Entity::find()
        .filter(entity::balance_movements::Column::IdempotencyKey.eq(debit_key(&r.id)))
        .filter(entity::balance_movements::Column::AccountId.eq(r.account_id.clone()))
        .one(conn)
        .await?
        .is_some())
}

/// Gives back to the receivables recovered from `ledger_id` up to `amount` of what they
/// recovered (newest first): a later reversal from the same transfer (a refund's clawback)
/// came up short by that much because the recovery took it first, so that much is owed again.
/// A recovery partly given back already is reopened in full all the same: the gift back was a
/// transfer of its own, which this clawback cannot take from, so the seller holds it (the
/// receivable's `recovered` can then be negative, and `open` exceed its amount).
pub(crate) async fn reopen_recovered_from(
    txn: &DatabaseTransaction,
    ledger_id: &str,
    amount: i64,
) -> ServiceResult<i64> {
    let of_entry = || {
        receivable_recoveries::Entity::find()
            .filter(receivable_recoveries::Column::LedgerId.eq(ledger_id))
            .filter(receivable_recoveries::Column::Status.ne(RecoveryStatus::Failed))
            .filter(receivable_recoveries::Column::Amount.gt(0))
    };
    let seen = of_entry().all(txn).await?;
    if seen.is_empty() {
        return Ok(0);
    }
    // The receivables first (the order every change of them takes), then their recoveries.
    commission_receivables::Entity::find()
        .filter(commission_receivables::Column::Id.is_in(seen.iter().map(|r| r.receivable_id.clone())))
        .order_by_asc(commission_receivables::Column::Id)
        .lock_exclusive()
        .all(txn)
        .await?;
    let rows = of_entry()
        .order_by_desc(receivable_recoveries::Column::CreatedAt)
        .order_by_desc(receivable_recoveries::Column::Id)
        .lock_exclusive()
        .all(txn)
        .await?;
    let mut left = amount;
    for row in rows {
        if left <= 0 {
            break;
        }
        let back = row.amount.min(left);
        left = left.saturating_sub(back);
        let mut am: receivable_recoveries::ActiveModel = row.clone().into();
        am.amount = Set(row.amount.saturating_sub(back));
        am.updated_at = Set(clock::now());
        am.update(txn).await?;
        tracing::warn!(receivable = %row.receivable_id, ledger_id, back,
            "a clawback came up short because a receivable was recovered from the same transfer: that much is owed again");
    }
    if left > 0 {
        tracing::warn!(
            ledger_id,
            left,
            "a clawback came up short by more than receivables recovered from its transfer"
        );
    }
    let mut touched: Vec<&str> = seen.iter().map(|r| r.receivable_id.as_str()).collect();
    touched.sort_unstable();
    touched.dedup();
    for id in touched {
        refresh_open(txn, id).await?;
    }
    Ok(amount - left)
}

fn receivable_event(
    r: &commission_receivables::Model,
    delta: i64,
    at: chrono::DateTime<chrono::Utc>,
) -> ServiceResult<BalanceEvent> {
    Ok(BalanceEvent {
        kind: BalanceEventKind::Receivable,
        ledger_id: r.id.clone(),
        order_id: Some(r.platform_order_id.clone()),
        malet_id: r.malet_id.clone(),
        account_id: Some(r.account_id.clone()),
        destination: None,
        currency: Currency::parse(&r.currency).map_err(|e| ServiceError::Internal(format!("stored currency: {e}")))?,
        net_delta: delta,
        reserve_delta: 0,
        occurred_at: at,
        settlement_date: None,
    })
}

/// The receivables of storefront orders (by the order record's id), with what is recovered of
/// each: two queries whatever the number of orders.
pub(crate) async fn receivables_of_orders<C: ConnectionTrait>(
    conn: &C,
    order_ids: &[String],
) -> ServiceResult<std::collections::HashMap<String, ReceivableView>> {
    let receivables = commission_receivables::Entity::find()
        .filter(commission_receivables::Column::StorefrontOrderId.is_in(order_ids.iter().cloned()))
        .all(conn)
        .await?;
    let ids = || receivables.iter().map(|r| r.id.clone());
    let recoveries = receivable_recoveries::Entity::find()
        .filter(receivable_recoveries::Column::ReceivableId.is_in(ids()))
        .filter(receivable_recoveries::Column::Status.ne(RecoveryStatus::Failed))
        .all(conn)
        .await?;
    let givebacks = receivable_givebacks::Entity::find()
        .filter(receivable_givebacks::Column::ReceivableId.is_in(ids()))
        .all(conn)
        .await?;
    receivables
        .into_iter()
        .map(|receivable| {
            let taken = total(recoveries.iter().filter(|r| r.receivable_id == receivable.id).map(|r| r.amount))?;
            let given_back = total(givebacks.iter().filter(|g| g.receivable_id == receivable.id).map(|g| g.amount))?;
            let recovered =
                taken.checked_sub(given_back).ok_or_else(|| ServiceError::Internal("recoveries overflow".into()))?;
            Ok((receivable.storefront_order_id.clone(), ReceivableView { receivable, recovered, given_back }))
        })
        .collect()
}

/// The receivables whose kept `open_amount` is not what their recoveries and gifts back give
/// (`amount − recovered`, never below 0): the invariant of the derived column (empty when all
/// agree). Reads every receivable: for checks and tests, not for a request.
pub async fn open_mismatches<C: ConnectionTrait>(conn: &C) -> ServiceResult<Vec<String>> {
    let receivables = commission_receivables::Entity::find().all(conn).await?;
    let ids: Vec<String> = receivables.iter().map(|r| r.storefront_order_id.clone()).collect();
    let views = receivables_of_orders(conn, &ids).await?;
    Ok(views
        .values()
        .filter(|v| v.receivable.open_amount != v.open())
        .map(|v| format!("{}: open_amount {} but {} is open", v.receivable.id, v.receivable.open_amount, v.open()))
        .collect())
}

impl Murchases {
    /// Brings the receivable of a seller-collected order (`row`, just written from `o`;
    /// `numbers_changed`: its amounts differ from the record's before) to the order's status, in
    /// the delivery's transaction. `Ok(Err(reason))`: needs an admin (and the delivery's writes
    /// are rolled back).
    pub(crate) async fn apply_receivable(
        &self,
        txn: &DatabaseTransaction,
        shop: &storefront_shops::Model,
        row: &storefront_orders::Model,
        o: &StorefrontOrder,
        numbers_changed: bool,
    ) -> ServiceResult<Result<Option<String>, String>> {
        let existing = commission_receivables::Entity::find()
            .filter(commission_receivables::Column::StorefrontOrderId.eq(row.id.clone()))
            .lock_exclusive()
            .one(txn)
            .await?;
        let now = clock::now();
        use StorefrontOrderStatus::{Paid, PartiallyRefunded, Refunded};
        match (o.status, existing) {
            (Paid | PartiallyRefunded | Refunded, Some(r)) => {
                if r.status == ReceivableStatus::Cancelled {
                    return Ok(Err(format!(
                        "order {} is paid again after it was cancelled and its commission given back: an admin decides",
                        o.order_id
                    )));
                }
                if numbers_changed && r.amount > 0 {
                    return Ok(Err(format!(
                        "order {} changed after its commission receivable ({}) was recorded: an admin adjusts it",
                        o.order_id, r.amount
                    )));
                }
                self.apply_receivable_refunds(txn, row, r).await
            }
            (Paid | PartiallyRefunded | Refunded, None) => {
                let Some(account) = repo::accounts::live_account(txn, &shop.malet_id).await? else {
                    return Ok(Err(format!(
                        "Malet {} has no payout account to owe the commission on order {} against: replay once it has one",
                        shop.malet_id, o.order_id
                    )));
                };
                if account.currency != o.currency.code() {
                    return Ok(Err(format!(
                        "order {} is in {} but Malet {}'s payout account is in {}: an admin decides",
                        o.order_id,
                        o.currency.code(),
                        shop.malet_id,
                        account.currency
                    )));
                }
                let effective = self.effective_rule(txn, &shop.malet_id, now).await?;
                let order = o.amounts(false).map_err(ServiceError::bad_input)?;
                // No processing fee (the storefront charged the buyer), no reserve (the platform
                // holds none of the money) and no affiliate (TikTok pays its creators itself):
                // the commission alone is owed.
                let b =
                    commission::compute_with_fee(&order, &effective.rule, Rate::ZERO, Some(effective.version), Some(0))
                        .map_err(ServiceError::bad_input)?;
                self.config.limits.check(&b)?;
                let r = commission_receivables::ActiveModel {
                    id: Set(uuid::Uuid::now_v7().to_string()),
                    storefront_order_id: Set(row.id.clone()),
                    malet_id: Set(shop.malet_id.clone()),
                    account_id: Set(account.id.clone()),
                    platform: Set(shop.platform),
                    platform_order_id: Set(o.order_id.clone()),
                    currency: Set(o.currency.code().to_owned()),
                    original_amount: Set(b.commission),
                    amount: Set(b.commission),
                    refunded_base: Set(0),
                    commission_base: Set(b.commissionable_base),
                    open_amount: Set(b.commission),
                    status: Set(ReceivableStatus::Owed),
                    commission_rate: Set(b.commission_rate.to_string()),
                    rule_version: Set(effective.version),
                    breakdown: Set(serde_json::to_string(&b.trace).map_err(|e| ServiceError::Internal(e.to_string()))?),
                    created_at: Set(now),
                    updated_at: Set(now),
                }
                .insert(txn)
                .await?;
                if b.commission > 0 {
                    let key = debit_key(&r.id);
                    let event = receivable_event(&r, -b.commission, now)?;
                    outbox::enqueue(txn, TOPIC_BALANCE, &r.id, &event.to_payload(), &key).await?;
                }
                metrics::counter!("commission_receivables_created_total").increment(1);
                // Returns the storefront made before we first saw the order paid.
                self.apply_receivable_refunds(txn, row, r).await
            }
            (StorefrontOrderStatus::Cancelled, Some(r)) if r.status != ReceivableStatus::Cancelled => {
                let owed = r.amount;
                let refunded_base = r.refunded_base;
                // What the seller already paid of it is its own again.
                self.lower_receivable(txn, r, 0, refunded_base, ReceivableStatus::Cancelled, "cancelled").await?;
                Ok(Ok(Some(format!("order {} cancelled: its commission {owed} is no longer owed", o.order_id))))
            }
            // Not paid yet, or cancelled already.
            _ => Ok(Ok(None)),
        }
    }

    /// Brings receivable `r` to the refunds recorded for its order `row` (the storefront's
    /// returns): what is owed becomes the commission on what was not refunded,
    /// `original − original × refunded ÷ base` (half-even, as a payment's clawback), posted as a
    /// RECEIVABLE movement of plus the difference (once per amount owed), and what the seller
    /// paid beyond it is given back. The base is the items' (less discounts), or, under a rule
    /// that commissions tax or shipping, the order's money (refunds shared by what they returned).
    async fn apply_receivable_refunds(
        &self,
        txn: &DatabaseTransaction,
        row: &storefront_orders::Model,
        r: commission_receivables::Model,
    ) -> ServiceResult<Result<Option<String>, String>> {
        let refunds = repo::storefronts::refunds_of(txn, row).await?;
        if refunds.is_empty() {
            return Ok(Ok(None));
        }
        let refunded_base = total(refunds.iter().map(|f| f.base_before_tax(row)))?;
        let refunded_amount = total(refunds.iter().map(|f| f.amount))?;
        let items_base = row.subtotal.checked_sub(row.discount).unwrap_or(0);
        if refunded_base > items_base || refunded_amount > row.total || refunded_base < r.refunded_base {
            return Ok(Err(format!(
                "the storefront's refunds of order {} (items {refunded_base}, money {refunded_amount}) do not fit the order (items {items_base}, total {}; items refunded before: {}): an admin decides",
                row.platform_order_id, row.total, r.refunded_base
            )));
        }
        let by_items = r.commission_base == 0 || r.commission_base == items_base;
        let (refunded, base) = if by_items { (refunded_base, items_base) } else { (refunded_amount, row.total) };
        let taken = if base > 0 {
            mul_div(r.original_amount, refunded, base, Rounding::HalfEven).map_err(ServiceError::bad_input)?
        } else {
            0
        };
        let overflow = || ServiceError::Internal("receivable amounts overflow".into());
        // What is owed never rises again (a cancellation may have made it 0 already).
        let due = r.original_amount.checked_sub(taken).ok_or_else(overflow)?.min(r.amount);
        if due == r.amount && refunded_base == r.refunded_base {
            return Ok(Ok(None));
        }
        let status = r.status;
        let r = self.lower_receivable(txn, r, due, refunded_base, status, &format!("refund:{due}")).await?;
        tracing::info!(receivable = %r.id, refunded_base, refunded_amount, due,
            "a storefront refund lowered a commission receivable");
        Ok(Ok(Some(format!(
            "order {}: the storefront refunded {refunded_base} of its items ({refunded_amount} in all), the commission owed is {due} (was {})",
            row.platform_order_id, r.original_amount
        ))))
    }

    /// Lowers receivable `r` to owe `due` (with the refunded items base and status it now has):
    /// a RECEIVABLE movement of plus the difference (outbox key `receivable:<id>:<key_suffix>`,
    /// applied by payments after the debit), then what the seller paid beyond `due` is given
    /// back.
    async fn lower_receivable(
        &self,
        txn: &DatabaseTransaction,
        r: commission_receivables::Model,
        due: i64,
        refunded_base: i64,
        status: ReceivableStatus,
        key_suffix: &str,
    ) -> ServiceResult<commission_receivables::Model> {
        let delta =
            r.amount.checked_sub(due).ok_or_else(|| ServiceError::Internal("receivable amounts overflow".into()))?;
        let now = clock::now();
        let mut am: commission_receivables::ActiveModel = r.into();
        am.amount = Set(due);
        am.refunded_base = Set(refunded_base);
        am.status = Set(status);
        am.updated_at = Set(now);
        let r = am.update(txn).await?;
        if delta > 0 {
            let event = receivable_event(&r, delta, now)?;
            let key = format!("{}:{key_suffix}", debit_key(&r.id));
            outbox::enqueue(txn, TOPIC_BALANCE, &r.id, &event.to_payload(), &key).await?;
        }
        self.give_back_excess(txn, &r).await?;
        refresh_open(txn, &r.id).await?;
        Ok(r)
    }

    /// Gives back to the seller what its confirmed recoveries of `r` took beyond what it owes
    /// now (after a refund or a cancellation), newest recovery first: a transfer to the seller
    /// from that recovery's earning. A recovery still pending gives back when it is confirmed
    /// (`recovery_outcome`); one refused took nothing.
    pub(crate) async fn give_back_excess(
        &self,
        txn: &DatabaseTransaction,
        r: &commission_receivables::Model,
    ) -> ServiceResult<()> {
        let recoveries = receivable_recoveries::Entity::find()
            .filter(receivable_recoveries::Column::ReceivableId.eq(r.id.clone()))
            .filter(receivable_recoveries::Column::Status.eq(RecoveryStatus::Confirmed))
            .order_by_desc(receivable_recoveries::Column::CreatedAt)
            .order_by_desc(receivable_recoveries::Column::Id)
            .lock_exclusive()
            .all(txn)
            .await?;
        let givebacks = receivable_givebacks::Entity::find()
            .filter(receivable_givebacks::Column::ReceivableId.eq(r.id.clone()))
            .all(txn)
            .await?;
        let overflow = || ServiceError::Internal("receivable amounts overflow".into());
        let confirmed = total(recoveries.iter().map(|x| x.amount))?;
        let given = total(givebacks.iter().map(|g| g.amount))?;
        let mut excess = confirmed.checked_sub(given).and_then(|x| x.checked_sub(r.amount)).ok_or_else(overflow)?;
        for recovery in &recoveries {
            if excess <= 0 {
                break;
            }
            let of_it: Vec<_> = givebacks.iter().filter(|g| g.recovery_id == recovery.id).collect();
            let room = recovery.amount.checked_sub(total(of_it.iter().map(|g| g.amount))?).ok_or_else(overflow)?;
            if room <= 0 {
                continue;
            }
            let id = uuid::Uuid::now_v7().to_string();
            // A netted recovery is given back by the balance alone (the refund's RECEIVABLE
            // movement raised it; the next payout pays it): no movement.
            let (movement_id, amount, status) = if recovery.method == RecoveryMethod::Netted {
                (id.clone(), room.min(excess), RecoveryStatus::Confirmed)
            } else {
                let Some(entry) = repo::ledger::by_id(txn, &recovery.ledger_id).await? else {
                    return Err(ServiceError::Internal(format!(
                        "the earning {} of a recovery is missing",
                        recovery.ledger_id
                    )));
                };
                let key = giveback_key(&r.id, &recovery.id, of_it.len());
                match self.queue_movement_of(txn, &entry, room.min(excess), &key).await? {
                    Some(movement) => (movement.id, movement.amount, RecoveryStatus::Pending),
                    // No way to send it (the provider is not configured here): kept FAILED, as
                    // a refused one, for finance, who pays it (the balance shows it as the
                    // seller's already).
                    None => {
                        tracing::error!(receivable = %r.id, ledger_id = %entry.id, amount = room.min(excess),
                            "a receivable's gift back cannot be transferred: finance pays it");
                        (id.clone(), room.min(excess), RecoveryStatus::Failed)
                    }
                }
            };
            let now = clock::now();
            receivable_givebacks::ActiveModel {
                id: Set(id),
                receivable_id: Set(r.id.clone()),
                recovery_id: Set(recovery.id.clone()),
                ledger_id: Set(recovery.ledger_id.clone()),
                movement_id: Set(movement_id),
                method: Set(recovery.method),
                amount: Set(amount),
                status: Set(status),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(txn)
            .await?;
            tracing::info!(receivable = %r.id, ledger_id = %recovery.ledger_id, amount,
                method = recovery.method.as_str(), "a receivable's recovery given back to the seller");
            excess = excess.checked_sub(amount).ok_or_else(overflow)?;
        }
        Ok(())
    }

    /// Recovers what the seller owes on receivables from a new earning `entry` (in its
    /// transaction): oldest first, at most the entry's net, each a reversal of the payment's
    /// transfer queued with the earning.
    pub(crate) async fn recover_receivables(
        &self,
        txn: &DatabaseTransaction,
        entry: &commission_ledger::Model,
    ) -> ServiceResult<()> {
        let mut left = entry.net_payout;
        if left <= 0 {
            return Ok(());
        }
        let receivables = open_receivables_select(&entry.malet_id, &entry.currency).lock_exclusive().all(txn).await?;
        // (Most sellers owe nothing: the earning's provider is looked at only when one does.)
        if receivables.is_empty() {
            return Ok(());
        }
        let netted = match self.provider_of(entry) {
            Ok((_, provider, _)) => !provider.moves(domain::provider::OutgoingKind::TransferReversal),
            // Not configured here: nothing is taken (the next earning tries again).
            Err(_) => return Ok(()),
        };
        for r in receivables {
            // Only a debt this earning's account carries: the receivable's own account (a debt
            // left on an account since replaced is carried by payments, not taken twice), and
            // only once payments applied the debit (one it refused, or has not consumed yet, is
            // not on the balance: taking the money would charge the seller without a record).
            if entry.account_id.as_deref() != Some(r.account_id.as_str()) || !debit_applied(txn, &r).await? {
                continue;
            }
            let open = r
                .amount
                .checked_sub(recovered(txn, &r.id).await?)
                .ok_or_else(|| ServiceError::Internal("receivable amounts overflow".into()))?;
            if open <= 0 {
                continue;
            }
            let now = clock::now();
            let id = uuid::Uuid::now_v7().to_string();
            // Where the provider moves no money back (MANUAL, PayPal), the earning and the debt
            // are both on the balance the seller's payouts pay: the debt is netted, no movement.
            let (movement_id, method, amount, status) = if netted {
                (id.clone(), RecoveryMethod::Netted, open.min(left), RecoveryStatus::Confirmed)
            } else {
                let key = recovery_key(&r.id, &entry.id);
                let Some(movement) = self.queue_movement_of(txn, entry, -open.min(left), &key).await? else {
                    // No way to take it now (no transfer to take from): the next earning does.
                    return Ok(());
                };
                (movement.id, RecoveryMethod::Reversal, movement.amount, RecoveryStatus::Pending)
            };
            receivable_recoveries::ActiveModel {
                id: Set(id),
                receivable_id: Set(r.id.clone()),
                ledger_id: Set(entry.id.clone()),
                movement_id: Set(movement_id),
                method: Set(method),
                amount: Set(amount),
                status: Set(status),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(txn)
            .await?;
            refresh_open(txn, &r.id).await?;
            tracing::info!(receivable = %r.id, ledger_id = %entry.id, amount, method = method.as_str(),
                "commission receivable recovered from an earning");
            left = left.saturating_sub(amount);
            if left <= 0 {
                break;
            }
        }
        Ok(())
    }

    /// The outcome of a recovery's transfer reversal, or of a gift back's transfer: CONFIRMED,
    /// or FAILED. A refused recovery counts for nothing (the receivable is open for the next
    /// earning); a confirmed one may have taken more than the receivable owes now (a refund came
    /// while it was sent), which is given back. A refused gift back stays for finance.
    pub(crate) async fn recovery_outcome(
        &self,
        txn: &DatabaseTransaction,
        movement: &entity::outgoing_movements::Model,
        outcome: Result<(), &str>,
    ) -> ServiceResult<()> {
        let status = if outcome.is_ok() { RecoveryStatus::Confirmed } else { RecoveryStatus::Failed };
        let now = clock::now();
        let recovery = receivable_recoveries::Entity::find()
            .filter(receivable_recoveries::Column::MovementId.eq(movement.id.clone()))
            .one(txn)
            .await?;
        if let Some(recovery) = recovery {
            if let Err(reason) = outcome {
                tracing::warn!(movement = %movement.id, reason,
                    "a commission receivable's recovery was refused; the next earning recovers it");
            }
            // The receivable first (the order every change of it takes), then its recovery.
            let receivable = commission_receivables::Entity::find_by_id(recovery.receivable_id.clone())
                .lock_exclusive()
                .one(txn)
                .await?;
            let mut am: receivable_recoveries::ActiveModel = recovery.into();
            am.status = Set(status);
            am.updated_at = Set(now);
            am.update(txn).await?;
            if let Some(r) = receivable {
                if outcome.is_ok() {
                    self.give_back_excess(txn, &r).await?;
                }
                refresh_open(txn, &r.id).await?;
            }
            return Ok(());
        }
        if let Err(reason) = outcome {
            tracing::error!(movement = %movement.id, reason,
                "a receivable's gift back to the seller was refused; the seller is owed it (finance pays it)");
        }
        receivable_givebacks::Entity::update_many()
            .col_expr(receivable_givebacks::Column::Status, Expr::value(status))
            .col_expr(receivable_givebacks::Column::UpdatedAt, Expr::value(now))
            .filter(receivable_givebacks::Column::MovementId.eq(movement.id.clone()))
            .exec(txn)
            .await?;
        Ok(())
    }
}
