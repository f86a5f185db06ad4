//! Refund clawback (R-REF-1…4): cumulative and proportional, so many partial refunds never
//! drift from one full refund, and repeated or reordered provider events converge.

use serde::Serialize;

use crate::money::{MoneyError, Rounding, mul_div};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundError {
    #[error("refund amount must be greater than zero")]
    NotPositive,
    #[error("refund of {requested} exceeds the remaining refundable amount {remaining}")]
    ExceedsRemaining { requested: i64, remaining: i64 },
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// The parts of a ledger entry before any refund (adjustments included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct OriginalParts {
    pub gross: i64,
    pub commission: i64,
    pub processing_fee: i64,
    pub reserve: i64,
    pub affiliate: i64,
    /// What a storefront said its refunds took back, item by item (all zero otherwise).
    pub items: ItemRefunds,
}

/// The refunds of an entry of a storefront order, as the storefront reported them (issue 14):
/// which items came back, not only how much money. Commission and the affiliate share are rates
/// of the items' base (R-COMM-3), so a refund of one item takes back exactly that item's share
/// (`refunded_base / base`); money refunded beyond what the storefront explained (a refund made
/// at the payment provider only) is taken back in proportion to the gross, as for any entry.
/// Cumulative like the money refunded, so the two sources converge in either order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct ItemRefunds {
    /// The entry's commissionable base (items less discounts); 0 when no storefront order.
    pub base: i64,
    /// The base the storefront's refunds took back, in total.
    pub refunded_base: i64,
    /// The money the storefront's refunds returned, in total.
    pub refunded_amount: i64,
}

/// The entry's parts after a cumulative refund. Identity:
/// `gross − refunded_amount = commission + processing_fee + reserve + affiliate + net`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RefundedParts {
    pub refunded_amount: i64,
    pub refunded_commission: i64,
    pub refunded_reserve: i64,
    pub refunded_affiliate: i64,
    pub commission: i64,
    /// Not returned by the provider on refunds (R-REF-4).
    pub processing_fee: i64,
    pub reserve: i64,
    pub affiliate: i64,
    /// May be negative: the seller then carries a negative balance (R-REF-4).
    pub net: i64,
    pub fully_refunded: bool,
}

impl RefundedParts {
    /// The share of the Stripe application fee to refund for this cumulative state: everything
    /// of the fee that is returned (commission, reserve and affiliate clawback; never the
    /// processing fee).
    pub fn application_fee_refunded(&self) -> Result<i64, MoneyError> {
        self.refunded_commission
            .checked_add(self.refunded_reserve)
            .and_then(|x| x.checked_add(self.refunded_affiliate))
            .ok_or(MoneyError::Overflow)
    }
}

/// The state of an entry after `cumulative_refunded` of its gross has been refunded in total.
pub fn clawback(original: &OriginalParts, cumulative_refunded: i64) -> Result<RefundedParts, RefundError> {
    if cumulative_refunded < 0 {
        return Err(RefundError::NotPositive);
    }
    if cumulative_refunded > original.gross {
        return Err(RefundError::ExceedsRemaining { requested: cumulative_refunded, remaining: original.gross });
    }
    let he = Rounding::HalfEven;
    let share = |part: i64| mul_div(part, cumulative_refunded, original.gross, he);
    let items = original.items;
    // A rate of the base: the storefront's item refunds take back their items' share; money the
    // storefront did not explain is shared by gross.
    let base_share = |part: i64| -> Result<i64, MoneyError> {
        if items.base <= 0 || (items.refunded_base <= 0 && items.refunded_amount <= 0) {
            return share(part);
        }
        if cumulative_refunded == original.gross {
            return Ok(part);
        }
        // Only money the provider actually refunded is re-split by item: a storefront refund
        // alone (store credit, a failed or pending refund) takes nothing back and gives nothing.
        let explained = cumulative_refunded.min(items.refunded_amount).max(0);
        let by_items = if items.refunded_amount > 0 {
            let items_share = mul_div(part, items.refunded_base.clamp(0, items.base), items.base, he)?;
            mul_div(items_share, explained, items.refunded_amount, he)?
        } else {
            0
        };
        let unexplained = cumulative_refunded.checked_sub(explained).ok_or(MoneyError::Overflow)?;
        let by_money = mul_div(part, unexplained, original.gross, he)?;
        Ok(by_items.checked_add(by_money).ok_or(MoneyError::Overflow)?.min(part))
    };
    let refunded_commission = base_share(original.commission)?;
    let refunded_reserve = share(original.reserve)?;
    let refunded_affiliate = base_share(original.affiliate)?;
    let commission = original.commission - refunded_commission;
    let reserve = original.reserve - refunded_reserve;
    let affiliate = original.affiliate - refunded_affiliate;
    let remaining = original.gross - cumulative_refunded;
    let net = remaining
        .checked_sub(commission)
        .and_then(|x| x.checked_sub(original.processing_fee))
        .and_then(|x| x.checked_sub(reserve))
        .and_then(|x| x.checked_sub(affiliate))
        .ok_or(MoneyError::Overflow)?;
    Ok(RefundedParts {
        refunded_amount: cumulative_refunded,
        refunded_commission,
        refunded_reserve,
        refunded_affiliate,
        commission,
        processing_fee: original.processing_fee,
        reserve,
        affiliate,
        net,
        fully_refunded: cumulative_refunded == original.gross,
    })
}

/// Applies one more refund of `amount` on top of `already_refunded`; rejects over-refunds.
pub fn refund(original: &OriginalParts, already_refunded: i64, amount: i64) -> Result<RefundedParts, RefundError> {
    if amount <= 0 {
        return Err(RefundError::NotPositive);
    }
    let remaining = original.gross.checked_sub(already_refunded).ok_or(MoneyError::Overflow)?;
    if amount > remaining {
        return Err(RefundError::ExceedsRemaining { requested: amount, remaining });
    }
    clawback(original, already_refunded + amount)
}

/// What one step of a refund owes the seller back from the application fee (R-REF-1, R-REF-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FeeRefundStep {
    /// To send to the provider as an application-fee refund.
    pub send: i64,
    /// Owed, but more than the provider still holds of the fee (after an adjustment raised the
    /// commission above it): settled outside the fee (transfer reversal or seller debit).
    pub uncollected: i64,
}

/// The fee refund of the step from cumulative state `before` to `after`: the increase of the
/// clawed-back commission and affiliate shares, plus the reserve share while the platform still
/// holds the reserve, never more than `fee_remaining` (what the provider still holds of the fee).
/// Computed from cumulative states under the entry's lock, so concurrent refunds add up to
/// exactly the cumulative clawback.
pub fn fee_refund_step(
    before: &RefundedParts,
    after: &RefundedParts,
    reserve_held: bool,
    fee_remaining: i64,
) -> Result<FeeRefundStep, MoneyError> {
    let d = |a: i64, b: i64| a.checked_sub(b).ok_or(MoneyError::Overflow);
    let mut owed = d(after.refunded_commission, before.refunded_commission)?
        .checked_add(d(after.refunded_affiliate, before.refunded_affiliate)?)
        .ok_or(MoneyError::Overflow)?;
    if reserve_held {
        owed = owed.checked_add(d(after.refunded_reserve, before.refunded_reserve)?).ok_or(MoneyError::Overflow)?;
    }
    let owed = owed.max(0);
    let send = owed.min(fee_remaining.max(0));
    Ok(FeeRefundStep { send, uncollected: owed - send })
}
