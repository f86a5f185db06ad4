//! Harness of the end-to-end tests: the real binaries from the target directory, the real Node
//! gateway, a fake Stripe in this process, free ports on 127.0.0.1, and logs kept in a temporary
//! directory (printed when a test fails).
#![allow(dead_code)]

use std::fs::File;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::fake_stripe::FakeStripe;
use test_support::{self as testing, TempDir};

/// How long a process may take to answer its readiness check.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the outbox consumer (JOB_INTERVAL_SECS=1) may take to move ledger events.
pub const EVENTUAL_TIMEOUT: Duration = Duration::from_secs(20);

/// The repository root (this crate is `tests/e2e`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

/// A binary of the workspace next to this test's executable:
/// `.../target/debug/deps/<test>-<hash>` → `.../target/debug/<name>`.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current test executable");
    let profile_dir = exe
        .parent()
        .and_then(|deps| if deps.ends_with("deps") { deps.parent() } else { Some(deps) })
        .expect("test executable lives in <target>/<profile>/deps");
    let bin = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        panic!(
            "the `{name}` binary is missing at {}.\n\
             The end-to-end tests run the real binaries: build them first with `cargo build --bins` \
             (`cargo test --workspace`, i.e. ./scripts/test, builds them automatically; \
             `cargo test -p e2e` alone does not).",
            bin.display()
        );
    }
    bin
}

/// Fails clearly when Node.js is not installed.
pub fn ensure_node() {
    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => {
            let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            let major: u32 =
                version.trim_start_matches('v').split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
            assert!(major >= 20, "Node.js >= 20 is required for the gateway (router/), found {version}");
        }
        _ => panic!(
            "Node.js (>= 20) is required by the end-to-end tests: they run the Apollo gateway in router/. \
             Install Node.js 20 and npm, then run the tests again."
        ),
    }
}

static NPM_LOCK: Mutex<()> = Mutex::new(());

/// Installs the gateway's npm dependencies (`npm ci --prefix router`) when `router/node_modules`
/// is missing, so a fresh clone runs the tests without a manual step.
pub fn ensure_router_deps() {
    ensure_node();
    let _guard = NPM_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let router = repo_root().join("router");
    let marker = router.join("node_modules/@apollo/gateway/package.json");
    if marker.is_file() {
        return;
    }
    eprintln!("router/node_modules is missing: running `npm ci --prefix router`");
    let out = Command::new("npm")
        .args(["ci", "--prefix"])
        .arg(&router)
        .args(["--no-audit", "--no-fund"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run npm (install Node.js 20 with npm): {e}"));
    assert!(
        out.status.success() && marker.is_file(),
        "`npm ci --prefix router` failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0").local_addr().expect("local addr").port()
}

/// A child process killed on drop; its output goes to a log file that is printed when the test
/// panics.
pub struct Proc {
    pub name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Starts `cmd` with a clean environment (only `PATH` is kept) plus `envs`.
    pub fn spawn(name: &str, mut cmd: Command, envs: &[(&str, String)], logs: &Path) -> Proc {
        let log = logs.join(format!("{name}.log"));
        let out = File::create(&log).expect("create log file");
        let err = out.try_clone().expect("clone log file");
        cmd.env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc { name: name.to_owned(), child, log }
    }

    /// SIGKILL, as a crash or an OOM kill would: no chance to clean up.
    pub fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM (what `docker compose stop` sends), then waits up to `timeout` for the exit.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// The whole output of the process so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The exit status if the process has already ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last `lines` lines of the process's output.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Waits until `url` answers 200. `Err(log)` when the process exits first; panics after
    /// [`START_TIMEOUT`].
    pub async fn wait_ready(&mut self, http: &reqwest::Client, url: &str) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.exited() {
                return Err(format!("{} exited with {status} before it was ready:\n{}", self.name, self.log_tail(40)));
            }
            if let Ok(r) = http.get(url).timeout(Duration::from_secs(2)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready at {url} after {START_TIMEOUT:?}:\n{}",
                self.name,
                self.log_tail(40)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Installs the dashboard's npm packages (`npm ci --prefix dashboard`) when they are missing and
/// builds its bundle (`npm run build`: dashboard/dist, which the gateway serves), once per test
/// process: a rebuild replaces dist/, which must not happen under a test's browser.
pub fn ensure_dashboard_built() {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(build_dashboard);
}

fn build_dashboard() {
    ensure_node();
    let _guard = NPM_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let dashboard = repo_root().join("dashboard");
    let run = |args: &[&str]| {
        let out = Command::new("npm")
            .args(args)
            .current_dir(&dashboard)
            .output()
            .unwrap_or_else(|e| panic!("cannot run npm (install Node.js 20 with npm): {e}"));
        assert!(
            out.status.success(),
            "`npm {}` in dashboard/ failed:\n{}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    if !dashboard.join("node_modules/playwright-core/package.json").is_file()
        || !dashboard.join("node_modules/esbuild/package.json").is_file()
    {
        eprintln!("dashboard/node_modules is missing: running `npm ci` in dashboard/");
        run(&["ci", "--no-audit", "--no-fund"]);
    }
    run(&["run", "--silent", "build"]);
}

/// Starts a server on a free port (`start(port)`) and waits until `http://127.0.0.1:<port><ready_path>`
/// answers; tries another port when the chosen one was taken in the meantime. Returns the process
/// and its base URL.
pub async fn start_on_free_port(
    http: &reqwest::Client,
    ready_path: &str,
    mut start: impl FnMut(u16) -> Proc,
) -> (Proc, String) {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let port = free_port();
        let mut proc = start(port);
        let base = format!("http://127.0.0.1:{port}");
        match proc.wait_ready(http, &format!("{base}{ready_path}")).await {
            Ok(()) => return (proc, base),
            Err(log) if attempt < 3 && (log.contains("in use") || log.contains("EADDRINUSE")) => continue,
            Err(log) => panic!("{log}"),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("----- last output of {} -----\n{}\n-----", self.name, self.log_tail(60));
        }
    }
}

/// Environment of a subgraph process on `database_url`, with the test JWT and webhook secrets, a
/// fake Stripe and jobs every second.
pub fn subgraph_env(database_url: &str, stripe_base: &str) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", database_url.to_owned()),
        ("APP_ENV", "test".to_owned()),
        ("JWT_SECRET", testing::TEST_JWT_SECRET.to_owned()),
        ("STRIPE_WEBHOOK_SECRETS", testing::TEST_WEBHOOK_SECRET.to_owned()),
        ("SHOPIFY_WEBHOOK_SECRET", testing::shopify::TEST_SHOPIFY_SECRET.to_owned()),
        ("STOREFRONT_TEST_WC_WEBHOOK", testing::woocommerce::TEST_WOOCOMMERCE_SECRET.to_owned()),
        ("STOREFRONT_TEST_WC_KEY", testing::woocommerce::TEST_CONSUMER_KEY.to_owned()),
        ("STOREFRONT_TEST_WC_SECRET", testing::woocommerce::TEST_CONSUMER_SECRET.to_owned()),
        ("STRIPE_SECRET_KEY", "sk_test_x".to_owned()),
        ("STRIPE_API_BASE", stripe_base.to_owned()),
        ("JOB_INTERVAL_SECS", "1".to_owned()),
        ("RUST_LOG", "info,sqlx=warn,sea_orm=warn".to_owned()),
        ("NO_COLOR", "1".to_owned()),
    ]
}

/// An HTTP client with a timeout, so a hung service fails the test instead of blocking it.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(15)).build().expect("http client")
}

/// The whole system: payments, murchases and the gateway on free ports over one database.
/// Fields drop in order: the gateway first, the subgraphs, then the fake Stripe and the logs.
pub struct Stack {
    gateway: Proc,
    payments: Proc,
    murchases: Proc,
    pub stripe: FakeStripe,
    /// A WooCommerce store murchases reads with the test credentials (`STOREFRONT_TEST_WC_KEY`).
    pub woo: testing::woocommerce::FakeWoo,
    pub logs: TempDir,
    /// `http://127.0.0.1:<port>` of the gateway (GraphQL on `/graphql` and `/`).
    pub router: String,
    /// `http://127.0.0.1:<port>` of the payments subgraph.
    pub payments_base: String,
    /// `http://127.0.0.1:<port>` of the murchases subgraph.
    pub murchases_base: String,
    pub http: reqwest::Client,
}

/// Which router a [`Stack`] puts in front of the subgraphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouterKind {
    /// The Node gateway (`router/gateway.mjs`): the one command's router.
    Node,
    /// Hive Router (`router/hive-router.yaml`): docker-compose's and the benchmark's.
    Hive,
}

/// The Hive Router binary, or `None` (with a note) when it is not installed and not required:
/// with `CI=true` a missing binary fails the test (`.ci/run` installs it).
pub fn hive_router_or_skip() -> Option<PathBuf> {
    match testing::hive_router::binary() {
        Some(bin) => Some(bin),
        None if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => panic!(
            "Hive Router is not installed (HIVE_ROUTER_BIN, or hive_router on PATH): \
             `cargo install hive-router@{} --locked --features graphiql` (.ci/run does)",
            testing::hive_router::VERSION
        ),
        None => {
            eprintln!(
                "warning: skipping a Hive Router test: install it with `cargo install hive-router@{} --locked --features graphiql` or set HIVE_ROUTER_BIN",
                testing::hive_router::VERSION
            );
            None
        }
    }
}

impl Stack {
    /// Starts both subgraphs on `database_url` (each applies migrations, a no-op on a migrated
    /// test database), waits until they are ready, then starts the gateway in front of them.
    pub async fn start(database_url: &str) -> Stack {
        Stack::start_with(database_url, RouterKind::Node).await
    }

    /// [`Stack::start`] with `router` in front of the subgraphs.
    pub async fn start_with(database_url: &str, router: RouterKind) -> Stack {
        ensure_router_deps();
        let payments_bin = workspace_bin("payments");
        let murchases_bin = workspace_bin("murchases");
        let logs = TempDir::new("mallnline-e2e");
        let stripe = FakeStripe::start_default().await.expect("start fake Stripe");
        let woo = testing::woocommerce::FakeWoo::start().await;
        let http = http_client();

        let stripe_base = stripe.base_url();
        let (payments, payments_base) = start_on_free_port(&http, "/ready", |port| {
            let mut env = subgraph_env(database_url, &stripe_base);
            env.push(("PAYMENTS_ADDR", format!("127.0.0.1:{port}")));
            let mut cmd = Command::new(&payments_bin);
            cmd.arg("serve");
            Proc::spawn("payments", cmd, &env, logs.path())
        })
        .await;
        let (murchases, murchases_base) = start_on_free_port(&http, "/ready", |port| {
            let mut env = subgraph_env(database_url, &stripe_base);
            env.push(("MURCHASES_ADDR", format!("127.0.0.1:{port}")));
            let mut cmd = Command::new(&murchases_bin);
            cmd.arg("serve");
            Proc::spawn("murchases", cmd, &env, logs.path())
        })
        .await;
        let (gateway, router) = match router {
            // `/ready` of the gateway also checks that it reaches both subgraphs.
            RouterKind::Node => {
                start_on_free_port(&http, "/ready", |port| {
                    spawn_gateway(port, &payments_base, &murchases_base, logs.path())
                })
                .await
            }
            RouterKind::Hive => {
                let bin = hive_router_or_skip().expect("the caller checked that Hive Router is installed");
                start_on_free_port(&http, "/readiness", |port| {
                    spawn_hive_router(&bin, port, &payments_base, &murchases_base, logs.path())
                })
                .await
            }
        };

        Stack { gateway, payments, murchases, stripe, woo, logs, router, payments_base, murchases_base, http }
    }

    /// Posts a GraphQL request to the gateway.
    pub async fn router_gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        gql(&self.http, &format!("{}/graphql", self.router), token, query, variables).await
    }

    /// Posts a GraphQL request straight to a subgraph (`base` is `payments_base` or `murchases_base`).
    pub async fn direct_gql(&self, base: &str, token: Option<&str>, query: &str, variables: Value) -> Value {
        gql(&self.http, &format!("{base}/graphql"), token, query, variables).await
    }

    /// Posts a Stripe event, signed with the test secret, to a subgraph's `/webhooks/stripe`.
    pub async fn webhook(&self, base: &str, event: &Value) -> u16 {
        let body = event.to_string();
        self.http
            .post(format!("{base}/webhooks/stripe"))
            .header("Stripe-Signature", testing::stripe_signature(&body))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("webhook request")
            .status()
            .as_u16()
    }
}

/// Hive Router on `port`, routing to the given subgraphs instead of the supergraph's URLs.
pub fn spawn_hive_router(bin: &Path, port: u16, payments_base: &str, murchases_base: &str, logs: &Path) -> Proc {
    let root = repo_root();
    let config = testing::hive_router::config(
        &root,
        port,
        &format!("{payments_base}/graphql"),
        &format!("{murchases_base}/graphql"),
        "warn",
    )
    .expect("router/hive-router.yaml");
    let path = logs.join(format!("hive-router-{port}.yaml"));
    std::fs::write(&path, config).expect("write the Hive Router configuration");
    let mut cmd = Command::new(bin);
    cmd.current_dir(&root);
    let env = vec![("ROUTER_CONFIG_FILE_PATH", path.display().to_string())];
    Proc::spawn("hive-router", cmd, &env, logs)
}

/// The Node gateway on `port`, routing to the given subgraphs instead of the supergraph's URLs.
pub fn spawn_gateway(port: u16, payments_base: &str, murchases_base: &str, logs: &Path) -> Proc {
    spawn_gateway_with(port, payments_base, murchases_base, logs, &[])
}

/// The gateway with extra environment (e.g. `APP_ENV=development` and a `JWT_SECRET` for the
/// dashboard's development login).
pub fn spawn_gateway_with(
    port: u16,
    payments_base: &str,
    murchases_base: &str,
    logs: &Path,
    extra: &[(&str, String)],
) -> Proc {
    let root = repo_root();
    let mut cmd = Command::new("node");
    cmd.arg(root.join("router/gateway.mjs")).current_dir(&root);
    let mut env = vec![
        ("ROUTER_HOST", "127.0.0.1".to_owned()),
        ("ROUTER_PORT", port.to_string()),
        ("PAYMENTS_URL", format!("{payments_base}/graphql")),
        ("MURCHASES_URL", format!("{murchases_base}/graphql")),
        ("SUPERGRAPH_PATH", root.join("schema/supergraph.graphql").display().to_string()),
        ("NODE_ENV", "production".to_owned()),
    ];
    env.extend(extra.iter().cloned());
    Proc::spawn("gateway", cmd, &env, logs)
}

/// Posts `{query, variables}` and returns the JSON body whatever the HTTP status.
pub async fn gql(http: &reqwest::Client, url: &str, token: Option<&str>, query: &str, variables: Value) -> Value {
    let mut req = http.post(url).json(&json!({"query": query, "variables": variables}));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = res.status();
    let text = res.text().await.expect("response body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("POST {url}: HTTP {status}, not JSON ({e}): {text}"))
}

/// Retries `probe` until it returns `Some`, failing after [`EVENTUAL_TIMEOUT`] with the last value.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Value>>,
{
    let deadline = Instant::now() + EVENTUAL_TIMEOUT;
    loop {
        match probe().await {
            Ok(v) => return v,
            Err(last) => {
                assert!(
                    Instant::now() < deadline,
                    "timed out after {EVENTUAL_TIMEOUT:?} waiting for {what}; last: {last}"
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The `extensions.code` of every error of a response.
pub fn codes(response: &Value) -> Vec<String> {
    response["errors"]
        .as_array()
        .map(|errs| errs.iter().filter_map(|e| e["extensions"]["code"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Asserts that the response has errors, all with `code`.
#[track_caller]
pub fn assert_code(response: &Value, code: &str, context: &str) {
    let got = codes(response);
    assert!(!got.is_empty() && got.iter().all(|c| c == code), "{context}: expected only {code} errors, got {response}");
}

/// Asserts that no value leaked: every leaf of `data` is null (or `data` is absent / null).
#[track_caller]
pub fn assert_no_data(response: &Value, context: &str) {
    fn leaves_null(v: &Value) -> bool {
        match v {
            Value::Null => true,
            Value::Object(m) => m.values().all(leaves_null),
            Value::Array(a) => a.iter().all(leaves_null),
            _ => false,
        }
    }
    assert!(leaves_null(&response["data"]), "{context}: data leaked: {response}");
}

/// Asserts that a response has no errors.
#[track_caller]
pub fn assert_ok(response: &Value, context: &str) {
    assert!(response.get("errors").is_none_or(Value::is_null), "{context}: unexpected errors: {response}");
}

/// `account.updated` (charges and payouts enabled) for connected account `acct`.
pub fn account_updated(acct: &str) -> Value {
    let id = format!("evt_{}", uuid::Uuid::new_v4().simple());
    testing::events::account_updated(&id, acct, chrono::Utc::now().timestamp(), true)
}

/// `payment_intent.succeeded` of a destination charge of `amount` cents (USD) to `acct` for an
/// order of `malet`.
pub fn payment_succeeded(order: &str, malet: &str, acct: &str, amount: i64) -> Value {
    let pi = format!("pi_{}", uuid::Uuid::new_v4().simple());
    let id = format!("evt_{}", uuid::Uuid::new_v4().simple());
    testing::events::payment_succeeded(&id, &pi, order, Some(malet), Some(acct), amount)
}
