//! Running balances of a connected account in one currency, kept by a trigger on
//! `balance_movements` (never written by code).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account_balances")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub currency: String,
    pub malet_id: String,
    pub movements: i64,
    pub earnings: i64,
    pub pending: i64,
    pub reserve: i64,
    pub payouts: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
