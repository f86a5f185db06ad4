//! WooCommerce REST v3 order and refund objects → neutral storefront events. A webhook of
//! topic `order.created` / `order.updated` carries the order object itself; its `refunds[]`
//! carry only an id and a total, so a refund's lines are read from
//! `GET /orders/<id>/refunds` ([`super::client`]). Amounts are the store currency's decimal
//! strings, converted exactly; numbers that do not add up are refused (and the delivery held).
//!
//! WooCommerce keeps line amounts before tax whether or not its prices include tax: a line's
//! `subtotal` is before discounts, its `total` after; `discount_total`, `shipping_total` and
//! each fee's `total` are before tax, `total_tax` is all of the tax. The commissionable base is
//! the lines' `total` (items less discounts); shipping and fees (`fee_lines`, e.g. gift
//! wrapping) are charged but not commissioned, and a negative fee (a discount plugin's) is a
//! discount of the order. `meta_data` `affiliateId` names an affiliate
//! (buyer- and plugin-writable: honoured only for a registered affiliate). A refund takes back
//! its lines' `total` (negative in the refund) and returned `amount` (positive).

use domain::money::Currency;
use domain::storefront::{
    OrderLine, Platform, StorefrontEvent, StorefrontEventKind, StorefrontOrder, StorefrontOrderStatus, StorefrontRefund,
};
use serde::Deserialize;

use crate::events::MalformedEvent;

#[derive(Deserialize)]
struct Meta {
    key: String,
    #[serde(default)]
    value: serde_json::Value,
}

#[derive(Deserialize)]
struct LineItem {
    id: serde_json::Value,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    product_id: Option<serde_json::Value>,
    quantity: i64,
    subtotal: String,
    total: String,
    #[serde(default)]
    total_tax: Option<String>,
}

#[derive(Deserialize)]
struct Priced {
    total: String,
}

#[derive(Deserialize)]
struct RefundRef {
    id: serde_json::Value,
}

#[derive(Deserialize)]
struct Order {
    id: serde_json::Value,
    status: String,
    currency: String,
    #[serde(default)]
    shipping_total: Option<String>,
    total: String,
    #[serde(default)]
    total_tax: Option<String>,
    #[serde(default)]
    line_items: Vec<LineItem>,
    #[serde(default)]
    fee_lines: Vec<Priced>,
    #[serde(default)]
    refunds: Vec<RefundRef>,
    #[serde(default)]
    meta_data: Vec<Meta>,
    #[serde(default)]
    date_modified_gmt: Option<String>,
}

#[derive(Deserialize)]
struct Refund {
    id: serde_json::Value,
    amount: String,
    #[serde(default)]
    line_items: Vec<LineItem>,
}

crate::storefront_json::platform_readers!("WooCommerce");

fn add(a: i64, b: i64) -> Result<i64, MalformedEvent> {
    a.checked_add(b).ok_or_else(|| malformed("amounts overflow"))
}

fn line(currency: Currency, l: &LineItem) -> Result<OrderLine, MalformedEvent> {
    if l.quantity <= 0 {
        return Err(malformed("a line's quantity is not positive"));
    }
    let amount = minor(currency, &l.subtotal, "line_items[].subtotal")?;
    let total = minor(currency, &l.total, "line_items[].total")?;
    let tax = minor(currency, l.total_tax.as_deref().unwrap_or("0"), "line_items[].total_tax")?;
    if amount < 0 || total < 0 || total > amount || tax < 0 {
        return Err(malformed("a line's amounts are not within its subtotal"));
    }
    Ok(OrderLine {
        line_id: id_text(&l.id, "line_items[].id")?,
        product: match (&l.product_id, &l.name) {
            (Some(p), _) if !p.is_null() => id_text(p, "line_items[].product_id")?,
            (_, Some(n)) => n.clone(),
            _ => String::new(),
        },
        quantity: l.quantity,
        // The unit price before tax and discounts (rounded half-even when it does not divide).
        unit_price: domain::money::mul_div(amount, 1, l.quantity, domain::Rounding::HalfEven).map_err(malformed)?,
        amount,
        vendor: None,
        discount: amount - total,
        tax,
    })
}

/// What a webhook's order says, and which of its refunds exist (their lines come from the API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderDelivery {
    pub order: StorefrontOrder,
    /// The ids of the order's refunds (`refunds[].id`).
    pub refund_ids: Vec<String>,
    /// `date_modified_gmt`: the backfill's version of the order.
    pub modified: Option<String>,
}

fn order_from(o: Order) -> Result<OrderDelivery, MalformedEvent> {
    let currency = Currency::parse(&o.currency).map_err(|e| malformed(format!("currency: {e}")))?;
    let lines = o.line_items.iter().map(|l| line(currency, l)).collect::<Result<Vec<_>, _>>()?;
    let mut subtotal = 0i64;
    let mut discount = 0i64;
    for l in &lines {
        subtotal = add(subtotal, l.amount)?;
        discount = add(discount, l.discount)?;
    }
    let mut shipping = minor(currency, o.shipping_total.as_deref().unwrap_or("0"), "shipping_total")?;
    for f in &o.fee_lines {
        let fee = minor(currency, &f.total, "fee_lines[].total")?;
        if fee >= 0 {
            shipping = add(shipping, fee)?;
        } else {
            // A negative fee is how discount plugins take money off an order: a discount.
            discount = add(discount, fee.checked_neg().ok_or_else(|| malformed("amounts overflow"))?)?;
        }
    }
    let tax = minor(currency, o.total_tax.as_deref().unwrap_or("0"), "total_tax")?;
    let total = minor(currency, &o.total, "total")?;
    let status = match o.status.as_str() {
        "processing" | "completed" => StorefrontOrderStatus::Paid,
        "refunded" => StorefrontOrderStatus::Refunded,
        "cancelled" | "failed" | "trash" => StorefrontOrderStatus::Cancelled,
        _ => StorefrontOrderStatus::Pending,
    };
    let affiliate_id = o.meta_data.iter().find(|m| m.key == "affiliateId").and_then(|m| match &m.value {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    });
    Ok(OrderDelivery {
        refund_ids: o.refunds.iter().map(|r| id_text(&r.id, "refunds[].id")).collect::<Result<_, _>>()?,
        modified: o.date_modified_gmt.clone(),
        order: StorefrontOrder {
            order_id: id_text(&o.id, "id")?,
            currency,
            status,
            lines,
            subtotal,
            discount,
            tax,
            shipping,
            total,
            // Line amounts are before tax either way.
            prices_include_tax: false,
            version: o
                .date_modified_gmt
                .as_deref()
                .and_then(|t| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S").ok())
                .map(|t| t.and_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            affiliate_id,
            refunds: vec![],
        },
    })
}

/// An order object (a webhook's body, or one of the API's list).
pub fn order(body: &str) -> Result<OrderDelivery, MalformedEvent> {
    order_from(serde_json::from_str(body).map_err(|e| malformed(format!("not an order: {e}")))?)
}

/// `GET /orders` (a JSON array of order objects) → each order with its own JSON text.
pub fn orders(body: &str) -> Result<Vec<(String, OrderDelivery)>, MalformedEvent> {
    let items: Vec<Box<serde_json::value::RawValue>> =
        serde_json::from_str(body).map_err(|e| malformed(format!("not a list of orders: {e}")))?;
    items.into_iter().map(|raw| Ok((raw.get().to_owned(), order(raw.get())?))).collect()
}

/// `GET /orders/<id>/refunds` (a JSON array of refunds) of order `order_id` in `currency`.
pub fn refunds(order_id: &str, currency: Currency, body: &str) -> Result<Vec<StorefrontRefund>, MalformedEvent> {
    let items: Vec<Refund> =
        serde_json::from_str(body).map_err(|e| malformed(format!("not a list of refunds: {e}")))?;
    items
        .iter()
        .map(|r| {
            let mut base = 0i64;
            for l in &r.line_items {
                // Refund lines are negative: what they take back is their opposite.
                let total = minor(currency, &l.total, "refund line_items[].total")?;
                base = add(base, total.checked_neg().ok_or_else(|| malformed("amounts overflow"))?)?;
            }
            let amount = minor(currency, &r.amount, "refund amount")?;
            if base < 0 || amount < 0 {
                return Err(malformed("a refund with a negative amount"));
            }
            Ok(StorefrontRefund {
                refund_id: id_text(&r.id, "refund id")?,
                order_id: order_id.to_owned(),
                currency,
                base,
                // Refund lines are before tax, like the order's.
                tax: 0,
                amount,
            })
        })
        .collect()
}

/// A verified delivery of `topic` from `shop` → a neutral event; `refunds` are the order's
/// refunds as the API lists them (empty when it has none or they could not be read).
pub fn normalize(
    shop: &str,
    delivery_id: &str,
    topic: &str,
    body: &str,
    refunds: Vec<StorefrontRefund>,
) -> Result<StorefrontEvent, MalformedEvent> {
    if is_order_topic(topic) {
        return Ok(order_event(shop, delivery_id, topic, order(body)?, refunds));
    }
    let kind = crate::storefront_json::unhandled("WooCommerce", body)?;
    Ok(crate::storefront_json::event(Platform::Woocommerce, shop, delivery_id, topic, kind))
}

/// The topics whose body is an order.
pub fn is_order_topic(topic: &str) -> bool {
    matches!(topic, "order.created" | "order.updated")
}

/// The event of an order already read (a webhook's, or one the backfill listed), with its
/// refunds as the API lists them.
pub fn order_event(
    shop: &str,
    delivery_id: &str,
    topic: &str,
    d: OrderDelivery,
    refunds: Vec<StorefrontRefund>,
) -> StorefrontEvent {
    let mut o = d.order;
    o.refunds = refunds;
    crate::storefront_json::event(Platform::Woocommerce, shop, delivery_id, topic, StorefrontEventKind::Order(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!("{}/../../tests/fixtures/woocommerce/{name}.json", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
    }

    #[test]
    fn an_order_becomes_the_order_with_its_base_and_its_refunds_ids() {
        let d = order(&fixture("order")).expect("order");
        let o = &d.order;
        o.validate().expect("adds up");
        assert_eq!(o.order_id, "727");
        assert_eq!((o.subtotal, o.discount, o.tax, o.shipping, o.total), (10_000, 0, 800, 500, 11_300));
        assert_eq!(o.lines.len(), 2);
        assert_eq!(
            (o.lines[0].amount, o.lines[0].unit_price, o.lines[0].quantity, o.lines[0].tax),
            (6_000, 3_000, 2, 480)
        );
        assert_eq!(o.status, StorefrontOrderStatus::Paid);
        assert_eq!(o.affiliate_id, None);
        assert!(d.refund_ids.is_empty());
        // A coupon and a fee: the discount is the lines' subtotal less their total, the fee is
        // charged with the shipping.
        let mut v: serde_json::Value = serde_json::from_str(&fixture("order")).expect("json");
        v["line_items"][0]["total"] = serde_json::json!("50.00");
        v["discount_total"] = serde_json::json!("10.00");
        v["fee_lines"] = serde_json::json!([{"id": 9, "name": "Gift wrap", "total": "2.00", "total_tax": "0.00"}]);
        v["total"] = serde_json::json!("105.00");
        v["meta_data"] = serde_json::json!([{"id": 1, "key": "affiliateId", "value": "aff_1"}]);
        let o = order(&v.to_string()).expect("order").order;
        assert_eq!((o.subtotal, o.discount, o.shipping, o.total), (10_000, 1_000, 700, 10_500));
        assert_eq!(o.affiliate_id.as_deref(), Some("aff_1"));
        o.validate().expect("adds up");
        // A negative fee (a discount plugin's 5.00 off) is a discount, not less shipping.
        v["fee_lines"] = serde_json::json!([{"id": 10, "name": "Loyalty", "total": "-5.00", "total_tax": "0.00"}]);
        v["total"] = serde_json::json!("98.00");
        let o = order(&v.to_string()).expect("order").order;
        assert_eq!((o.subtotal, o.discount, o.shipping, o.total), (10_000, 1_500, 500, 9_800));
        o.validate().expect("adds up");
    }

    #[test]
    fn refunds_take_back_their_lines_and_return_their_amount() {
        let r = refunds("727", Currency::USD, &fixture("refunds")).expect("refunds");
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].refund_id.as_str(), r[0].order_id.as_str(), r[0].base, r[0].amount),
            ("730", "727", 4_000, 4_320)
        );
        // An amount-only refund takes back no line.
        let amount_only = r#"[{"id": 731, "amount": "5.00", "line_items": []}]"#;
        assert_eq!(refunds("727", Currency::USD, amount_only).expect("refund")[0].base, 0);
        assert!(refunds("727", Currency::USD, r#"[{"id": 1, "amount": "-1.00"}]"#).is_err());
        assert!(order("{\"id\": 1}").is_err());
        assert_eq!(
            normalize("https://shop.example", "d1", "product.updated", "{}", vec![]).expect("unhandled").kind,
            StorefrontEventKind::Unhandled
        );
    }
}
