use sea_orm::entity::prelude::*;

/// A storefront webhook delivery, stored once by its delivery id.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "storefront_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub platform: crate::enums::Platform,
    pub shop: String,
    pub delivery_id: String,
    pub event_id: Option<String>,
    pub topic: String,
    pub status: crate::enums::DeliveryStatus,
    pub note: Option<String>,
    pub payload: String,
    pub received_at: DateTimeUtc,
    /// Reads tried again (by the job or the storefront's redelivery) after the source did not
    /// answer the first.
    pub attempts: i32,
    /// When the job reads a SOURCE_UNAVAILABLE delivery again.
    pub next_attempt_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
