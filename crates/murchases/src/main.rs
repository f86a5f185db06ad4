//! The `murchases` binary: `serve`, `schema`, `migrate`, `mint-token`, `backfill`, `webhook-events`,
//! `replay-webhook`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service_core::cli::run::<murchases::config::Config, _, _, _, _, _, _>(service_core::cli::Binary {
        name: "murchases",
        about: "The murchases subgraph: the per-order commission ledger, refunds, admin commission rules.",
        sdl: murchases::graphql::sdl,
        serve: |config| async move { Ok(murchases::startup::build(&config).await?.run().await?) },
        backfill: |config, since| async move { murchases::startup::backfill(&config, since).await },
        inbox: |config| async move { murchases::startup::inbox(&config).await },
    })
    .await
}
