//! Kinds and statuses as stored: sea-orm active enums over text columns, so a value outside the
//! enum is a read error, never a silently wrong string. Each mirrors its domain enum (the domain
//! crate stays free of database crates) with conversions both ways.

use sea_orm::entity::prelude::*;

/// Who moved the money (`provider` columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Provider {
    #[sea_orm(string_value = "STRIPE_CONNECT")]
    StripeConnect,
    #[sea_orm(string_value = "MANUAL")]
    Manual,
    #[sea_orm(string_value = "PAYPAL")]
    Paypal,
    #[sea_orm(string_value = "PAYSTACK_SUBACCOUNT")]
    PaystackSubaccount,
    #[sea_orm(string_value = "MPESA_DIRECT")]
    MpesaDirect,
}

impl From<domain::provider::ProviderKind> for Provider {
    fn from(kind: domain::provider::ProviderKind) -> Self {
        use domain::provider::ProviderKind as K;
        match kind {
            K::StripeConnect => Provider::StripeConnect,
            K::Manual => Provider::Manual,
            K::Paypal => Provider::Paypal,
            K::PaystackSubaccount => Provider::PaystackSubaccount,
            K::MpesaDirect => Provider::MpesaDirect,
        }
    }
}

impl From<Provider> for domain::provider::ProviderKind {
    fn from(p: Provider) -> Self {
        use domain::provider::ProviderKind as K;
        match p {
            Provider::StripeConnect => K::StripeConnect,
            Provider::Manual => K::Manual,
            Provider::Paypal => K::Paypal,
            Provider::PaystackSubaccount => K::PaystackSubaccount,
            Provider::MpesaDirect => K::MpesaDirect,
        }
    }
}

impl Provider {
    pub fn kind(self) -> domain::provider::ProviderKind {
        self.into()
    }

    pub fn as_str(self) -> &'static str {
        self.kind().as_str()
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `Display` and `Serialize` of a stored enum: its stored text.
macro_rules! text_impls {
    ($name:ident) => {
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

/// A stored enum mirroring a domain enum of the same variants.
macro_rules! mirrored {
    ($(#[$meta:meta])* $name:ident = $domain:ty { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
        pub enum $name {
            $(#[sea_orm(string_value = $text)] $variant),+
        }

        impl From<$domain> for $name {
            fn from(v: $domain) -> Self {
                match v {
                    $(<$domain>::$variant => $name::$variant),+
                }
            }
        }

        impl From<$name> for $domain {
            fn from(v: $name) -> Self {
                match v {
                    $($name::$variant => <$domain>::$variant),+
                }
            }
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        text_impls!($name);

        impl $name {
            /// The domain value.
            pub fn domain(self) -> $domain {
                self.into()
            }
        }
    };
}

mirrored! {
    /// `connected_accounts.status` (R-ACCT-3).
    AccountStatus = domain::lifecycle::AccountStatus {
        Pending => "PENDING",
        Onboarding => "ONBOARDING",
        Active => "ACTIVE",
        Suspended => "SUSPENDED",
        Deactivated => "DEACTIVATED",
    }
}

mirrored! {
    /// `commission_ledger.status`.
    LedgerStatus = domain::lifecycle::LedgerStatus {
        Pending => "PENDING",
        Settled => "SETTLED",
        PartiallyRefunded => "PARTIALLY_REFUNDED",
        Refunded => "REFUNDED",
    }
}

mirrored! {
    /// `disputes.status`.
    DisputeStatus = domain::events::DisputeStatus {
        Open => "OPEN",
        Won => "WON",
        Lost => "LOST",
    }
}

/// A stored enum with no domain counterpart (the storage enum is the type).
macro_rules! stored {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
        pub enum $name {
            $($(#[$vmeta])* #[sea_orm(string_value = $text)] $variant),+
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        text_impls!($name);
    };
}

stored! {
    /// How a sale's money reaches its seller (`commission_ledger.funding`, `checkouts.funding`).
    Funding {
        /// The charge pays the seller's account; the platform keeps an application fee.
        DestinationCharge => "DESTINATION_CHARGE",
        /// The platform is paid (one charge for several sellers) and transfers each seller's
        /// net from that charge (issue 13).
        SeparateTransfer => "SEPARATE_TRANSFER",
    }
}

stored! {
    /// `affiliates.status`: an ACTIVE affiliate is paid; an ONBOARDING or SUSPENDED one keeps
    /// earning but is not paid.
    AffiliateStatus {
        /// Onboarding with the provider (self-onboarding); paid once the provider enables it.
        Onboarding => "ONBOARDING",
        Active => "ACTIVE",
        Suspended => "SUSPENDED",
    }
}

stored! {
    /// `affiliate_payouts.status`.
    AffiliatePayoutStatus {
        /// Its transfer is being made (counts as paid, so it is never paid twice).
        Sending => "SENDING",
        Paid => "PAID",
        /// The provider refused it: the amount is due again.
        Failed => "FAILED",
    }
}

stored! {
    /// `reserve_holds.status`: a held reserve, while its release is being made, and released.
    HoldStatus {
        Held => "HELD",
        /// Claimed by a release (the transfer to the seller is being made).
        Releasing => "RELEASING",
        Released => "RELEASED",
    }
}

stored! {
    /// `payouts.status`.
    PayoutStatus {
        Paid => "PAID",
        /// Failed or came back: its money is in the pending balance again.
        Failed => "FAILED",
    }
}

stored! {
    /// What moved a balance (`balance_movements.kind`).
    MovementKind {
        Earning => "EARNING",
        RefundClawback => "REFUND_CLAWBACK",
        Adjustment => "ADJUSTMENT",
        Payout => "PAYOUT",
        PayoutFailed => "PAYOUT_FAILED",
        ReserveRelease => "RESERVE_RELEASE",
        BalanceCarry => "BALANCE_CARRY",
        /// A lost dispute's debit (negative) or a won dispute's reinstatement (positive).
        Dispute => "DISPUTE",
        /// A posting reversed because the money it moved never moved (its transfer failed).
        Reversal => "REVERSAL",
        /// The commission on an order a storefront collected (TikTok Shop), owed by the seller
        /// (negative), or given back when the order is cancelled (positive).
        Receivable => "RECEIVABLE",
    }
}

stored! {
    /// `receivable_recoveries.status`: a recovery of a receivable from one earning.
    RecoveryStatus {
        /// Its transfer reversal is queued or sent: counts as recovered (never taken twice).
        Pending => "PENDING",
        /// The provider reversed it.
        Confirmed => "CONFIRMED",
        /// The provider refused it: counts for nothing, the receivable is open again.
        Failed => "FAILED",
    }
}

stored! {
    /// `receivable_recoveries.method`, `receivable_givebacks.method`: how the money moved.
    RecoveryMethod {
        /// A reversal of the earning's transfer (a gift back: a transfer to the seller).
        Reversal => "REVERSAL",
        /// The provider moves no money that way (MANUAL, PayPal): the earning and the debt are
        /// both on the seller's balance, and its payouts pay the difference. No movement.
        Netted => "NETTED",
    }
}

stored! {
    /// `commission_receivables.status`.
    ReceivableStatus {
        /// Owed: `amount` (the commission on what the storefront did not refund), less what is
        /// recovered.
        Owed => "OWED",
        /// The order was cancelled: nothing is owed, and what was recovered is given back.
        Cancelled => "CANCELLED",
    }
}

stored! {
    /// `fee_refunds.status`: an application-fee refund owed to a seller.
    FeeRefundStatus {
        /// Queued with its clawback; to send with its key.
        Pending => "PENDING",
        /// Made at the provider.
        Sent => "SENT",
        /// Refused by the provider (kept for finance with the reason).
        Failed => "FAILED",
        /// Owed but above what the provider still holds of the fee: settled outside the fee.
        Uncollected => "UNCOLLECTED",
    }
}

stored! {
    /// `ledger_postings.kind`: what changed a ledger entry.
    PostingKind {
        Earning => "EARNING",
        Refund => "REFUND",
        Adjustment => "ADJUSTMENT",
        /// A lost dispute debited the seller, or a won one reinstated the debit.
        Dispute => "DISPUTE",
        /// Undoes a posting whose money movement failed at the provider.
        Reversal => "REVERSAL",
    }
}

stored! {
    /// `outgoing_movements.owner`: the subgraph that wrote the movement and sends it.
    MovementOwner {
        Murchases => "murchases",
        Payments => "payments",
    }
}

mirrored! {
    /// `outgoing_movements.kind`: what the provider is asked to do.
    OutgoingKind = domain::provider::OutgoingKind {
        Transfer => "TRANSFER",
        TransferReversal => "TRANSFER_REVERSAL",
        Payout => "PAYOUT",
        FeeRefund => "FEE_REFUND",
        Refund => "REFUND",
    }
}

stored! {
    /// `outgoing_movements.status`: PENDING → SENT → CONFIRMED | FAILED | UNKNOWN.
    OutgoingStatus {
        /// Written with its posting; to send.
        Pending => "PENDING",
        /// Sent; the provider's answer is awaited.
        Sent => "SENT",
        /// The provider made it (its id is kept).
        Confirmed => "CONFIRMED",
        /// The provider refused it: its posting is reversed by a new posting.
        Failed => "FAILED",
        /// The request may or may not have taken effect: looked up at the provider before any
        /// retry.
        Unknown => "UNKNOWN",
    }
}

impl OutgoingStatus {
    /// Not final: the sender still owes these a provider call or a lookup.
    pub const OPEN: [OutgoingStatus; 3] = [OutgoingStatus::Pending, OutgoingStatus::Sent, OutgoingStatus::Unknown];
}

stored! {
    /// `reconciliation_mismatches.class` (hyperswitch's reconciliation classes).
    MismatchClass {
        /// The provider has it, our books do not.
        MissingInLedger => "MISSING_IN_LEDGER",
        /// Our books have it, the provider does not.
        MissingAtProvider => "MISSING_AT_PROVIDER",
        /// The provider's amount is above ours.
        Over => "OVER",
        /// The provider's amount is below ours.
        Under => "UNDER",
        CurrencyMismatch => "CURRENCY_MISMATCH",
        /// Same amount and currency, another party or status.
        DataMismatch => "DATA_MISMATCH",
    }
}

mirrored! {
    /// `reconciliation_mismatches.object_kind`: what was compared.
    ReconObject = domain::provider::ReconObjectKind {
        Charge => "CHARGE",
        Refund => "REFUND",
        ApplicationFee => "APPLICATION_FEE",
        FeeRefund => "FEE_REFUND",
        Transfer => "TRANSFER",
        TransferReversal => "TRANSFER_REVERSAL",
        Payout => "PAYOUT",
    }
}

stored! {
    /// `reconciliation_mismatches.state`.
    MismatchState {
        Open => "OPEN",
        /// Known and accepted by an admin, with a reason.
        Acknowledged => "ACKNOWLEDGED",
        /// Corrected (by an admin, or no longer found by a later run).
        Fixed => "FIXED",
    }
}

stored! {
    /// `outbox.status`.
    OutboxStatus {
        /// Written; due for its consumer.
        Pending => "PENDING",
        /// Consumed.
        Done => "DONE",
        /// Consuming failed; retried.
        Failed => "FAILED",
        /// Can never apply as it is: kept with its reason, not retried, for an admin.
        Parked => "PARKED",
    }
}

stored! {
    /// Where an inbox event is (`webhook_events.status`).
    WebhookStatus {
        /// Stored, not applied yet (a backfill stores first, then applies).
        Received => "RECEIVED",
        /// Applied.
        Processed => "PROCESSED",
        /// Recorded without effect (not this receiver's event type, or nothing to do).
        Ignored => "IGNORED",
        /// Stored for an admin: it cannot apply as it is (e.g. an unknown destination account).
        /// An admin fixes the cause and replays it.
        NeedsAttention => "NEEDS_ATTENTION",
        /// Applying failed; retried with backoff, and at once when the provider redelivers it.
        Failed => "FAILED",
    }
}

impl WebhookStatus {
    pub const ALL: [WebhookStatus; 5] = [
        WebhookStatus::Received,
        WebhookStatus::Processed,
        WebhookStatus::Ignored,
        WebhookStatus::NeedsAttention,
        WebhookStatus::Failed,
    ];
    /// Statuses the retry loop and a redelivery apply.
    pub const DUE: [WebhookStatus; 2] = [WebhookStatus::Received, WebhookStatus::Failed];
    /// Statuses an operator may replay (the due ones and those waiting for an admin).
    pub const REPLAYABLE: [WebhookStatus; 3] =
        [WebhookStatus::Received, WebhookStatus::Failed, WebhookStatus::NeedsAttention];

    pub fn parse(text: &str) -> Option<WebhookStatus> {
        WebhookStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

mirrored! {
    /// Where a storefront order was placed (`storefront_*.platform`).
    Platform = domain::storefront::Platform {
        Shopify => "shopify",
        Woocommerce => "woocommerce",
        Tiktok => "tiktok",
        Instagram => "instagram",
        Mallnline => "mallnline",
    }
}

mirrored! {
    /// `storefront_orders.status`, as the storefront says.
    StorefrontOrderStatus = domain::storefront::StorefrontOrderStatus {
        Pending => "PENDING",
        Paid => "PAID",
        PartiallyRefunded => "PARTIALLY_REFUNDED",
        Refunded => "REFUNDED",
        Cancelled => "CANCELLED",
    }
}

stored! {
    /// What a storefront delivery came to (`storefront_deliveries.status`).
    DeliveryStatus {
        /// Applied to the order record (and the ledger where a payment was waiting).
        Applied => "APPLIED",
        /// A topic we do not act on: recorded, acknowledged.
        Ignored => "IGNORED",
        /// Recorded for an admin (e.g. the order's numbers do not add up).
        NeedsAttention => "NEEDS_ATTENTION",
        /// Kept because the storefront's API did not answer when the delivery needed it (TikTok
        /// Shop's order detail): the storefront's redelivery, or an admin's replay, reads it again.
        SourceUnavailable => "SOURCE_UNAVAILABLE",
    }
}
