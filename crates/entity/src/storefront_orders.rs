use sea_orm::entity::prelude::*;

/// One storefront order, as its storefront last described it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "storefront_orders")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub platform: crate::enums::Platform,
    pub shop: String,
    pub platform_order_id: String,
    pub malet_id: String,
    pub currency: String,
    pub status: crate::enums::StorefrontOrderStatus,
    pub subtotal: i64,
    pub discount: i64,
    pub tax: i64,
    pub shipping: i64,
    pub total: i64,
    /// The storefront's prices include tax (Shopify `taxes_included`): its refunds' line
    /// amounts then include their tax too.
    pub prices_include_tax: bool,
    /// When the storefront last changed the order (UTC, sortable text), if it said.
    pub source_version: Option<String>,
    pub affiliate_id: Option<String>,
    /// The ledger entry of its payment, once recorded.
    pub ledger_id: Option<String>,
    pub provider: Option<crate::enums::Provider>,
    pub provider_payment_id: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
