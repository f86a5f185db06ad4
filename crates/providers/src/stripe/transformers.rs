//! Stripe event JSON → provider-neutral [`ProviderEvent`]s. Stripe's shapes exist only here.
//!
//! | Stripe event | neutral event |
//! |---|---|
//! | `payment_intent.succeeded` | `PaymentSucceeded` (destination: `transfer_data.destination`, else the connected account of a direct charge) |
//! | `charge.refunded` | `PaymentRefunded` (cumulative `amount_refunded`, the listed refunds) |
//! | `charge.dispute.created` / `charge.dispute.closed` | `Dispute` (OPEN; WON for `won` and `warning_closed`, else LOST) |
//! | `charge.dispute.funds_withdrawn` / `funds_reinstated` | `Dispute` with `funds` (status from the object) |
//! | `account.updated` | `AccountSnapshot` |
//! | `payout.paid` / `payout.failed` | `Payout` (PAID / FAILED) |
//! | `transfer.created` | `TransferCreated` |
//! | anything else | `Unhandled` |

use std::collections::BTreeMap;

use domain::events::LEDGER_ID_KEY;
use domain::events::{
    AccountSnapshot, Category, Dispute, DisputeFunds, DisputeStatus, EventKind, InvalidEvent, PaymentRef,
    PaymentRefunded, PaymentSucceeded, PayoutOutcome, PayoutUpdate, ProviderEvent, RefundFact, TransferCreated,
};
use domain::money::Currency;
use domain::provider::ProviderKind;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::events::MalformedEvent;

/// The Stripe event envelope.
#[derive(Debug, Deserialize)]
struct Envelope {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    created: i64,
    #[serde(default)]
    account: Option<String>,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: serde_json::Value,
}

/// An id field that Stripe sends either as a string or as an expanded object.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum IdOrObject {
    Id(String),
    Object { id: String },
}

impl IdOrObject {
    fn id(&self) -> String {
        match self {
            IdOrObject::Id(id) | IdOrObject::Object { id } => id.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct TransferData {
    destination: Option<IdOrObject>,
}

#[derive(Debug, Deserialize)]
struct PaymentIntentObject {
    id: String,
    amount: i64,
    #[serde(default)]
    amount_received: Option<i64>,
    currency: String,
    created: i64,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    transfer_data: Option<TransferData>,
    #[serde(default)]
    latest_charge: Option<IdOrObject>,
    #[serde(default)]
    application_fee_amount: Option<i64>,
    #[serde(default)]
    transfer_group: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ChargeObject {
    id: String,
    amount_refunded: i64,
    #[serde(default)]
    payment_intent: Option<IdOrObject>,
    #[serde(default)]
    refunds: Option<RefundList>,
}

#[derive(Debug, Deserialize)]
struct RefundList {
    #[serde(default)]
    data: Vec<RefundItem>,
}

/// A refund in a charge's `refunds` list: an id, or the refund object with its amount.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RefundItem {
    Object {
        id: String,
        amount: i64,
        #[serde(default)]
        status: Option<String>,
        #[serde(default)]
        metadata: BTreeMap<String, String>,
    },
    Id(String),
}

#[derive(Debug, Deserialize)]
struct DisputeObject {
    id: String,
    amount: i64,
    currency: String,
    #[serde(default)]
    status: Option<String>,
    charge: IdOrObject,
    #[serde(default)]
    payment_intent: Option<IdOrObject>,
}

#[derive(Debug, Deserialize)]
struct AccountObject {
    id: String,
    #[serde(default)]
    charges_enabled: bool,
    #[serde(default)]
    payouts_enabled: bool,
    #[serde(default)]
    details_submitted: bool,
    #[serde(default)]
    default_currency: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PayoutObject {
    id: String,
    amount: i64,
    currency: String,
}

#[derive(Debug, Deserialize)]
struct TransferObject {
    id: String,
    amount: i64,
    currency: String,
    #[serde(default)]
    destination: Option<IdOrObject>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

/// Parses a Stripe event body. `Err` when it is not a Stripe event at all (no id, type or
/// `created`): refused at the door. A known type whose object does not parse is an event of kind
/// [`EventKind::Invalid`], stored for an admin.
pub fn normalize(payload: &str) -> Result<ProviderEvent, MalformedEvent> {
    let envelope: Envelope = serde_json::from_str(payload).map_err(|e| MalformedEvent(e.to_string()))?;
    if envelope.id.is_empty() || envelope.event_type.is_empty() {
        return Err(MalformedEvent("event id and type are required".into()));
    }
    let kind = match category(&envelope.event_type) {
        None => EventKind::Unhandled,
        Some(category) => kind_of(&envelope).unwrap_or_else(|reason| {
            // A succeeded payment we cannot read is still money that arrived: keep its id.
            let unread_payment = (category == Category::Payment)
                .then(|| envelope.data.object.get("id").and_then(|id| id.as_str()).map(str::to_owned))
                .flatten();
            EventKind::Invalid(InvalidEvent { category, reason, unread_payment })
        }),
    };
    Ok(ProviderEvent {
        provider: ProviderKind::StripeConnect,
        id: envelope.id,
        event_type: envelope.event_type,
        created: envelope.created,
        kind,
    })
}

/// The Stripe event types we read, by what they are about.
fn category(event_type: &str) -> Option<Category> {
    Some(match event_type {
        "payment_intent.succeeded" => Category::Payment,
        "charge.refunded" => Category::Refund,
        "charge.dispute.created"
        | "charge.dispute.closed"
        | "charge.dispute.funds_withdrawn"
        | "charge.dispute.funds_reinstated" => Category::Dispute,
        "account.updated" => Category::Account,
        "payout.paid" | "payout.failed" => Category::Payout,
        "transfer.created" => Category::Transfer,
        _ => return None,
    })
}

fn object<T: DeserializeOwned>(envelope: &Envelope) -> Result<T, String> {
    T::deserialize(&envelope.data.object).map_err(|e| format!("{} object does not parse: {e}", envelope.event_type))
}

fn currency(code: &str) -> Result<Currency, String> {
    Currency::parse(code).map_err(|e| e.to_string())
}

fn kind_of(envelope: &Envelope) -> Result<EventKind, String> {
    Ok(match envelope.event_type.as_str() {
        "payment_intent.succeeded" => {
            let pi: PaymentIntentObject = object(envelope)?;
            EventKind::PaymentSucceeded(PaymentSucceeded {
                amount: pi.amount_received.filter(|a| *a > 0).unwrap_or(pi.amount),
                currency: currency(&pi.currency)?,
                // Where the money went: the destination of a destination charge, else the
                // connected account a direct charge was made on.
                destination: pi
                    .transfer_data
                    .and_then(|t| t.destination)
                    .map(|d| d.id())
                    .or_else(|| envelope.account.clone()),
                charge_id: pi.latest_charge.map(|c| c.id()),
                transfer_group: pi.transfer_group,
                metadata: pi.metadata,
                platform_fee: pi.application_fee_amount,
                paid_at: pi.created,
                payment_id: pi.id,
            })
        }
        "charge.refunded" => {
            let charge: ChargeObject = object(envelope)?;
            let refunds = charge
                .refunds
                .map(|r| r.data)
                .unwrap_or_default()
                .into_iter()
                .map(|item| match item {
                    RefundItem::Object { id, amount, status, metadata } => RefundFact {
                        refund_id: id,
                        amount: Some(amount),
                        counts: matches!(status.as_deref(), None | Some("succeeded" | "pending" | "requires_action")),
                        ledger_id: metadata.get(LEDGER_ID_KEY).cloned(),
                    },
                    RefundItem::Id(id) => RefundFact { refund_id: id, amount: None, counts: true, ledger_id: None },
                })
                .collect();
            EventKind::PaymentRefunded(PaymentRefunded {
                payment: PaymentRef { payment_id: charge.payment_intent.map(|p| p.id()), charge_id: Some(charge.id) },
                cumulative_refunded: charge.amount_refunded,
                refunds,
            })
        }
        "charge.dispute.created"
        | "charge.dispute.closed"
        | "charge.dispute.funds_withdrawn"
        | "charge.dispute.funds_reinstated" => {
            let d: DisputeObject = object(envelope)?;
            let decided = match d.status.as_deref() {
                Some("won" | "warning_closed") => Some(DisputeStatus::Won),
                Some("lost") => Some(DisputeStatus::Lost),
                _ => None,
            };
            let (status, funds) = match envelope.event_type.as_str() {
                "charge.dispute.created" => (DisputeStatus::Open, None),
                "charge.dispute.closed" => (decided.unwrap_or(DisputeStatus::Lost), None),
                "charge.dispute.funds_withdrawn" => {
                    (decided.unwrap_or(DisputeStatus::Open), Some(DisputeFunds::Withdrawn))
                }
                _ => (decided.unwrap_or(DisputeStatus::Open), Some(DisputeFunds::Reinstated)),
            };
            EventKind::Dispute(Dispute {
                dispute_id: d.id,
                payment: PaymentRef { payment_id: d.payment_intent.map(|p| p.id()), charge_id: Some(d.charge.id()) },
                amount: d.amount,
                currency: currency(&d.currency)?,
                status,
                funds,
            })
        }
        "account.updated" => {
            let a: AccountObject = object(envelope)?;
            EventKind::AccountSnapshot(AccountSnapshot {
                provider_account_id: a.id,
                reference: None,
                charges_enabled: a.charges_enabled,
                payouts_enabled: a.payouts_enabled,
                details_submitted: a.details_submitted,
                default_currency: a.default_currency.as_deref().and_then(|c| Currency::parse(c).ok()),
            })
        }
        "payout.paid" | "payout.failed" => {
            let p: PayoutObject = object(envelope)?;
            EventKind::Payout(PayoutUpdate {
                payout_id: p.id,
                account: envelope.account.clone(),
                amount: p.amount,
                currency: currency(&p.currency)?,
                outcome: if envelope.event_type == "payout.paid" { PayoutOutcome::Paid } else { PayoutOutcome::Failed },
                reference: None,
            })
        }
        "transfer.created" => {
            let t: TransferObject = object(envelope)?;
            EventKind::TransferCreated(TransferCreated {
                transfer_id: t.id,
                amount: t.amount,
                currency: currency(&t.currency)?,
                destination: t.destination.map(|d| d.id()),
                metadata: t.metadata,
            })
        }
        _ => EventKind::Unhandled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use test_support::stripe_event as fixture;

    fn normalized(event: &serde_json::Value) -> ProviderEvent {
        normalize(&event.to_string()).expect("a Stripe event")
    }

    #[test]
    fn a_destination_charge_credits_its_destination() {
        let mut e = fixture("payment_intent.succeeded");
        e["data"]["object"]["amount"] = serde_json::json!(10_000);
        e["data"]["object"]["amount_received"] = serde_json::json!(10_000);
        e["data"]["object"]["currency"] = serde_json::json!("usd");
        e["data"]["object"]["transfer_data"] = serde_json::json!({"destination": {"id": "acct_seller"}});
        e["data"]["object"]["latest_charge"] = serde_json::json!("ch_1");
        e["data"]["object"]["application_fee_amount"] = serde_json::json!(2008);
        e["account"] = serde_json::json!("acct_someone_else");
        let EventKind::PaymentSucceeded(p) = normalized(&e).kind else { panic!("payment") };
        assert_eq!(p.amount, 10_000);
        assert_eq!(p.currency, Currency::USD);
        assert_eq!(p.destination.as_deref(), Some("acct_seller"));
        assert_eq!(p.charge_id.as_deref(), Some("ch_1"));
        assert_eq!(p.platform_fee, Some(2008));
    }

    #[test]
    fn a_direct_charge_credits_the_account_it_was_made_on() {
        let mut e = fixture("payment_intent.succeeded");
        e["data"]["object"]["currency"] = serde_json::json!("usd");
        e["data"]["object"]["transfer_data"] = serde_json::Value::Null;
        e["account"] = serde_json::json!("acct_direct");
        let EventKind::PaymentSucceeded(p) = normalized(&e).kind else { panic!("payment") };
        assert_eq!(p.destination.as_deref(), Some("acct_direct"));
    }

    #[test]
    fn refunds_keep_their_ids_and_failed_ones_do_not_count() {
        let mut e = fixture("charge.refunded");
        e["data"]["object"]["amount_refunded"] = serde_json::json!(4000);
        e["data"]["object"]["refunds"] = serde_json::json!({"data": [
            {"id": "re_2", "amount": 1000, "status": "failed"},
            {"id": "re_1", "amount": 4000, "status": "succeeded"},
            "re_0"
        ]});
        let EventKind::PaymentRefunded(r) = normalized(&e).kind else { panic!("refund") };
        assert_eq!(r.cumulative_refunded, 4000);
        let facts: Vec<_> = r.refunds.iter().map(|f| (f.refund_id.as_str(), f.amount, f.counts)).collect();
        assert_eq!(facts, [("re_2", Some(1000), false), ("re_1", Some(4000), true), ("re_0", None, true)]);
    }

    #[test]
    fn disputes_map_to_open_won_and_lost() {
        let created = fixture("charge.dispute.created");
        let EventKind::Dispute(d) = normalized(&created).kind else { panic!("dispute") };
        assert_eq!(d.status, DisputeStatus::Open);
        for (stripe, ours) in
            [("won", DisputeStatus::Won), ("warning_closed", DisputeStatus::Won), ("lost", DisputeStatus::Lost)]
        {
            let mut closed = created.clone();
            closed["type"] = serde_json::json!("charge.dispute.closed");
            closed["data"]["object"]["status"] = serde_json::json!(stripe);
            let EventKind::Dispute(d) = normalized(&closed).kind else { panic!("dispute") };
            assert_eq!(d.status, ours, "{stripe}");
        }
    }

    #[test]
    fn an_unknown_currency_is_invalid_and_other_types_unhandled() {
        let mut e = fixture("payout.paid");
        e["data"]["object"]["currency"] = serde_json::json!("zzz");
        assert!(matches!(normalized(&e).kind, EventKind::Invalid(InvalidEvent { unread_payment: None, .. })));
        let mut pi = fixture("payment_intent.succeeded");
        pi["data"]["object"]["id"] = serde_json::json!("pi_unread");
        pi["data"]["object"]["currency"] = serde_json::json!("zzz");
        let EventKind::Invalid(invalid) = normalized(&pi).kind else { panic!("invalid") };
        assert_eq!(invalid.unread_payment.as_deref(), Some("pi_unread"));
        e["type"] = serde_json::json!("customer.created");
        assert_eq!(normalized(&e).kind, EventKind::Unhandled);
        assert!(normalize(r#"{"id": "evt_1"}"#).is_err());
    }
}
