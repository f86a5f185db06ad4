use clap::{Parser, Subcommand};

use murchases::config::Config;
use service_core::auth::MintTokenArgs;

/// The `murchases` subgraph: the per-order commission ledger, refunds, admin commission rules.
#[derive(Parser)]
#[command(name = "murchases", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the subgraph (migrations applied on start unless SKIP_MIGRATIONS=true).
    Serve(Box<Config>),
    /// Print the federation SDL to stdout.
    Schema,
    /// Apply database migrations and exit.
    Migrate {
        #[arg(long, env = "DATABASE_URL", default_value = service_core::db::DEFAULT_DATABASE_URL)]
        database_url: String,
    },
    /// Print an HS256 token signed with JWT_SECRET, for local development.
    MintToken(MintTokenArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Schema | Command::MintToken(_)) {
        service_core::telemetry::init_logging();
    }
    match cli.command {
        Command::Serve(config) => murchases::startup::build(&config).await?.run().await?,
        Command::Schema => print!("{}", murchases::graphql::sdl()),
        Command::Migrate { database_url } => {
            let db = service_core::db::connect(&database_url).await?;
            service_core::db::migrate(&db).await?;
            tracing::info!("migrations applied");
        }
        Command::MintToken(args) => println!("{}", args.mint()?),
    }
    Ok(())
}
