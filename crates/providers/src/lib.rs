//! Payout providers (R-ACCT-4) behind [`domain::provider::PayoutProvider`].
//!
//! - [`stripe::StripeConnect`]: Stripe Connect Express through `async-stripe` (destination charges,
//!   transfers, payouts on connected accounts, refunds with transfer reversal and an exact
//!   application-fee refund, balances, platform and connected-account events).
//! - [`manual::Manual`]: no external API; payouts are recorded by an admin.
//! - [`stripe::webhook`]: `Stripe-Signature` verification (R-HOOK-1), usable before any parsing.
//! - [`events::normalize`]: a verified webhook body → a provider-neutral
//!   [`domain::events::ProviderEvent`] (each provider's `transformers`); provider JSON shapes
//!   exist only in this crate.

pub mod events;
pub mod manual;
pub mod paypal;
pub mod shopify;
pub mod signature;
mod storefront_json;
pub mod stripe;
pub mod tiktok;
pub mod woocommerce;
