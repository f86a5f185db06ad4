//! Shopify order and refund payloads → neutral storefront events. Amounts are the shop
//! currency's decimal strings, converted exactly; numbers that do not add up are refused.
//!
//! `orders/paid` (an order object): the commissionable base is `current_subtotal_price` (items
//! after discounts; less the lines' `tax_lines` when the shop's prices include tax), tax is
//! `current_total_tax`, shipping `total_shipping_price_set.shop_money` (less the tax that is not
//! the lines' when prices include tax), discounts the difference between the lines and the base
//! (`current_total_discounts` when there are no lines).
//! `note_attributes` `affiliateId` names an affiliate (buyer-writable: honoured only for a
//! registered affiliate; a `maletId` attribute is ignored, the shop's registration says whose
//! shop it is). `refunds/create` (a refund object):
//! the base it takes back is the sum of `refund_line_items[].subtotal` (the line's price times
//! the refunded quantity less its discounts when `subtotal` is absent), less their `total_tax`
//! when the order's prices include tax; the money is the sum of successful
//! `transactions[kind=refund]`.

use domain::money::Currency;
use domain::storefront::{
    OrderLine, Platform, StorefrontEvent, StorefrontEventKind, StorefrontOrder, StorefrontOrderStatus, StorefrontRefund,
};
use serde::Deserialize;

use crate::events::MalformedEvent;

#[derive(Deserialize)]
struct Money {
    amount: String,
    #[serde(default)]
    currency_code: Option<String>,
}

#[derive(Deserialize)]
struct MoneySet {
    shop_money: Money,
}

#[derive(Deserialize)]
struct Priced {
    #[serde(default)]
    price: Option<String>,
    #[serde(default)]
    amount: Option<String>,
}

#[derive(Deserialize)]
struct NoteAttribute {
    name: String,
    #[serde(default)]
    value: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct LineItem {
    id: serde_json::Value,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    product_id: Option<serde_json::Value>,
    quantity: i64,
    price: String,
    #[serde(default)]
    vendor: Option<String>,
    #[serde(default)]
    total_discount: Option<String>,
    #[serde(default)]
    discount_allocations: Vec<Priced>,
    #[serde(default)]
    tax_lines: Vec<Priced>,
}

#[derive(Deserialize)]
struct Order {
    id: serde_json::Value,
    currency: String,
    #[serde(default)]
    financial_status: Option<String>,
    #[serde(default)]
    cancelled_at: Option<String>,
    #[serde(default)]
    taxes_included: bool,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    subtotal_price: Option<String>,
    #[serde(default)]
    current_subtotal_price: Option<String>,
    #[serde(default)]
    total_tax: Option<String>,
    #[serde(default)]
    current_total_tax: Option<String>,
    #[serde(default)]
    total_discounts: Option<String>,
    #[serde(default)]
    current_total_discounts: Option<String>,
    #[serde(default)]
    total_price: Option<String>,
    #[serde(default)]
    current_total_price: Option<String>,
    #[serde(default)]
    total_shipping_price_set: Option<MoneySet>,
    #[serde(default)]
    shipping_lines: Vec<Priced>,
    #[serde(default)]
    line_items: Vec<LineItem>,
    #[serde(default)]
    note_attributes: Vec<NoteAttribute>,
}

#[derive(Deserialize)]
struct RefundLineItem {
    quantity: i64,
    /// A JSON number in REST payloads: read from its literal text, never through a float.
    #[serde(default)]
    subtotal: Option<Box<serde_json::value::RawValue>>,
    #[serde(default)]
    subtotal_set: Option<MoneySet>,
    #[serde(default)]
    total_tax: Option<Box<serde_json::value::RawValue>>,
    #[serde(default)]
    total_tax_set: Option<MoneySet>,
    line_item: Option<LineItem>,
}

#[derive(Deserialize)]
struct Transaction {
    amount: String,
    kind: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    currency: Option<String>,
}

#[derive(Deserialize)]
struct Refund {
    id: serde_json::Value,
    order_id: serde_json::Value,
    #[serde(default)]
    refund_line_items: Vec<RefundLineItem>,
    #[serde(default)]
    transactions: Vec<Transaction>,
}

crate::storefront_json::platform_readers!("Shopify");

fn sum(currency: Currency, items: &[Priced], what: &str) -> Result<i64, MalformedEvent> {
    items.iter().try_fold(0i64, |acc, p| {
        let text = p.price.as_deref().or(p.amount.as_deref()).unwrap_or("0");
        acc.checked_add(minor(currency, text, what)?).ok_or_else(|| malformed("amounts overflow"))
    })
}

fn either<'a>(
    current: &'a Option<String>,
    original: &'a Option<String>,
    what: &str,
) -> Result<&'a str, MalformedEvent> {
    current.as_deref().or(original.as_deref()).ok_or_else(|| malformed(format!("order has no {what}")))
}

fn line(currency: Currency, l: &LineItem, taxes_included: bool) -> Result<OrderLine, MalformedEvent> {
    let unit_price = minor(currency, &l.price, "line_items[].price")?;
    let tax = sum(currency, &l.tax_lines, "line_items[].tax_lines")?;
    let discount = if l.discount_allocations.is_empty() {
        minor(currency, l.total_discount.as_deref().unwrap_or("0"), "line_items[].total_discount")?
    } else {
        sum(currency, &l.discount_allocations, "line_items[].discount_allocations")?
    };
    let gross_line = unit_price.checked_mul(l.quantity).ok_or_else(|| malformed("line amount overflows"))?;
    let amount = if taxes_included { gross_line - tax } else { gross_line };
    Ok(OrderLine {
        line_id: id_text(&l.id, "line_items[].id")?,
        product: match (&l.product_id, &l.title) {
            (Some(p), _) if !p.is_null() => id_text(p, "line_items[].product_id")?,
            (_, Some(t)) => t.clone(),
            _ => String::new(),
        },
        quantity: l.quantity,
        unit_price,
        amount,
        vendor: l.vendor.clone().filter(|v| !v.is_empty()),
        discount,
        tax,
    })
}

fn attribute(order: &Order, name: &str) -> Option<String> {
    order.note_attributes.iter().find(|a| a.name == name).and_then(|a| match &a.value {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    })
}

/// An `orders/*` payload → the order as it stands.
pub fn order(body: &str) -> Result<StorefrontOrder, MalformedEvent> {
    let o: Order = serde_json::from_str(body).map_err(|e| malformed(format!("not an order: {e}")))?;
    let currency = Currency::parse(&o.currency).map_err(|e| malformed(format!("currency: {e}")))?;
    let tax = minor(currency, either(&o.current_total_tax, &o.total_tax, "total tax")?, "current_total_tax")?;
    let subtotal_price =
        minor(currency, either(&o.current_subtotal_price, &o.subtotal_price, "subtotal")?, "current_subtotal_price")?;
    let shipping_price = match &o.total_shipping_price_set {
        Some(set) => {
            if let Some(code) = &set.shop_money.currency_code
                && !code.eq_ignore_ascii_case(currency.code())
            {
                return Err(malformed("shipping is in another currency than the order"));
            }
            minor(currency, &set.shop_money.amount, "total_shipping_price_set")?
        }
        None => sum(currency, &o.shipping_lines, "shipping_lines[].price")?,
    };
    let lines = o.line_items.iter().map(|l| line(currency, l, o.taxes_included)).collect::<Result<Vec<_>, _>>()?;
    let overflow = || malformed("amounts overflow");
    // Prices that include tax: the items' own tax comes off the base, and the rest of the
    // order's tax (the shipping's) off the shipping, so each stays what it is before tax.
    let (base, shipping) = if o.taxes_included {
        let items_tax = if lines.is_empty() {
            tax
        } else {
            lines.iter().try_fold(0i64, |acc, l| acc.checked_add(l.tax)).ok_or_else(overflow)?
        };
        let other_tax = tax.checked_sub(items_tax).ok_or_else(overflow)?;
        (
            subtotal_price.checked_sub(items_tax).ok_or_else(overflow)?,
            shipping_price.checked_sub(other_tax).ok_or_else(overflow)?,
        )
    } else {
        (subtotal_price, shipping_price)
    };
    let subtotal = if lines.is_empty() {
        let discounts = either(&o.current_total_discounts, &o.total_discounts, "total discounts")
            .and_then(|d| minor(currency, d, "discounts"))?;
        base.checked_add(discounts).ok_or_else(overflow)?
    } else {
        lines.iter().try_fold(0i64, |acc, l| acc.checked_add(l.amount)).ok_or_else(overflow)?
    };
    let total = minor(currency, either(&o.current_total_price, &o.total_price, "total price")?, "current_total_price")?;
    let status = match (o.cancelled_at.as_deref(), o.financial_status.as_deref()) {
        (Some(_), _) => StorefrontOrderStatus::Cancelled,
        (_, Some("paid")) => StorefrontOrderStatus::Paid,
        (_, Some("partially_refunded")) => StorefrontOrderStatus::PartiallyRefunded,
        (_, Some("refunded")) => StorefrontOrderStatus::Refunded,
        (_, Some("voided")) => StorefrontOrderStatus::Cancelled,
        _ => StorefrontOrderStatus::Pending,
    };
    Ok(StorefrontOrder {
        order_id: id_text(&o.id, "id")?,
        currency,
        status,
        discount: subtotal.checked_sub(base).ok_or_else(overflow)?,
        subtotal,
        tax,
        shipping,
        total,
        prices_include_tax: o.taxes_included,
        version: o
            .updated_at
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc).format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        affiliate_id: attribute(&o, "affiliateId"),
        lines,
        refunds: vec![],
    })
}

/// A `refunds/create` payload → the refund.
pub fn refund(body: &str) -> Result<StorefrontRefund, MalformedEvent> {
    let r: Refund = serde_json::from_str(body).map_err(|e| malformed(format!("not a refund: {e}")))?;
    let code = r
        .transactions
        .iter()
        .find_map(|t| t.currency.clone())
        .or_else(|| r.refund_line_items.iter().find_map(|l| l.subtotal_set.as_ref()?.shop_money.currency_code.clone()))
        .ok_or_else(|| malformed("the refund names no currency"))?;
    let currency = Currency::parse(&code).map_err(|e| malformed(format!("currency: {e}")))?;
    let (mut base, mut tax) = (0i64, 0i64);
    for rl in &r.refund_line_items {
        let literal = rl.subtotal.as_ref().map(|raw| raw.get().trim().trim_matches('"')).filter(|t| *t != "null");
        let part = match (&rl.subtotal_set, literal) {
            (Some(set), _) => minor(currency, &set.shop_money.amount, "refund_line_items[].subtotal_set")?,
            (None, Some(text)) => minor(currency, text, "refund_line_items[].subtotal")?,
            (None, None) => {
                let item = rl.line_item.as_ref().ok_or_else(|| malformed("a refund line names no line item"))?;
                let l = line(currency, item, false)?;
                if rl.quantity <= 0 || rl.quantity > l.quantity {
                    return Err(malformed("a refund line's quantity is not within its line's"));
                }
                domain::money::mul_div(l.amount - l.discount, rl.quantity, l.quantity, domain::Rounding::HalfEven)
                    .map_err(malformed)?
            }
        };
        base = base.checked_add(part).ok_or_else(|| malformed("amounts overflow"))?;
        let tax_literal = rl.total_tax.as_ref().map(|raw| raw.get().trim().trim_matches('"')).filter(|t| *t != "null");
        let line_tax = match (&rl.total_tax_set, tax_literal) {
            (Some(set), _) => minor(currency, &set.shop_money.amount, "refund_line_items[].total_tax_set")?,
            (None, Some(text)) => minor(currency, text, "refund_line_items[].total_tax")?,
            (None, None) => 0,
        };
        tax = tax.checked_add(line_tax).ok_or_else(|| malformed("amounts overflow"))?;
    }
    let mut amount = 0i64;
    for t in
        r.transactions.iter().filter(|t| t.kind == "refund" && t.status.as_deref().unwrap_or("success") == "success")
    {
        amount = amount
            .checked_add(minor(currency, &t.amount, "transactions[].amount")?)
            .ok_or_else(|| malformed("amounts overflow"))?;
    }
    if base < 0 || amount < 0 || tax < 0 {
        return Err(malformed("a refund with a negative amount"));
    }
    Ok(StorefrontRefund {
        refund_id: id_text(&r.id, "id")?,
        order_id: id_text(&r.order_id, "order_id")?,
        currency,
        base,
        tax,
        amount,
    })
}

/// A verified delivery of `topic` from `shop` → a neutral event.
pub fn normalize(shop: &str, delivery_id: &str, topic: &str, body: &str) -> Result<StorefrontEvent, MalformedEvent> {
    let kind = match topic {
        "orders/paid" => StorefrontEventKind::Order(order(body)?),
        "refunds/create" => StorefrontEventKind::Refund(refund(body)?),
        _ => crate::storefront_json::unhandled("Shopify", body)?,
    };
    Ok(crate::storefront_json::event(Platform::Shopify, shop, delivery_id, topic, kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!("{}/../../tests/fixtures/shopify/{name}.json", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
    }

    #[test]
    fn an_orders_paid_delivery_becomes_the_order_with_its_base() {
        let o = order(&fixture("orders_paid")).expect("order");
        o.validate().expect("adds up");
        assert_eq!(o.order_id, "450789469");
        assert_eq!((o.subtotal, o.discount, o.tax, o.shipping, o.total), (10_000, 0, 800, 500, 11_300));
        assert_eq!(o.lines.len(), 2);
        assert_eq!((o.lines[0].amount, o.lines[0].tax, o.lines[0].quantity), (6_000, 480, 2));
        assert_eq!(o.status, StorefrontOrderStatus::Paid);
    }

    #[test]
    fn discounts_and_tax_inclusive_prices_keep_the_base_to_items_less_discounts() {
        let mut v: serde_json::Value = serde_json::from_str(&fixture("orders_paid")).expect("json");
        v["current_subtotal_price"] = serde_json::json!("90.00");
        v["current_total_discounts"] = serde_json::json!("10.00");
        v["current_total_price"] = serde_json::json!("103.00");
        let o = order(&v.to_string()).expect("order");
        assert_eq!((o.subtotal, o.discount, o.total), (10_000, 1_000, 10_300));
        o.validate().expect("adds up");
        // Prices including tax: the base excludes it.
        let mut v: serde_json::Value = serde_json::from_str(&fixture("orders_paid")).expect("json");
        v["taxes_included"] = serde_json::json!(true);
        v["current_subtotal_price"] = serde_json::json!("108.00");
        v["line_items"][0]["price"] = serde_json::json!("32.40");
        v["line_items"][1]["price"] = serde_json::json!("43.20");
        let o = order(&v.to_string()).expect("order");
        assert_eq!((o.subtotal, o.discount, o.tax, o.total), (10_000, 0, 800, 11_300));
        o.validate().expect("adds up");
        // ... and when the shipping is taxed too, only the items' tax comes off the base; the
        // shipping's tax comes off the shipping (5.00 including 0.50 of tax).
        v["current_total_tax"] = serde_json::json!("8.50");
        v["current_total_price"] = serde_json::json!("113.00");
        let o = order(&v.to_string()).expect("order");
        assert_eq!((o.subtotal, o.discount, o.tax, o.shipping, o.total), (10_000, 0, 850, 450, 11_300));
        o.validate().expect("adds up");
    }

    #[test]
    fn a_refund_delivery_names_the_refunded_base_and_money_exactly() {
        let r = refund(&fixture("refunds_create")).expect("refund");
        assert_eq!(
            (r.refund_id.as_str(), r.order_id.as_str(), r.base, r.amount),
            ("509562969", "450789469", 4_000, 4_320)
        );
        assert_eq!(r.tax, 320, "the refunded line's tax, kept apart");
        // Without `subtotal_set`, the number's literal text is read (no float).
        let mut v: serde_json::Value = serde_json::from_str(&fixture("refunds_create")).expect("json");
        v["refund_line_items"][0].as_object_mut().expect("line").remove("subtotal_set");
        assert_eq!(refund(&v.to_string()).expect("refund").base, 4_000);
        // Without either, the line's price times the refunded quantity.
        v["refund_line_items"][0].as_object_mut().expect("line").remove("subtotal");
        assert_eq!(refund(&v.to_string()).expect("refund").base, 4_000);
        // A failed refund transaction returned nothing.
        v["transactions"][0]["status"] = serde_json::json!("failure");
        assert_eq!(refund(&v.to_string()).expect("refund").amount, 0);
        assert!(refund("{\"id\": 1}").is_err());
        assert!(normalize("s.myshopify.com", "d1", "orders/paid", "not json").is_err());
        assert_eq!(
            normalize("s.myshopify.com", "d1", "orders/create", "{}").expect("unhandled").kind,
            StorefrontEventKind::Unhandled
        );
    }
}
