//! Issue 17: crash, restart and graceful shutdown of the real binaries, on SQLite and PostgreSQL
//! (PostgreSQL is skipped with a warning when it is down, a failure with `CI=true`).
//!
//! A stream of signed payment webhooks goes to two `murchases` instances while two `payments`
//! instances consume the ledger events; subgraph processes are killed with SIGKILL mid-stream and
//! restarted; every delivery that was not answered 200 is delivered again (Stripe redelivers
//! what it did not get a 2xx for), to whichever instance answers. Afterwards every payment is one
//! ledger entry and one earning, balances equal the sums of the entries, no inbox or outbox row is
//! left unapplied or claimed, and each recovery took at most two seconds.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use entity::{balance_movements, commission_ledger, outbox, webhook_events};
use sea_orm::sea_query::ExprTrait;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use test_support::{self as testing, TempDir, TestDb, owner_token};

/// The recovery target of issue 17: events stored before a crash are applied within this time
/// of the restart (or of the crash, when another instance keeps running).
const RECOVERY_TARGET: Duration = Duration::from_secs(2);
/// Payments in each run.
const EVENTS: usize = 160;
/// Concurrent senders.
const SENDERS: usize = 8;

/// One subgraph process on a fixed port (a restart listens where the sender delivers).
struct Node {
    name: String,
    bin: std::path::PathBuf,
    env: Vec<(&'static str, String)>,
    base: String,
    proc: Option<Proc>,
}

impl Node {
    fn new(name: &str, bin: &str, addr_var: &'static str, db_url: &str, stripe: &str) -> Node {
        let port = free_port();
        let mut env = subgraph_env(db_url, stripe);
        env.push((addr_var, format!("127.0.0.1:{port}")));
        env.push(("SKIP_MIGRATIONS", "true".to_owned()));
        Node {
            name: name.to_owned(),
            bin: workspace_bin(bin),
            env,
            base: format!("http://127.0.0.1:{port}"),
            proc: None,
        }
    }

    /// Starts the process and waits until it is ready; returns when it was.
    async fn start(&mut self, http: &reqwest::Client, logs: &TempDir, run: usize) -> Instant {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("serve");
        let mut proc = Proc::spawn(&format!("{}-{run}", self.name), cmd, &self.env, logs.path());
        if let Err(log) = proc.wait_ready(http, &format!("{}/ready", self.base)).await {
            panic!("{log}");
        }
        self.proc = Some(proc);
        Instant::now()
    }

    fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill_now();
        }
    }
}

struct Stream {
    events: Vec<Value>,
    acked: Arc<AtomicUsize>,
}

/// Delivers every event until one instance answers 200, spreading deliveries (and redeliveries)
/// over `targets`; returns how many deliveries it took.
async fn deliver_all(
    http: reqwest::Client,
    targets: Vec<String>,
    stream: Arc<Stream>,
    next: Arc<AtomicUsize>,
) -> usize {
    let mut deliveries = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let i = next.fetch_add(1, Ordering::SeqCst);
        let Some(event) = stream.events.get(i) else { return deliveries };
        let body = event.to_string();
        let mut attempt = i;
        loop {
            assert!(Instant::now() < deadline, "event {i} not acknowledged after two minutes");
            let base = &targets[attempt % targets.len()];
            attempt += 1;
            deliveries += 1;
            let sent = http
                .post(format!("{base}/webhooks/stripe"))
                .header("Stripe-Signature", testing::stripe_signature(&body))
                .header("content-type", "application/json")
                .timeout(Duration::from_secs(10))
                .body(body.clone())
                .send()
                .await;
            if sent.is_ok_and(|r| r.status().as_u16() == 200) {
                stream.acked.fetch_add(1, Ordering::SeqCst);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn wait_acked(stream: &Stream, at_least: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while stream.acked.load(Ordering::SeqCst) < at_least {
        assert!(Instant::now() < deadline, "stream stalled at {} acknowledged", stream.acked.load(Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Events of `receiver` stored but not applied.
async fn unapplied_events(db: &DatabaseConnection, receiver: &str) -> u64 {
    webhook_events::Entity::find()
        .filter(webhook_events::Column::Receiver.eq(receiver))
        .filter(webhook_events::Column::Status.is_in(["RECEIVED", "FAILED"]))
        .count(db)
        .await
        .expect("count events")
}

/// Ledger events written before `before` and not consumed yet.
async fn unconsumed_before(db: &DatabaseConnection, before: chrono::DateTime<chrono::Utc>) -> u64 {
    outbox::Entity::find()
        .filter(outbox::Column::Status.ne("DONE"))
        .filter(outbox::Column::CreatedAt.lte(before))
        .count(db)
        .await
        .expect("count outbox")
}

/// How long after `from` until `done` holds (polled every 10 ms; fails after 20 s).
async fn time_until<F, Fut>(from: Instant, what: &str, mut done: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    loop {
        if done().await {
            return from.elapsed();
        }
        assert!(from.elapsed() < Duration::from_secs(20), "{what}: not done 20 s after the restart");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An ACTIVE Stripe account for `malet` through payments; returns its `acct_…`.
async fn active_account(http: &reqwest::Client, payments: &str, malet: &str) -> String {
    let create = "mutation($m: ID!) { createConnectedAccount(input: {maletId: $m}) { providerAccountId } }";
    let r = gql(http, &format!("{payments}/graphql"), Some(&owner_token(malet)), create, json!({"m": malet})).await;
    let acct = r["data"]["createConnectedAccount"]["providerAccountId"].as_str().expect("acct").to_owned();
    let body = account_updated(&acct).to_string();
    let status = http
        .post(format!("{payments}/webhooks/stripe"))
        .header("Stripe-Signature", testing::stripe_signature(&body))
        .body(body)
        .send()
        .await
        .expect("account.updated")
        .status();
    assert_eq!(status, 200);
    acct
}

/// After the stream: every payment is one entry and one earning, balances are the sums, and
/// nothing is left unapplied or claimed.
async fn assert_exactly_once(db: &DatabaseConnection, http: &reqwest::Client, payments: &str, malet: &str) {
    let entries = commission_ledger::Entity::find()
        .filter(commission_ledger::Column::MaletId.eq(malet))
        .all(db)
        .await
        .expect("ledger");
    assert_eq!(entries.len(), EVENTS, "one ledger entry per payment");
    let mut orders: Vec<&str> = entries.iter().map(|e| e.order_id.as_str()).collect();
    orders.sort_unstable();
    orders.dedup();
    assert_eq!(orders.len(), EVENTS, "no order twice");
    let earnings = balance_movements::Entity::find()
        .filter(balance_movements::Column::MaletId.eq(malet))
        .filter(balance_movements::Column::Kind.eq("EARNING"))
        .count(db)
        .await
        .expect("movements");
    assert_eq!(earnings, EVENTS as u64, "one earning per entry");
    let net: i64 = entries.iter().map(|e| e.net_payout).sum();
    let reserve: i64 = entries.iter().map(|e| e.reserve_amount).sum();
    let q = "query($m: ID!) { connectedAccount(maletId: $m) { pendingBalance reserveBalance } }";
    let r = gql(http, &format!("{payments}/graphql"), Some(&owner_token(malet)), q, json!({"m": malet})).await;
    assert_eq!(r["data"]["connectedAccount"], json!({"pendingBalance": net, "reserveBalance": reserve}), "{r}");
    let stuck_events = webhook_events::Entity::find()
        .filter(webhook_events::Column::Status.ne("PROCESSED").or(webhook_events::Column::LockedUntil.is_not_null()))
        .all(db)
        .await
        .expect("events");
    assert!(stuck_events.is_empty(), "inbox rows left unapplied or claimed: {stuck_events:?}");
    let stuck_outbox = outbox::Entity::find()
        .filter(outbox::Column::Status.ne("DONE").or(outbox::Column::LockedUntil.is_not_null()))
        .all(db)
        .await
        .expect("outbox");
    assert!(stuck_outbox.is_empty(), "outbox rows left unconsumed or claimed: {stuck_outbox:?}");
}

fn stream_for(acct: &str, malet: &str) -> Arc<Stream> {
    let events = (0..EVENTS).map(|i| payment_succeeded(&format!("ord-{i}"), malet, acct, 1_000 + i as i64)).collect();
    Arc::new(Stream { events, acked: Arc::new(AtomicUsize::new(0)) })
}

fn spawn_senders(
    http: &reqwest::Client,
    targets: &[String],
    stream: &Arc<Stream>,
) -> Vec<tokio::task::JoinHandle<usize>> {
    let next = Arc::new(AtomicUsize::new(0));
    (0..SENDERS)
        .map(|_| tokio::spawn(deliver_all(http.clone(), targets.to_vec(), stream.clone(), next.clone())))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_nothing_and_recovers_within_two_seconds_on_sqlite() {
    let db = TestDb::sqlite().await;
    crash_and_recover(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_nothing_and_recovers_within_two_seconds_on_postgres() {
    let Some(db) = TestDb::postgres_fresh().await else { return };
    crash_and_recover(&db).await;
}

async fn crash_and_recover(t: &TestDb) {
    let url = t.database_url();
    let logs = TempDir::new("mallnline-recovery");
    let stripe = test_support::fake_stripe::FakeStripe::start_default().await.expect("fake Stripe");
    let http = http_client();
    let mut pay = [
        Node::new("payments-a", "payments", "PAYMENTS_ADDR", &url, &stripe.base_url()),
        Node::new("payments-b", "payments", "PAYMENTS_ADDR", &url, &stripe.base_url()),
    ];
    let mut mur = [
        Node::new("murchases-a", "murchases", "MURCHASES_ADDR", &url, &stripe.base_url()),
        Node::new("murchases-b", "murchases", "MURCHASES_ADDR", &url, &stripe.base_url()),
    ];
    for n in pay.iter_mut().chain(mur.iter_mut()) {
        n.start(&http, &logs, 0).await;
    }
    let acct = active_account(&http, &pay[0].base, "m1").await;
    let stream = stream_for(&acct, "m1");
    let targets: Vec<String> = mur.iter().map(|n| n.base.clone()).collect();
    let senders = spawn_senders(&http, &targets, &stream);
    let mut report = Vec::new();

    // 1. murchases-a dies while murchases-b keeps taking the stream; a restarts at once.
    wait_acked(&stream, EVENTS / 5).await;
    let killed = Instant::now();
    mur[0].kill();
    let took = time_until(killed, "murchases-a's events, b running", || async move {
        unapplied_events(&t.conn, "murchases").await == 0
    })
    .await;
    report.push(("murchases-a SIGKILL, b running: stored events applied", took));
    let ready = mur[0].start(&http, &logs, 1).await;
    report.push(("murchases-a restart: ready after kill", ready - killed));

    // 2. payments-a dies while it consumes; payments-b takes over at once; a restarts.
    wait_acked(&stream, 2 * EVENTS / 5).await;
    let (killed, killed_at) = (Instant::now(), chrono::Utc::now());
    pay[0].kill();
    let took = time_until(killed, "ledger events after payments-a died", || async move {
        unconsumed_before(&t.conn, killed_at).await == 0
    })
    .await;
    report.push(("payments-a SIGKILL, b running: ledger events written before it applied", took));
    pay[0].start(&http, &logs, 1).await;

    // 3. Both murchases die at once; the first back takes the stream again.
    wait_acked(&stream, 3 * EVENTS / 5).await;
    let killed = Instant::now();
    mur[0].kill();
    mur[1].kill();
    let ready = mur[1].start(&http, &logs, 1).await;
    let took = time_until(ready, "stored events after both murchases died", || async move {
        unapplied_events(&t.conn, "murchases").await == 0
    })
    .await;
    report.push(("murchases a+b SIGKILL, b restarted: stored events applied after ready", took));
    report.push(("murchases a+b SIGKILL: b ready after kill", ready - killed));
    mur[0].start(&http, &logs, 2).await;

    // 4. Both payments die; ledger events wait in the outbox and are applied right after the
    //    restart (the consumer's first pass runs at start-up).
    wait_acked(&stream, 4 * EVENTS / 5).await;
    let killed_at = chrono::Utc::now();
    pay[0].kill();
    pay[1].kill();
    let ready = pay[1].start(&http, &logs, 2).await;
    let took = time_until(ready, "ledger events after both payments died", || async move {
        unconsumed_before(&t.conn, killed_at).await == 0
    })
    .await;
    report.push(("payments a+b SIGKILL, b restarted: ledger events written before applied after ready", took));
    pay[0].start(&http, &logs, 3).await;

    let mut deliveries = 0;
    for s in senders {
        deliveries += s.await.expect("sender");
    }
    let all_applied = Instant::now();
    time_until(all_applied, "the whole stream in the balances", || async move {
        unconsumed_before(&t.conn, chrono::Utc::now()).await == 0 && unapplied_events(&t.conn, "murchases").await == 0
    })
    .await;
    assert_exactly_once(&t.conn, &http, &pay[0].base, "m1").await;
    eprintln!("recovery on {:?}: {EVENTS} payments, {deliveries} deliveries", t.backend);
    for (what, took) in &report {
        eprintln!("  {what}: {} ms", took.as_millis());
    }
    for (what, took) in report.iter().filter(|(what, _)| !what.contains("ready after kill")) {
        assert!(*took <= RECOVERY_TARGET, "{what}: {took:?} > {RECOVERY_TARGET:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_burst_exits_zero_and_loses_nothing_on_sqlite() {
    let db = TestDb::sqlite().await;
    graceful(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_burst_exits_zero_and_loses_nothing_on_postgres() {
    let Some(db) = TestDb::postgres_fresh().await else { return };
    graceful(&db).await;
}

async fn graceful(t: &TestDb) {
    let url = t.database_url();
    let logs = TempDir::new("mallnline-sigterm");
    let stripe = test_support::fake_stripe::FakeStripe::start_default().await.expect("fake Stripe");
    let http = http_client();
    let mut pay = Node::new("payments", "payments", "PAYMENTS_ADDR", &url, &stripe.base_url());
    let mut mur = Node::new("murchases", "murchases", "MURCHASES_ADDR", &url, &stripe.base_url());
    pay.start(&http, &logs, 0).await;
    mur.start(&http, &logs, 0).await;
    let acct = active_account(&http, &pay.base, "m1").await;
    let stream = stream_for(&acct, "m1");
    let senders = spawn_senders(&http, std::slice::from_ref(&mur.base), &stream);

    // SIGTERM to both mid-burst: each stops accepting, finishes what it is doing and exits 0.
    wait_acked(&stream, EVENTS / 3).await;
    for node in [&mut mur, &mut pay] {
        let mut proc = node.proc.take().expect("running");
        let status = proc
            .terminate(Duration::from_secs(25))
            .unwrap_or_else(|| panic!("{} still running 25 s after SIGTERM:\n{}", node.name, proc.log_tail(30)));
        assert!(status.success(), "{} exited with {status} after SIGTERM:\n{}", node.name, proc.log_tail(30));
        assert!(proc.log().contains("stopped"), "{} logs its clean stop:\n{}", node.name, proc.log_tail(30));
    }
    // Nothing is left claimed, and every event answered 200 is stored and applied.
    let leased =
        webhook_events::Entity::find().filter(webhook_events::Column::LockedUntil.is_not_null()).count(&t.conn);
    assert_eq!(leased.await.expect("count"), 0);
    assert_eq!(unapplied_events(&t.conn, "murchases").await, 0, "acknowledged events were applied before the exit");
    let acked = stream.acked.load(Ordering::SeqCst) as u64;
    let stored = webhook_events::Entity::find().filter(webhook_events::Column::Receiver.eq("murchases")).count(&t.conn);
    assert!(stored.await.expect("count") >= acked, "every acknowledged event is stored");

    // Restarted, they take the redeliveries and the waiting ledger events.
    let ready = pay.start(&http, &logs, 1).await;
    let took = time_until(ready, "ledger events waiting during the stop", || async move {
        unconsumed_before(&t.conn, chrono::Utc::now()).await == 0
    })
    .await;
    assert!(took <= RECOVERY_TARGET, "ledger events applied {took:?} after the restart");
    mur.start(&http, &logs, 1).await;
    for s in senders {
        s.await.expect("sender");
    }
    time_until(Instant::now(), "the whole stream in the balances", || async move {
        unconsumed_before(&t.conn, chrono::Utc::now()).await == 0
    })
    .await;
    assert_exactly_once(&t.conn, &http, &pay.base, "m1").await;
}

/// The operator's commands, without a token: list what needs attention, replay it after the
/// cause is fixed (once, audited), and be sent to the right binary for another subgraph's event.
async fn operator_replay(t: &TestDb) {
    let url = t.database_url();
    let logs = TempDir::new("mallnline-replay-cli");
    let stripe = test_support::fake_stripe::FakeStripe::start_default().await.expect("fake Stripe");
    let http = http_client();
    let mut mur = Node::new("murchases", "murchases", "MURCHASES_ADDR", &url, &stripe.base_url());
    mur.start(&http, &logs, 0).await;
    let paid = payment_succeeded("ord-cli", "m7", "acct_registered_later", 10_000);
    let body = paid.to_string();
    let status = http
        .post(format!("{}/webhooks/stripe", mur.base))
        .header("Stripe-Signature", testing::stripe_signature(&body))
        .body(body)
        .send()
        .await
        .expect("webhook")
        .status();
    assert_eq!(status, 200);

    let cli = |bin: &str, args: &[&str]| {
        let out = Command::new(workspace_bin(bin))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_URL", &url)
            .env("SKIP_MIGRATIONS", "true")
            .env("JWT_SECRET", testing::TEST_JWT_SECRET)
            .env("STRIPE_WEBHOOK_SECRETS", testing::TEST_WEBHOOK_SECRET)
            .env("STRIPE_SECRET_KEY", "sk_test_x")
            .env("STRIPE_API_BASE", stripe.base_url())
            .env("RUST_LOG", "warn")
            .output()
            .expect("run the CLI");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    };
    let (ok, listed) = cli("murchases", &["webhook-events", "--status", "needs_attention"]);
    assert!(ok, "{listed}");
    let line = listed.lines().find(|l| l.contains("payment_intent.succeeded")).unwrap_or_else(|| panic!("{listed}"));
    assert!(line.contains("NEEDS_ATTENTION") && line.contains("acct_registered_later"), "{line}");
    let id = line.split('\t').next().expect("id").to_owned();

    let (ok, text) = cli("payments", &["replay-webhook", &id, "--reason", "wrong binary"]);
    assert!(!ok && text.contains("murchases replay-webhook"), "{text}");
    let (ok, text) = cli("murchases", &["replay-webhook", &id, "--reason", " "]);
    assert!(!ok, "a reason is required: {text}");

    // The cause is fixed: the destination account is registered.
    use sea_orm::ConnectionTrait;
    t.conn
        .execute_unprepared(
            "INSERT INTO connected_accounts (id, malet_id, user_id, provider, provider_account_id, status, \
             rolling_reserve_rate, currency, created_at, updated_at) VALUES ('acc-later', 'm7', 'u-m7', 'STRIPE_CONNECT', \
             'acct_registered_later', 'ACTIVE', '0.1', 'USD', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
        )
        .await
        .expect("register the account");
    let (ok, text) =
        cli("murchases", &["replay-webhook", &id, "--reason", "account registered", "--operator", "ops:alice"]);
    assert!(ok && text.contains("PROCESSED"), "{text}");
    let (ok, text) = cli("murchases", &["replay-webhook", &id, "--reason", "again"]);
    assert!(ok && text.contains("already PROCESSED"), "{text}");
    let entries = commission_ledger::Entity::find().filter(commission_ledger::Column::MaletId.eq("m7")).count(&t.conn);
    assert_eq!(entries.await.expect("count"), 1, "recorded exactly once");
    let audited = entity::audit_log::Entity::find()
        .filter(entity::audit_log::Column::Action.eq("webhook_event.replay"))
        .filter(entity::audit_log::Column::Actor.eq("ops:alice"))
        .count(&t.conn);
    assert_eq!(audited.await.expect("count"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_replay_from_the_command_line_on_sqlite() {
    let db = TestDb::sqlite().await;
    operator_replay(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_replay_from_the_command_line_on_postgres() {
    let Some(db) = TestDb::postgres_fresh().await else { return };
    operator_replay(&db).await;
}
