use sea_orm::entity::prelude::*;

/// An affiliate registered as a payee, with its payout account.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "affiliates")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub provider: crate::enums::Provider,
    /// e.g. `acct_…` (Stripe); none for MANUAL.
    pub provider_account_id: Option<String>,
    pub currency: String,
    pub status: crate::enums::AffiliateStatus,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
