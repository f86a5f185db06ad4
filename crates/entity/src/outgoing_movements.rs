use sea_orm::entity::prelude::*;

/// One call that moves money (a transfer, a reversal, a payout, a fee refund, a refund), written
/// in the transaction of the posting that causes it and sent with an idempotency key derived
/// from that posting: PENDING → SENT → CONFIRMED | FAILED | UNKNOWN.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outgoing_movements")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub owner: crate::enums::MovementOwner,
    pub kind: crate::enums::OutgoingKind,
    pub status: crate::enums::OutgoingStatus,
    pub provider: crate::enums::Provider,
    pub malet_id: String,
    /// Our connected account the money moves to or from.
    pub account_id: String,
    pub ledger_id: Option<String>,
    /// The idempotency key of the posting that caused this movement.
    pub posting_key: String,
    pub idempotency_key: String,
    pub amount: i64,
    pub currency: String,
    /// The provider's id of the seller's account (the transfer's destination).
    pub destination: Option<String>,
    /// The provider's payment (or charge) a reversal or fee refund is taken from.
    pub source_ref: Option<String>,
    /// The provider's id of the captured money, where it differs from the payment (PayPal's
    /// capture): what a refund is made against.
    pub source_charge: Option<String>,
    /// The metadata every call of this movement carries (JSON object of strings): the same on
    /// every attempt, and what the lookup matches.
    pub metadata: Option<String>,
    /// The provider's transfer group of a transfer (a multi-seller order's id).
    pub transfer_group: Option<String>,
    /// The movement id of the transfer a reversal takes money back from (a transfer made from a
    /// multi-seller charge); `None`: the payment's own transfer (a destination charge).
    pub source_transfer: Option<String>,
    /// The provider's id of what it made.
    pub provider_ref: Option<String>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
