//! The command line both subgraph binaries share: `serve`, `schema`, `migrate`, `mint-token`,
//! `backfill`, and the operator's inbox commands `webhook-events` and `replay-webhook`.

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
    /// List webhook inbox events (every subgraph's), newest first.
    WebhookEvents {
        /// RECEIVED, PROCESSED, IGNORED, NEEDS_ATTENTION or FAILED.
        #[arg(long)]
        status: Option<String>,
        /// `payments` or `murchases`.
        #[arg(long)]
        receiver: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u64,
        #[arg(long, default_value_t = 0)]
        offset: u64,
        #[command(flatten)]
        config: Box<C>,
    },
    /// Apply a stored webhook event of this subgraph again after fixing its cause (audited;
    /// idempotent: an event already applied is left alone).
    ReplayWebhook {
        /// The inbox row id (`webhook-events` lists them).
        id: String,
        /// Why it is replayed (kept in the audit log).
        #[arg(long)]
        reason: String,
        /// Who replays it (audit log); default: `cli:$USER`.
        #[arg(long)]
        operator: Option<String>,
        #[command(flatten)]
        config: Box<C>,
    },
}

/// What a binary plugs into the shared command line.
pub struct Binary<S, B, I> {
    pub name: &'static str,
    pub about: &'static str,
    pub sdl: fn() -> String,
    /// Runs the subgraph.
    pub serve: S,
    /// Replays provider events created after the given unix time.
    pub backfill: B,
    /// This subgraph's webhook inbox on the configured database (for the inbox commands).
    pub inbox: I,
}

/// Parses the command line and runs it.
pub async fn run<C, S, SF, B, BF, I, IF>(binary: Binary<S, B, I>) -> anyhow::Result<()>
where
    C: Args,
    S: FnOnce(C) -> SF,
    SF: std::future::Future<Output = anyhow::Result<()>>,
    B: FnOnce(C, i64) -> BF,
    BF: std::future::Future<Output = anyhow::Result<()>>,
    I: FnOnce(C) -> IF,
    IF: std::future::Future<Output = anyhow::Result<crate::webhook::Inbox>>,
{
    let Binary { name, about, sdl, serve, backfill, inbox } = binary;
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
        Command::WebhookEvents { status, receiver, limit, offset, config } => {
            let status = match status.as_deref() {
                None => None,
                Some(s) => Some(crate::webhook::WebhookStatus::parse(&s.to_uppercase()).ok_or_else(|| {
                    anyhow::anyhow!("unknown status {s}: RECEIVED, PROCESSED, IGNORED, NEEDS_ATTENTION or FAILED")
                })?),
            };
            let inbox = inbox(*config).await?;
            let filter = crate::webhook::EventFilter { receiver, status, limit: limit.clamp(1, 1000), offset };
            for e in crate::webhook::list_events(&inbox.db, &filter).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\tattempts={}\t{}",
                    e.id,
                    e.receiver,
                    e.status,
                    e.event_type,
                    e.event_id,
                    e.attempts,
                    e.last_error.unwrap_or_default()
                );
            }
            Ok(())
        }
        Command::ReplayWebhook { id, reason, operator, config } => {
            crate::telemetry::init_logging();
            if reason.trim().is_empty() {
                anyhow::bail!("--reason must say why the event is replayed");
            }
            let inbox = inbox(*config).await?;
            let actor = operator.unwrap_or_else(|| format!("cli:{}", std::env::var("USER").unwrap_or_default()));
            let row = entity::webhook_events::Entity::find_by_id(id.clone()).one(&inbox.db).await?;
            let Some(row) = row else { anyhow::bail!("no webhook event {id}") };
            if row.receiver != inbox.receiver {
                anyhow::bail!(
                    "event {id} is in the {} inbox: run `{} replay-webhook` instead",
                    row.receiver,
                    row.receiver
                );
            }
            let who = crate::webhook::Replay { actor: &actor, reason: reason.trim() };
            match inbox.replay(&id, who).await? {
                None => anyhow::bail!("no webhook event {id}"),
                Some(crate::webhook::Replayed::Applied(status)) => println!("{id}: {}", status.as_str()),
                Some(crate::webhook::Replayed::AlreadyDone(status)) => {
                    println!("{id}: already {}, nothing to do", status.as_str())
                }
                Some(crate::webhook::Replayed::Failed(error)) => anyhow::bail!("{id}: applying failed again: {error}"),
                Some(crate::webhook::Replayed::Queued) => println!("{id}: queued"),
            }
            Ok(())
        }
    }
}

use sea_orm::EntityTrait as _;
