//! The payout-provider trait (R-ACCT-4): provider-agnostic inputs and outputs. Flow code calls
//! this trait and never matches on the provider. Every money-moving call carries an idempotency
//! key derived from our own ids, so a retry can never pay twice.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::money::Currency;
use crate::schedule::PayoutSchedule;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProviderKind {
    StripeConnect,
    Manual,
    Paypal,
    PaystackSubaccount,
    MpesaDirect,
}

impl ProviderKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ProviderKind::StripeConnect => "STRIPE_CONNECT",
            ProviderKind::Manual => "MANUAL",
            ProviderKind::Paypal => "PAYPAL",
            ProviderKind::PaystackSubaccount => "PAYSTACK_SUBACCOUNT",
            ProviderKind::MpesaDirect => "MPESA_DIRECT",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProviderKind {
    type Err = ProviderError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "STRIPE_CONNECT" => Ok(ProviderKind::StripeConnect),
            "MANUAL" => Ok(ProviderKind::Manual),
            "PAYPAL" => Ok(ProviderKind::Paypal),
            "PAYSTACK_SUBACCOUNT" => Ok(ProviderKind::PaystackSubaccount),
            "MPESA_DIRECT" => Ok(ProviderKind::MpesaDirect),
            _ => Err(ProviderError::NotSupported(format!("provider {s}"))),
        }
    }
}

/// Provider failures, by what they mean for our state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider refused the request: nothing happened there.
    #[error("provider rejected the request: {message}")]
    Rejected { code: Option<String>, message: String },
    /// The provider could not be reached before the request was sent: nothing happened there.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// The request may or may not have taken effect (timeout, 5xx): look it up before retrying.
    #[error("provider outcome unknown: {0}")]
    Ambiguous(String),
    /// This provider does not do this operation (or is not configured).
    #[error("not supported by this provider: {0}")]
    NotSupported(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateAccount {
    pub malet_id: String,
    pub user_id: String,
    pub country: Option<String>,
    pub email: Option<String>,
    pub idempotency_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderAccount {
    /// `None` for providers without an external account (MANUAL).
    pub provider_account_id: Option<String>,
    pub charges_enabled: bool,
    pub payouts_enabled: bool,
    pub currency: Option<Currency>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnboardingLinkRequest {
    /// Our id of the account: the reference a provider that only learns the seller's own id at
    /// the end of onboarding (PayPal's `tracking_id`) sends back with it.
    pub account_id: String,
    /// The provider's id of the account, when it has one before onboarding (Stripe).
    pub provider_account_id: Option<String>,
    pub refresh_url: String,
    pub return_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnboardingLink {
    pub url: String,
    pub expires_at: Option<i64>,
}

/// A sale as a destination charge (R-PAY-3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationCharge {
    pub amount: i64,
    pub currency: Currency,
    pub destination: String,
    pub application_fee_amount: i64,
    pub metadata: BTreeMap<String, String>,
    pub idempotency_key: String,
}

/// A multi-seller order as one payment by the buyer (issue 13). A provider that transfers
/// ([`PayoutProvider::moves`] transfers: Stripe's *separate charges and transfers*) charges the
/// platform and each seller's net is transferred from the charge; one that pays sellers at
/// capture (PayPal) makes one purchase unit per seller, paying that seller with the platform's
/// fee of its part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformCharge {
    pub amount: i64,
    pub currency: Currency,
    /// Our order id: the charge and every transfer from it are grouped under it.
    pub transfer_group: String,
    /// Each seller's part, in the order of the cart's sellers; their amounts sum to `amount`.
    pub parts: Vec<ChargePart>,
    pub metadata: BTreeMap<String, String>,
    pub idempotency_key: String,
}

/// One seller's part of a [`PlatformCharge`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargePart {
    pub malet_id: String,
    /// The seller's provider account (PayPal: its merchant id).
    pub destination: String,
    pub amount: i64,
    /// What the platform keeps of this part (the seller's application fee).
    pub platform_fee: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeCreated {
    pub payment_id: String,
    /// What the buyer's browser confirms the payment with (Stripe's PaymentIntent secret).
    pub client_secret: Option<String>,
    /// Where the buyer approves the payment (PayPal's approval link).
    pub approval_url: Option<String>,
}

/// Capture of a payment the buyer approved (a PayPal order), keyed by our order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureRequest {
    pub payment_id: String,
    pub idempotency_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// The provider's id of the captured money.
    pub charge_id: String,
    /// Whether the money is captured now (else the provider holds it pending, and its webhook
    /// reports the outcome).
    pub completed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRequest {
    pub amount: i64,
    pub currency: Currency,
    pub destination: String,
    /// The charge the money comes from (Stripe `source_transaction`): the transfer waits for
    /// that charge's funds instead of the platform's available balance.
    pub source_transaction: Option<String>,
    /// The order the transfer belongs to (Stripe `transfer_group`).
    pub transfer_group: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub idempotency_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferCreated {
    pub transfer_id: String,
}

/// Seller to platform: `amount` back out of what a payment transferred to the seller (a
/// commission raised after the sale, a lost dispute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReversalRequest {
    pub payment_id: String,
    /// The transfer to reverse when the payment did not make it itself (a transfer from a
    /// multi-seller charge); `None`: the payment's own transfer.
    pub transfer_id: Option<String>,
    /// The provider's id of the captured money, where it differs from the payment.
    pub charge_id: Option<String>,
    pub amount: i64,
    pub currency: Currency,
    pub metadata: BTreeMap<String, String>,
    pub idempotency_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReversalCreated {
    pub reversal_id: String,
}

/// What an outgoing movement asks the provider to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutgoingKind {
    /// Platform to seller.
    Transfer,
    /// Seller to platform, out of a payment's transfer.
    TransferReversal,
    /// The seller's provider balance to the seller's bank.
    Payout,
    /// Part of the application fee back to the seller.
    FeeRefund,
    /// Money back to the buyer.
    Refund,
}

/// The metadata key every outgoing movement carries with our id of it: what
/// [`PayoutProvider::find_movement`] matches.
pub const MOVEMENT_ID_KEY: &str = "movementId";

/// Finds, at the provider, a movement whose outcome is unknown (a timeout): by our id of it in
/// the provider object's metadata ([`MOVEMENT_ID_KEY`]), among the objects it could be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovementLookup {
    pub kind: OutgoingKind,
    pub movement_id: String,
    /// The metadata every call of the movement carried: the object matched carries all of it.
    pub metadata: BTreeMap<String, String>,
    /// The provider's id of the seller's account (a transfer's destination).
    pub destination: Option<String>,
    /// The payment (or charge) a reversal or fee refund is taken from.
    pub payment_id: Option<String>,
    /// The transfer a reversal is taken from, when the payment did not make it itself.
    pub transfer_id: Option<String>,
    pub charge_id: Option<String>,
    /// Unix seconds no later than the movement's first send.
    pub created_after: i64,
}

/// What the provider holds of a payment, for reconciliation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRecord {
    pub object: ReconObjectKind,
    /// The provider's id of the object.
    pub id: String,
    /// The payment (or transfer, for a reversal) the object belongs to, when it has one.
    pub parent: Option<String>,
    /// The provider's id of the seller's account it moved money to or from.
    pub account: Option<String>,
    pub amount: i64,
    /// `None` when the provider named a currency the domain does not know.
    pub currency: Option<Currency>,
    /// The provider's status word, where it has one (`paid`, `failed`, …).
    pub status: Option<String>,
    pub created: i64,
    /// Our keys on the object (`movementId`, `orderId`, `ledgerId`, `reserveHoldId`, …).
    pub metadata: BTreeMap<String, String>,
}

/// What reconciliation compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReconObjectKind {
    Charge,
    /// A refund to a buyer (Stripe: a `refund` balance transaction).
    Refund,
    ApplicationFee,
    FeeRefund,
    Transfer,
    TransferReversal,
    Payout,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutRequest {
    pub provider_account_id: String,
    pub amount: i64,
    pub currency: Currency,
    pub idempotency_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutCreated {
    pub payout_id: String,
}

/// Refund of a destination charge: refunds `amount` to the buyer and reverses the transfer from
/// the seller (when `reverse_transfer`). The application fee is not touched here: the share of it
/// a clawback returns is sent separately ([`FeeRefundRequest`]), computed under the ledger's lock
/// from the cumulative clawback (R-REF-1, R-REF-4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub payment_id: String,
    /// The provider's id of the captured money, where it differs from the payment (PayPal's
    /// capture of an order).
    pub charge_id: Option<String>,
    /// Refunded to the buyer (minor units of `currency`, the payment's).
    pub amount: i64,
    pub currency: Currency,
    pub reverse_transfer: bool,
    pub metadata: BTreeMap<String, String>,
    /// The key of the refund: a retry with the same key repeats nothing.
    pub idempotency_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundCreated {
    /// The provider's id of the refund: each refund is counted once by it.
    pub refund_id: String,
    /// What the provider refunded.
    pub amount: i64,
    /// The payment's cumulative refunded amount as the provider reports it after this refund,
    /// when it could be read: the ledger converges to it (as it does from `charge.refunded`),
    /// so a concurrent webhook or a retried request is never counted twice.
    pub charge_amount_refunded: Option<i64>,
}

/// Returns `amount` of the application fee charged with a payment to the seller: the platform's
/// clawback share of a refund (commission, reserve while held, affiliate), never the processing
/// fee. The key is derived from the ledger posting that owes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeRefundRequest {
    pub payment_id: String,
    pub amount: i64,
    pub metadata: BTreeMap<String, String>,
    pub idempotency_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeRefundCreated {
    pub fee_refund_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderBalance {
    pub available: Vec<(Currency, i64)>,
    pub pending: Vec<(Currency, i64)>,
}

/// A provider event as delivered by the provider's events API (for backfills).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderEvent {
    pub id: String,
    pub event_type: String,
    pub created: i64,
    /// The raw event JSON, exactly as the provider returned it.
    pub payload: String,
}

/// How a seller's account with a provider becomes ACTIVE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Onboarding {
    /// The seller follows a provider-hosted link; the provider's webhook activates the account.
    HostedLink,
    /// There is no provider onboarding: an admin confirms the account (MANUAL).
    AdminConfirms,
}

/// One payout provider (Stripe Connect, manual, PayPal, …).
#[async_trait]
pub trait PayoutProvider: Send + Sync {
    fn kind(&self) -> ProviderKind;
    fn onboarding(&self) -> Onboarding {
        Onboarding::HostedLink
    }
    async fn create_account(&self, req: CreateAccount) -> Result<ProviderAccount, ProviderError>;
    async fn onboarding_link(&self, req: OnboardingLinkRequest) -> Result<OnboardingLink, ProviderError>;
    async fn update_payout_schedule(
        &self,
        provider_account_id: &str,
        schedule: PayoutSchedule,
    ) -> Result<(), ProviderError>;
    async fn create_destination_charge(&self, req: DestinationCharge) -> Result<ChargeCreated, ProviderError>;
    /// Charges the buyer once for a multi-seller order: on the platform (the sellers are paid by
    /// [`PayoutProvider::transfer`]s from it), or as one unit per seller (see [`PlatformCharge`]).
    async fn create_platform_charge(&self, req: PlatformCharge) -> Result<ChargeCreated, ProviderError> {
        let _ = req;
        Err(ProviderError::NotSupported(format!("{}: one charge for several sellers", self.kind())))
    }
    /// Captures a payment the buyer approved. Providers whose payments are captured when the
    /// buyer confirms them (Stripe's PaymentIntent) have nothing to capture.
    async fn capture_payment(&self, _req: CaptureRequest) -> Result<Captured, ProviderError> {
        Err(ProviderError::NotSupported(format!("{}: payments are captured when the buyer confirms them", self.kind())))
    }
    async fn transfer(&self, req: TransferRequest) -> Result<TransferCreated, ProviderError>;
    /// Whether this provider makes outgoing movements of `kind` through
    /// [`PayoutProvider::transfer`] / [`PayoutProvider::reverse_transfer`] (else a ledger change
    /// of that kind is settled outside the provider, like a MANUAL seller's bank payouts).
    fn moves(&self, kind: OutgoingKind) -> bool {
        let _ = kind;
        false
    }
    /// Takes `amount` back from the seller out of what a payment transferred to it.
    async fn reverse_transfer(&self, req: ReversalRequest) -> Result<ReversalCreated, ProviderError> {
        let _ = req;
        Err(ProviderError::NotSupported(format!("{}: transfer reversals", self.kind())))
    }
    /// The provider's id of a movement made with our id [`MovementLookup::movement_id`], if the
    /// provider has one: how a movement whose outcome is unknown is settled before any retry.
    async fn find_movement(&self, lookup: MovementLookup) -> Result<Option<String>, ProviderError> {
        let _ = lookup;
        Err(ProviderError::NotSupported(format!("{}: looking movements up", self.kind())))
    }
    /// Every money object the provider created in `[from, to)` (unix seconds) that
    /// reconciliation compares with the books: charges and their application fees and fee
    /// refunds, transfers and their reversals, and the connected accounts' payouts
    /// (`accounts`: the provider ids of our sellers).
    async fn money_records(
        &self,
        from: i64,
        to: i64,
        accounts: &[String],
    ) -> Result<Vec<ProviderRecord>, ProviderError> {
        let _ = (from, to, accounts);
        Err(ProviderError::NotSupported(format!("{}: reconciliation records", self.kind())))
    }
    async fn payout(&self, req: PayoutRequest) -> Result<PayoutCreated, ProviderError>;
    async fn refund(&self, req: RefundRequest) -> Result<RefundCreated, ProviderError>;
    async fn refund_application_fee(&self, req: FeeRefundRequest) -> Result<FeeRefundCreated, ProviderError>;
    async fn balance(&self, provider_account_id: &str) -> Result<ProviderBalance, ProviderError>;
    /// Events created after `created_after` (unix seconds), oldest first, for replaying missed
    /// webhooks (R-HOOK-3): the platform's own events when `account` is `None`, else the events
    /// of that connected account (`provider_account_id`), where e.g. Stripe keeps an Express
    /// account's `account.updated` and `payout.*` events.
    /// Whether [`PayoutProvider::events_since`] has events per seller account (Stripe keeps an
    /// Express account's events on that account) besides the platform's.
    fn events_per_account(&self) -> bool {
        false
    }
    async fn events_since(
        &self,
        account: Option<&str>,
        created_after: i64,
        limit: u32,
    ) -> Result<Vec<ProviderEvent>, ProviderError>;
}
