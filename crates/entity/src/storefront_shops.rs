use sea_orm::entity::prelude::*;

/// A storefront shop an admin registered: whose it is, and which environment variable holds its webhook secret (never the secret).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "storefront_shops")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub platform: crate::enums::Platform,
    /// Shopify shop domain, WooCommerce site URL, TikTok shop id.
    pub shop: String,
    pub malet_id: String,
    pub secret_env: Option<String>,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
