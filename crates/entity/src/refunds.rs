use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refunds")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub ledger_id: String,
    pub provider_refund_id: Option<String>,
    pub amount: i64,
    pub cumulative_refunded: i64,
    pub application_fee_refunded: i64,
    pub reason: Option<String>,
    pub source: String,
    pub idempotency_key: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
