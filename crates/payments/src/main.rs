use clap::{Parser, Subcommand};

use payments::config::Config;
use payments::startup::Application;

/// The `payments` subgraph: connected payout accounts, onboarding, payout schedules, balances.
#[derive(Parser)]
#[command(name = "payments", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the subgraph (migrations applied on start unless SKIP_MIGRATIONS=true).
    Serve(Config),
    /// Apply database migrations and exit.
    Migrate {
        #[arg(long, env = "DATABASE_URL", default_value = service_core::db::DEFAULT_DATABASE_URL)]
        database_url: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service_core::telemetry::init_logging();
    match Cli::parse().command {
        Command::Serve(config) => Application::build(&config).await?.run().await?,
        Command::Migrate { database_url } => {
            let db = service_core::db::connect(&database_url).await?;
            service_core::db::migrate(&db).await?;
            tracing::info!("migrations applied");
        }
    }
    Ok(())
}
