use sea_orm::entity::prelude::*;

/// A payment of an affiliate's due balance: a transfer through an outgoing movement (key
/// `affiliate-payout:<id>`), or one made by hand and recorded by an admin (`reference`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "affiliate_payouts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub affiliate_id: String,
    pub amount: i64,
    pub currency: String,
    pub status: crate::enums::AffiliatePayoutStatus,
    pub reference: Option<String>,
    pub last_error: Option<String>,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
