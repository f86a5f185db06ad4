use sea_orm::entity::prelude::*;

/// An application-fee refund owed for a clawback: PENDING (to send), SENT, FAILED (refused by
/// the provider) or UNCOLLECTED (more than the provider still holds of the fee).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "fee_refunds")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub ledger_id: String,
    pub amount: i64,
    pub status: crate::enums::FeeRefundStatus,
    pub idempotency_key: String,
    pub provider_fee_refund_id: Option<String>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
