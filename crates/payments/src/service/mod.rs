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
    /// Where Stripe sends the seller after onboarding, and when a link expired; `{malet}` in
    /// either is replaced by the Malet's id, percent-encoded (see [`onboarding_url_for`]).
    pub onboarding_return_url: String,
    pub onboarding_refresh_url: String,
    /// Default payout currency of new accounts.
    pub default_currency: String,
    /// Disputes within `dispute_window_days` above which an account is suspended.
    pub chargeback_threshold: u64,
    pub dispute_window_days: i64,
}

/// An onboarding return or refresh URL for one Malet: every `{malet}` in `template` becomes the
/// Malet's id, percent-encoded as one path segment (so `/{malet}/manage/payouts` reaches that
/// Malet's dashboard whatever its id holds).
pub fn onboarding_url_for(template: &str, malet_id: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    // RFC 3986 unreserved characters stay as they are; everything else is encoded.
    const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
    template.replace("{malet}", &utf8_percent_encode(malet_id, SEGMENT).to_string())
}

#[derive(Clone)]
pub struct Payments {
    pub db: DatabaseConnection,
    pub config: Arc<CommissionConfig>,
    pub providers: ProviderRegistry,
    pub settings: Arc<PaymentsSettings>,
}

#[cfg(test)]
mod tests {
    use super::onboarding_url_for;

    #[test]
    fn the_malet_placeholder_becomes_one_encoded_path_segment() {
        let t = "http://127.0.0.1:4000/{malet}/manage/payouts?onboarding=done";
        assert_eq!(onboarding_url_for(t, "malet-1"), "http://127.0.0.1:4000/malet-1/manage/payouts?onboarding=done");
        assert_eq!(
            onboarding_url_for(t, "a/b?c#d é"),
            "http://127.0.0.1:4000/a%2Fb%3Fc%23d%20%C3%A9/manage/payouts?onboarding=done"
        );
        assert_eq!(onboarding_url_for("https://shop.example/payouts", "m"), "https://shop.example/payouts");
    }
}
