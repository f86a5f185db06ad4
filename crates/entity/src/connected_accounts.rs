use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "connected_accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub malet_id: String,
    pub user_id: String,
    pub provider: crate::enums::Provider,
    pub provider_account_id: Option<String>,
    pub status: crate::enums::AccountStatus,
    pub status_reason: Option<String>,
    pub payout_interval: Option<String>,
    pub payout_day_of_week: Option<i16>,
    pub payout_day_of_month: Option<i16>,
    pub rolling_reserve_rate: String,
    pub reserve_expires_at: Option<DateTimeUtc>,
    pub currency: String,
    pub onboarding_url: Option<String>,
    pub kyc_verified: bool,
    pub charges_enabled: bool,
    pub payouts_enabled: bool,
    pub provider_snapshot_at: Option<i64>,
    /// Deactivated while SUSPENDED: the Malet needs an admin before it opens another account.
    pub blocks_new_account: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
