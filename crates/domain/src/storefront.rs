//! Storefront orders (issue 14, R-HOOK-5): what a storefront (Shopify, WooCommerce, TikTok Shop)
//! told us about an order, in our terms. Each storefront module of the `providers` crate turns a
//! verified delivery into a [`StorefrontEvent`]; murchases keeps one order record per
//! (platform, shop, order id) and, when a payment for it arrives, takes the commissionable base
//! from the record (the storefront's own signed numbers), not from payment metadata.

use std::fmt;
use std::str::FromStr;

use crate::commission::{CommissionError, OrderAmounts};
use crate::money::{Currency, MoneyError};

/// Where an order was placed (payment metadata `platform`, R-IF).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Platform {
    Shopify,
    Woocommerce,
    Tiktok,
    Instagram,
    Mallnline,
}

impl Platform {
    pub const ALL: [Platform; 5] =
        [Platform::Shopify, Platform::Woocommerce, Platform::Tiktok, Platform::Instagram, Platform::Mallnline];

    /// The lower-case name used in payment metadata and webhook routes.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Shopify => "shopify",
            Platform::Woocommerce => "woocommerce",
            Platform::Tiktok => "tiktok",
            Platform::Instagram => "instagram",
            Platform::Mallnline => "mallnline",
        }
    }

    /// Whether the platform collects the buyer's money and pays the seller itself (TikTok
    /// Shop): no payment of ours carries its orders, and the platform's commission on them is
    /// owed by the seller (a receivable).
    pub fn seller_collected(self) -> bool {
        self == Platform::Tiktok
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown platform {0:?}")]
pub struct UnknownPlatform(pub String);

impl FromStr for Platform {
    type Err = UnknownPlatform;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Platform::ALL.into_iter().find(|p| p.as_str() == lower).ok_or(UnknownPlatform(s.to_owned()))
    }
}

/// Where a storefront order stands, as the storefront says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorefrontOrderStatus {
    /// Placed, not paid yet (WooCommerce `pending`, `on-hold`).
    Pending,
    /// Paid (Shopify `orders/paid`, WooCommerce `processing` / `completed`).
    Paid,
    PartiallyRefunded,
    Refunded,
    Cancelled,
}

/// One line of a storefront order, amounts in minor units of the order's currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    /// The storefront's id of the line (a refund names it).
    pub line_id: String,
    pub product: String,
    pub quantity: i64,
    pub unit_price: i64,
    /// The line before discounts, tax excluded (`unit_price × quantity` where prices exclude
    /// tax).
    pub amount: i64,
    /// The storefront's vendor of the item (Shopify `vendor`), kept as sent.
    pub vendor: Option<String>,
    /// Discounts allocated to this line.
    pub discount: i64,
    pub tax: i64,
}

/// A refund the storefront made on an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorefrontRefund {
    pub refund_id: String,
    pub order_id: String,
    pub currency: Currency,
    /// The refunded items' amounts less their discounts, as the storefront reports them: with
    /// their tax when the order's prices include tax (Shopify), before tax otherwise.
    pub base: i64,
    /// The refunded items' tax (taken off `base` for an order whose prices include tax).
    pub tax: i64,
    /// The money it returned to the buyer (items, their tax, shipping refunds).
    pub amount: i64,
}

/// A storefront order as the storefront describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorefrontOrder {
    pub order_id: String,
    pub currency: Currency,
    pub status: StorefrontOrderStatus,
    pub lines: Vec<OrderLine>,
    /// Items before discounts (tax excluded even where prices include it).
    pub subtotal: i64,
    pub discount: i64,
    pub tax: i64,
    pub shipping: i64,
    /// What the buyer pays: `subtotal − discount + tax + shipping`.
    pub total: i64,
    /// The storefront's prices include tax (the amounts above are before tax either way).
    pub prices_include_tax: bool,
    /// When the storefront last changed the order (UTC, `YYYY-MM-DDTHH:MM:SSZ`), if it says:
    /// an older version than the one recorded is not applied.
    pub version: Option<String>,
    /// The affiliate the storefront attributes the sale to (Shopify `note_attributes`
    /// `affiliateId`). Buyers can write these attributes: the order is credited to an affiliate
    /// only when it names one that is registered. Whose shop it is (the Malet) comes from the
    /// shop's registration and the payment's destination, never from the order.
    pub affiliate_id: Option<String>,
    /// Refunds the order itself lists (WooCommerce `refunds[]`); Shopify sends them apart.
    pub refunds: Vec<StorefrontRefund>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorefrontError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error(transparent)]
    Commission(#[from] CommissionError),
}

impl StorefrontOrder {
    /// Checks the order's own arithmetic: amounts in range, lines adding up to the subtotal, and
    /// the total equal to its parts. A storefront's numbers that do not add up are refused, never
    /// rounded into shape.
    pub fn validate(&self) -> Result<(), StorefrontError> {
        let bad = |m: String| Err(StorefrontError::Invalid(m));
        if self.order_id.is_empty() || self.order_id.len() > 200 {
            return bad("the order id is empty or too long".into());
        }
        for (v, what) in
            [(self.subtotal, "subtotal"), (self.discount, "discount"), (self.tax, "tax"), (self.shipping, "shipping")]
        {
            if v < 0 {
                return bad(format!("order {what} {v} is negative"));
            }
        }
        if self.discount > self.subtotal {
            return bad(format!("order discount {} exceeds its subtotal {}", self.discount, self.subtotal));
        }
        let mut lines = 0i64;
        for l in &self.lines {
            if l.quantity <= 0 || l.unit_price < 0 || l.amount < 0 || l.discount < 0 || l.tax < 0 {
                return bad(format!("line {} has a negative amount or no quantity", l.line_id));
            }
            if l.discount > l.amount {
                return bad(format!("line {} has a discount above its amount", l.line_id));
            }
            lines = lines.checked_add(l.amount).ok_or(MoneyError::Overflow)?;
        }
        if !self.lines.is_empty() && lines != self.subtotal {
            return bad(format!("the lines add up to {lines}, the order's subtotal is {}", self.subtotal));
        }
        let total = (self.subtotal - self.discount)
            .checked_add(self.tax)
            .and_then(|x| x.checked_add(self.shipping))
            .ok_or(MoneyError::Overflow)?;
        if total != self.total {
            return bad(format!(
                "subtotal {} − discount {} + tax {} + shipping {} is {total}, the order's total is {}",
                self.subtotal, self.discount, self.tax, self.shipping, self.total
            ));
        }
        for r in &self.refunds {
            if r.base < 0 || r.amount < 0 {
                return bad(format!("refund {} has a negative amount", r.refund_id));
            }
        }
        Ok(())
    }

    /// The commissionable amounts of the order (R-COMM-3): items less discounts are the base;
    /// tax and shipping are charged but not commissioned (unless a rule says so).
    pub fn amounts(&self, has_affiliate: bool) -> Result<OrderAmounts, StorefrontError> {
        Ok(OrderAmounts::new(
            self.currency,
            self.total,
            Some(self.subtotal),
            self.discount,
            self.tax,
            self.shipping,
            has_affiliate,
        )?)
    }
}

/// What a storefront delivery means for us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorefrontEventKind {
    /// The order as it stands now (created, paid or updated).
    Order(StorefrontOrder),
    /// A refund of an order (Shopify `refunds/create`).
    Refund(StorefrontRefund),
    /// A topic we do not act on (recorded, acknowledged).
    Unhandled,
}

/// One verified storefront delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorefrontEvent {
    pub platform: Platform,
    /// The shop it came from (Shopify shop domain, WooCommerce site, TikTok shop id).
    pub shop: String,
    /// The storefront's delivery id: a delivery is applied once by it.
    pub delivery_id: String,
    pub topic: String,
    pub kind: StorefrontEventKind,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> StorefrontOrder {
        StorefrontOrder {
            order_id: "1001".into(),
            currency: Currency::parse("usd").expect("usd"),
            status: StorefrontOrderStatus::Paid,
            lines: vec![
                OrderLine {
                    line_id: "a".into(),
                    product: "p".into(),
                    quantity: 2,
                    unit_price: 3000,
                    amount: 6000,
                    vendor: None,
                    discount: 0,
                    tax: 480,
                },
                OrderLine {
                    line_id: "b".into(),
                    product: "q".into(),
                    quantity: 1,
                    unit_price: 4000,
                    amount: 4000,
                    vendor: None,
                    discount: 0,
                    tax: 320,
                },
            ],
            subtotal: 10_000,
            discount: 0,
            tax: 800,
            shipping: 500,
            total: 11_300,
            prices_include_tax: false,
            version: None,
            affiliate_id: None,
            refunds: vec![],
        }
    }

    #[test]
    fn an_order_that_adds_up_is_valid_and_its_base_excludes_tax_and_shipping() {
        let o = order();
        o.validate().expect("valid");
        let a = o.amounts(false).expect("amounts");
        assert_eq!((a.subtotal - a.discount, a.gross), (10_000, 11_300));
        assert_eq!("Shopify".parse::<Platform>(), Ok(Platform::Shopify));
        assert!("ebay".parse::<Platform>().is_err());
    }

    #[test]
    fn numbers_that_do_not_add_up_are_refused() {
        let mut o = order();
        o.total += 1;
        assert!(o.validate().is_err());
        let mut o = order();
        o.lines[0].amount = 9000;
        assert!(o.validate().is_err());
        let mut o = order();
        o.discount = 20_000;
        assert!(o.validate().is_err());
    }
}
