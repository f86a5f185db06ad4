//! Building and running the `murchases` application.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use service_core::http::Server;
use service_core::subgraph::SubgraphState;

use crate::config::Config;
use crate::graphql::{self, MurchasesSchema};
use crate::service::Murchases;
use crate::service::webhooks::RECEIVER;

pub const SERVICE: &str = RECEIVER;

/// Everything the HTTP application and the jobs need.
pub type AppState = SubgraphState<Murchases, MurchasesSchema>;

/// Builds the state on an open database (migrations are the caller's business).
pub fn state(config: &Config, db: DatabaseConnection) -> anyhow::Result<AppState> {
    let common = &config.common;
    let service = Murchases {
        db: db.clone(),
        config: Arc::new(common.commission()?),
        providers: common.providers()?,
        settle_after_days: config.settle_after_days,
        affiliate_hold_days: config.affiliate_hold_days,
        affiliate_onboarding: crate::service::AffiliateOnboardingUrls {
            return_url: config.affiliate_onboarding_return_url.clone(),
            refresh_url: config.affiliate_onboarding_refresh_url.clone(),
        },
        storefront_secrets: crate::service::storefronts::StorefrontSecrets {
            shopify: config.shopify_webhook_secret.clone(),
            tiktok: crate::service::storefronts::TikTokApp::from_settings(
                config.tiktok_app_key.as_deref(),
                config.tiktok_app_secret.clone(),
                &config.tiktok_api_base,
            )
            .map_err(anyhow::Error::msg)?,
            variables: config.storefront_variables.clone(),
            loopback_stores: common.app_env != "production",
        },
    };
    let schema = graphql::build(Some(service.clone()), common.development());
    // The same inbox the admin replay uses (`Murchases::inbox`).
    let applier = service.inbox().applier;
    let mut state = SubgraphState::assemble(SERVICE, common, db, service.clone(), schema, applier)?;
    state.routes = crate::http::storefront_routes(service, common.stripe.webhook_body_limit);
    Ok(state)
}

/// Background jobs: webhook retries (every `retry_every`), settlement, application-fee refunds,
/// outgoing movements still to send, affiliate payouts and storefront deliveries whose source
/// did not answer (every `every`).
pub fn spawn_jobs(state: &AppState, every: std::time::Duration, retry_every: std::time::Duration) {
    state.spawn_webhook_retries(retry_every);
    let service = state.service.clone();
    state.jobs.spawn_periodic("settlement", every, move || {
        let service = service.clone();
        async move { service.settle_due(service_core::clock::now()).await.map_err(|e| e.to_string()) }
    });
    let service = state.service.clone();
    state.jobs.spawn_periodic("fee-refunds", every, move || {
        let service = service.clone();
        async move { service.send_fee_refunds(None, 100).await.map_err(|e| e.to_string()) }
    });
    let service = state.service.clone();
    state.jobs.spawn_periodic("outgoing-movements", every, move || {
        let service = service.clone();
        async move {
            let report = service.send_movements().await.map_err(|e| e.to_string())?;
            Ok(report.confirmed + report.failed + report.unknown + report.retrying)
        }
    });
    let service = state.service.clone();
    state.jobs.spawn_periodic("storefront-redeliveries", every, move || {
        let service = service.clone();
        async move { service.retry_storefront_deliveries().await.map_err(|e| e.to_string()) }
    });
    let service = state.service.clone();
    state.jobs.spawn_periodic("affiliate-payouts", every, move || {
        let service = service.clone();
        async move { service.pay_affiliates(service_core::clock::now()).await.map_err(|e| e.to_string()) }
    });
    let service = state.service.clone();
    state.jobs.spawn_periodic("requested-reconciliations", every, move || {
        let service = service.clone();
        async move { service.run_requested_reconciliations().await.map_err(|e| e.to_string()) }
    });
    let service = state.service.clone();
    state.jobs.spawn_periodic("reconciliation", RECONCILE_EVERY, move || {
        let service = service.clone();
        async move {
            let now = service_core::clock::now();
            let report = service.reconcile(now - chrono::Duration::days(2), now).await.map_err(|e| e.to_string())?;
            Ok(report.found)
        }
    });
}

/// How often the books are reconciled with the providers (the last two days each time), besides
/// after each `payout.paid`.
pub const RECONCILE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Connects, migrates, starts the jobs and binds `config.addr`.
pub async fn build(config: &Config) -> anyhow::Result<Server> {
    let db = config.common.database().await?;
    let state = state(config, db)?;
    spawn_jobs(&state, config.common.job_interval(), config.common.webhook_retry_interval());
    state.bind(config.addr).await
}

/// `murchases backfill`: replays the platform's events of every configured provider created
/// after `since` (payments, refunds and disputes of destination charges and marketplace orders
/// are the platform's).
pub async fn backfill(config: &Config, since: i64) -> anyhow::Result<()> {
    let db = config.common.database().await?;
    let state = state(config, db)?;
    let report = state.inbox.backfill_all(&state.service.providers, &[], since).await?;
    tracing::info!(?report, "backfill done");
    println!("fetched {} events: {} new, {} already known", report.fetched, report.stored, report.duplicates);
    Ok(())
}

/// This subgraph's webhook inbox on the configured database (`webhook-events`, `replay-webhook`).
pub async fn inbox(config: &Config) -> anyhow::Result<service_core::webhook::Inbox> {
    let db = config.common.database().await?;
    Ok(state(config, db)?.inbox)
}
