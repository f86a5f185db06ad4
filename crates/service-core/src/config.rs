//! Settings both subgraphs share (each adds its own listen address and specifics).

use crate::auth::AuthSettings;

use crate::stripe::StripeSettings;

/// Database, environment, limits, jobs, JWT, Stripe and PayPal settings, all from environment variables.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonSettings {
    /// Database connection string (SQLite file by default; `postgres://…` in production).
    #[arg(long, env = "DATABASE_URL", default_value = crate::db::DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// Skip applying migrations on start (when a separate migration step runs them).
    #[arg(long, env = "SKIP_MIGRATIONS", default_value_t = false)]
    pub skip_migrations: bool,
    /// `development` serves GraphiQL on GET /graphql and allows introspection.
    #[arg(long, env = "APP_ENV", default_value = "production")]
    pub app_env: String,
    /// Commission configuration file replacing the shipped `config/commission.toml`.
    #[arg(long, env = "COMMISSION_CONFIG")]
    pub commission_config: Option<std::path::PathBuf>,
    /// Interval of the background jobs, in seconds; 0 disables them.
    #[arg(long, env = "JOB_INTERVAL_SECS", default_value_t = 30)]
    pub job_interval_secs: u64,
    /// Interval of the webhook retry loop, in milliseconds (0 = JOB_INTERVAL_SECS). It applies
    /// stored events that are due: failed ones after their backoff, and everything a previous
    /// process left due, right after a start.
    #[arg(long, env = "WEBHOOK_RETRY_INTERVAL_MS", default_value_t = 1000)]
    pub webhook_retry_interval_ms: u64,
    /// Largest accepted GraphQL request body in bytes (413 above).
    #[arg(long, env = "GRAPHQL_BODY_LIMIT", default_value_t = 64 * 1024)]
    pub graphql_body_limit: usize,
    #[command(flatten)]
    pub http: crate::http::HttpLimits,
    #[command(flatten)]
    pub auth: AuthSettings,
    #[command(flatten)]
    pub stripe: StripeSettings,
    #[command(flatten)]
    pub paypal: crate::paypal::PaypalSettings,
}

impl CommonSettings {
    pub fn development(&self) -> bool {
        self.app_env == "development"
    }

    /// The configured providers: MANUAL always, Stripe Connect and PayPal when their credentials
    /// are set (a flow asking for one that is not gets a clear `NotSupported`).
    pub fn providers(&self) -> anyhow::Result<crate::registry::ProviderRegistry> {
        let mut registry = self.stripe.registry()?;
        if let Some(paypal) = self.paypal.provider()? {
            registry = registry.with(std::sync::Arc::new(paypal));
        }
        Ok(registry)
    }

    /// The commission configuration: `COMMISSION_CONFIG` or the shipped file.
    pub fn commission(&self) -> anyhow::Result<domain::commission::CommissionConfig> {
        Ok(match &self.commission_config {
            Some(path) => domain::commission::CommissionConfig::load(path)?,
            None => domain::commission::CommissionConfig::shipped()?,
        })
    }

    /// Connects and (unless disabled) migrates.
    pub async fn database(&self) -> anyhow::Result<sea_orm::DatabaseConnection> {
        let db = crate::db::connect(&self.database_url).await?;
        if !self.skip_migrations {
            crate::db::migrate(&db).await?;
        }
        Ok(db)
    }

    pub fn job_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.job_interval_secs)
    }

    /// The webhook retry loop's interval; jobs disabled (JOB_INTERVAL_SECS=0) disable it too.
    pub fn webhook_retry_interval(&self) -> std::time::Duration {
        if self.job_interval_secs == 0 {
            return std::time::Duration::ZERO;
        }
        match self.webhook_retry_interval_ms {
            0 => self.job_interval(),
            ms => std::time::Duration::from_millis(ms),
        }
    }
}
