//! The murchases services: commission rules, the ledger (earnings, refunds, adjustments,
//! settlement), checkout (preview and destination charges), affiliates as payees, storefront
//! orders and the webhook applier.

pub mod affiliates;
pub mod audit;
pub mod checkout;
pub mod fee_refunds;
pub mod inbox;
pub mod ledger;
pub mod movements;
pub mod receivables;
pub mod reconciliation;
pub mod rules;
pub mod settlement;
pub mod storefronts;
pub mod webhooks;

use std::sync::Arc;

use domain::commission::CommissionConfig;
use sea_orm::DatabaseConnection;
use service_core::registry::ProviderRegistry;

/// Everything the services need.
#[derive(Clone)]
pub struct Murchases {
    pub db: DatabaseConnection,
    pub config: Arc<CommissionConfig>,
    pub providers: ProviderRegistry,
    /// Days after a payment succeeds at which its entry settles (see `settlement`).
    pub settle_after_days: i64,
    /// Days after settlement an affiliate's share is held before it is paid (R-AFF-2).
    pub affiliate_hold_days: i64,
    /// Where the provider sends an affiliate after (or to restart) its onboarding.
    pub affiliate_onboarding: AffiliateOnboardingUrls,
    /// The storefronts' default webhook secrets (issue 14).
    pub storefront_secrets: storefronts::StorefrontSecrets,
}

/// The return and refresh URLs of an affiliate's provider onboarding.
#[derive(Debug, Clone, Default)]
pub struct AffiliateOnboardingUrls {
    pub return_url: String,
    pub refresh_url: String,
}

pub use service_core::error::ServiceError;
pub type ServiceResult<T> = Result<T, ServiceError>;
