//! The one contract between the subgraphs: what murchases tells payments about a seller's money,
//! through the outbox (topic [`TOPIC_BALANCE`]). Written by [`BalanceEvent::to_payload`] and read
//! by [`BalanceEvent::parse`], nowhere else.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::money::Currency;

/// The outbox topic of [`BalanceEvent`]s.
pub const TOPIC_BALANCE: &str = "murchases.balance";

/// What happened to a ledger entry, for the seller's balances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BalanceEventKind {
    /// A sale was recorded: its net goes to pending, its reserve is held.
    Earning,
    /// A refund clawed back part of the seller's share (net, and reserve while held).
    RefundClawback,
    /// An admin adjusted the commission: the net changes by the opposite amount.
    Adjustment,
    /// The entry settled: the hold's release date is fixed. Moves no money.
    Settled,
    /// A lost dispute debited the seller (negative), or a won one reinstated the debit.
    Dispute,
    /// A posting was undone because the money it moved never moved (a refused transfer).
    Reversal,
    /// The platform's commission on an order a storefront collected (TikTok Shop), owed by the
    /// seller (negative), or given back (positive). `ledger_id` is the receivable's id; it has
    /// no earning before it.
    Receivable,
}

impl BalanceEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BalanceEventKind::Earning => "EARNING",
            BalanceEventKind::RefundClawback => "REFUND_CLAWBACK",
            BalanceEventKind::Adjustment => "ADJUSTMENT",
            BalanceEventKind::Settled => "SETTLED",
            BalanceEventKind::Dispute => "DISPUTE",
            BalanceEventKind::Reversal => "REVERSAL",
            BalanceEventKind::Receivable => "RECEIVABLE",
        }
    }

    /// Whether the event moves money (an append to the seller's balances).
    pub fn moves_money(self) -> bool {
        self != BalanceEventKind::Settled
    }
}

/// One change of a seller's money from one ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceEvent {
    pub kind: BalanceEventKind,
    pub ledger_id: String,
    #[serde(default)]
    pub order_id: Option<String>,
    pub malet_id: String,
    /// The payout account the entry credits (where the money went), the only account credited.
    #[serde(default)]
    pub account_id: Option<String>,
    /// The provider account the money went to (entries recorded before `account_id` existed).
    #[serde(default)]
    pub destination: Option<String>,
    pub currency: Currency,
    /// Change of the seller's net (minor units).
    pub net_delta: i64,
    /// Change of the reserve held from the seller (minor units).
    pub reserve_delta: i64,
    pub occurred_at: DateTime<Utc>,
    #[serde(default)]
    pub settlement_date: Option<DateTime<Utc>>,
}

impl BalanceEvent {
    /// The outbox payload.
    pub fn to_payload(&self) -> String {
        // A struct of strings, integers and dates always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads an outbox payload; `Err` when it is not a balance event (it is parked, never guessed).
    pub fn parse(payload: &str) -> Result<BalanceEvent, String> {
        serde_json::from_str(payload).map_err(|e| format!("not a balance event: {e}"))
    }

    /// The account whose balances it changes (for ordering a batch).
    pub fn account_key(&self) -> &str {
        self.account_id.as_deref().or(self.destination.as_deref()).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_reads_back_as_the_same_event() {
        let event = BalanceEvent {
            kind: BalanceEventKind::RefundClawback,
            ledger_id: "l1".into(),
            order_id: Some("o1".into()),
            malet_id: "m1".into(),
            account_id: Some("a1".into()),
            destination: Some("acct_1".into()),
            currency: Currency::USD,
            net_delta: -3196,
            reserve_delta: -355,
            occurred_at: DateTime::from_timestamp(1_764_000_000, 0).expect("time"),
            settlement_date: None,
        };
        let payload = event.to_payload();
        assert!(payload.contains(r#""kind":"REFUND_CLAWBACK""#), "{payload}");
        assert!(payload.contains(r#""currency":"USD""#), "{payload}");
        assert_eq!(BalanceEvent::parse(&payload), Ok(event));
        assert!(BalanceEvent::parse(r#"{"kind":"BONUS"}"#).is_err());
    }
}
