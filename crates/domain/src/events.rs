//! Provider-neutral events (R-ACCT-4, R-HOOK-5): what a provider told us, in our terms.
//!
//! Each provider module of the `providers` crate turns its verified webhook payloads into a
//! [`ProviderEvent`] (its `transformers`), so the subgraphs apply the same events whichever
//! provider moved the money, and never see a provider's JSON. Amounts are minor units of the
//! event's currency, converted exactly at the boundary.

use std::collections::BTreeMap;

use crate::money::Currency;
use crate::provider::ProviderKind;

/// One verified provider event: its identity (for deduplication and ordering) and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderEvent {
    pub provider: ProviderKind,
    /// The provider's event id: an event is applied once per receiver by it.
    pub id: String,
    /// The provider's own name of the event type (kept for operators and logs).
    pub event_type: String,
    /// When the provider created the event (unix seconds): orders snapshots.
    pub created: i64,
    pub kind: EventKind,
}

/// What an event means for us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A payment to a seller succeeded: the ledger entry is created from it.
    PaymentSucceeded(PaymentSucceeded),
    /// A payment's refunds: the ledger converges to the cumulative refunded total.
    PaymentRefunded(PaymentRefunded),
    /// A dispute (chargeback) was opened or decided.
    Dispute(Dispute),
    /// The current state of a seller's payout account.
    AccountSnapshot(AccountSnapshot),
    /// The seller withdrew the platform's access to its provider account (e.g. PayPal consent
    /// revoked): no more sales or payouts through it.
    AccountRevoked { provider_account_id: String },
    /// A payout to a seller's bank or wallet was paid, or failed / came back.
    Payout(PayoutUpdate),
    /// The platform moved money to a seller's account (e.g. a reserve release).
    TransferCreated(TransferCreated),
    /// An event type we act on whose object does not parse or holds values we refuse: stored
    /// for an admin, never guessed.
    Invalid(InvalidEvent),
    /// A type no receiver acts on (recorded without effect).
    Unhandled,
}

/// Which kind of event an [`InvalidEvent`] would have been, so that only the receivers that act
/// on that kind flag it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Payment,
    Refund,
    Dispute,
    Account,
    Payout,
    Transfer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidEvent {
    pub category: Category,
    pub reason: String,
    /// Set when the event reports a succeeded payment we cannot read (e.g. in a currency we do
    /// not know): money arrived that the books do not show, so finance must see it.
    pub unread_payment: Option<String>,
}

/// How a payment is found in our books: the provider's payment id, and where the provider has a
/// separate id for the captured money (Stripe's charge), that too.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PaymentRef {
    pub payment_id: Option<String>,
    pub charge_id: Option<String>,
}

impl PaymentRef {
    /// The id to name in messages.
    pub fn describe(&self) -> &str {
        self.charge_id.as_deref().or(self.payment_id.as_deref()).unwrap_or("(none)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentSucceeded {
    pub payment_id: String,
    pub charge_id: Option<String>,
    /// What the buyer paid (minor units, > 0 is checked by the receiver's limits).
    pub amount: i64,
    pub currency: Currency,
    /// The provider account the money went to: the only thing that decides who is credited.
    /// `None` for a charge on the platform itself (a multi-seller order), whose sellers are the
    /// ones our checkout stored for it.
    pub destination: Option<String>,
    /// The group the provider files the charge and its transfers under (our order id, for a
    /// multi-seller order).
    pub transfer_group: Option<String>,
    /// The order reference and breakdown we attached to the payment (our own keys).
    pub metadata: BTreeMap<String, String>,
    /// The platform fee the provider says it collected, if it reports one.
    pub platform_fee: Option<i64>,
    /// When the payment was made (unix seconds).
    pub paid_at: i64,
}

/// A refund the provider reports, counted once by its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundFact {
    pub refund_id: String,
    /// Minor units; `None` when the provider named the refund without its amount.
    pub amount: Option<i64>,
    /// Whether it went (or is going) through; failed and canceled refunds do not count.
    pub counts: bool,
    /// The ledger entry our own refund request named in its metadata ([`LEDGER_ID_KEY`]): which
    /// seller of a multi-seller charge the refund is for.
    pub ledger_id: Option<String>,
}

/// The metadata key our refunds (and every outgoing movement) carry with the ledger entry.
pub const LEDGER_ID_KEY: &str = "ledgerId";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRefunded {
    pub payment: PaymentRef,
    /// The payment's cumulative refunded total after this event (minor units).
    pub cumulative_refunded: i64,
    /// The refunds this event lists, newest first.
    pub refunds: Vec<RefundFact>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisputeStatus {
    /// Open: the money is (or may be) withdrawn while it is decided.
    Open,
    /// Decided for the seller (or closed without a chargeback).
    Won,
    /// Decided for the buyer.
    Lost,
}

impl DisputeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DisputeStatus::Open => "OPEN",
            DisputeStatus::Won => "WON",
            DisputeStatus::Lost => "LOST",
        }
    }

    pub fn parse(text: &str) -> Option<DisputeStatus> {
        [DisputeStatus::Open, DisputeStatus::Won, DisputeStatus::Lost].into_iter().find(|s| s.as_str() == text)
    }

    pub fn is_closed(self) -> bool {
        self != DisputeStatus::Open
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispute {
    pub dispute_id: String,
    pub payment: PaymentRef,
    pub amount: i64,
    pub currency: Currency,
    pub status: DisputeStatus,
    /// The disputed money left the platform's balance, or came back (Stripe's
    /// `charge.dispute.funds_withdrawn` / `funds_reinstated`); `None` when the event says
    /// nothing about the money.
    pub funds: Option<DisputeFunds>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisputeFunds {
    Withdrawn,
    Reinstated,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSnapshot {
    pub provider_account_id: String,
    /// Our account id, sent back by a provider that names the seller's account only when
    /// onboarding completes (PayPal's `tracking_id`): links the two ids once.
    pub reference: Option<String>,
    pub charges_enabled: bool,
    pub payouts_enabled: bool,
    /// The seller finished the provider's onboarding (details submitted, consent given).
    pub details_submitted: bool,
    pub default_currency: Option<Currency>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayoutOutcome {
    Paid,
    /// Failed, returned, unclaimed or reversed: the money is back in the seller's balance.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutUpdate {
    pub payout_id: String,
    /// The seller's provider account the payout is from; `None` for the platform's own payouts.
    pub account: Option<String>,
    pub amount: i64,
    pub currency: Currency,
    pub outcome: PayoutOutcome,
    /// Our key of the payout item, where the provider sends it back (PayPal's `sender_item_id`):
    /// names a payout the platform made (an affiliate's).
    pub reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferCreated {
    pub transfer_id: String,
    pub amount: i64,
    pub currency: Currency,
    pub destination: Option<String>,
    /// Our own keys (e.g. `reserveHoldId`) attached when we made the transfer.
    pub metadata: BTreeMap<String, String>,
}
