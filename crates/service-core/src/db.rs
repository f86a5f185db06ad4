//! Database connection (SQLite by default, PostgreSQL in production) and migrations.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, Statement};

/// How long a SQLite writer waits for the lock before failing.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The default: a SQLite file under `./data/`, created when missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/mallnline.db?mode=rwc";

/// Connects to `url`. For SQLite the parent directory is created and foreign keys, WAL and a
/// busy timeout are enabled so two processes (both subgraphs) can share the file.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    connect_with(url, None).await
}

/// Like [`connect`], with a PostgreSQL schema search path (used by tests for isolation).
pub async fn connect_with(url: &str, pg_schema: Option<&str>) -> Result<DatabaseConnection, DbErr> {
    if let Some(parent) = sqlite_path(url).and_then(|p| std::path::Path::new(p).parent())
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .map_err(|e| DbErr::Custom(format!("cannot create {}: {e}", parent.display())))?;
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(if url.starts_with("sqlite") { 8 } else { 16 })
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    if let Some(schema) = pg_schema {
        options.set_schema_search_path(schema.to_owned());
    }
    // Every pooled SQLite connection gets the same settings (a PRAGMA run after connecting
    // reaches one connection only): foreign keys, WAL, and a busy timeout long enough that
    // writers queue instead of failing with SQLITE_BUSY.
    options.map_sqlx_sqlite_opts(|o| {
        o.foreign_keys(true)
            .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
    });
    // A loopback PostgreSQL is not worth a TLS handshake per connection: unless the URL says
    // otherwise (`sslmode=…`), loopback connections are plain; every other host keeps sqlx's
    // default (`prefer`). Production over a network should say `sslmode=verify-full`.
    let explicit_ssl = url.contains("sslmode=");
    options.map_sqlx_postgres_opts(move |o| {
        let host = o.get_host().to_owned();
        if !explicit_ssl && matches!(host.as_str(), "127.0.0.1" | "localhost" | "::1") {
            o.ssl_mode(sea_orm::sqlx::postgres::PgSslMode::Disable)
        } else {
            o
        }
    });
    Database::connect(options).await
}

fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    if path.is_empty() || path == ":memory:" { None } else { Some(path) }
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Readiness probe: one round trip to the database.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.query_one_raw(Statement::from_string(db.get_database_backend(), "SELECT 1")).await?;
    Ok(())
}

/// Whether an error is a unique-constraint violation (a duplicate insert lost a race).
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}

/// `SUM(column)` as a 64-bit integer on every backend (PostgreSQL's `SUM(bigint)` is NUMERIC),
/// zero when there are no rows.
pub fn sum_bigint(column: &str) -> sea_orm::sea_query::Expr {
    sea_orm::sea_query::Expr::cust(format!("CAST(COALESCE(SUM({column}), 0) AS BIGINT)"))
}

/// A write transaction (see [`begin_write`]); derefs to the transaction.
pub struct WriteTxn {
    // Dropped in this order: the transaction (rolled back unless committed), then the turn.
    txn: sea_orm::DatabaseTransaction,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl std::ops::Deref for WriteTxn {
    type Target = sea_orm::DatabaseTransaction;

    fn deref(&self) -> &sea_orm::DatabaseTransaction {
        &self.txn
    }
}

impl WriteTxn {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

/// A write transaction is used wherever a connection is (generic repository functions).
#[async_trait::async_trait]
impl ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> sea_orm::DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<sea_orm::ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<sea_orm::ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<sea_orm::QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }

    fn is_mock_connection(&self) -> bool {
        self.txn.is_mock_connection()
    }
}

/// This process's queue of SQLite writers, one per database file.
fn writer_turns(db: &DatabaseConnection) -> Option<std::sync::Arc<tokio::sync::Mutex<()>>> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    type Turns = Mutex<HashMap<std::path::PathBuf, Arc<tokio::sync::Mutex<()>>>>;
    static TURNS: OnceLock<Turns> = OnceLock::new();
    if db.get_database_backend() != sea_orm::DbBackend::Sqlite {
        return None;
    }
    let file = db.get_sqlite_connection_pool().connect_options().get_filename().to_path_buf();
    let mut turns = TURNS.get_or_init(Turns::default).lock().ok()?;
    Some(turns.entry(file).or_default().clone())
}

/// Begins a transaction that will write. On SQLite it is `BEGIN IMMEDIATE`: a deferred
/// transaction that reads and then writes fails at once with SQLITE_BUSY when another
/// connection wrote in between (the busy timeout does not apply to that upgrade), while an
/// immediate one waits for the write lock up front. PostgreSQL ignores the option.
///
/// On SQLite the writers of one process also take turns in arrival order (a fair queue) before
/// asking SQLite for its lock, instead of all polling it with the busy handler's growing sleeps,
/// which gave long tails under load. Writers of other processes on the same file still wait
/// through the busy timeout, one per process at a time.
pub async fn begin_write(db: &DatabaseConnection) -> Result<WriteTxn, DbErr> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    let turn = match writer_turns(db) {
        Some(queue) => Some(queue.lock_owned().await),
        None => None,
    };
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?;
    Ok(WriteTxn { txn, _turn: turn })
}
