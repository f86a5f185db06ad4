//! PayPal webhook JSON → provider-neutral [`ProviderEvent`]s. PayPal's shapes exist only here.
//!
//! | PayPal event | neutral event |
//! |---|---|
//! | `PAYMENT.CAPTURE.COMPLETED` | `PaymentSucceeded`: the payment is the order (`supplementary_data.related_ids.order_id`, else the capture), the capture is its charge, the destination the `payee.merchant_id`, the platform fee the sum of `seller_receivable_breakdown.platform_fees`, our order id in `invoice_id` and the Malet in `custom_id` |
//! | `PAYMENT.CAPTURE.REFUNDED` | `PaymentRefunded`: cumulative `seller_payable_breakdown.total_refunded_amount`, the refund itself, the capture from the refund's `up` link |
//! | `CUSTOMER.DISPUTE.CREATED` / `CUSTOMER.DISPUTE.RESOLVED` | `Dispute` on the disputed capture (`seller_transaction_id`): OPEN; WON when resolved in the seller's favour (or canceled by the buyer), else LOST |
//! | `MERCHANT.ONBOARDING.COMPLETED` | `AccountSnapshot` of `merchant_id`, enabled |
//! | `MERCHANT.PARTNER-CONSENT.REVOKED` | `AccountRevoked` of `merchant_id` |
//! | `PAYMENT.PAYOUTS-ITEM.SUCCEEDED` | `Payout` PAID |
//! | `PAYMENT.PAYOUTS-ITEM.FAILED` / `RETURNED` / `UNCLAIMED` / `BLOCKED` / `REFUNDED` / `DENIED` / `CANCELED` | `Payout` FAILED (the money is the seller's again) |
//! | anything else | `Unhandled` |
//!
//! Amounts are decimal strings converted exactly by the currency's exponent
//! ([`Currency::minor_from_decimal`]); one that does not fit is refused, never rounded.

use std::collections::BTreeMap;

use domain::events::{
    AccountSnapshot, Category, Dispute, DisputeStatus, EventKind, InvalidEvent, PaymentRef, PaymentRefunded,
    PaymentSucceeded, PayoutOutcome, PayoutUpdate, ProviderEvent, RefundFact,
};
use domain::money::Currency;
use domain::provider::ProviderKind;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::events::MalformedEvent;

#[derive(Debug, Deserialize)]
struct Envelope {
    id: String,
    event_type: String,
    create_time: String,
    resource: serde_json::Value,
}

/// `{"currency_code": "USD", "value": "100.00"}` (Orders, Payments, Disputes).
#[derive(Debug, Deserialize)]
struct Amount {
    currency_code: String,
    value: String,
}

/// `{"currency": "USD", "value": "1.00"}` (Payouts).
#[derive(Debug, Deserialize)]
struct PayoutAmount {
    currency: String,
    value: String,
}

fn money(currency: &str, value: &str) -> Result<(Currency, i64), String> {
    let currency = Currency::parse(currency).map_err(|e| e.to_string())?;
    let minor = currency.minor_from_decimal(value).map_err(|e| format!("amount {value:?} {currency}: {e}"))?;
    Ok((currency, minor))
}

#[derive(Debug, Deserialize)]
struct Payee {
    #[serde(default)]
    merchant_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PlatformFee {
    amount: Amount,
}

#[derive(Debug, Default, Deserialize)]
struct ReceivableBreakdown {
    #[serde(default)]
    platform_fees: Vec<PlatformFee>,
}

#[derive(Debug, Default, Deserialize)]
struct RelatedIds {
    #[serde(default)]
    order_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct SupplementaryData {
    #[serde(default)]
    related_ids: RelatedIds,
}

#[derive(Debug, Deserialize)]
struct Capture {
    id: String,
    amount: Amount,
    #[serde(default)]
    payee: Option<Payee>,
    #[serde(default)]
    seller_receivable_breakdown: Option<ReceivableBreakdown>,
    #[serde(default)]
    invoice_id: Option<String>,
    #[serde(default)]
    custom_id: Option<String>,
    #[serde(default)]
    supplementary_data: Option<SupplementaryData>,
    #[serde(default)]
    create_time: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Link {
    href: String,
    rel: String,
}

#[derive(Debug, Default, Deserialize)]
struct PayableBreakdown {
    #[serde(default)]
    total_refunded_amount: Option<Amount>,
}

#[derive(Debug, Deserialize)]
struct Refund {
    id: String,
    #[serde(default)]
    status: Option<String>,
    amount: Amount,
    #[serde(default)]
    seller_payable_breakdown: Option<PayableBreakdown>,
    #[serde(default)]
    links: Vec<Link>,
}

#[derive(Debug, Deserialize)]
struct DisputedTransaction {
    #[serde(default)]
    seller_transaction_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct DisputeOutcome {
    #[serde(default)]
    outcome_code: Option<String>,
}

#[derive(Debug, Deserialize)]
struct DisputeObject {
    dispute_id: String,
    dispute_amount: Amount,
    #[serde(default)]
    disputed_transactions: Vec<DisputedTransaction>,
    #[serde(default)]
    dispute_outcome: Option<DisputeOutcome>,
}

#[derive(Debug, Deserialize)]
struct Merchant {
    merchant_id: String,
    #[serde(default)]
    tracking_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PayoutItemDetails {
    amount: PayoutAmount,
    #[serde(default)]
    receiver: Option<String>,
    #[serde(default)]
    sender_item_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PayoutItem {
    payout_item_id: String,
    payout_item: PayoutItemDetails,
}

/// The PayPal event types we read, by what they are about.
fn category(event_type: &str) -> Option<Category> {
    Some(match event_type {
        "PAYMENT.CAPTURE.COMPLETED" => Category::Payment,
        "PAYMENT.CAPTURE.REFUNDED" => Category::Refund,
        "CUSTOMER.DISPUTE.CREATED" | "CUSTOMER.DISPUTE.RESOLVED" => Category::Dispute,
        "MERCHANT.ONBOARDING.COMPLETED" | "MERCHANT.PARTNER-CONSENT.REVOKED" => Category::Account,
        t if t.starts_with("PAYMENT.PAYOUTS-ITEM.") && payout_outcome(t).is_some() => Category::Payout,
        _ => return None,
    })
}

fn payout_outcome(event_type: &str) -> Option<PayoutOutcome> {
    match event_type.strip_prefix("PAYMENT.PAYOUTS-ITEM.")? {
        "SUCCEEDED" => Some(PayoutOutcome::Paid),
        "FAILED" | "RETURNED" | "UNCLAIMED" | "BLOCKED" | "REFUNDED" | "DENIED" | "CANCELED" => {
            Some(PayoutOutcome::Failed)
        }
        _ => None,
    }
}

/// Parses a PayPal webhook body. `Err` when it is not a PayPal event (no id, type or time).
pub fn normalize(payload: &str) -> Result<ProviderEvent, MalformedEvent> {
    let envelope: Envelope = serde_json::from_str(payload).map_err(|e| MalformedEvent(e.to_string()))?;
    if envelope.id.is_empty() || envelope.event_type.is_empty() {
        return Err(MalformedEvent("event id and type are required".into()));
    }
    let created = unix(&envelope.create_time).ok_or_else(|| MalformedEvent("create_time is not a time".into()))?;
    let kind = match category(&envelope.event_type) {
        None => EventKind::Unhandled,
        Some(category) => kind_of(&envelope, created).unwrap_or_else(|reason| {
            let unread_payment = (category == Category::Payment)
                .then(|| envelope.resource.get("id").and_then(|id| id.as_str()).map(str::to_owned))
                .flatten();
            EventKind::Invalid(InvalidEvent { category, reason, unread_payment })
        }),
    };
    Ok(ProviderEvent {
        provider: ProviderKind::Paypal,
        id: envelope.id,
        event_type: envelope.event_type,
        created,
        kind,
    })
}

fn unix(time: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(time).ok().map(|t| t.timestamp())
}

fn resource<T: DeserializeOwned>(envelope: &Envelope) -> Result<T, String> {
    T::deserialize(&envelope.resource).map_err(|e| format!("{} resource does not parse: {e}", envelope.event_type))
}

/// The id at the end of a link's path (`…/v2/payments/captures/<id>`).
fn last_segment(href: &str) -> Option<String> {
    let path = href.split(['?', '#']).next()?;
    path.rsplit('/').find(|s| !s.is_empty()).map(str::to_owned)
}

fn kind_of(envelope: &Envelope, created: i64) -> Result<EventKind, String> {
    let event_type = envelope.event_type.as_str();
    Ok(match event_type {
        "PAYMENT.CAPTURE.COMPLETED" => {
            let c: Capture = resource(envelope)?;
            let (currency, amount) = money(&c.amount.currency_code, &c.amount.value)?;
            let mut platform_fee = 0i64;
            for fee in c.seller_receivable_breakdown.map(|b| b.platform_fees).unwrap_or_default() {
                let (fee_currency, minor) = money(&fee.amount.currency_code, &fee.amount.value)?;
                if fee_currency != currency {
                    return Err(format!("a platform fee in {fee_currency} on a {currency} capture"));
                }
                platform_fee = platform_fee.checked_add(minor).ok_or("platform fees overflow")?;
            }
            let mut metadata = BTreeMap::new();
            if let Some(order) = c.invoice_id.filter(|v| !v.is_empty()) {
                metadata.insert("orderId".to_owned(), order);
            }
            if let Some(malet) = c.custom_id.filter(|v| !v.is_empty()) {
                metadata.insert("maletId".to_owned(), malet);
            }
            let order_id = c.supplementary_data.and_then(|s| s.related_ids.order_id);
            EventKind::PaymentSucceeded(PaymentSucceeded {
                payment_id: order_id.unwrap_or_else(|| c.id.clone()),
                charge_id: Some(c.id),
                amount,
                currency,
                destination: c.payee.and_then(|p| p.merchant_id),
                transfer_group: None,
                metadata,
                platform_fee: Some(platform_fee),
                paid_at: c.create_time.as_deref().and_then(unix).unwrap_or(created),
            })
        }
        "PAYMENT.CAPTURE.REFUNDED" => {
            let r: Refund = resource(envelope)?;
            let (currency, amount) = money(&r.amount.currency_code, &r.amount.value)?;
            let total = match r.seller_payable_breakdown.and_then(|b| b.total_refunded_amount) {
                Some(t) => {
                    let (total_currency, total) = money(&t.currency_code, &t.value)?;
                    if total_currency != currency {
                        return Err(format!("a refunded total in {total_currency} on a {currency} refund"));
                    }
                    total
                }
                // Without the total, this refund is at least what is refunded.
                None => amount,
            };
            let capture = r.links.iter().find(|l| l.rel == "up").and_then(|l| last_segment(&l.href));
            let Some(capture) = capture else {
                return Err("the refund names no capture (no `up` link)".into());
            };
            EventKind::PaymentRefunded(PaymentRefunded {
                payment: PaymentRef { payment_id: None, charge_id: Some(capture) },
                cumulative_refunded: total,
                refunds: vec![RefundFact {
                    refund_id: r.id,
                    amount: Some(amount),
                    counts: matches!(r.status.as_deref(), None | Some("COMPLETED" | "PENDING")),
                    ledger_id: None,
                }],
            })
        }
        "CUSTOMER.DISPUTE.CREATED" | "CUSTOMER.DISPUTE.RESOLVED" => {
            let d: DisputeObject = resource(envelope)?;
            let (currency, amount) = money(&d.dispute_amount.currency_code, &d.dispute_amount.value)?;
            let capture = d.disputed_transactions.into_iter().find_map(|t| t.seller_transaction_id);
            let Some(capture) = capture else {
                return Err("the dispute names no seller transaction".into());
            };
            let status = if event_type == "CUSTOMER.DISPUTE.CREATED" {
                DisputeStatus::Open
            } else {
                match d.dispute_outcome.and_then(|o| o.outcome_code).as_deref() {
                    Some("RESOLVED_SELLER_FAVOUR" | "CANCELED_BY_BUYER" | "DENIED") => DisputeStatus::Won,
                    _ => DisputeStatus::Lost,
                }
            };
            EventKind::Dispute(Dispute {
                dispute_id: d.dispute_id,
                payment: PaymentRef { payment_id: None, charge_id: Some(capture) },
                amount,
                currency,
                status,
                funds: None,
            })
        }
        "MERCHANT.ONBOARDING.COMPLETED" => {
            let m: Merchant = resource(envelope)?;
            EventKind::AccountSnapshot(AccountSnapshot {
                provider_account_id: m.merchant_id,
                reference: m.tracking_id.filter(|t| !t.is_empty()),
                charges_enabled: true,
                payouts_enabled: true,
                details_submitted: true,
                default_currency: None,
            })
        }
        "MERCHANT.PARTNER-CONSENT.REVOKED" => {
            let m: Merchant = resource(envelope)?;
            EventKind::AccountRevoked { provider_account_id: m.merchant_id }
        }
        t => {
            let outcome = payout_outcome(t).ok_or("not a payout item event")?;
            let item: PayoutItem = resource(envelope)?;
            let (currency, amount) = money(&item.payout_item.amount.currency, &item.payout_item.amount.value)?;
            EventKind::Payout(PayoutUpdate {
                payout_id: item.payout_item_id,
                account: item.payout_item.receiver,
                amount,
                currency,
                outcome,
                reference: item.payout_item.sender_item_id,
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A webhook of `event_type` carrying the fixture `resource` (PayPal's own example objects,
    /// `tests/fixtures/paypal`).
    fn event(event_type: &str, resource: &str) -> String {
        test_support::paypal::webhook("8PT597110X687430LKGECATA", event_type, test_support::paypal::fixture(resource))
    }

    fn kind(event_type: &str, resource: &str) -> EventKind {
        normalize(&event(event_type, resource)).expect("a PayPal event").kind
    }

    #[test]
    fn a_completed_capture_is_a_payment_to_its_payee() {
        let e = normalize(&event("PAYMENT.CAPTURE.COMPLETED", "capture")).expect("event");
        assert_eq!((e.provider, e.id.as_str()), (ProviderKind::Paypal, "8PT597110X687430LKGECATA"));
        let EventKind::PaymentSucceeded(p) = e.kind else { panic!("payment") };
        assert_eq!(p.payment_id, "5O190127TN364715T", "the order is the payment");
        assert_eq!(p.charge_id.as_deref(), Some("2GG279541U471931P"), "the capture is its charge");
        assert_eq!((p.amount, p.currency), (10_000, Currency::USD));
        assert_eq!(p.destination.as_deref(), Some("7KNGBPH2U58GQ"));
        assert_eq!(p.platform_fee, Some(1000));
        assert_eq!(p.metadata.get("orderId").map(String::as_str), Some("INVOICE-123"));
        assert_eq!(p.metadata.get("maletId").map(String::as_str), Some("ORDER-1001"));
        assert_eq!(p.paid_at, 1_522_617_649);
    }

    #[test]
    fn a_refund_carries_the_cumulative_total_and_its_capture() {
        let EventKind::PaymentRefunded(r) = kind("PAYMENT.CAPTURE.REFUNDED", "refund") else { panic!("refund") };
        assert_eq!(r.payment.charge_id.as_deref(), Some("2GG279541U471931P"));
        assert_eq!(r.cumulative_refunded, 1000);
        assert_eq!(
            r.refunds,
            vec![RefundFact {
                refund_id: "1JU08902781691411".into(),
                amount: Some(1000),
                counts: true,
                ledger_id: None
            }]
        );
    }

    #[test]
    fn disputes_open_and_resolve() {
        let EventKind::Dispute(d) = kind("CUSTOMER.DISPUTE.CREATED", "dispute") else { panic!("dispute") };
        assert_eq!(
            (d.status, d.amount, d.payment.charge_id.as_deref()),
            (DisputeStatus::Open, 10_000, Some("2GG279541U471931P"))
        );
        let EventKind::Dispute(d) = kind("CUSTOMER.DISPUTE.RESOLVED", "dispute") else { panic!("dispute") };
        assert_eq!(d.status, DisputeStatus::Lost, "RESOLVED_BUYER_FAVOUR");
    }

    #[test]
    fn payout_items_are_paid_or_returned() {
        let EventKind::Payout(p) = kind("PAYMENT.PAYOUTS-ITEM.SUCCEEDED", "payout_item") else { panic!("payout") };
        assert_eq!((p.payout_id.as_str(), p.amount, p.outcome), ("8AELMXH8UB2P8", 987, PayoutOutcome::Paid));
        assert_eq!(p.account.as_deref(), Some("receiver@example.com"));
        for returned in ["FAILED", "RETURNED", "UNCLAIMED", "BLOCKED", "REFUNDED"] {
            let EventKind::Payout(p) = kind(&format!("PAYMENT.PAYOUTS-ITEM.{returned}"), "payout_item") else {
                panic!("payout")
            };
            assert_eq!(p.outcome, PayoutOutcome::Failed, "{returned}");
        }
        assert_eq!(kind("PAYMENT.PAYOUTS-ITEM.HELD", "payout_item"), EventKind::Unhandled);
    }

    #[test]
    fn onboarding_and_revoked_consent_name_the_merchant() {
        let merchant = serde_json::json!({"merchant_id": "7KNGBPH2U58GQ", "tracking_id": "m1"}).to_string();
        let mut e: serde_json::Value =
            serde_json::from_str(&event("MERCHANT.ONBOARDING.COMPLETED", "capture")).expect("json");
        e["resource"] = serde_json::from_str(&merchant).expect("json");
        let EventKind::AccountSnapshot(a) = normalize(&e.to_string()).expect("event").kind else { panic!("snapshot") };
        assert_eq!(a.provider_account_id, "7KNGBPH2U58GQ");
        assert_eq!(a.reference.as_deref(), Some("m1"));
        assert!(a.charges_enabled && a.payouts_enabled && a.details_submitted);
        e["event_type"] = serde_json::json!("MERCHANT.PARTNER-CONSENT.REVOKED");
        assert_eq!(
            normalize(&e.to_string()).expect("event").kind,
            EventKind::AccountRevoked { provider_account_id: "7KNGBPH2U58GQ".into() }
        );
    }

    #[test]
    fn amounts_that_do_not_fit_the_currency_are_refused() {
        let mut e: serde_json::Value =
            serde_json::from_str(&event("PAYMENT.CAPTURE.COMPLETED", "capture")).expect("json");
        e["resource"]["amount"] = serde_json::json!({"currency_code": "JPY", "value": "1000"});
        e["resource"]["seller_receivable_breakdown"]["platform_fees"][0]["amount"] =
            serde_json::json!({"currency_code": "JPY", "value": "200"});
        let EventKind::PaymentSucceeded(p) = normalize(&e.to_string()).expect("event").kind else { panic!("payment") };
        assert_eq!((p.amount, p.currency, p.platform_fee), (1000, Currency::JPY, Some(200)));
        e["resource"]["amount"]["value"] = serde_json::json!("1000.5");
        let EventKind::Invalid(invalid) = normalize(&e.to_string()).expect("event").kind else { panic!("invalid") };
        assert_eq!(invalid.unread_payment.as_deref(), Some("2GG279541U471931P"), "{}", invalid.reason);
        assert!(normalize(r#"{"id": "WH-1", "event_type": "X"}"#).is_err(), "no create_time");
    }
}
