use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "malet_settings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub malet_id: String,
    pub tier: String,
    pub currency: String,
    pub first_sale_at: Option<DateTimeUtc>,
    pub rule_version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
