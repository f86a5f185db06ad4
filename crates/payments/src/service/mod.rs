//! The payments services: connected accounts and their lifecycle, payout schedules, balances
//! fed by murchases' ledger events, the reserve release job, and the webhook applier.

pub mod accounts;
pub mod balances;
pub mod reserve;
pub mod statements;
pub mod webhooks;

use std::sync::Arc;

use domain::commission::CommissionConfig;
use sea_orm::DatabaseConnection;
use service_core::registry::ProviderRegistry;

pub use service_core::error::ServiceError;
pub type ServiceResult<T> = Result<T, ServiceError>;

/// Settings the services need besides the database.
#[derive(Debug, Clone)]
pub struct PaymentsSettings {
    /// Where Stripe sends the seller after onboarding, and when a link expired.
    pub onboarding_return_url: String,
    pub onboarding_refresh_url: String,
    /// Default payout currency of new accounts.
    pub default_currency: String,
    /// Disputes within `dispute_window_days` above which an account is suspended.
    pub chargeback_threshold: u64,
    pub dispute_window_days: i64,
}

#[derive(Clone)]
pub struct Payments {
    pub db: DatabaseConnection,
    pub config: Arc<CommissionConfig>,
    pub providers: ProviderRegistry,
    pub settings: Arc<PaymentsSettings>,
}
