//! `loadgen`: the figures of `bench/README.md`, measured side by side in one run.
//!
//! ```text
//! cargo build --release --bins -p payments -p murchases -p bench
//! target/release/loadgen --backend sqlite   --entries 1000000
//! target/release/loadgen --backend postgres --entries 1000000 --router
//! ```
//!
//! It creates a fresh, migrated database (a temporary SQLite file, or a new schema in the
//! PostgreSQL of `TEST_POSTGRES_URL`, default the local `test` database), starts the release `payments` and `murchases` binaries with
//! their default job settings, pinned to CPU 0 with `taskset` when it exists (the generator pins
//! itself to CPU 1), and an in-process fake Stripe for onboarding. Then, for one seller:
//!
//! 1. **ingest**: `--events` new signed `payment_intent.succeeded` webhooks over `--connections`
//!    connections; rate and latency percentiles;
//! 2. **ceiling**: the minimal SQL of one event (inbox row + ledger row + posting + outbox row in
//!    one transaction) replayed without the service for `--seconds`: by `pgbench` at
//!    `--connections` clients on PostgreSQL, by the same number of tasks on SQLite;
//! 3. **lag**: webhooks at half the measured ingest rate for `--seconds`; how long each ledger
//!    event took to reach the payments balances (outbox `processed_at − created_at`);
//! 4. with `--entries N`: N more ledger entries and balance movements for the seller, then
//!    ingest again and the read latencies (p50 of sequential requests, direct to the subgraph) of
//!    `earningsSummary`, the ledger count, `connectedAccount` balances, and the first and the last
//!    ledger page (keyset: `after` the cursor of the entry 20 from the end);
//! 5. with `--router`: the dashboard's ledger page and the cross-subgraph query through the Node
//!    gateway (`router/`) against the same requests sent directly; with `--hive-router <binary>`
//!    also through Hive Router (`router/hive-router.yaml`, its subgraph URLs pointed at this run's
//!    subgraphs, request deduplication off so that the identical requests of the generator each
//!    run), on the same core.

// Rates and percentiles of measurements, never money: floats are the right tool here.
#![allow(
    clippy::float_arithmetic,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryOrder, QuerySelect};
use serde_json::{Value, json};
use test_support::{self as testing, TestDb, events, owner_token};

#[derive(Parser)]
#[command(about = "Load generator for bench/README.md")]
struct Args {
    /// `sqlite` or `postgres`.
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// New payment webhooks for the ingest figure.
    #[arg(long, default_value_t = 4000)]
    events: usize,
    /// Concurrent connections (and pgbench clients).
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Ledger entries to add for the seller before the size figures (0 skips them).
    #[arg(long, default_value_t = 0)]
    entries: usize,
    /// Duration of the ceiling, lag and router runs.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Directory of the release binaries.
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Also measure through the Node gateway (`router/`, its npm packages installed).
    #[arg(long)]
    router: bool,
    /// Also measure through Hive Router: the path of its binary (`hive_router`).
    #[arg(long)]
    hive_router: Option<PathBuf>,
}

const MALET: &str = "m1";

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn has_taskset() -> bool {
    Command::new("taskset").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

/// Starts `program args` with `env`, on CPU 0 when `taskset` exists.
fn spawn(program: &std::path::Path, args: &[&str], env: &[(&str, String)]) -> anyhow::Result<Proc> {
    let mut cmd = if has_taskset() {
        let mut c = Command::new("taskset");
        c.arg("-c").arg("0").arg(program);
        c
    } else {
        Command::new(program)
    };
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit());
    // Hive Router lets these variables override its configuration file: none of the caller's
    // reach a child (the subgraphs read none of them).
    for k in [
        "PORT",
        "HOST",
        "LOG_LEVEL",
        "LOG_FORMAT",
        "LOG_FILTER",
        "SUPERGRAPH_FILE_PATH",
        "HIVE_CDN_ENDPOINT",
        "HIVE_CDN_KEY",
        "APOLLO_KEY",
        "APOLLO_GRAPH_REF",
        "LABORATORY_ENABLED",
        "DISABLE_SUBGRAPH_ERROR_MASKING",
        "ROUTER_HTTP_WORKERS",
    ] {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    Ok(Proc(cmd.spawn().with_context(|| format!("start {}", program.display()))?))
}

async fn wait_ready(http: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if http.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{url} not ready after 60 s")
}

struct Percentiles {
    p50: Duration,
    p99: Duration,
}

fn percentiles(mut samples: Vec<Duration>) -> Percentiles {
    samples.sort_unstable();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(i).copied().unwrap_or_default()
    };
    Percentiles { p50: at(0.50), p99: at(0.99) }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

struct System {
    http: reqwest::Client,
    payments: String,
    murchases: String,
    acct: String,
    sent: AtomicUsize,
    _procs: Vec<Proc>,
    _stripe: test_support::fake_stripe::FakeStripe,
}

impl System {
    async fn start(args: &Args, db: &TestDb) -> anyhow::Result<System> {
        let stripe = test_support::fake_stripe::FakeStripe::start_default().await?;
        let http = reqwest::Client::builder().pool_max_idle_per_host(256).timeout(Duration::from_secs(30)).build()?;
        let env = |addr_var: &'static str, port: u16| {
            vec![
                ("DATABASE_URL", db.database_url()),
                ("SKIP_MIGRATIONS", "true".to_owned()),
                ("APP_ENV", "production".to_owned()),
                ("JWT_SECRET", testing::TEST_JWT_SECRET.to_owned()),
                ("STRIPE_WEBHOOK_SECRETS", testing::TEST_WEBHOOK_SECRET.to_owned()),
                ("STRIPE_SECRET_KEY", "sk_test_bench".to_owned()),
                ("STRIPE_API_BASE", stripe.base_url()),
                ("RUST_LOG", "warn".to_owned()),
                ("HTTP_MAX_IN_FLIGHT", "1024".to_owned()),
                (addr_var, format!("127.0.0.1:{port}")),
            ]
        };
        let (pp, mp) = (free_port()?, free_port()?);
        let procs = vec![
            spawn(&args.bin_dir.join("payments"), &["serve"], &env("PAYMENTS_ADDR", pp))?,
            spawn(&args.bin_dir.join("murchases"), &["serve"], &env("MURCHASES_ADDR", mp))?,
        ];
        let (payments, murchases) = (format!("http://127.0.0.1:{pp}"), format!("http://127.0.0.1:{mp}"));
        wait_ready(&http, &format!("{payments}/ready")).await?;
        wait_ready(&http, &format!("{murchases}/ready")).await?;
        let create = "mutation($m: ID!) { createConnectedAccount(input: {maletId: $m}) { providerAccountId } }";
        let r = gql(&http, &payments, &owner_token(MALET), create, json!({"m": MALET})).await?;
        let acct = r["data"]["createConnectedAccount"]["providerAccountId"]
            .as_str()
            .with_context(|| format!("createConnectedAccount: {r}"))?
            .to_owned();
        let mut sys =
            System { http, payments, murchases, acct, sent: AtomicUsize::new(0), _procs: procs, _stripe: stripe };
        let activated = events::account_updated("evt_bench_acct", &sys.acct, chrono::Utc::now().timestamp(), true);
        let base = sys.payments.clone();
        anyhow::ensure!(sys.post_webhook(&base, &activated).await? == 200, "account.updated refused");
        sys.sent = AtomicUsize::new(0);
        Ok(sys)
    }

    async fn post_webhook(&self, base: &str, event: &Value) -> anyhow::Result<u16> {
        let body = event.to_string();
        let sig = providers::stripe::webhook::sign(
            body.as_bytes(),
            testing::TEST_WEBHOOK_SECRET,
            chrono::Utc::now().timestamp(),
        );
        let r = self
            .http
            .post(format!("{base}/webhooks/stripe"))
            .header("Stripe-Signature", sig)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        Ok(r.status().as_u16())
    }

    /// The next new payment event of the seller.
    fn next_payment(&self) -> Value {
        let n = self.sent.fetch_add(1, Ordering::SeqCst);
        let run = uuid::Uuid::now_v7().simple().to_string();
        events::payment_succeeded(
            &format!("evt_{run}"),
            &format!("pi_{run}"),
            &format!("bench-{n}-{run}"),
            Some(MALET),
            Some(&self.acct),
            1_000 + i64::try_from(n % 50_000).unwrap_or(0),
        )
    }
}

async fn gql(http: &reqwest::Client, base: &str, token: &str, query: &str, variables: Value) -> anyhow::Result<Value> {
    let r = http
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await?;
    Ok(r.json().await?)
}

struct Ingest {
    rate: f64,
    lat: Percentiles,
    errors: usize,
}

/// `n` new payments over `c` connections as fast as they are answered.
async fn ingest(sys: &Arc<System>, n: usize, c: usize) -> anyhow::Result<Ingest> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..c)
        .map(|_| {
            let (sys, next) = (sys.clone(), next.clone());
            tokio::spawn(async move {
                let (mut lat, mut errors) = (Vec::new(), 0);
                while next.fetch_add(1, Ordering::SeqCst) < n {
                    let e = sys.next_payment();
                    let t = Instant::now();
                    match sys.post_webhook(&sys.murchases, &e).await {
                        Ok(200) => lat.push(t.elapsed()),
                        _ => errors += 1,
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let (mut lat, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await?;
        lat.extend(l);
        errors += e;
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(Ingest { rate: lat.len() as f64 / secs, lat: percentiles(lat), errors })
}

/// The minimal statements of one event, with fresh ids (`{…}` placeholders for the SQLite
/// replay; the pgbench script uses the same statements with PostgreSQL expressions).
fn minimal_sql(payload: &str, ids: &[String; 4], now: &str) -> Vec<String> {
    let [event, ledger, posting, outbox] = ids;
    let p = payload.replace('\'', "''");
    vec![
        format!(
            "INSERT INTO webhook_events (id, receiver, provider, event_id, event_type, provider_created, payload, status, \
             attempts, next_attempt_at, received_at, processed_at) VALUES ('{event}', 'murchases', 'STRIPE_CONNECT', '{event}', \
             'payment_intent.succeeded', 0, '{p}', 'PROCESSED', 0, {now}, {now}, {now})"
        ),
        format!(
            "INSERT INTO commission_ledger (id, order_id, malet_id, provider, provider_payment_id, provider_charge_id, \
             destination_account_id, account_id, currency, gross_amount, commission_rate, original_commission, \
             original_reserve, original_affiliate, commission_amount, processing_fee, reserve_amount, affiliate_amount, \
             net_payout, application_fee_amount, refunded_amount, refunded_commission, status, disputed, rule_version, \
             breakdown, provider_fee_amount, created_at, updated_at) VALUES ('{ledger}', '{ledger}', 'ceiling', \
             'STRIPE_CONNECT', '{ledger}', 'ch_{ledger}', 'acct_ceiling', 'acc_ceiling', 'USD', 10000, '0.08', 800, 888, \
             0, 800, 320, 888, 0, 7992, 1120, 0, 0, 'PENDING', FALSE, 1, '{{}}', 1120, {now}, {now})"
        ),
        format!(
            "INSERT INTO ledger_postings (id, ledger_id, kind, commission_delta, reserve_delta, affiliate_delta, net_delta, \
             refunded_delta, idempotency_key, created_at) VALUES ('{posting}', '{ledger}', 'EARNING', 800, 888, 0, 7992, \
             0, 'earning:{ledger}', {now})"
        ),
        format!(
            "INSERT INTO outbox (id, topic, aggregate_id, payload, idempotency_key, status, attempts, available_at, \
             created_at) VALUES ('{outbox}', 'ceiling', '{ledger}', '{{\"kind\":\"EARNING\"}}', 'earning:{ledger}', 'DONE', 0, \
             {now}, {now})"
        ),
    ]
}

/// Transactions per second of the minimal SQL without the service.
async fn ceiling(args: &Args, db: &TestDb, payload: &str) -> anyhow::Result<f64> {
    if db.backend == DbBackend::Postgres {
        let script = std::env::temp_dir().join(format!("ceiling-{}.sql", uuid::Uuid::now_v7().simple()));
        let ids = ["e".to_owned(), "l".to_owned(), "p".to_owned(), "o".to_owned()];
        let mut sql = String::from("\\set n random(1, 9000000000000000000)\nBEGIN;\n");
        // pgbench reads `:name` as a variable, even inside a literal: keep the JSON's colons out of
        // its way (same size within a few bytes).
        let payload = payload.replace(':', ": ");
        for s in minimal_sql(&payload, &ids, "now()") {
            // Fresh ids per transaction: the client id and a random number.
            let s = s
                .replace("'e'", "'e-' || (:client_id)::text || '-' || (:n)::text")
                .replace("'l'", "'l-' || (:client_id)::text || '-' || (:n)::text")
                .replace("'ch_l'", "'ch-' || (:client_id)::text || '-' || (:n)::text")
                .replace("'earning:l'", "'earning-' || (:client_id)::text || '-' || (:n)::text")
                .replace("'p'", "'p-' || (:client_id)::text || '-' || (:n)::text")
                .replace("'o'", "'o-' || (:client_id)::text || '-' || (:n)::text");
            sql.push_str(&s);
            sql.push_str(";\n");
        }
        sql.push_str("COMMIT;\n");
        std::fs::write(&script, sql)?;
        let out = Command::new("pgbench")
            .args(["-n", "-M", "prepared", "-c", &args.connections.to_string(), "-j", "1"])
            .args(["-T", &args.seconds.to_string(), "-f"])
            .arg(&script)
            .arg(db.database_url())
            .output()
            .context("run pgbench (PostgreSQL's client tools)")?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let tps = text
            .lines()
            .find(|l| l.starts_with("tps = "))
            .and_then(|l| l.trim_start_matches("tps = ").split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .with_context(|| format!("pgbench: {text}{}", String::from_utf8_lossy(&out.stderr)))?;
        return Ok(tps);
    }
    let conn = service_core::db::connect(&db.database_url()).await?;
    let done = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let tasks: Vec<_> = (0..args.connections)
        .map(|_| {
            let (conn, done, payload) = (conn.clone(), done.clone(), payload.to_owned());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let id = || uuid::Uuid::now_v7().to_string();
                    let now = format!("'{}'", chrono::Utc::now().format("%Y-%m-%d %H:%M:%S%.6f+00:00"));
                    let txn = service_core::db::begin_write(&conn).await?;
                    for s in minimal_sql(&payload, &[id(), id(), id(), id()], &now) {
                        txn.execute_unprepared(&s).await?;
                    }
                    txn.commit().await?;
                    done.fetch_add(1, Ordering::SeqCst);
                }
                Ok::<_, sea_orm::DbErr>(())
            })
        })
        .collect();
    let started = Instant::now();
    for t in tasks {
        t.await??;
    }
    Ok(done.load(Ordering::SeqCst) as f64 / started.elapsed().as_secs_f64())
}

/// Waits (up to two minutes) until every ledger event is consumed; returns how long it took.
async fn drained(db: &DatabaseConnection) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let pending = entity::outbox::Entity::find()
            .select_only()
            .column(entity::outbox::Column::Id)
            .filter(sea_orm::ColumnTrait::ne(&entity::outbox::Column::Status, "DONE"))
            .limit(1)
            .into_tuple::<String>()
            .all(db)
            .await?;
        if pending.is_empty() {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(120), "ledger events not consumed after 2 minutes");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Webhooks at `rate`/s for `seconds`; then the ledger-event lag of that window.
async fn lag(
    sys: &Arc<System>,
    db: &DatabaseConnection,
    rate: f64,
    seconds: u64,
    c: usize,
) -> anyhow::Result<Percentiles> {
    // Steady state: start with every earlier ledger event consumed.
    drained(db).await?;
    let from = chrono::Utc::now();
    let per_task = Duration::from_secs_f64(c as f64 / rate.max(1.0));
    let until = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..c)
        .map(|_| {
            let sys = sys.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(per_task);
                while Instant::now() < until {
                    tick.tick().await;
                    let _ = sys.post_webhook(&sys.murchases, &sys.next_payment()).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await?;
    }
    // Wait for the tail, then read every ledger event of the window.
    drained(db).await?;
    let rows = entity::outbox::Entity::find()
        .filter(sea_orm::ColumnTrait::gte(&entity::outbox::Column::CreatedAt, from))
        .all(db)
        .await?;
    let lags = rows
        .iter()
        .filter_map(|r| r.processed_at.map(|p| (p - r.created_at).to_std().unwrap_or_default()))
        .collect::<Vec<_>>();
    anyhow::ensure!(!lags.is_empty(), "no ledger events in the lag window");
    Ok(percentiles(lags))
}

use sea_orm::QueryFilter as _;

/// Adds `n` entries (copies of a real one, each a second older) and as many balance movements
/// for the seller in two `INSERT … SELECT` statements, then brings the running totals in line
/// with them (as the migration's backfill does). Returns how long it took.
async fn grow(db: &DatabaseConnection, n: usize) -> anyhow::Result<Duration> {
    use sea_orm::{ColumnTrait, Iterable};
    let started = Instant::now();
    let backend = db.get_database_backend();
    let template = entity::commission_ledger::Entity::find()
        .filter(entity::commission_ledger::Column::MaletId.eq(MALET))
        .order_by_asc(entity::commission_ledger::Column::CreatedAt)
        .one(db)
        .await?
        .context("a ledger entry to copy")?;
    let movement = entity::balance_movements::Entity::find()
        .filter(entity::balance_movements::Column::MaletId.eq(MALET))
        .one(db)
        .await?
        .context("a balance movement to copy")?;
    // `g` runs from 1 to n; each copy is g seconds older than the template, in the same format.
    let (series, from, older) = match backend {
        DbBackend::Postgres => {
            (String::new(), format!("generate_series(1, {n}) AS s(g)"), "t.{c} - make_interval(secs => g)".to_owned())
        }
        _ => (
            format!("WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {n}) "),
            "s".to_owned(),
            "strftime('%Y-%m-%dT%H:%M:%f', t.{c}, '-' || g || ' seconds') || '+00:00'".to_owned(),
        ),
    };
    let copy = |table: &str, columns: Vec<String>, fresh: &[(&str, &str)], template_id: &str| {
        let exprs: Vec<String> = columns
            .iter()
            .map(|c| match fresh.iter().find(|(name, _)| name == c) {
                Some((_, e)) => (*e).to_owned(),
                None if c == "created_at" || c == "updated_at" => older.replace("{c}", c),
                None => format!("t.{c}"),
            })
            .collect();
        format!(
            "{series}INSERT INTO {table} ({}) SELECT {} FROM {table} t, {from} WHERE t.id = '{template_id}'",
            columns.join(", "),
            exprs.join(", ")
        )
    };
    let ledger_cols =
        entity::commission_ledger::Column::iter().map(|c| sea_orm::IdenStatic::as_str(&c).to_owned()).collect();
    db.execute_unprepared(&copy(
        "commission_ledger",
        ledger_cols,
        &[
            ("id", "'seed-' || g"),
            ("order_id", "'seed-' || g"),
            ("provider_payment_id", "'pi_seed_' || g"),
            ("provider_charge_id", "'ch_seed_' || g"),
        ],
        &template.id,
    ))
    .await?;
    let movement_cols =
        entity::balance_movements::Column::iter().map(|c| sea_orm::IdenStatic::as_str(&c).to_owned()).collect();
    // A million updates of one balances row in one PostgreSQL transaction pile up row versions
    // (quadratic); seeding is not a workload, so on PostgreSQL the trigger is off for it and the
    // row is recomputed below, as the migration's backfill does.
    let pg = backend == DbBackend::Postgres;
    if pg {
        db.execute_unprepared("ALTER TABLE balance_movements DISABLE TRIGGER balance_movements_totals").await?;
    }
    db.execute_unprepared(&copy(
        "balance_movements",
        movement_cols,
        &[("id", "'seed-' || g"), ("source_id", "'seed-' || g"), ("idempotency_key", "'seed:' || g")],
        &movement.id,
    ))
    .await?;
    if pg {
        db.execute_unprepared("ALTER TABLE balance_movements ENABLE TRIGGER balance_movements_totals").await?;
        db.execute_unprepared(&format!(
            "UPDATE account_balances SET (movements, earnings, pending, reserve, payouts) = (SELECT COUNT(*), \
             SUM(earnings_delta), SUM(pending_delta), SUM(reserve_delta), SUM(payouts_delta) FROM balance_movements m \
             WHERE m.account_id = account_balances.account_id AND m.currency = account_balances.currency) \
             WHERE malet_id = '{MALET}'"
        ))
        .await?;
    }
    // The copies carry no postings: recompute the seller's totals row from the entries.
    db.execute_unprepared(&format!("DELETE FROM malet_ledger_totals WHERE malet_id = '{MALET}'")).await?;
    db.execute_unprepared(&format!(
        "INSERT INTO malet_ledger_totals (malet_id, currency, entries, gross, refunded, commission, reserve, affiliate, net) \
         SELECT malet_id, currency, COUNT(*), SUM(gross_amount), SUM(refunded_amount), SUM(commission_amount), \
         SUM(reserve_amount), SUM(affiliate_amount), SUM(net_payout) FROM commission_ledger WHERE malet_id = '{MALET}' \
         GROUP BY malet_id, currency"
    ))
    .await?;
    for table in ["commission_ledger", "balance_movements", "malet_ledger_totals", "account_balances"] {
        db.execute_unprepared(&format!("ANALYZE {table}")).await?;
    }
    let drift = murchases::repo::ledger::totals_mismatches(db, Some(MALET)).await?;
    anyhow::ensure!(drift.is_empty(), "totals after seeding: {drift:?}");
    let drift = payments_balance_drift(db).await?;
    anyhow::ensure!(drift == 0, "account balances after seeding differ from the movements by {drift}");
    Ok(started.elapsed())
}

/// Pending balance kept by the trigger minus the sum of the seller's movements (0 when equal).
async fn payments_balance_drift(db: &DatabaseConnection) -> anyhow::Result<i64> {
    let q = |sql: String| async move {
        let row = db.query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql)).await?;
        Ok::<i64, anyhow::Error>(row.map(|r| r.try_get::<i64>("", "v")).transpose()?.unwrap_or(0))
    };
    let kept = q(format!(
        "SELECT CAST(COALESCE(SUM(pending), 0) AS BIGINT) AS v FROM account_balances WHERE malet_id = '{MALET}'"
    ))
    .await?;
    let summed = q(format!(
        "SELECT CAST(COALESCE(SUM(pending_delta), 0) AS BIGINT) AS v FROM balance_movements WHERE malet_id = '{MALET}'"
    ))
    .await?;
    Ok(kept - summed)
}

/// p50 of `n` sequential requests of `query` to `base`; fails on any GraphQL error.
async fn read_p50(sys: &System, base: &str, query: &str, variables: Value, n: usize) -> anyhow::Result<Duration> {
    let token = owner_token(MALET);
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = gql(&sys.http, base, &token, query, variables.clone()).await?;
        lat.push(t.elapsed());
        anyhow::ensure!(r.get("errors").is_none_or(Value::is_null), "{query}: {r}");
    }
    Ok(percentiles(lat).p50)
}

/// Requests per second of `c` clients sending `send` for `secs`.
async fn throughput<F, Fut>(c: usize, secs: f64, send: F) -> f64
where
    F: Fn() -> Fut + Send + Sync + 'static + Clone,
    Fut: std::future::Future<Output = bool> + Send,
{
    let done = Arc::new(AtomicUsize::new(0));
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = (0..c)
        .map(|_| {
            let (send, done) = (send.clone(), done.clone());
            tokio::spawn(async move {
                while Instant::now() < until {
                    if send().await {
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    done.load(Ordering::SeqCst) as f64 / secs
}

const PAGE: &str = "query($m: ID!) { commissionLedger(maletId: $m, limit: 20) { id orderId grossAmount commissionAmount \
    processingFee reserveAmount netPayout status createdAt cursor } }";
const ACCOUNT: &str =
    "query($m: ID!) { connectedAccount(maletId: $m) { status pendingBalance reserveBalance totalEarnings } }";
const SUMMARY: &str = "query($m: ID!) { earningsSummary(maletId: $m) { totalGross totalCommission totalNetPayouts } }";
const CROSS: &str = "query($m: ID!) { connectedAccount(maletId: $m) { status pendingBalance reserveBalance \
    malet { earningsSummary { totalGross totalCommission } } } }";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if has_taskset() {
        let _ = Command::new("taskset")
            .args(["-p", "-c", "1", &std::process::id().to_string()])
            .stdout(Stdio::null())
            .status();
    }
    let db = match args.backend.as_str() {
        "sqlite" => TestDb::sqlite().await,
        // A fresh schema in the server of TEST_POSTGRES_URL (default: the local test database).
        "postgres" => TestDb::postgres_fresh().await.context("PostgreSQL unreachable")?,
        other => bail!("--backend sqlite|postgres, not {other}"),
    };
    let sys = Arc::new(System::start(&args, &db).await?);
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    println!(
        "# {} on {:?}, {} connections, commit {commit}, {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        db.backend,
        args.connections,
        if has_taskset() { "subgraphs on CPU 0, generator on CPU 1" } else { "no taskset: unpinned" }
    );
    // Warm-up (connection pools, prepared statements), not counted.
    ingest(&sys, 200, args.connections).await?;

    let empty = ingest(&sys, args.events, args.connections).await?;
    println!(
        "ingest, new events: {:.0}/s, p50 {}, p99 {}, errors {}",
        empty.rate,
        ms(empty.lat.p50),
        ms(empty.lat.p99),
        empty.errors
    );
    let backlog = drained(&db.conn).await?;
    println!("ledger events of that burst all in the balances {:.1} s after its end", backlog.as_secs_f64());
    let payload = sys.next_payment().to_string();
    let ceiling = ceiling(&args, &db, &payload).await?;
    println!("ceiling, minimal SQL of one event: {ceiling:.0}/s (ingest = {:.2} of it)", empty.rate / ceiling);
    let lagged = lag(&sys, &db.conn, empty.rate / 2.0, args.seconds, args.connections).await?;
    println!("ledger event → balances at {:.0}/s: p50 {}, p99 {}", empty.rate / 2.0, ms(lagged.p50), ms(lagged.p99));
    let paced = {
        // Latency at half the maximum rate: the same pacing, measured per request.
        let n = (empty.rate / 2.0 * 5.0) as usize;
        ingest(&sys, n.max(100), (args.connections / 4).max(1)).await?
    };
    println!("ingest at a quarter of the connections: p50 {}, p99 {}", ms(paced.lat.p50), ms(paced.lat.p99));

    if args.entries > 0 {
        let took = grow(&db.conn, args.entries).await?;
        let count: u64 = {
            let r = gql(
                &sys.http,
                &sys.murchases,
                &owner_token(MALET),
                "query($m: ID!) { commissionLedgerCount(maletId: $m) }",
                json!({"m": MALET}),
            )
            .await?;
            r["data"]["commissionLedgerCount"].as_u64().unwrap_or(0)
        };
        println!("grew the seller's ledger to {count} entries in {:.0} s", took.as_secs_f64());
        let big = ingest(&sys, args.events, args.connections).await?;
        println!(
            "ingest at {count} entries: {:.0}/s ({:.2} of empty), p50 {}, p99 {}, errors {}",
            big.rate,
            big.rate / empty.rate,
            ms(big.lat.p50),
            ms(big.lat.p99),
            big.errors
        );
        let v = json!({"m": MALET});
        println!("earningsSummary p50: {}", ms(read_p50(&sys, &sys.murchases, SUMMARY, v.clone(), 200).await?));
        println!(
            "commissionLedgerCount p50: {}",
            ms(read_p50(&sys, &sys.murchases, "query($m: ID!) { commissionLedgerCount(maletId: $m) }", v.clone(), 200)
                .await?)
        );
        println!(
            "connectedAccount balances p50: {}",
            ms(read_p50(&sys, &sys.payments, ACCOUNT, v.clone(), 200).await?)
        );
        println!("first ledger page p50: {}", ms(read_p50(&sys, &sys.murchases, PAGE, v.clone(), 200).await?));
        let last = entity::commission_ledger::Entity::find()
            .filter(sea_orm::ColumnTrait::eq(&entity::commission_ledger::Column::MaletId, MALET))
            .order_by_asc(entity::commission_ledger::Column::CreatedAt)
            .order_by_asc(entity::commission_ledger::Column::Id)
            .offset(20)
            .one(&db.conn)
            .await?
            .context("an entry 20 from the end")?;
        let after = murchases::service::ledger::LedgerCursor::of(&last);
        let last_page =
            PAGE.replace("limit: 20)", "limit: 20, after: $a)").replace("query($m: ID!)", "query($m: ID!, $a: String)");
        println!(
            "last ledger page (after a cursor) p50: {}",
            ms(read_p50(&sys, &sys.murchases, &last_page, json!({"m": MALET, "a": after}), 200).await?)
        );
    }

    let mut routers: Vec<(&str, Proc, String)> = Vec::new();
    let root = std::env::current_dir()?;
    if args.router {
        let port = free_port()?;
        let env = [
            ("ROUTER_HOST", "127.0.0.1".to_owned()),
            ("ROUTER_PORT", port.to_string()),
            ("PAYMENTS_URL", format!("{}/graphql", sys.payments)),
            ("MURCHASES_URL", format!("{}/graphql", sys.murchases)),
        ];
        let gateway = root.join("router/gateway.mjs");
        let gateway = gateway.to_str().context("router path")?;
        let node = spawn(std::path::Path::new("node"), &[gateway], &env).context("start the Node gateway")?;
        let base = format!("http://127.0.0.1:{port}");
        wait_ready(&sys.http, &format!("{base}/health")).await?;
        routers.push(("the Node gateway", node, base));
    }
    if let Some(bin) = &args.hive_router {
        let port = free_port()?;
        let dir = testing::TempDir::new("loadgen-hive");
        let config = dir.path().join("router.config.yaml");
        let text = test_support::hive_router::config(
            &root,
            port,
            &format!("{}/graphql", sys.payments),
            &format!("{}/graphql", sys.murchases),
            "error",
        )
        .context("router/hive-router.yaml")?;
        // Identical concurrent requests (the generator sends the same query with the same
        // token) would share one execution: measured without that, as distinct requests are.
        let text = format!(
            "{text}traffic_shaping:\n  all:\n    dedupe_enabled: false\n  router:\n    dedupe:\n      enabled: false\n"
        );
        std::fs::write(&config, text)?;
        // One worker: the router shares CPU 0 with the subgraphs (more would only contend).
        let env = [("ROUTER_CONFIG_FILE_PATH", config.display().to_string()), ("ROUTER_HTTP_WORKERS", "1".to_owned())];
        let hive = spawn(bin, &[], &env).context("start Hive Router")?;
        let base = format!("http://127.0.0.1:{port}");
        // Ready once the supergraph is loaded (its configuration is read by then).
        wait_ready(&sys.http, &format!("{base}/readiness")).await?;
        routers.push(("Hive Router", hive, base));
    }
    if !routers.is_empty() {
        let secs = args.seconds as f64 / 2.0;
        let c = args.connections;
        let run = |base: String, query: &'static str| {
            let sys = sys.clone();
            move || {
                let (sys, base) = (sys.clone(), base.clone());
                async move {
                    gql(&sys.http, &base, &owner_token(MALET), query, json!({"m": MALET}))
                        .await
                        .is_ok_and(|r| r.get("errors").is_none_or(Value::is_null))
                }
            }
        };
        let both = {
            let sys = sys.clone();
            move || {
                let sys = sys.clone();
                async move {
                    let v = json!({"m": MALET});
                    let a = gql(&sys.http, &sys.payments, &owner_token(MALET), ACCOUNT, v.clone()).await.is_ok();
                    let b = gql(&sys.http, &sys.murchases, &owner_token(MALET), SUMMARY, v).await.is_ok();
                    a && b
                }
            }
        };
        let direct_page = throughput(c, secs, run(sys.murchases.clone(), PAGE)).await;
        let direct_cross = throughput(c, secs, both).await;
        println!(
            "ledger page direct: {direct_page:.0}/s; cross-subgraph query direct (both subgraphs): {direct_cross:.0}/s"
        );
        for (name, _proc, base) in &routers {
            // An answer through the router is checked first (no errors), and every measured one
            // must have none.
            let answer = gql(&sys.http, base, &owner_token(MALET), PAGE, json!({"m": MALET})).await?;
            anyhow::ensure!(answer.get("errors").is_none_or(Value::is_null), "{name}: {answer}");
            let routed = throughput(c, secs, run(base.clone(), PAGE)).await;
            println!("ledger page through {name}: {routed:.0}/s ({:.2} of direct)", routed / direct_page);
            let routed = throughput(c, secs, run(base.clone(), CROSS)).await;
            println!("cross-subgraph query through {name}: {routed:.0}/s ({:.2} of direct)", routed / direct_cross);
        }
    }
    Ok(())
}
