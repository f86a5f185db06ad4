//! Test harness: every database test runs on SQLite and on PostgreSQL.
//!
//! PostgreSQL is taken from `TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`);
//! each test gets a fresh schema. When PostgreSQL is unreachable the PostgreSQL half is skipped
//! with a loud message locally, and **fails** when `CI=true` (or `REQUIRE_POSTGRES=1`).

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};

use crate::db;

pub const DEFAULT_TEST_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// One test database, already migrated.
pub struct TestDb {
    pub backend: DbBackend,
    pub url: String,
    pub schema: Option<String>,
    pub conn: DatabaseConnection,
    _dir: Option<TempDir>,
}

/// A temporary directory removed on drop (tiny, to avoid a dependency).
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Self {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn postgres_required() -> bool {
    std::env::var("CI").map(|v| v == "true" || v == "1").unwrap_or(false)
        || std::env::var("REQUIRE_POSTGRES").map(|v| v == "1").unwrap_or(false)
}

pub fn postgres_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_TEST_POSTGRES_URL.to_owned())
}

impl TestDb {
    /// A fresh, migrated SQLite file database.
    pub async fn sqlite() -> TestDb {
        let dir = TempDir::new("mallnline-test");
        let url = format!("sqlite://{}/test.db?mode=rwc", dir.path().display());
        let conn = db::connect(&url).await.expect("connect sqlite");
        db::migrate(&conn).await.expect("migrate sqlite");
        TestDb { backend: DbBackend::Sqlite, url, schema: None, conn, _dir: Some(dir) }
    }

    async fn postgres_unmigrated() -> Option<TestDb> {
        let url = postgres_url();
        let admin = match db::connect(&url).await {
            Ok(c) => c,
            Err(e) => {
                if postgres_required() {
                    panic!("PostgreSQL at {url} is required (CI) but unreachable: {e}");
                }
                eprintln!("WARNING: PostgreSQL at {url} unreachable ({e}); PostgreSQL half of this test SKIPPED");
                return None;
            }
        };
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        admin.execute_unprepared(&format!("CREATE SCHEMA {schema}")).await.expect("create schema");
        drop(admin);
        let conn = db::connect_with(&url, Some(&schema)).await.expect("connect postgres schema");
        Some(TestDb { backend: DbBackend::Postgres, url, schema: Some(schema), conn, _dir: None })
    }

    /// Every backend this run covers: SQLite always, PostgreSQL when reachable (required in CI).
    pub async fn all() -> Vec<TestDb> {
        let mut out = vec![TestDb::sqlite().await];
        if let Some(pg) = TestDb::postgres_fresh().await {
            out.push(pg);
        }
        out
    }

    /// A fresh, migrated PostgreSQL schema, or `None` when PostgreSQL is unreachable and not
    /// required. Panics when it is required (CI) and unreachable.
    pub async fn postgres_fresh() -> Option<TestDb> {
        let t = Self::postgres_unmigrated().await?;
        db::migrate(&t.conn).await.expect("migrate postgres");
        Some(t)
    }

    /// An unmigrated database of each backend (for migration tests).
    pub async fn all_unmigrated() -> Vec<TestDb> {
        let dir = TempDir::new("mallnline-test");
        let url = format!("sqlite://{}/test.db?mode=rwc", dir.path().display());
        let conn = db::connect(&url).await.expect("connect sqlite");
        let mut out = vec![TestDb { backend: DbBackend::Sqlite, url, schema: None, conn, _dir: Some(dir) }];
        if let Some(pg) = Self::postgres_unmigrated().await {
            out.push(pg);
        }
        out
    }

    /// The connection string plus schema, for spawning a separate process or app on this db.
    pub fn database_url(&self) -> String {
        match &self.schema {
            // sqlx understands `options=-c search_path=...` on PostgreSQL URLs.
            Some(schema) => {
                let sep = if self.url.contains('?') { '&' } else { '?' };
                format!("{}{sep}options=-c%20search_path%3D{schema}", self.url)
            }
            None => self.url.clone(),
        }
    }
}
