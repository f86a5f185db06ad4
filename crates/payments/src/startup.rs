//! Building and running the `payments` application.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use service_core::http::Server;
use service_core::subgraph::SubgraphState;

use crate::config::Config;
use crate::graphql::{self, PaymentsSchema};
use crate::service::webhooks::{PaymentsEvents, RECEIVER};
use crate::service::{Payments, PaymentsSettings};

pub const SERVICE: &str = RECEIVER;

/// Everything the HTTP application and the jobs need.
pub type AppState = SubgraphState<Payments, PaymentsSchema>;

/// Builds the state on an open database (migrations are the caller's business).
pub fn state(config: &Config, db: DatabaseConnection) -> anyhow::Result<AppState> {
    let common = &config.common;
    domain::money::Currency::parse(&config.default_currency)?;
    let service = Payments {
        db: db.clone(),
        config: Arc::new(common.commission()?),
        providers: common.providers()?,
        settings: Arc::new(PaymentsSettings {
            onboarding_return_url: config.onboarding_return_url.clone(),
            onboarding_refresh_url: config.onboarding_refresh_url.clone(),
            default_currency: config.default_currency.to_uppercase(),
            chargeback_threshold: config.chargeback_threshold,
            dispute_window_days: config.dispute_window_days,
        }),
    };
    let schema = graphql::build(Some(service.clone()), common.development());
    let applier = Arc::new(PaymentsEvents(service.clone()));
    let mut state = SubgraphState::assemble(SERVICE, common, db, service.clone(), schema, applier)?;
    // CSV statements, verified by the same authenticator as `/graphql`.
    state.routes = crate::http::routes(service, state.auth.clone());
    Ok(state)
}

/// Background jobs: webhook retries (every `retry_every`), ledger events from murchases (every
/// `ledger_every`), reserve releases (every `every`).
pub fn spawn_jobs(
    state: &AppState,
    every: std::time::Duration,
    ledger_every: std::time::Duration,
    retry_every: std::time::Duration,
) {
    state.spawn_webhook_retries(retry_every);
    let service = state.service.clone();
    // Balances follow a ledger change within a fraction of a second (R-PERF-3): a short poll of
    // the indexed outbox, each pass draining it in batches until it is empty.
    let ledger_every = if ledger_every.is_zero() || every.is_zero() { every } else { ledger_every };
    // On PostgreSQL murchases' commit wakes the consumer at once (LISTEN/NOTIFY, every replica);
    // the poll stays the safety net (and is the mechanism on SQLite).
    let wake = std::sync::Arc::new(tokio::sync::Notify::new());
    if !ledger_every.is_zero() {
        service_core::outbox::spawn_listener(
            &state.db,
            crate::service::balances::TOPIC_BALANCE,
            wake.clone(),
            &state.jobs,
        );
    }
    state.jobs.spawn_woken("ledger-events", ledger_every, Some(wake), move || {
        let service = service.clone();
        async move { service.drain_ledger_events(200).await.map_err(|e| e.to_string()) }
    });
    let service = state.service.clone();
    state.jobs.spawn_periodic("reserve-release", every, move || {
        let service = service.clone();
        async move { service.release_due_reserves(service_core::clock::now()).await.map_err(|e| e.to_string()) }
    });
    let service = state.service.clone();
    state.jobs.spawn_periodic("outgoing-movements", every, move || {
        let service = service.clone();
        async move { service.send_movements().await.map_err(|e| e.to_string()) }
    });
}

/// Connects, migrates, starts the jobs and binds `config.addr`.
pub async fn build(config: &Config) -> anyhow::Result<Server> {
    let db = config.common.database().await?;
    let state = state(config, db)?;
    spawn_jobs(
        &state,
        config.common.job_interval(),
        std::time::Duration::from_millis(config.ledger_events_interval_ms),
        config.common.webhook_retry_interval(),
    );
    state.bind(config.addr).await
}

/// `payments backfill`: replays every configured provider's events created after `since` (unix
/// seconds): the platform's and, where a provider keeps them per seller account (Stripe's
/// Express accounts: `account.updated`, `payout.*`), every connected account's.
pub async fn backfill(config: &Config, since: i64) -> anyhow::Result<()> {
    let db = config.common.database().await?;
    let state = state(config, db)?;
    let accounts: Vec<(domain::provider::ProviderKind, String)> = entity::connected_accounts::Entity::find()
        .all(&state.db)
        .await?
        .into_iter()
        .filter_map(|a| a.provider_account_id.map(|id| (a.provider.kind(), id)))
        .collect();
    let report = state.inbox.backfill_all(&state.service.providers, &accounts, since).await?;
    tracing::info!(?report, "backfill done");
    println!("fetched {} events: {} new, {} already known", report.fetched, report.stored, report.duplicates);
    Ok(())
}

use sea_orm::EntityTrait as _;

/// This subgraph's webhook inbox on the configured database (`webhook-events`, `replay-webhook`).
pub async fn inbox(config: &Config) -> anyhow::Result<service_core::webhook::Inbox> {
    let db = config.common.database().await?;
    Ok(state(config, db)?.inbox)
}
