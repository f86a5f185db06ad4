//! Running totals of a Malet's ledger in one currency, kept by a trigger on `ledger_postings`
//! (never written by code).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "malet_ledger_totals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub malet_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub currency: String,
    pub entries: i64,
    pub gross: i64,
    pub refunded: i64,
    pub commission: i64,
    pub reserve: i64,
    pub affiliate: i64,
    pub net: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
