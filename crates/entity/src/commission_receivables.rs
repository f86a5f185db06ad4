use sea_orm::entity::prelude::*;

/// The platform's commission on an order a storefront collected itself (TikTok Shop), owed by
/// the seller and recovered from its later earnings (`receivable_recoveries`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "commission_receivables")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub storefront_order_id: String,
    pub malet_id: String,
    /// The seller's payout account whose balance owes it.
    pub account_id: String,
    pub platform: crate::enums::Platform,
    pub platform_order_id: String,
    pub currency: String,
    /// The commission when the order was paid.
    pub original_amount: i64,
    /// What is owed now: the commission on the items the storefront did not refund (0 once the
    /// order was cancelled).
    pub amount: i64,
    /// The items base the storefront refunded (its returns), of the order's base.
    pub refunded_base: i64,
    /// The commission's base when it was computed (0: recorded before it was kept).
    pub commission_base: i64,
    /// Still to recover: `amount` less what is recovered (never below 0), kept with each change.
    pub open_amount: i64,
    pub status: crate::enums::ReceivableStatus,
    pub commission_rate: String,
    pub rule_version: i64,
    /// The commission's computation trace.
    pub breakdown: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
