use sea_orm::entity::prelude::*;

/// A refund a storefront reported, by the storefront key of its order.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "storefront_refunds")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub platform: crate::enums::Platform,
    pub shop: String,
    pub platform_order_id: String,
    pub refund_id: String,
    pub currency: String,
    /// The refunded lines' amounts less their discounts, as the storefront reports them (their
    /// tax included when the order's prices include it).
    pub base: i64,
    /// The refunded lines' tax.
    pub tax: i64,
    pub amount: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The commissionable base it takes back: its lines before tax.
    pub fn base_before_tax(&self, order: &crate::storefront_orders::Model) -> i64 {
        if order.prices_include_tax { self.base.saturating_sub(self.tax).max(0) } else { self.base }
    }
}
