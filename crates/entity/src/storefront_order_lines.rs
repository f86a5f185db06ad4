use sea_orm::entity::prelude::*;

/// A line of a storefront order.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "storefront_order_lines")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub order_id: String,
    pub line_id: String,
    pub product: String,
    pub quantity: i64,
    pub unit_price: i64,
    pub amount: i64,
    pub vendor: Option<String>,
    pub discount: i64,
    pub tax: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
