//! Building and running the `payments` application.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use sea_orm::DatabaseConnection;
use service_core::auth::Authenticator;
use service_core::http::{Server, Subgraph, spawn_periodic, subgraph_router};
use service_core::webhook::{Inbox, WebhookState};

use crate::config::Config;
use crate::graphql::{self, PaymentsSchema};
use crate::service::webhooks::{PaymentsEvents, RECEIVER};
use crate::service::{Payments, PaymentsSettings};

pub const SERVICE: &str = "payments";

/// Everything the HTTP application and the jobs need.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub service: Payments,
    pub schema: PaymentsSchema,
    pub inbox: Inbox,
    pub webhooks: WebhookState,
    pub auth: Authenticator,
    pub development: bool,
    pub graphql_body_limit: usize,
    pub webhook_body_limit: usize,
}

impl AppState {
    /// Builds the state on an open database (migrations are the caller's business).
    pub fn new(config: &Config, db: DatabaseConnection) -> anyhow::Result<Self> {
        let common = &config.common;
        domain::money::Currency::parse(&config.default_currency)?;
        let service = Payments {
            db: db.clone(),
            config: Arc::new(common.commission()?),
            providers: common.stripe.registry()?,
            settings: Arc::new(PaymentsSettings {
                onboarding_return_url: config.onboarding_return_url.clone(),
                onboarding_refresh_url: config.onboarding_refresh_url.clone(),
                default_currency: config.default_currency.to_uppercase(),
                chargeback_threshold: config.chargeback_threshold,
                dispute_window_days: config.dispute_window_days,
            }),
        };
        let schema = graphql::build(Some(service.clone()), common.development());
        let inbox = Inbox { db: db.clone(), receiver: RECEIVER, applier: Arc::new(PaymentsEvents(service.clone())) };
        let webhooks = WebhookState { inbox: inbox.clone(), verifier: Arc::new(common.stripe.verifier()) };
        Ok(AppState {
            db,
            service,
            schema,
            inbox,
            webhooks,
            auth: Authenticator::from_settings(&common.auth)?,
            development: common.development(),
            graphql_body_limit: common.graphql_body_limit,
            webhook_body_limit: common.stripe.webhook_body_limit,
        })
    }
}

/// The HTTP application (used directly by oneshot tests).
pub fn app(state: AppState) -> Router {
    subgraph_router(Subgraph {
        service: SERVICE,
        executor: state.schema,
        auth: state.auth,
        development: state.development,
        graphql_body_limit: state.graphql_body_limit,
        webhooks: state.webhooks,
        webhook_body_limit: state.webhook_body_limit,
        db: state.db,
    })
}

/// Background jobs: webhook retries, ledger events from murchases, reserve releases.
pub fn spawn_jobs(state: &AppState, every: std::time::Duration) {
    let inbox = state.inbox.clone();
    spawn_periodic("webhook-retry", every, move || {
        let inbox = inbox.clone();
        async move { inbox.process_due(100).await.map_err(|e| e.to_string()) }
    });
    let service = state.service.clone();
    spawn_periodic("ledger-events", every, move || {
        let service = service.clone();
        async move { service.consume_ledger_events(200).await.map_err(|e| e.to_string()) }
    });
    let service = state.service.clone();
    spawn_periodic("reserve-release", every, move || {
        let service = service.clone();
        async move { service.release_due_reserves(service_core::clock::now()).await.map_err(|e| e.to_string()) }
    });
}

/// Connects, migrates, starts the jobs and binds `config.addr`.
pub async fn build(config: &Config) -> anyhow::Result<Server> {
    let db = config.common.database().await?;
    let state = AppState::new(config, db)?;
    spawn_jobs(&state, config.common.job_interval());
    bind(config.addr, state).await
}

pub async fn bind(addr: SocketAddr, state: AppState) -> anyhow::Result<Server> {
    Ok(Server::bind(SERVICE, addr, app(state)).await?)
}
