use sea_orm::entity::prelude::*;

/// A payment that arrived before its storefront order: applied when the order arrives.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "storefront_payment_waits")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub platform: crate::enums::Platform,
    pub malet_id: String,
    pub platform_order_id: String,
    pub provider: crate::enums::Provider,
    pub provider_payment_id: String,
    /// The inbox row (`webhook_events.id`) of the payment event.
    pub webhook_event_id: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
