//! PayPal (marketplace: Partner Referrals onboarding, Orders v2 with platform fees, Payouts).
//!
//! - [`client::Paypal`]: the [`domain::provider::PayoutProvider`] (REST, OAuth2 client credentials).
//! - [`webhook`]: offline verification of PayPal's RSA-SHA256 webhook signatures.
//! - [`transformers`]: PayPal webhook bodies → provider-neutral events.

pub mod client;
pub mod transformers;
pub mod webhook;
