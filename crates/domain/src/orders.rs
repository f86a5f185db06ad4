//! Multi-seller orders (issue 13, R-COMM-7, R-MONEY-3): one charge for a cart whose items belong to
//! several Malets becomes one part per Malet. Item amounts belong to their seller; the
//! order-level amounts (shipping, the order discount, and the processing fee the provider charges
//! once on the whole charge) are allocated across the sellers by the largest-remainder method on
//! each seller's item subtotal, so the parts always sum exactly to the whole, whatever the order
//! of the items.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::allocation::{AllocationError, allocate};
use crate::commission::{CommissionError, OrderAmounts};
use crate::ids::MaletId;
use crate::money::{Currency, MoneyError};

/// One line of a cart: its seller, and its amounts in minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartItem {
    pub malet_id: MaletId,
    /// The line's subtotal (unit price × quantity), > 0.
    pub amount: i64,
    /// A discount on this line only (belongs to its seller).
    pub discount: i64,
    /// Tax charged on this line (belongs to its seller).
    pub tax: i64,
}

/// A whole cart as the order service describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cart {
    pub currency: Currency,
    pub items: Vec<CartItem>,
    /// Order-level shipping, allocated across the sellers.
    pub shipping: i64,
    /// Order-level discount (a coupon on the whole cart), allocated across the sellers.
    pub discount: i64,
}

/// One seller's part of a cart: its amounts (order-level ones allocated) and its share of the
/// processing fee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SellerPart {
    pub malet_id: MaletId,
    pub amounts: OrderAmounts,
    /// This seller's share of the processing fee of the whole charge.
    pub processing_fee_estimate: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CartError {
    #[error("a cart needs at least one item")]
    Empty,
    #[error("item {index}: {reason}")]
    Item { index: usize, reason: String },
    #[error("the order discount {discount} exceeds the cart's subtotal after item discounts {subtotal}")]
    DiscountExceedsSubtotal { discount: i64, subtotal: i64 },
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error(transparent)]
    Allocation(#[from] AllocationError),
    #[error(transparent)]
    Commission(#[from] CommissionError),
}

#[derive(Default)]
struct Sums {
    subtotal: i64,
    discount: i64,
    tax: i64,
}

fn add(a: i64, b: i64) -> Result<i64, MoneyError> {
    a.checked_add(b).ok_or(MoneyError::Overflow)
}

impl Cart {
    /// The whole charge: items less their discounts, plus tax, plus shipping, less the order
    /// discount.
    pub fn gross(&self) -> Result<i64, CartError> {
        let mut total = self.shipping;
        for item in &self.items {
            total = add(total, add(item.amount - item.discount, item.tax)?)?;
        }
        total.checked_sub(self.discount).ok_or(MoneyError::Overflow.into())
    }

    /// Splits the cart into one part per seller (ordered by Malet id). `fee_estimate` is the
    /// processing fee of the whole charge, allocated like shipping. Every part's amounts satisfy
    /// `subtotal − discount + tax + shipping = gross`, and the parts' gross, shipping, discount,
    /// tax and fee each sum exactly to the cart's.
    pub fn split(&self, fee_estimate: i64) -> Result<Vec<SellerPart>, CartError> {
        if self.items.is_empty() {
            return Err(CartError::Empty);
        }
        for (v, what) in [(self.shipping, "shipping"), (self.discount, "discount"), (fee_estimate, "processing fee")] {
            if v < 0 {
                return Err(CartError::Item { index: 0, reason: format!("order {what} must not be negative") });
            }
        }
        let mut sellers: BTreeMap<MaletId, Sums> = BTreeMap::new();
        for (index, item) in self.items.iter().enumerate() {
            let bad = |reason: &str| CartError::Item { index, reason: reason.to_owned() };
            if item.amount <= 0 {
                return Err(bad("amount must be greater than zero"));
            }
            if item.discount < 0 || item.tax < 0 {
                return Err(bad("discount and tax must not be negative"));
            }
            if item.discount > item.amount {
                return Err(bad("the line discount exceeds the line amount"));
            }
            let sums = sellers.entry(item.malet_id.clone()).or_default();
            sums.subtotal = add(sums.subtotal, item.amount)?;
            sums.discount = add(sums.discount, item.discount)?;
            sums.tax = add(sums.tax, item.tax)?;
        }
        let after_items: i64 =
            sellers.values().try_fold(0i64, |acc, s| add(acc, s.subtotal - s.discount)).map_err(CartError::from)?;
        if self.discount > after_items {
            return Err(CartError::DiscountExceedsSubtotal { discount: self.discount, subtotal: after_items });
        }
        // Weights: each seller's item subtotal for shipping and the fee; for the order discount,
        // the subtotal after the seller's own line discounts (the same when lines carry none), so
        // no seller's coupon share can exceed what it has left to discount.
        let weights: Vec<(MaletId, Decimal)> =
            sellers.iter().map(|(m, s)| (m.clone(), Decimal::from(s.subtotal))).collect();
        let rooms: Vec<(MaletId, Decimal)> =
            sellers.iter().map(|(m, s)| (m.clone(), Decimal::from(s.subtotal - s.discount))).collect();
        let shipping = allocate(self.shipping, &weights)?;
        let fee = allocate(fee_estimate, &weights)?;
        let discount = if self.discount == 0 {
            weights.iter().map(|(m, _)| (m.clone(), 0)).collect()
        } else {
            allocate(self.discount, &rooms)?
        };
        sellers
            .into_iter()
            .enumerate()
            .map(|(i, (malet, sums))| {
                let part_discount = add(sums.discount, discount[i].1)?;
                let gross = add(add(sums.subtotal - part_discount, sums.tax)?, shipping[i].1)?;
                let amounts = OrderAmounts::new(
                    self.currency,
                    gross,
                    Some(sums.subtotal),
                    part_discount,
                    sums.tax,
                    shipping[i].1,
                    false,
                )?;
                Ok(SellerPart { malet_id: malet, amounts, processing_fee_estimate: fee[i].1 })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(malet: &str, amount: i64) -> CartItem {
        CartItem { malet_id: MaletId::parse(malet).expect("id"), amount, discount: 0, tax: 0 }
    }

    /// The example: three items from two Malets, shipping 1.00 and a 10% coupon.
    #[test]
    fn three_items_two_sellers_shipping_and_coupon() {
        let cart = Cart {
            currency: Currency::USD,
            items: vec![item("malet-a", 2000), item("malet-b", 3000), item("malet-a", 1500)],
            shipping: 100,
            discount: 650,
        };
        assert_eq!(cart.gross().expect("gross"), 5950);
        let parts = cart.split(203).expect("split");
        let a = &parts[0];
        let b = &parts[1];
        // Weights 3500 : 3000 of 6500.
        assert_eq!((a.amounts.subtotal, a.amounts.discount, a.amounts.shipping), (3500, 350, 54));
        assert_eq!((b.amounts.subtotal, b.amounts.discount, b.amounts.shipping), (3000, 300, 46));
        assert_eq!(a.amounts.gross + b.amounts.gross, 5950);
        assert_eq!(a.processing_fee_estimate + b.processing_fee_estimate, 203);
        assert_eq!((a.processing_fee_estimate, b.processing_fee_estimate), (109, 94));
    }

    #[test]
    fn refuses_bad_carts() {
        let empty = Cart { currency: Currency::USD, items: vec![], shipping: 0, discount: 0 };
        assert_eq!(empty.split(0), Err(CartError::Empty));
        let big_coupon = Cart { currency: Currency::USD, items: vec![item("m", 100)], shipping: 0, discount: 101 };
        assert!(matches!(big_coupon.split(0), Err(CartError::DiscountExceedsSubtotal { .. })));
        let zero = Cart { currency: Currency::USD, items: vec![item("m", 0)], shipping: 0, discount: 0 };
        assert!(matches!(zero.split(0), Err(CartError::Item { index: 0, .. })));
    }
}
