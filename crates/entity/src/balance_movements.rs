use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "balance_movements")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub account_id: String,
    pub malet_id: String,
    pub kind: crate::enums::MovementKind,
    pub currency: String,
    pub earnings_delta: i64,
    pub pending_delta: i64,
    pub reserve_delta: i64,
    pub payouts_delta: i64,
    pub source_type: String,
    pub source_id: String,
    pub idempotency_key: String,
    pub memo: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
