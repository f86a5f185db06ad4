//! Configuration from environment variables with documented defaults (R-RUN-4).

use std::net::SocketAddr;

/// Settings of the `payments` subgraph. Every field has an environment variable.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address the subgraph listens on.
    #[arg(long, env = "PAYMENTS_ADDR", default_value = "127.0.0.1:4001")]
    pub addr: SocketAddr,
    /// Database connection string (SQLite file by default; `postgres://…` in production).
    #[arg(long, env = "DATABASE_URL", default_value = service_core::db::DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// Skip applying migrations on start (when a separate migration step runs them).
    #[arg(long, env = "SKIP_MIGRATIONS", default_value_t = false)]
    pub skip_migrations: bool,
}
