//! Building and running the `payments` application.

use std::net::SocketAddr;

use axum::Router;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;

use crate::config::Config;

pub const SERVICE: &str = "payments";

/// Everything a request handler needs.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
}

/// The HTTP application (used directly by oneshot tests).
pub fn app(state: AppState) -> Router {
    service_core::http::with_metrics(service_core::http::operational_routes(SERVICE, state.db.clone()))
}

/// Connects to the database and applies migrations unless disabled.
pub async fn state(config: &Config) -> anyhow::Result<AppState> {
    let db = service_core::db::connect(&config.database_url).await?;
    if !config.skip_migrations {
        service_core::db::migrate(&db).await?;
    }
    Ok(AppState { db })
}

/// A bound, not yet running server: lets tests bind port 0 and read the real address.
pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let state = state(config).await?;
        Self::bind(config.addr, state).await
    }

    pub async fn bind(addr: SocketAddr, state: AppState) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Application { listener, router: app(state) })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until Ctrl-C / SIGTERM, then drains in-flight requests.
    pub async fn run(self) -> std::io::Result<()> {
        tracing::info!(service = SERVICE, addr = %self.listener.local_addr()?, "listening");
        axum::serve(self.listener, self.router).with_graceful_shutdown(service_core::http::shutdown_signal()).await
    }
}
