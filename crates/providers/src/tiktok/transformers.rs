//! TikTok Shop notifications and Get Order Detail (`GET /order/202309/orders`) → neutral storefront
//! types.
//!
//! A notification (`{type, tts_notification_id, shop_id, timestamp, data}`) names an order and
//! its new status (type 1, ORDER_STATUS_CHANGE), a cancellation (11) or a return (12) of it;
//! it carries no amounts, so the order's detail is read from the Partner API and mapped here.
//! Ids are strings of digits (some payloads send numbers: both are read).
//!
//! Amounts are the order currency's decimal strings, converted exactly. TikTok returns one line
//! item per unit (its 202309 line item has no quantity; one is read when present):
//! - a line is `original_price` before discounts, its discount `seller_discount +
//!   platform_discount`, its tax the sum of `item_tax[].tax_amount`;
//! - the order's subtotal is `payment.original_total_product_price`, its discount
//!   `payment.seller_discount + payment.platform_discount` (so the commissionable base is what
//!   the buyer paid for the items, `payment.sub_total`), its tax `payment.tax`, and what it
//!   charges besides (`shipping_fee` and the market fees: retail delivery, small order, buyer
//!   service, handling, insurance) is "shipping": charged, not commissioned;
//! - the total is `payment.total_amount`, and all of it must add up, or the order is refused
//!   (held for an admin), never rounded into shape.
//!
//! Search Returns (`POST /return_refund/202309/returns/search`) lists an order's returns and
//! refunds (`data.return_orders[]`), Search Cancellations (`…/cancellations/search`) its
//! cancellations (`data.cancellations[]`, the same shape under `cancel_*` names). A return whose
//! money went back to the buyer (`return_status` `RETURN_OR_REFUND_REQUEST_COMPLETE`; a
//! `REPLACEMENT` returns no money), or a completed cancellation (`CANCELLATION_REQUEST_COMPLETE`),
//! is a refund of the order: `refund_amount.refund_subtotal` is the items' share (what the buyer
//! paid for them, after discounts: the commissionable base refunded), `refund_tax` their tax,
//! `refund_total` all the money returned (with shipping and fees).
//!
//! Prices are before tax (US shops). Statuses: `UNPAID` and `ON_HOLD` (the buyer's remorse
//! window) are not paid yet; `AWAITING_SHIPMENT` … `COMPLETED` are paid; `CANCELLED` (the
//! notifications' `CANCEL`) is cancelled.

use domain::money::Currency;
use domain::storefront::{OrderLine, StorefrontOrder, StorefrontOrderStatus, StorefrontRefund};
use serde::Deserialize;

use crate::events::MalformedEvent;

crate::storefront_json::platform_readers!("TikTok Shop");

fn add(a: i64, b: i64) -> Result<i64, MalformedEvent> {
    a.checked_add(b).ok_or_else(|| malformed("amounts overflow"))
}

/// What a notification is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationKind {
    /// Type 1: the order's status changed (`data.order_status`).
    OrderStatusChange,
    /// Type 11: a cancellation's status changed (`data.cancel_status`).
    CancellationStatusChange,
    /// Type 12: a return or refund's status changed (`data.return_status`).
    ReturnStatusChange,
    /// Any other type (products, packages, messages…): acknowledged, recorded, not acted on.
    Other(i64),
}

impl NotificationKind {
    /// The topic a delivery is recorded under.
    pub fn topic(&self) -> String {
        match self {
            NotificationKind::OrderStatusChange => "ORDER_STATUS_CHANGE".into(),
            NotificationKind::CancellationStatusChange => "CANCELLATION_STATUS_CHANGE".into(),
            NotificationKind::ReturnStatusChange => "RETURN_STATUS_CHANGE".into(),
            NotificationKind::Other(n) => format!("TYPE_{n}"),
        }
    }

    /// Whether the notification changes an order we keep (its detail is read again).
    pub fn concerns_order(&self) -> bool {
        !matches!(self, NotificationKind::Other(_))
    }
}

/// A verified notification, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub kind: NotificationKind,
    /// `tts_notification_id` (absent in some older examples).
    pub notification_id: Option<String>,
    /// The shop (TikTok's `shop_id`, not its `shop_cipher`).
    pub shop_id: String,
    pub timestamp: i64,
    /// The order it concerns (types 1, 11 and 12).
    pub order_id: Option<String>,
    /// `order_status`, `cancel_status` or `return_status`.
    pub status: Option<String>,
}

impl Notification {
    /// The key a delivery is deduplicated by: TikTok's notification id, or (when a notification
    /// has none) a digest of the signed body, so only the same notification sent again matches.
    pub fn delivery_key(&self, body: &[u8]) -> String {
        match &self.notification_id {
            Some(id) => format!("tts:{id}"),
            None => {
                use sha2::Digest as _;
                format!("tts:body:{}", &hex::encode(sha2::Sha256::digest(body))[..32])
            }
        }
    }
}

#[derive(Deserialize)]
struct RawNotification {
    #[serde(rename = "type")]
    kind: i64,
    #[serde(default)]
    tts_notification_id: Option<serde_json::Value>,
    shop_id: serde_json::Value,
    #[serde(default)]
    timestamp: i64,
    #[serde(default)]
    data: serde_json::Map<String, serde_json::Value>,
}

/// A notification's body.
pub fn notification(body: &str) -> Result<Notification, MalformedEvent> {
    let raw: RawNotification = serde_json::from_str(body).map_err(|e| malformed(format!("not a notification: {e}")))?;
    let kind = match raw.kind {
        1 => NotificationKind::OrderStatusChange,
        11 => NotificationKind::CancellationStatusChange,
        12 => NotificationKind::ReturnStatusChange,
        n => NotificationKind::Other(n),
    };
    let text = |key: &str| raw.data.get(key).and_then(serde_json::Value::as_str).map(str::to_owned);
    let order_id = match raw.data.get("order_id") {
        Some(v) => Some(id_text(v, "data.order_id")?),
        None => None,
    };
    if kind.concerns_order() && order_id.is_none() {
        return Err(malformed(format!("a {} notification names no order", kind.topic())));
    }
    let status = match kind {
        NotificationKind::OrderStatusChange => text("order_status"),
        NotificationKind::CancellationStatusChange => text("cancel_status"),
        NotificationKind::ReturnStatusChange => text("return_status"),
        NotificationKind::Other(_) => None,
    };
    Ok(Notification {
        kind,
        notification_id: raw.tts_notification_id.as_ref().map(|v| id_text(v, "tts_notification_id")).transpose()?,
        shop_id: id_text(&raw.shop_id, "shop_id")?,
        timestamp: raw.timestamp,
        order_id,
        status,
    })
}

#[derive(Deserialize)]
struct ItemTax {
    #[serde(default)]
    tax_amount: Option<String>,
}

#[derive(Deserialize)]
struct LineItem {
    id: serde_json::Value,
    #[serde(default)]
    product_id: Option<serde_json::Value>,
    #[serde(default)]
    product_name: Option<String>,
    #[serde(default)]
    sku_id: Option<serde_json::Value>,
    #[serde(default)]
    currency: Option<String>,
    original_price: String,
    #[serde(default)]
    seller_discount: Option<String>,
    #[serde(default)]
    platform_discount: Option<String>,
    #[serde(default)]
    item_tax: Vec<ItemTax>,
    /// Not in the 202309 model (one line per unit); read when a payload has it.
    #[serde(default)]
    quantity: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Payment {
    currency: String,
    #[serde(default)]
    original_total_product_price: Option<String>,
    #[serde(default)]
    seller_discount: Option<String>,
    #[serde(default)]
    platform_discount: Option<String>,
    #[serde(default)]
    shipping_fee: Option<String>,
    #[serde(default)]
    tax: Option<String>,
    #[serde(default)]
    retail_delivery_fee: Option<String>,
    #[serde(default)]
    small_order_fee: Option<String>,
    #[serde(default)]
    buyer_service_fee: Option<String>,
    #[serde(default)]
    handling_fee: Option<String>,
    #[serde(default)]
    shipping_insurance_fee: Option<String>,
    #[serde(default)]
    item_insurance_fee: Option<String>,
    total_amount: String,
}

#[derive(Deserialize)]
struct Order {
    id: serde_json::Value,
    status: String,
    #[serde(default)]
    update_time: Option<i64>,
    payment: Payment,
    #[serde(default)]
    line_items: Vec<LineItem>,
}

#[derive(Deserialize)]
struct Orders {
    #[serde(default)]
    orders: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Envelope {
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    data: Option<Orders>,
}

/// The status of an order as the API (or a notification) spells it.
pub fn order_status(status: &str) -> Option<StorefrontOrderStatus> {
    Some(match status {
        "UNPAID" | "ON_HOLD" => StorefrontOrderStatus::Pending,
        "AWAITING_SHIPMENT"
        | "PARTIALLY_SHIPPING"
        | "AWAITING_COLLECTION"
        | "IN_TRANSIT"
        | "DELIVERED"
        | "COMPLETED" => StorefrontOrderStatus::Paid,
        "CANCELLED" | "CANCEL" => StorefrontOrderStatus::Cancelled,
        _ => return None,
    })
}

fn amount(currency: Currency, v: Option<&str>, what: &str) -> Result<i64, MalformedEvent> {
    let v = minor(currency, v.unwrap_or("0"), what)?;
    if v < 0 {
        return Err(malformed(format!("{what} is negative")));
    }
    Ok(v)
}

fn line(currency: Currency, l: &LineItem) -> Result<OrderLine, MalformedEvent> {
    if let Some(c) = &l.currency
        && c != currency.code()
    {
        return Err(malformed(format!("a line is in {c}, the order in {}", currency.code())));
    }
    let quantity = match &l.quantity {
        None | Some(serde_json::Value::Null) => 1,
        Some(v) => id_text(v, "line_items[].quantity")?
            .parse::<i64>()
            .ok()
            .filter(|q| *q > 0)
            .ok_or_else(|| malformed("a line's quantity is not a positive integer"))?,
    };
    let unit_price = amount(currency, Some(&l.original_price), "line_items[].original_price")?;
    let mut tax = 0;
    for t in &l.item_tax {
        tax = add(tax, amount(currency, t.tax_amount.as_deref(), "line_items[].item_tax[].tax_amount")?)?;
    }
    Ok(OrderLine {
        line_id: id_text(&l.id, "line_items[].id")?,
        product: match (&l.product_id, &l.sku_id, &l.product_name) {
            (Some(p), _, _) if !p.is_null() => id_text(p, "line_items[].product_id")?,
            (_, Some(s), _) if !s.is_null() => id_text(s, "line_items[].sku_id")?,
            (_, _, Some(n)) => n.clone(),
            _ => String::new(),
        },
        quantity,
        unit_price,
        amount: unit_price.checked_mul(quantity).ok_or_else(|| malformed("amounts overflow"))?,
        vendor: None,
        discount: add(
            amount(currency, l.seller_discount.as_deref(), "line_items[].seller_discount")?,
            amount(currency, l.platform_discount.as_deref(), "line_items[].platform_discount")?,
        )?,
        tax,
    })
}

fn order_from(o: Order) -> Result<StorefrontOrder, MalformedEvent> {
    let p = &o.payment;
    let currency = Currency::parse(&p.currency).map_err(|e| malformed(format!("payment.currency: {e}")))?;
    let lines = o.line_items.iter().map(|l| line(currency, l)).collect::<Result<Vec<_>, _>>()?;
    let subtotal = match &p.original_total_product_price {
        Some(v) => amount(currency, Some(v), "payment.original_total_product_price")?,
        None => lines.iter().try_fold(0, |s, l| add(s, l.amount))?,
    };
    let discount = add(
        amount(currency, p.seller_discount.as_deref(), "payment.seller_discount")?,
        amount(currency, p.platform_discount.as_deref(), "payment.platform_discount")?,
    )?;
    let mut shipping = 0;
    for (v, what) in [
        (&p.shipping_fee, "payment.shipping_fee"),
        (&p.retail_delivery_fee, "payment.retail_delivery_fee"),
        (&p.small_order_fee, "payment.small_order_fee"),
        (&p.buyer_service_fee, "payment.buyer_service_fee"),
        (&p.handling_fee, "payment.handling_fee"),
        (&p.shipping_insurance_fee, "payment.shipping_insurance_fee"),
        (&p.item_insurance_fee, "payment.item_insurance_fee"),
    ] {
        shipping = add(shipping, amount(currency, v.as_deref(), what)?)?;
    }
    let status = order_status(&o.status).ok_or_else(|| malformed(format!("unknown order status {:?}", o.status)))?;
    Ok(StorefrontOrder {
        order_id: id_text(&o.id, "id")?,
        currency,
        status,
        lines,
        subtotal,
        discount,
        tax: amount(currency, p.tax.as_deref(), "payment.tax")?,
        shipping,
        total: amount(currency, Some(&p.total_amount), "payment.total_amount")?,
        prices_include_tax: false,
        version: o
            .update_time
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        // TikTok attributes creators' sales in its own affiliate program, which pays them itself.
        affiliate_id: None,
        refunds: vec![],
    })
}

/// Why an answer of the Partner API is not an order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DetailError {
    /// The API refused (`code` ≠ 0): the code and message it gave.
    #[error("TikTok Shop answered code {code}: {message}")]
    Refused { code: i64, message: String },
    /// The order is not in the answer (another shop's, or unknown).
    #[error("TikTok Shop returned no order {0}")]
    NotFound(String),
    #[error(transparent)]
    Malformed(#[from] MalformedEvent),
}

/// The order `order_id` of a Get Order Detail answer.
pub fn order_detail(body: &str, order_id: &str) -> Result<StorefrontOrder, DetailError> {
    let envelope: Envelope =
        serde_json::from_str(body).map_err(|e| malformed(format!("not an order detail answer: {e}")))?;
    if envelope.code != 0 {
        return Err(DetailError::Refused { code: envelope.code, message: envelope.message });
    }
    for raw in envelope.data.map(|d| d.orders).unwrap_or_default() {
        if raw.get("id").is_some_and(|id| id_text(id, "id").is_ok_and(|id| id == order_id)) {
            let order: Order = serde_json::from_value(raw).map_err(|e| malformed(format!("not an order: {e}")))?;
            // Its arithmetic is checked where it is applied (`StorefrontOrder::validate`).
            return Ok(order_from(order)?);
        }
    }
    Err(DetailError::NotFound(order_id.to_owned()))
}

#[derive(Deserialize)]
struct RefundAmount {
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    refund_total: Option<String>,
    #[serde(default)]
    refund_subtotal: Option<String>,
    #[serde(default)]
    refund_tax: Option<String>,
}

/// A return (Search Returns) or a cancellation (Search Cancellations): the same shape under
/// other names.
#[derive(Deserialize)]
struct ReturnOrder {
    #[serde(alias = "cancel_id")]
    return_id: serde_json::Value,
    order_id: serde_json::Value,
    #[serde(default, alias = "cancel_type")]
    return_type: Option<String>,
    #[serde(alias = "cancel_status")]
    return_status: String,
    #[serde(default)]
    refund_amount: Option<RefundAmount>,
}

#[derive(Deserialize)]
struct Returns {
    #[serde(default, alias = "cancellations")]
    return_orders: Vec<ReturnOrder>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct ReturnsEnvelope {
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    data: Option<Returns>,
}

/// Where TikTok lists the money it gave back on an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundSource {
    /// Search Returns (`data.return_orders[]`): returns and refunds after delivery.
    Returns,
    /// Search Cancellations (`data.cancellations[]`): cancellations of the order or of some of
    /// its items before shipment.
    Cancellations,
}

impl RefundSource {
    /// The status of one whose money went back to the buyer.
    fn complete(self) -> &'static str {
        match self {
            RefundSource::Returns => "RETURN_OR_REFUND_REQUEST_COMPLETE",
            RefundSource::Cancellations => "CANCELLATION_REQUEST_COMPLETE",
        }
    }

    /// The refund id it is recorded under (a cancellation's id is TikTok's own number space).
    fn refund_id(self, id: String) -> String {
        match self {
            RefundSource::Returns => id,
            RefundSource::Cancellations => format!("cancel:{id}"),
        }
    }
}

/// One page of Search Returns or Search Cancellations: the refunds TikTok made, and the next
/// page's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnsPage {
    pub refunds: Vec<StorefrontRefund>,
    pub next_page_token: Option<String>,
}

/// The refunds of order `order_id` (in `currency`) in a Search Returns answer: its completed
/// returns that gave money back. A return of another order, in another currency, or whose
/// amounts do not read, refuses the page (never a guess).
pub fn returns(body: &str, order_id: &str, currency: Currency) -> Result<ReturnsPage, DetailError> {
    refunds_page(RefundSource::Returns, body, order_id, currency)
}

/// The refunds of order `order_id` in an answer of `source` (see [`returns`]).
pub fn refunds_page(
    source: RefundSource,
    body: &str,
    order_id: &str,
    currency: Currency,
) -> Result<ReturnsPage, DetailError> {
    let envelope: ReturnsEnvelope =
        serde_json::from_str(body).map_err(|e| malformed(format!("not a returns or cancellations answer: {e}")))?;
    if envelope.code != 0 {
        return Err(DetailError::Refused { code: envelope.code, message: envelope.message });
    }
    let data = envelope.data.unwrap_or(Returns { return_orders: vec![], next_page_token: None });
    let mut refunds = Vec::new();
    for r in data.return_orders {
        if id_text(&r.order_id, "order_id")? != order_id {
            return Err(malformed(format!("a return or cancellation of another order than {order_id}")).into());
        }
        if r.return_status != source.complete() || r.return_type.as_deref() == Some("REPLACEMENT") {
            continue;
        }
        let a = r.refund_amount.ok_or_else(|| malformed("a completed return or cancellation without refund_amount"))?;
        if let Some(c) = &a.currency
            && c != currency.code()
        {
            return Err(malformed(format!("a refund is in {c}, the order in {}", currency.code())).into());
        }
        let base = amount(currency, a.refund_subtotal.as_deref(), "refund_amount.refund_subtotal")?;
        let tax = amount(currency, a.refund_tax.as_deref(), "refund_amount.refund_tax")?;
        let total = amount(currency, a.refund_total.as_deref(), "refund_amount.refund_total")?;
        if add(base, tax)? > total {
            return Err(malformed("a refund's items and tax exceed its refund_total").into());
        }
        refunds.push(StorefrontRefund {
            refund_id: source.refund_id(id_text(&r.return_id, "return_id / cancel_id")?),
            order_id: order_id.to_owned(),
            currency,
            base,
            tax,
            amount: total,
        });
    }
    Ok(ReturnsPage { refunds, next_page_token: data.next_page_token.filter(|t| !t.is_empty()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DETAIL: &str = include_str!("../../../../tests/fixtures/tiktok/order_detail.json");
    const NOTIFICATION: &str = include_str!("../../../../tests/fixtures/tiktok/notification_order_status_change.json");
    const ORDER: &str = "576653688135258178";
    const RETURNS: &str = include_str!("../../../../tests/fixtures/tiktok/returns_search.json");

    fn returns_with(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut v: serde_json::Value = serde_json::from_str(RETURNS).expect("fixture");
        edit(&mut v["data"]["return_orders"][0]);
        v.to_string()
    }

    #[test]
    fn completed_returns_are_the_orders_refunds() {
        // The beanie returned and refunded; the scarf's request is still pending (no money back).
        let page = returns(RETURNS, ORDER, Currency::USD).expect("returns");
        assert_eq!(
            page,
            ReturnsPage {
                refunds: vec![StorefrontRefund {
                    refund_id: "4035318536470123001".into(),
                    order_id: ORDER.into(),
                    currency: Currency::USD,
                    base: 2000,
                    tax: 152,
                    amount: 2152,
                }],
                next_page_token: None,
            }
        );
        // A replacement returns no money; a cancelled or rejected request neither.
        for (field, value) in [
            ("return_type", "REPLACEMENT"),
            ("return_status", "RETURN_OR_REFUND_REQUEST_CANCEL"),
            ("return_status", "REFUND_OR_RETURN_REQUEST_REJECT"),
            ("return_status", "RETURN_OR_REFUND_REQUEST_SUCCESS"),
        ] {
            let page = returns(&returns_with(|r| r[field] = value.into()), ORDER, Currency::USD).expect("returns");
            assert!(page.refunds.is_empty(), "{field} {value}");
        }
        // A next page.
        let mut v: serde_json::Value = serde_json::from_str(RETURNS).expect("fixture");
        v["data"]["next_page_token"] = "b2Zmc2V0PTI=".into();
        let page = returns(&v.to_string(), ORDER, Currency::USD).expect("returns");
        assert_eq!(page.next_page_token.as_deref(), Some("b2Zmc2V0PTI="));
    }

    #[test]
    fn completed_cancellations_of_some_items_are_refunds_too() {
        // Search Cancellations' shape: a buyer cancelled the beanie before shipment.
        let body = serde_json::json!({"code": 0, "message": "Success", "data": {"cancellations": [
            {"cancel_id": "4035318536470200001", "order_id": ORDER, "cancel_type": "BUYER_CANCEL",
             "cancel_status": "CANCELLATION_REQUEST_COMPLETE", "role": "BUYER",
             "refund_amount": {"currency": "USD", "refund_total": "21.52", "refund_subtotal": "20.00",
                               "refund_shipping_fee": "0", "refund_tax": "1.52"},
             "cancel_line_items": [{"order_line_item_id": "577086512123755125", "sku_id": "2729382476852921777"}]},
            {"cancel_id": "4035318536470200002", "order_id": ORDER, "cancel_type": "CANCEL",
             "cancel_status": "CANCELLATION_REQUEST_PENDING",
             "refund_amount": {"currency": "USD", "refund_total": "43.04", "refund_subtotal": "40.00", "refund_tax": "3.04"}}
        ], "next_page_token": ""}})
        .to_string();
        let page = refunds_page(RefundSource::Cancellations, &body, ORDER, Currency::USD).expect("cancellations");
        assert_eq!(
            page.refunds.iter().map(|r| (r.refund_id.as_str(), r.base, r.tax, r.amount)).collect::<Vec<_>>(),
            vec![("cancel:4035318536470200001", 2000, 152, 2152)]
        );
        // A cancellation is not a return: read as returns, its status is not a completed return.
        assert!(refunds_page(RefundSource::Returns, &body, ORDER, Currency::USD).expect("page").refunds.is_empty());
    }

    #[test]
    fn returns_that_do_not_read_refuse_the_answer() {
        for body in [
            returns_with(|r| r["order_id"] = "576653688135258179".into()),
            returns_with(|r| r["refund_amount"]["currency"] = "EUR".into()),
            returns_with(|r| r["refund_amount"]["refund_subtotal"] = "-1.00".into()),
            returns_with(|r| r["refund_amount"]["refund_total"] = "20.00".into()),
            returns_with(|r| {
                r.as_object_mut().expect("object").remove("refund_amount");
            }),
            "[]".to_owned(),
        ] {
            assert!(matches!(returns(&body, ORDER, Currency::USD), Err(DetailError::Malformed(_))), "{body}");
        }
        let refused = r#"{"code":105002,"message":"Expired credentials.","request_id":"x","data":null}"#;
        assert!(matches!(returns(refused, ORDER, Currency::USD), Err(DetailError::Refused { code: 105002, .. })));
    }

    fn with(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut v: serde_json::Value = serde_json::from_str(DETAIL).expect("fixture");
        edit(&mut v["data"]["orders"][0]);
        v.to_string()
    }

    #[test]
    fn an_order_detail_becomes_the_order_record() {
        let o = order_detail(DETAIL, ORDER).expect("order");
        assert_eq!(o.order_id, ORDER);
        assert_eq!(o.currency, Currency::USD);
        assert_eq!(o.status, StorefrontOrderStatus::Paid);
        assert_eq!((o.subtotal, o.discount, o.tax, o.shipping, o.total), (10000, 0, 800, 500, 11300));
        assert_eq!(o.lines.len(), 3, "one line item per unit");
        assert_eq!(
            o.lines.iter().map(|l| (l.quantity, l.unit_price, l.amount, l.tax)).collect::<Vec<_>>(),
            vec![(1, 4000, 4000, 304), (1, 4000, 4000, 304), (1, 2000, 2000, 152)]
        );
        assert_eq!(o.lines[0].product, "1729582718312380123");
        assert_eq!(o.version.as_deref(), Some("2026-12-03T16:01:40Z"));
        assert_eq!(o.affiliate_id, None);
        o.validate().expect("it adds up");
        // The commissionable base is the items less discounts; shipping and tax are not.
        let amounts = o.amounts(false).expect("amounts");
        assert_eq!(
            (amounts.gross, amounts.subtotal - amounts.discount, amounts.tax, amounts.shipping),
            (11300, 10000, 800, 500)
        );
    }

    #[test]
    fn discounts_fees_quantities_and_statuses_are_read_as_tiktok_writes_them() {
        // A seller discount of 10.00 on the beanie and a platform discount of 5.00 on a scarf:
        // the base is what the buyer paid for the items (85.00); a retail delivery fee is charged,
        // not commissioned.
        let body = with(|o| {
            o["payment"]["seller_discount"] = "10.00".into();
            o["payment"]["platform_discount"] = "5.00".into();
            o["payment"]["retail_delivery_fee"] = "0.27".into();
            o["payment"]["total_amount"] = "98.27".into();
            o["line_items"][2]["seller_discount"] = "10.00".into();
            o["line_items"][0]["platform_discount"] = "5.00".into();
        });
        let o = order_detail(&body, ORDER).expect("order");
        assert_eq!((o.subtotal, o.discount, o.shipping, o.total), (10000, 1500, 527, 9827));
        assert_eq!((o.lines[0].discount, o.lines[2].discount), (500, 1000));
        o.validate().expect("it adds up");
        let amounts = o.amounts(false).expect("amounts");
        assert_eq!(amounts.subtotal - amounts.discount, 8500);

        // A quantity when a payload has one (and ids as numbers).
        let body = with(|o| {
            o["line_items"] =
                serde_json::json!([{"id": 1, "product_id": 7, "original_price": "50.00", "quantity": "2"}]);
        });
        let o = order_detail(&body, ORDER).expect("order");
        assert_eq!((o.lines[0].line_id.as_str(), o.lines[0].quantity, o.lines[0].amount), ("1", 2, 10000));
        o.validate().expect("it adds up");

        for (status, expected) in [
            ("UNPAID", StorefrontOrderStatus::Pending),
            ("ON_HOLD", StorefrontOrderStatus::Pending),
            ("IN_TRANSIT", StorefrontOrderStatus::Paid),
            ("COMPLETED", StorefrontOrderStatus::Paid),
            ("CANCELLED", StorefrontOrderStatus::Cancelled),
        ] {
            let o = order_detail(&with(|o| o["status"] = status.into()), ORDER).expect("order");
            assert_eq!(o.status, expected, "{status}");
        }
        assert_eq!(order_status("CANCEL"), Some(StorefrontOrderStatus::Cancelled), "the notifications' spelling");
    }

    #[test]
    fn what_does_not_add_up_or_is_not_an_order_is_refused() {
        // A total that is not its parts: read, then refused by the order's own check.
        let o = order_detail(&with(|o| o["payment"]["total_amount"] = "113.01".into()), ORDER).expect("order");
        assert!(o.validate().is_err());
        // Lines that do not make the subtotal.
        let o = order_detail(&with(|o| o["line_items"][2]["original_price"] = "25.00".into()), ORDER).expect("order");
        assert!(o.validate().is_err());
        for body in [
            with(|o| o["payment"]["tax"] = "-1".into()),
            with(|o| o["payment"]["shipping_fee"] = "5.001".into()),
            with(|o| o["status"] = "TELEPORTED".into()),
            with(|o| o["line_items"][0]["currency"] = "EUR".into()),
            with(|o| o["line_items"][0]["quantity"] = "0".into()),
            "not json".to_owned(),
        ] {
            assert!(matches!(order_detail(&body, ORDER), Err(DetailError::Malformed(_))), "{body}");
        }
        assert_eq!(order_detail(DETAIL, "576653688135258179"), Err(DetailError::NotFound("576653688135258179".into())));
        let refused = r#"{"code":106001,"message":"Invalid credentials. The 'sign' query parameter is invalid.","request_id":"x","data":null}"#;
        assert!(matches!(order_detail(refused, ORDER), Err(DetailError::Refused { code: 106001, .. })));
    }

    #[test]
    fn notifications_name_their_order_and_are_deduplicated_by_their_id() {
        let n = notification(NOTIFICATION).expect("notification");
        assert_eq!(n.kind, NotificationKind::OrderStatusChange);
        assert_eq!(n.kind.topic(), "ORDER_STATUS_CHANGE");
        assert_eq!(n.shop_id, "7495540735365777507");
        assert_eq!(n.order_id.as_deref(), Some(ORDER));
        assert_eq!(n.status.as_deref(), Some("AWAITING_SHIPMENT"));
        assert_eq!(n.delivery_key(NOTIFICATION.as_bytes()), "tts:7380066284010030890");
        // Without a notification id, only the same body is the same delivery.
        let bare = r#"{"type":11,"shop_id":7495540735365777507,"timestamp":1,"data":{"order_id":"1","cancel_status":"CANCELLATION_REQUEST_COMPLETE","cancel_id":"9","create_time":1}}"#;
        let n = notification(bare).expect("notification");
        assert_eq!(
            (n.kind.clone(), n.status.as_deref()),
            (NotificationKind::CancellationStatusChange, Some("CANCELLATION_REQUEST_COMPLETE"))
        );
        assert_eq!(n.shop_id, "7495540735365777507", "a numeric shop id");
        assert_eq!(n.delivery_key(bare.as_bytes()), n.delivery_key(bare.as_bytes()));
        assert_ne!(n.delivery_key(bare.as_bytes()), n.delivery_key(format!("{bare} ").as_bytes()));
        let r = notification(r#"{"type":12,"shop_id":"1","timestamp":1,"data":{"order_id":"2","return_status":"RETURN_OR_REFUND_REQUEST_COMPLETE"}}"#)
            .expect("return");
        assert_eq!(r.kind, NotificationKind::ReturnStatusChange);
        let other = notification(r#"{"type":5,"shop_id":"1","timestamp":1,"data":{"product_id":"3"}}"#).expect("other");
        assert_eq!((other.kind.topic(), other.kind.concerns_order()), ("TYPE_5".to_owned(), false));
        assert!(notification(r#"{"type":1,"shop_id":"1","timestamp":1,"data":{}}"#).is_err(), "no order");
        assert!(notification("[]").is_err());
    }
}
