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
}

/// Parses the command line and runs it: `serve` with `serve`, `schema` printing `sdl`.
pub async fn run<C, F, Fut>(
    name: &'static str,
    about: &'static str,
    sdl: fn() -> String,
    serve: F,
) -> anyhow::Result<()>
where
    C: Args,
    F: FnOnce(C) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
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
    }
}
