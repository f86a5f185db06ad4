//! Configuration from environment variables with documented defaults (R-RUN-4).

use std::net::SocketAddr;

use service_core::config::CommonSettings;

/// Settings of the `murchases` subgraph. Every field has an environment variable.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address the subgraph listens on.
    #[arg(long, env = "MURCHASES_ADDR", default_value = "127.0.0.1:4002")]
    pub addr: SocketAddr,
    /// Days after payment at which a ledger entry settles (see `service::settlement`).
    #[arg(long, env = "SETTLE_AFTER_DAYS", default_value_t = 2)]
    pub settle_after_days: i64,
    /// Days after an entry settles during which its affiliate share is held (the refund window),
    /// then paid (R-AFF-2).
    #[arg(long, env = "AFFILIATE_HOLD_DAYS", default_value_t = 30, value_parser = clap::value_parser!(i64).range(0..=3650))]
    pub affiliate_hold_days: i64,
    /// Where the provider sends an affiliate who finished its onboarding.
    #[arg(
        long,
        env = "AFFILIATE_ONBOARDING_RETURN_URL",
        default_value = "http://localhost:3000/affiliates/payouts?onboarding=done"
    )]
    pub affiliate_onboarding_return_url: String,
    /// Where the provider sends an affiliate whose onboarding link expired.
    #[arg(
        long,
        env = "AFFILIATE_ONBOARDING_REFRESH_URL",
        default_value = "http://localhost:3000/affiliates/payouts?onboarding=refresh"
    )]
    pub affiliate_onboarding_refresh_url: String,
    /// The Shopify app's secret: the key of `X-Shopify-Hmac-Sha256` for every registered shop
    /// that has no secret of its own (`registerStorefrontShop(secretEnv)`). Unset: only shops
    /// with their own secret are received.
    #[arg(long, env = "SHOPIFY_WEBHOOK_SECRET", hide_env_values = true)]
    pub shopify_webhook_secret: Option<secrecy::SecretString>,
    /// The TikTok Shop app's key: signed with every notification and API request.
    #[arg(long, env = "TIKTOK_APP_KEY")]
    pub tiktok_app_key: Option<String>,
    /// The TikTok Shop app's secret: the key of every notification's `Authorization` signature
    /// and of the Partner API's request signatures. Without it (or the key), TikTok Shop
    /// notifications are refused and no TikTok shop can be registered.
    #[arg(long, env = "TIKTOK_APP_SECRET", hide_env_values = true)]
    pub tiktok_app_secret: Option<secrecy::SecretString>,
    /// TikTok Shop's Partner API base (a fake in tests).
    #[arg(long, env = "TIKTOK_API_BASE", default_value = providers::tiktok::client::DEFAULT_BASE)]
    pub tiktok_api_base: String,
    /// Values of the variables shops name (`secretEnv`, `apiKeyEnv`, `apiSecretEnv`), read before
    /// the process environment: for tests and embedders running services in one process. Not a
    /// command-line option.
    #[arg(skip)]
    pub storefront_variables: std::collections::BTreeMap<String, secrecy::SecretString>,
    #[command(flatten)]
    pub common: CommonSettings,
}
