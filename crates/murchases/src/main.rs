//! The `murchases` binary: `serve`, `schema`, `migrate`, `mint-token`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service_core::cli::run::<murchases::config::Config, _, _>(
        "murchases",
        "The murchases subgraph: the per-order commission ledger, refunds, admin commission rules.",
        murchases::graphql::sdl,
        |config| async move { Ok(murchases::startup::build(&config).await?.run().await?) },
    )
    .await
}
