//! The `payments` binary: `serve`, `schema`, `migrate`, `mint-token`, `backfill`, `webhook-events`,
//! `replay-webhook`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service_core::cli::run::<payments::config::Config, _, _, _, _, _, _>(service_core::cli::Binary {
        name: "payments",
        about: "The payments subgraph: connected payout accounts, onboarding, payout schedules, balances.",
        sdl: payments::graphql::sdl,
        serve: |config| async move { Ok(payments::startup::build(&config).await?.run().await?) },
        backfill: |config, since| async move { payments::startup::backfill(&config, since).await },
        inbox: |config| async move { payments::startup::inbox(&config).await },
    })
    .await
}
