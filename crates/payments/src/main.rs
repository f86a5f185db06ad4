//! The `payments` binary: `serve`, `schema`, `migrate`, `mint-token`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service_core::cli::run::<payments::config::Config, _, _>(
        "payments",
        "The payments subgraph: connected payout accounts, onboarding, payout schedules, balances.",
        payments::graphql::sdl,
        |config| async move { Ok(payments::startup::build(&config).await?.run().await?) },
    )
    .await
}
