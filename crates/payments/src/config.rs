//! Configuration from environment variables with documented defaults (R-RUN-4).

use std::net::SocketAddr;

use service_core::config::CommonSettings;

/// Settings of the `payments` subgraph. Every field has an environment variable.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address the subgraph listens on.
    #[arg(long, env = "PAYMENTS_ADDR", default_value = "127.0.0.1:4001")]
    pub addr: SocketAddr,
    /// Where the provider sends a seller who finished onboarding (`{malet}`: the Malet's id);
    /// by default the payouts dashboard the router serves.
    #[arg(
        long,
        env = "ONBOARDING_RETURN_URL",
        default_value = "http://127.0.0.1:4000/{malet}/manage/payouts?onboarding=done"
    )]
    pub onboarding_return_url: String,
    /// Where the provider sends a seller whose onboarding link expired (`{malet}`: the Malet's
    /// id); the dashboard asks for a new link there.
    #[arg(
        long,
        env = "ONBOARDING_REFRESH_URL",
        default_value = "http://127.0.0.1:4000/{malet}/manage/payouts?onboarding=refresh"
    )]
    pub onboarding_refresh_url: String,
    /// Currency of new accounts until the provider reports theirs.
    #[arg(long, env = "DEFAULT_CURRENCY", default_value = "USD")]
    pub default_currency: String,
    /// An ACTIVE account is suspended when its disputes in the window exceed this number.
    #[arg(long, env = "CHARGEBACK_THRESHOLD", default_value_t = 2)]
    pub chargeback_threshold: u64,
    /// Trailing window of the chargeback threshold, in days.
    #[arg(long, env = "DISPUTE_WINDOW_DAYS", default_value_t = 90)]
    pub dispute_window_days: i64,
    /// How often murchases' ledger events are drained into the balances, in milliseconds
    /// (each pass drains until the outbox is empty); 0 uses `JOB_INTERVAL_SECS`.
    #[arg(long, env = "LEDGER_EVENTS_INTERVAL_MS", default_value_t = 250)]
    pub ledger_events_interval_ms: u64,
    #[command(flatten)]
    pub common: CommonSettings,
}
