use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "commission_rules")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub malet_id: String,
    pub version: i64,
    pub tier: String,
    pub commission_rate: Option<String>,
    pub affiliate_rate: Option<String>,
    pub affiliate_funding: Option<String>,
    pub effective_from: DateTimeUtc,
    pub created_by: String,
    pub reason: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
