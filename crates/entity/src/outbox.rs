use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub topic: String,
    pub aggregate_id: String,
    pub payload: String,
    pub idempotency_key: String,
    pub status: crate::enums::OutboxStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub available_at: DateTimeUtc,
    pub locked_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub processed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
