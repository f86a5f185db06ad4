//! The Malet Owner payouts dashboard in a real browser (issue 15 items 2 and 3): headless
//! Chromium (Debian's `chromium` package) driven by playwright-core runs
//! `dashboard/test/dashboard.test.mjs` against the real subgraphs, the Stripe sandbox and the
//! gateway serving the built dashboard, as `./scripts/dev` runs them. A new Malet signs in with
//! the development login, onboards in the sandbox, receives a sale and sees the KPIs (88.80 total,
//! 79.92 pending, 8.88 reserve, 8%) and the table row (100.00 / 8.00 / 3.20 / 8.88 / 79.92),
//! changes its payout schedule, pages through eleven sales; another owner's token (in the page
//! and on every query the page makes), a bad token and an unreachable API each get a message and
//! none of the numbers; an expired onboarding link goes through the dashboard to a new one; a
//! suspended account shows why.
//!
//! The browser: `CHROMIUM` (a path), else `chromium` or `chromium-browser` on PATH. Without one
//! the test says how to install it and passes only outside CI (`CI=true` makes it fail;
//! `.ci/run` installs Debian's `chromium` first). `DASHBOARD_SCREENSHOTS=<dir>` writes the
//! screenshots there (the README's are made with `DASHBOARD_SCREENSHOTS=docs/screenshots`).

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;
use domain::permissions::Permission;
use test_support::{self as testing, TempDir, TestDb};

/// The Chromium executable, if any.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_onboards_sells_and_sets_its_schedule_on_the_dashboard() {
    let Some(browser) = chromium() else {
        let how = "no Chromium found (CHROMIUM, or `chromium` on PATH): install Debian's package with \
                   `apt-get install -y chromium` (.ci/run does), then run the tests again";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "the dashboard browser test cannot run: {how}");
        eprintln!("SKIPPED the dashboard browser test: {how}");
        return;
    };
    let db = TestDb::sqlite().await;
    ensure_router_deps();
    ensure_dashboard_built();
    let logs = TempDir::new("mallnline-dashboard");
    let http = http_client();
    let sandbox_base = format!("http://127.0.0.1:{}", free_port());
    // The router's port is chosen first: onboarding returns the seller to its dashboard there.
    let router_port = free_port();
    let router = format!("http://127.0.0.1:{router_port}");
    let dashboard = format!("{router}/{{malet}}/manage/payouts");
    let start = |name: &'static str, addr_var: &'static str| {
        let (bin, logs, db, sandbox_base) =
            (workspace_bin(name), logs.path().to_owned(), db.database_url(), sandbox_base.clone());
        let dashboard = dashboard.clone();
        move |port: u16| {
            let mut env = subgraph_env(&db, &sandbox_base);
            env.push((addr_var, format!("127.0.0.1:{port}")));
            env.push(("ONBOARDING_RETURN_URL", format!("{dashboard}?onboarding=done")));
            env.push(("ONBOARDING_REFRESH_URL", format!("{dashboard}?onboarding=refresh")));
            let mut cmd = Command::new(&bin);
            cmd.arg("serve");
            Proc::spawn(name, cmd, &env, &logs)
        }
    };
    let (_payments, payments_base) = start_on_free_port(&http, "/ready", start("payments", "PAYMENTS_ADDR")).await;
    let (_murchases, murchases_base) = start_on_free_port(&http, "/ready", start("murchases", "MURCHASES_ADDR")).await;
    let dev = [("APP_ENV", "development".to_owned()), ("JWT_SECRET", testing::TEST_JWT_SECRET.to_owned())];
    let mut gateway = spawn_gateway_with(router_port, &payments_base, &murchases_base, logs.path(), &dev);
    gateway.wait_ready(&http, &format!("{router}/ready")).await.expect("gateway ready");
    let sandbox_addr = sandbox_base.trim_start_matches("http://").to_owned();
    let mut cmd = Command::new(workspace_bin("stripe-sandbox"));
    cmd.args(["--addr", &sandbox_addr, "--webhook-secret", testing::TEST_WEBHOOK_SECRET])
        .args(["--endpoint", &format!("{payments_base}/webhooks/stripe")])
        .args(["--endpoint", &format!("{murchases_base}/webhooks/stripe")]);
    let mut sandbox = Proc::spawn("stripe-sandbox", cmd, &[("APP_ENV", "development".to_owned())], logs.path());
    sandbox.wait_ready(&http, &format!("{sandbox_base}/sandbox/health")).await.expect("sandbox ready");

    let screenshots = std::env::var_os("DASHBOARD_SCREENSHOTS")
        .map(|dir| repo_root().join(dir))
        .unwrap_or_else(|| logs.path().join("screenshots"));
    let mut node = Command::new("node");
    node.arg(repo_root().join("dashboard/test/dashboard.test.mjs"))
        .current_dir(repo_root().join("dashboard"))
        .env("ROUTER_URL", &router)
        .env("SANDBOX_URL", &sandbox_base)
        .env("ORDER_SERVICE_TOKEN", testing::order_service_token())
        .env("ADMIN_TOKEN", testing::admin_token())
        .env("REFRESH_MALET", "malet-refresh")
        .env("CHROMIUM", &browser)
        .env("MALET", "malet-dash")
        .env("OTHER_MALET", "malet-other")
        .env("SCREENSHOT_DIR", &screenshots);
    let out = tokio::task::spawn_blocking(move || node.output()).await.expect("join").expect("run node");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the dashboard browser test failed:\n{said}");
    assert!(said.contains("[dashboard test] passed"), "{said}");
    eprintln!("{said}");
}

/// The gateway serves the dashboard's page and assets with a strict CSP, nothing outside them,
/// a clear 503 when the dashboard is not built, and the development login only in development
/// with a JWT secret (production gets the token from the platform's login).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_router_serves_the_dashboard_and_mints_tokens_only_in_development() {
    ensure_router_deps();
    ensure_dashboard_built();
    let logs = TempDir::new("mallnline-dashboard-router");
    let http = http_client();
    // No subgraph is needed for pages: the gateway reads the supergraph file only.
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let gateway = |extra: Vec<(&'static str, String)>| {
        let (logs, nowhere) = (logs.path().to_owned(), nowhere.clone());
        move |port: u16| spawn_gateway_with(port, &nowhere, &nowhere, &logs, &extra)
    };
    let missing = logs.path().join("not-built");
    let cases = [
        ("production", vec![("JWT_SECRET", testing::TEST_JWT_SECRET.to_owned())], false),
        ("development without a JWT secret", vec![("APP_ENV", "development".to_owned())], false),
        (
            "development",
            vec![("APP_ENV", "development".to_owned()), ("JWT_SECRET", testing::TEST_JWT_SECRET.to_owned())],
            true,
        ),
    ];
    for (what, env, dev_login) in cases {
        let (_gw, base) = start_on_free_port(&http, "/health", gateway(env)).await;
        let page = http.get(format!("{base}/malet-1/manage/payouts")).send().await.expect("page");
        assert_eq!(page.status().as_u16(), 200, "{what}");
        let csp = page.headers()["content-security-policy"].to_str().expect("csp").to_owned();
        assert!(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"), "{what}: {csp}");
        let html = page.text().await.expect("html");
        assert!(html.contains("src=\"/dashboard/app.js\""), "{what}: {html}");
        let js = http.get(format!("{base}/dashboard/app.js")).send().await.expect("app.js");
        assert_eq!(js.status().as_u16(), 200);
        assert!(js.headers()["content-type"].to_str().expect("type").starts_with("text/javascript"));
        for path in ["/dashboard/..%2Fpackage.json", "/dashboard/index.html", "/malet-1/manage", "/dashboard/x.txt"] {
            let r = http.get(format!("{base}{path}")).send().await.expect("get");
            assert_eq!(r.status().as_u16(), 404, "{what}: {path}");
        }
        let get = http.get(format!("{base}/dev/login")).send().await.expect("dev login");
        let post = http.post(format!("{base}/dev/login")).json(&serde_json::json!({"maletId": "malet-1"})).send().await;
        let post = post.expect("dev login");
        if dev_login {
            assert_eq!(get.status().as_u16(), 200, "{what}");
            assert_eq!(post.status().as_u16(), 200, "{what}");
            let body: serde_json::Value = post.json().await.expect("json");
            let token = body["token"].as_str().expect("token");
            // The subgraphs' verifier accepts it as the owner of exactly that Malet.
            let settings = service_core::auth::AuthSettings {
                jwt_secret: Some(testing::TEST_JWT_SECRET.to_owned().into()),
                jwt_public_key_file: None,
                jwt_issuer: None,
                jwt_audience: None,
            };
            let auth = service_core::auth::Authenticator::from_settings(&settings).expect("authenticator");
            let actor = auth.verify(token).expect("a valid token");
            for p in [Permission::ViewPayouts, Permission::ManagePayouts, Permission::ViewRevenue] {
                assert!(actor.can(p, "malet-1").is_ok(), "{p:?}");
                assert!(actor.can(p, "malet-2").is_err(), "{p:?}");
            }
            assert!(actor.can(Permission::ManageCommissions, "malet-1").is_err());
            for bad in [" x", "*", ""] {
                let r = http.post(format!("{base}/dev/login")).json(&serde_json::json!({"maletId": bad})).send().await;
                assert_eq!(r.expect("bad").status().as_u16(), 400, "{bad:?}");
            }
            // A request addressed to another name (DNS rebinding) gets no token.
            let rebound = http
                .post(format!("{base}/dev/login"))
                .header("host", "attacker.example")
                .json(&serde_json::json!({"maletId": "malet-1"}))
                .send()
                .await
                .expect("rebound");
            assert_eq!(rebound.status().as_u16(), 403);
        } else {
            assert_eq!(get.status().as_u16(), 404, "{what}");
            assert_eq!(post.status().as_u16(), 404, "{what}");
        }
    }
    let (_gw, base) =
        start_on_free_port(&http, "/health", gateway(vec![("DASHBOARD_DIR", missing.display().to_string())])).await;
    let page = http.get(format!("{base}/malet-1/manage/payouts")).send().await.expect("page");
    assert_eq!(page.status().as_u16(), 503);
    assert!(page.text().await.expect("text").contains("npm ci && npm run build"));
}

/// The dashboard's TypeScript type-checks (`tsc --noEmit`) and its pure functions pass their unit
/// tests (money formatting by integer arithmetic, rates, schedule validation, daily earnings).
#[test]
fn the_dashboard_type_checks_and_passes_its_unit_tests() {
    ensure_dashboard_built();
    for script in ["check", "test:unit"] {
        let out = Command::new("npm")
            .args(["run", "--silent", script])
            .current_dir(repo_root().join("dashboard"))
            .output()
            .expect("run npm");
        assert!(
            out.status.success(),
            "`npm run {script}` in dashboard/ failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
