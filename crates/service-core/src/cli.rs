//! The command line both subgraph binaries share: `serve`, `schema`, `migrate`, `mint-token`.

use clap::{Args, Parser, Subcommand};

use crate::auth::MintTokenArgs;

#[derive(Parser)]
pub struct Cli<C: Args> {
    #[command(subcommand)]
    pub command: Command<C>,
}

#[derive(Subcommand)]
pub enum Command<C: Args> {
    /// Run the subgraph (migrations applied on start unless SKIP_MIGRATIONS=true).
    Serve(Box<C>),
    /// Print the federation SDL to stdout.
    Schema,
    /// Apply database migrations and exit.
    Migrate {
        #[arg(long, env = "DATABASE_URL", default_value = crate::db::DEFAULT_DATABASE_URL)]
        database_url: String,
    },
    /// Print an HS256 token signed with JWT_SECRET, for local development.
    MintToken(MintTokenArgs),
    /// Replay the provider's events of the last HOURS hours into the webhook inbox (idempotent).
    Backfill {
        #[arg(long, default_value_t = 72)]
        hours: i64,
        #[command(flatten)]
        config: Box<C>,
    },
}

/// What a binary plugs into the shared command line.
pub struct Binary<S, B> {
    pub name: &'static str,
    pub about: &'static str,
    pub sdl: fn() -> String,
    /// Runs the subgraph.
    pub serve: S,
    /// Replays provider events created after the given unix time.
    pub backfill: B,
}

/// Parses the command line and runs it.
pub async fn run<C, S, SF, B, BF>(binary: Binary<S, B>) -> anyhow::Result<()>
where
    C: Args,
    S: FnOnce(C) -> SF,
    SF: std::future::Future<Output = anyhow::Result<()>>,
    B: FnOnce(C, i64) -> BF,
    BF: std::future::Future<Output = anyhow::Result<()>>,
{
    let Binary { name, about, sdl, serve, backfill } = binary;
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::<C>::command().name(name).about(about).version(env!("CARGO_PKG_VERSION")).get_matches();
    let cli = Cli::<C>::from_arg_matches(&matches)?;
    match cli.command {
        Command::Serve(config) => {
            crate::telemetry::init_logging();
            serve(*config).await
        }
        Command::Schema => {
            print!("{}", sdl());
            Ok(())
        }
        Command::Migrate { database_url } => {
            crate::telemetry::init_logging();
            let db = crate::db::connect(&database_url).await?;
            crate::db::migrate(&db).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::MintToken(args) => {
            println!("{}", args.mint()?);
            Ok(())
        }
        Command::Backfill { hours, config } => {
            crate::telemetry::init_logging();
            backfill(*config, chrono::Utc::now().timestamp() - hours * 3600).await
        }
    }
}
