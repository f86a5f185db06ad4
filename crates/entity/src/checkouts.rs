use sea_orm::entity::prelude::*;

/// A payment our checkout created (`createMurchasePayment`), with the breakdown it charged.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "checkouts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub malet_id: String,
    pub order_id: String,
    pub account_id: String,
    pub provider: crate::enums::Provider,
    pub provider_payment_id: String,
    pub provider_account_id: Option<String>,
    pub currency: String,
    pub gross_amount: i64,
    pub subtotal: i64,
    pub discount: i64,
    pub tax: i64,
    pub shipping: i64,
    pub affiliate_id: Option<String>,
    /// How the seller is paid: by the charge itself, or by a transfer from a multi-seller charge.
    pub funding: crate::enums::Funding,
    /// The multi-seller order's id at the provider (its charge and transfers are grouped by it).
    pub transfer_group: Option<String>,
    /// This seller's share of the order's processing fee (multi-seller; `None`: estimated on the
    /// seller's own gross).
    pub processing_fee_estimate: Option<i64>,
    pub created_by: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
