use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "commission_ledger")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub order_id: String,
    pub malet_id: String,
    pub provider: crate::enums::Provider,
    pub provider_payment_id: String,
    pub provider_charge_id: Option<String>,
    pub destination_account_id: Option<String>,
    /// The connected account (ours) credited with this sale: the owner of the account the money
    /// went to, never a free-form field (R-TRUST-1).
    pub account_id: Option<String>,
    pub currency: String,
    pub gross_amount: i64,
    pub commission_rate: String,
    pub original_commission: i64,
    pub original_reserve: i64,
    pub original_affiliate: i64,
    pub commission_amount: i64,
    pub processing_fee: i64,
    pub reserve_amount: i64,
    pub affiliate_amount: i64,
    pub affiliate_id: Option<String>,
    pub net_payout: i64,
    pub application_fee_amount: i64,
    pub refunded_amount: i64,
    pub refunded_commission: i64,
    pub status: crate::enums::LedgerStatus,
    pub disputed: bool,
    pub rule_version: i64,
    pub breakdown: String,
    pub settlement_date: Option<DateTimeUtc>,
    /// The application fee the provider charged with the payment (`None`: not reported).
    pub provider_fee_amount: Option<i64>,
    /// What lost disputes took from the seller (disputed amount plus the fee it bears).
    pub dispute_debit: i64,
    /// How the seller's money reaches it: the charge itself, or a transfer from the platform's
    /// charge (a multi-seller order).
    pub funding: crate::enums::Funding,
    /// The order the charge and its transfers are grouped under at the provider (multi-seller).
    pub transfer_group: Option<String>,
    /// A storefront order's commissionable base (items less discounts); 0 for other entries.
    pub items_base: i64,
    /// What the storefront's refunds took back of that base, in total.
    pub items_refunded_base: i64,
    /// The money the storefront's refunds returned, in total.
    pub items_refunded_amount: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// Whether the platform holds this sale's money and transfers the seller's net.
    pub fn transfers_net(&self) -> bool {
        self.funding == crate::enums::Funding::SeparateTransfer
    }
}
