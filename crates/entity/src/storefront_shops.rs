use sea_orm::entity::prelude::*;

/// A storefront shop an admin registered: whose it is, and which environment variables hold its webhook secret and its API credentials (never the secrets).
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
    /// WooCommerce: the variables holding the REST API's consumer key and secret.
    pub api_key_env: Option<String>,
    pub api_secret_env: Option<String>,
    /// Whether an affiliate the shop's orders name (which buyers can write) is credited.
    pub affiliate_attribution: bool,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
