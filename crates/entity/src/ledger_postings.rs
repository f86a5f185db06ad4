use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ledger_postings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub ledger_id: String,
    pub kind: crate::enums::PostingKind,
    pub commission_delta: i64,
    pub reserve_delta: i64,
    pub affiliate_delta: i64,
    pub net_delta: i64,
    pub refunded_delta: i64,
    pub dispute_delta: i64,
    pub adjustment_delta: i64,
    pub idempotency_key: String,
    pub actor: Option<String>,
    pub reason: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
