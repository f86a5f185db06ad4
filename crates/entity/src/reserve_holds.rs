use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reserve_holds")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub account_id: String,
    pub ledger_id: String,
    pub amount: i64,
    pub currency: String,
    pub release_at: Option<DateTimeUtc>,
    pub status: crate::enums::HoldStatus,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<DateTimeUtc>,
    pub transfer_id: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
