//! Acceptance scenarios through each router in front of the real `payments` and `murchases`
//! binaries, on SQLite and on PostgreSQL (skipped with a warning when PostgreSQL is down, a
//! failure with `CI=true`): the Node gateway (router/gateway.mjs, the one command's router) and
//! Hive Router (router/hive-router.yaml, docker-compose's and the benchmark's; skipped with a
//! warning when it is not installed, a failure with `CI=true`). Both must pass the client's
//! `Authorization` to the subgraphs and keep their error codes.

mod common;

use std::process::Command;

use common::*;
use serde_json::{Value, json};
use test_support::{self as testing, TestDb, admin_token, owner_token};

const CREATE: &str =
    "mutation($m: ID!) { createConnectedAccount(input: {maletId: $m}) { id maletId status providerAccountId } }";
const ACCOUNT: &str = "query($m: ID!) { connectedAccount(maletId: $m) { id status providerAccountId } }";
/// Planned across both subgraphs: the account from payments, the Malet's earnings from murchases.
const BALANCES: &str = "query($m: ID!) { connectedAccount(maletId: $m) { status pendingBalance reserveBalance \
    malet { earningsSummary { totalGross totalCommission } } } }";
const PAGE: &str = "query($m: ID!, $l: Int!, $o: Int!) { commissionLedger(maletId: $m, limit: $l, offset: $o) \
    { id orderId grossAmount commissionAmount processingFee reserveAmount netPayout commissionRateDecimal } \
    commissionLedgerCount(maletId: $m) }";
const SET_TIER: &str = "mutation { setMaletTier(maletId: \"m1\", tier: PRO, reason: \"x\") { maletId version tier } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acceptance_through_the_router_on_sqlite() {
    let db = TestDb::sqlite().await;
    acceptance(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acceptance_through_the_router_on_postgres() {
    // `None` only when PostgreSQL is unreachable and not required (TestDb prints a warning).
    let Some(db) = TestDb::postgres_fresh().await else { return };
    acceptance(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acceptance_through_hive_router_on_sqlite() {
    if hive_router_or_skip().is_none() {
        return;
    }
    let db = TestDb::sqlite().await;
    acceptance_with(&db, RouterKind::Hive).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acceptance_through_hive_router_on_postgres() {
    if hive_router_or_skip().is_none() {
        return;
    }
    let Some(db) = TestDb::postgres_fresh().await else { return };
    acceptance_with(&db, RouterKind::Hive).await;
}

async fn acceptance(db: &TestDb) {
    acceptance_with(db, RouterKind::Node).await;
}

async fn acceptance_with(db: &TestDb, router: RouterKind) {
    let s = Stack::start_with(&db.database_url(), router).await;
    let owner = owner_token("m1");

    // Onboarding through the router, activation by a signed webhook to payments.
    let created = s.router_gql(Some(&owner), CREATE, json!({"m": "m1"})).await;
    assert_ok(&created, "createConnectedAccount");
    let account = &created["data"]["createConnectedAccount"];
    assert_eq!(account["status"], "ONBOARDING", "{created}");
    let account_id = account["id"].as_str().expect("account id").to_owned();
    let acct = account["providerAccountId"].as_str().expect("providerAccountId").to_owned();
    assert!(acct.starts_with("acct_"), "{created}");
    assert_eq!(s.webhook(&s.payments_base, &account_updated(&acct)).await, 200);
    let active = s.router_gql(Some(&owner), ACCOUNT, json!({"m": "m1"})).await;
    assert_eq!(active["data"]["connectedAccount"]["status"], "ACTIVE", "{active}");

    // A paid order, recorded by murchases, credited to payments' balances by the outbox consumer.
    let paid = payment_succeeded("ord-1", "m1", &acct, 10_000);
    assert_eq!(s.webhook(&s.murchases_base, &paid).await, 200);
    let balances = eventually("the first order's balances through the router", || async {
        let r = s.router_gql(Some(&owner), BALANCES, json!({"m": "m1"})).await;
        // The sale's posting and its reserve hold reach payments as separate ledger events: wait for both.
        let a = &r["data"]["connectedAccount"];
        let nonzero = |k: &str| a[k].as_i64().is_some_and(|v| v != 0);
        if nonzero("pendingBalance") && nonzero("reserveBalance") { Ok(r) } else { Err(r) }
    })
    .await;
    assert_ok(&balances, "balances query");
    assert_eq!(
        balances["data"]["connectedAccount"],
        json!({"status": "ACTIVE", "pendingBalance": 7992, "reserveBalance": 888,
               "malet": {"earningsSummary": {"totalGross": 10000, "totalCommission": 800}}}),
        "8% commission, 2.9% + 30 fee, 10% reserve of 10000"
    );

    // Several orders: pages of the ledger, newest first, no entry twice, none missing.
    let mut orders = vec!["ord-1".to_owned()];
    for (i, amount) in [2_500, 4_000, 12_345].into_iter().enumerate() {
        let order = format!("ord-{}", i + 2);
        assert_eq!(s.webhook(&s.murchases_base, &payment_succeeded(&order, "m1", &acct, amount)).await, 200);
        orders.push(order);
    }
    eventually("four ledger entries", || async {
        let r = s.router_gql(Some(&owner), "query { commissionLedgerCount(maletId: \"m1\") }", json!({})).await;
        if r["data"]["commissionLedgerCount"] == 4 { Ok(()) } else { Err(r) }
    })
    .await;
    let mut seen = Vec::new();
    for offset in [0, 2, 4] {
        let page = s.router_gql(Some(&owner), PAGE, json!({"m": "m1", "l": 2, "o": offset})).await;
        assert_ok(&page, "commissionLedger page");
        assert_eq!(page["data"]["commissionLedgerCount"], 4, "{page}");
        let rows = page["data"]["commissionLedger"].as_array().expect("ledger page");
        assert_eq!(rows.len(), if offset < 4 { 2 } else { 0 }, "page at offset {offset}: {page}");
        seen.extend(rows.iter().map(|r| r["orderId"].as_str().expect("orderId").to_owned()));
    }
    let newest_first: Vec<String> = orders.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first, "pages of 2 list every order once, newest first");
    let bad = s.router_gql(Some(&owner), PAGE, json!({"m": "m1", "l": 0, "o": 0})).await;
    assert_code(&bad, "BAD_USER_INPUT", "limit 0");

    rbac(&s, &account_id).await;
    bad_tokens(&s).await;
    query_limits(&s).await;

    // Admin: set the tier through the router; an owner may not.
    let denied = s.router_gql(Some(&owner), SET_TIER, json!({})).await;
    assert_code(&denied, "FORBIDDEN", "owner setMaletTier");
    assert_no_data(&denied, "owner setMaletTier");
    let set = s.router_gql(Some(&admin_token()), SET_TIER, json!({})).await;
    assert_ok(&set, "admin setMaletTier");
    assert_eq!(set["data"]["setMaletTier"]["maletId"], "m1", "{set}");
    assert_eq!(set["data"]["setMaletTier"]["tier"].as_str().map(str::to_uppercase).as_deref(), Some("PRO"), "{set}");

    // R-MONEY-5: totals above 2^31 cents pass the router exactly, as JSON integers. Each sale is
    // at most the per-transaction maximum (99 999 999, R-TRUST-4), so it takes 22 of them; one
    // cent more in a single payment is refused (an exception for admins, not an entry).
    let over = payment_succeeded("too-big", "m1", &acct, 100_000_000);
    assert_eq!(s.webhook(&s.murchases_base, &over).await, 200);
    for i in 0..22 {
        let order = format!("big-{i}");
        assert_eq!(s.webhook(&s.murchases_base, &payment_succeeded(&order, "m1", &acct, 99_999_999)).await, 200);
    }
    let all = eventually("26 ledger entries", || async {
        let r = s.router_gql(Some(&owner), PAGE, json!({"m": "m1", "l": 100, "o": 0})).await;
        if r["data"]["commissionLedgerCount"] == 26 { Ok(r) } else { Err(r) }
    })
    .await;
    assert_ok(&all, "whole ledger");
    let rows = all["data"]["commissionLedger"].as_array().expect("ledger");
    assert_eq!(rows.len(), 26, "{all}");
    assert!(rows.iter().all(|r| r["orderId"] != "too-big"), "an amount above the maximum is not an entry");
    let newest = &rows[0];
    assert_eq!(newest["orderId"], "big-21", "{all}");
    assert_eq!(newest["commissionRateDecimal"], "0.05", "orders after setMaletTier(PRO) use 5%: {all}");
    let sum = |field: &str| rows.iter().map(|r| r[field].as_i64().expect("Int amount")).sum::<i64>();
    let (gross, commission, net, reserve) =
        (sum("grossAmount"), sum("commissionAmount"), sum("netPayout"), sum("reserveAmount"));
    assert!(gross > i64::from(i32::MAX), "the scenario must exceed 2^31 − 1, got {gross}");
    let big = eventually("totals above 2^31 through the router", || async {
        let r = s.router_gql(Some(&owner), BALANCES, json!({"m": "m1"})).await;
        let a = &r["data"]["connectedAccount"];
        if a["pendingBalance"].as_i64() == Some(net) && a["reserveBalance"].as_i64() == Some(reserve) {
            Ok(r)
        } else {
            Err(r)
        }
    })
    .await;
    let a = &big["data"]["connectedAccount"];
    assert_eq!(a["reserveBalance"].as_i64(), Some(reserve), "{big}");
    assert_eq!(a["malet"]["earningsSummary"]["totalGross"].as_i64(), Some(gross), "{big}");
    assert_eq!(a["malet"]["earningsSummary"]["totalCommission"].as_i64(), Some(commission), "{big}");
    assert_eq!(gross, 10_000 + 2_500 + 4_000 + 12_345 + 22 * 99_999_999);
}

/// Issue 8 items 9 and 11 through the router: a query whose pages multiply is refused with the
/// subgraph's QUERY_TOO_COMPLEX, the dashboard's page of 100 passes, and validation errors carry
/// no "Did you mean" hints about the schema.
async fn query_limits(s: &Stack) {
    let owner = owner_token("m1");
    let nested =
        "{ commissionLedger(maletId: \"m1\") { malet { commissionLedger { malet { commissionLedger { id } } } } } }";
    let res = s.router_gql(Some(&owner), nested, json!({})).await;
    assert_code(&res, "QUERY_TOO_COMPLEX", "nested pages through the router");
    let direct = s.direct_gql(&s.murchases_base, Some(&owner), nested, json!({})).await;
    assert_code(&direct, "QUERY_TOO_COMPLEX", "nested pages on murchases");
    let page = s.router_gql(Some(&owner), PAGE, json!({"m": "m1", "l": 100, "o": 0})).await;
    assert_ok(&page, "a page of 100");
    let typo = s.router_gql(Some(&owner), "{ commissionLeger(maletId: \"m1\") { id } }", json!({})).await;
    assert!(typo["errors"].is_array(), "{typo}");
    assert!(!typo.to_string().contains("Did you mean"), "no suggestions through the router: {typo}");
    let typo =
        s.direct_gql(&s.payments_base, Some(&owner), "{ conectedAccount(maletId: \"m1\") { id } }", json!({})).await;
    assert!(!typo.to_string().contains("Did you mean"), "no suggestions on payments: {typo}");
}

/// R-RBAC-2: the owner of Malet B reads and changes nothing of Malet A, through the router and
/// directly on each subgraph, including `_entities`.
async fn rbac(s: &Stack, account_id: &str) {
    let mb = owner_token("mb");
    let m1 = json!({"m": "m1"});

    for (what, query) in [
        ("connectedAccount", BALANCES),
        ("earningsSummary", "query($m: ID!) { earningsSummary(maletId: $m) { totalGross totalCommission } }"),
        ("commissionLedger", "query($m: ID!) { commissionLedger(maletId: $m) { id grossAmount } }"),
        ("commissionLedgerCount", "query($m: ID!) { commissionLedgerCount(maletId: $m) }"),
        ("createConnectedAccount", CREATE),
    ] {
        let r = s.router_gql(Some(&mb), query, m1.clone()).await;
        assert_code(&r, "FORBIDDEN", &format!("router {what} of m1 as owner of mb"));
        assert_no_data(&r, &format!("router {what} of m1 as owner of mb"));
    }

    let r = s.direct_gql(&s.payments_base, Some(&mb), ACCOUNT, m1.clone()).await;
    assert_code(&r, "FORBIDDEN", "payments connectedAccount of m1 as owner of mb");
    assert_no_data(&r, "payments connectedAccount of m1 as owner of mb");
    let r = s.direct_gql(&s.murchases_base, Some(&mb), PAGE, json!({"m": "m1", "l": 10, "o": 0})).await;
    assert_code(&r, "FORBIDDEN", "murchases commissionLedger of m1 as owner of mb");
    assert_no_data(&r, "murchases commissionLedger of m1 as owner of mb");

    // `_entities` is not part of the supergraph API: the router refuses it outright.
    let r = s.router_gql(Some(&mb), "{ _entities(representations: []) { __typename } }", json!({})).await;
    assert!(r["errors"].is_array(), "router must not expose _entities: {r}");
    assert_no_data(&r, "router _entities");

    // Directly on each subgraph, the way a router would resolve references to Malet A's data.
    let ledger = s.router_gql(Some(&owner_token("m1")), PAGE, json!({"m": "m1", "l": 1, "o": 0})).await;
    let ledger_id = ledger["data"]["commissionLedger"][0]["id"].as_str().expect("a ledger id").to_owned();
    let payments_entities = "query($r: [_Any!]!) { _entities(representations: $r) { __typename \
        ... on ConnectedAccount { id status pendingBalance reserveBalance providerAccountId } \
        ... on Malet { connectedAccount { id pendingBalance } } } }";
    let account_rep = json!({"__typename": "ConnectedAccount", "id": account_id});
    let murchases_entities = "query($r: [_Any!]!) { _entities(representations: $r) { __typename \
        ... on CommissionLedger { id grossAmount netPayout orderId } \
        ... on Malet { earningsSummary { totalGross } commissionLedger { id grossAmount } commissionLedgerCount } } }";
    let ledger_rep = json!({"__typename": "CommissionLedger", "id": ledger_id});
    let malet_rep = json!({"__typename": "Malet", "id": "m1"});
    for (subgraph, base, query, entity_rep) in [
        ("payments", &s.payments_base, payments_entities, account_rep),
        ("murchases", &s.murchases_base, murchases_entities, ledger_rep),
    ] {
        // Each representation alone (the entity resolver, the Malet's fields) and both in one batch.
        for (reps, which) in [
            (json!([entity_rep]), "entity"),
            (json!([malet_rep]), "Malet"),
            (json!([entity_rep, malet_rep]), "entity + Malet"),
        ] {
            let vars = json!({"r": reps});
            let what = format!("{subgraph} _entities ({which}) of m1");
            let r = s.direct_gql(base, Some(&mb), query, vars.clone()).await;
            assert_code(&r, "FORBIDDEN", &format!("{what} as owner of mb"));
            assert_no_account_values(&r, &format!("{what} as owner of mb"));
            let r = s.direct_gql(base, None, query, vars).await;
            assert_code(&r, "UNAUTHENTICATED", &format!("{what} without a token"));
            assert_no_account_values(&r, &format!("{what} without a token"));
        }
    }
}

/// Like [`assert_no_data`], but `__typename` (echoed from the representation, no data of its
/// own) may be present.
#[track_caller]
fn assert_no_account_values(response: &Value, context: &str) {
    fn strip(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter().filter(|(k, _)| k.as_str() != "__typename").map(|(k, v)| (k.clone(), strip(v))).collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    assert_no_data(&json!({"data": strip(&response["data"])}), context);
}

/// Tokens that must be refused: none, forged, `alg: none`, expired, wrong secret.
async fn bad_tokens(s: &Stack) {
    let m1 = json!({"m": "m1"});
    let owner = owner_token("m1");
    let admin = admin_token();
    let mut parts = admin.split('.');
    let (_, admin_claims) = (parts.next(), parts.next().expect("claims segment"));
    // {"alg":"none","typ":"JWT"} base64url-encoded: an unsigned admin token.
    let alg_none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{admin_claims}.");
    let forged = {
        let (head, sig) = owner.rsplit_once('.').expect("signed token");
        let flipped: String = sig.chars().rev().collect();
        format!("{head}.{flipped}")
    };
    let other_secret = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": "mallory", "scope": "VIEW_PAYOUTS MANAGE_PAYOUTS VIEW_REVENUE MANAGE_COMMISSIONS",
                "malets": ["*"], "exp": chrono::Utc::now().timestamp() + 3600}),
        &jsonwebtoken::EncodingKey::from_secret(b"another-secret-another-secret-0123456789"),
    )
    .expect("token with another secret");
    let expired = testing::token("owner-of-m1", "VIEW_PAYOUTS MANAGE_PAYOUTS VIEW_REVENUE", &["m1"], -3600);

    let no_token = s.router_gql(None, BALANCES, m1.clone()).await;
    assert_code(&no_token, "UNAUTHENTICATED", "router without a token");
    assert_no_data(&no_token, "router without a token");

    for (what, token) in [
        ("forged signature", forged.as_str()),
        ("alg none", alg_none.as_str()),
        ("other secret", other_secret.as_str()),
        ("expired", expired.as_str()),
        ("not a JWT", "not-a-jwt"),
    ] {
        let r = s.router_gql(Some(token), BALANCES, m1.clone()).await;
        assert_code(&r, "UNAUTHENTICATED", &format!("router, {what} token"));
        assert_no_data(&r, &format!("router, {what} token"));
        for base in [&s.payments_base, &s.murchases_base] {
            let r =
                s.direct_gql(base, Some(token), "query($m: ID!) { commissionLedgerCount(maletId: $m) }", m1.clone());
            let r = r.await;
            assert_code(&r, "UNAUTHENTICATED", &format!("{base}, {what} token"));
            assert_no_data(&r, &format!("{base}, {what} token"));
        }
    }
    let r = s.router_gql(Some(&alg_none), SET_TIER, json!({})).await;
    assert_code(&r, "UNAUTHENTICATED", "router setMaletTier with an alg-none admin token");
}

/// A subgraph configured for RS256 (JWT_PUBLIC_KEY_FILE) accepts tokens signed with the private
/// key and refuses HS256 tokens, including one "signed" with the public key as HMAC secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_subgraph_refuses_hs256_tokens() {
    let db = TestDb::sqlite().await;
    let keys = testing::TempDir::new("mallnline-e2e-rsa");
    let (private_pem, public_pem) = rsa_key_pair(keys.path());
    let public_file = keys.path().join("TEST-ONLY-public.pem");

    let stripe = test_support::fake_stripe::FakeStripe::start_default().await.expect("fake Stripe");
    let http = http_client();
    let (_payments, base) = start_on_free_port(&http, "/ready", |port| {
        let mut env = subgraph_env(&db.database_url(), &stripe.base_url());
        env.retain(|(k, _)| *k != "JWT_SECRET");
        env.push(("JWT_PUBLIC_KEY_FILE", public_file.display().to_string()));
        env.push(("PAYMENTS_ADDR", format!("127.0.0.1:{port}")));
        env.push(("JOB_INTERVAL_SECS", "0".to_owned()));
        let mut cmd = Command::new(workspace_bin("payments"));
        cmd.arg("serve");
        Proc::spawn("payments-rs256", cmd, &env, keys.path())
    })
    .await;
    let url = format!("{base}/graphql");

    let claims = json!({"sub": "owner-of-m1", "scope": "VIEW_PAYOUTS MANAGE_PAYOUTS VIEW_REVENUE",
                        "malets": ["m1"], "exp": chrono::Utc::now().timestamp() + 3600});
    let rs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(&private_pem).expect("RSA private key"),
    )
    .expect("RS256 token");
    let ok = gql(&http, &url, Some(&rs256), ACCOUNT, json!({"m": "m1"})).await;
    assert_ok(&ok, "RS256 token on an RS256 subgraph");
    assert_eq!(ok["data"]["connectedAccount"], Value::Null, "{ok}");

    let hs256 = owner_token("m1");
    let confused = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&public_pem),
    )
    .expect("HS256 token keyed with the public key");
    for (what, token) in [("HS256 test token", hs256), ("HS256 keyed with the RSA public key", confused)] {
        let r = gql(&http, &url, Some(&token), ACCOUNT, json!({"m": "m1"})).await;
        assert_code(&r, "UNAUTHENTICATED", what);
        assert_no_data(&r, what);
    }
}

/// A throw-away RSA key pair made with the `openssl` CLI (test-only; never committed).
fn rsa_key_pair(dir: &std::path::Path) -> (Vec<u8>, Vec<u8>) {
    let private = dir.join("TEST-ONLY-private.pem");
    let public = dir.join("TEST-ONLY-public.pem");
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("the RS256 test needs the openssl CLI to make a test key pair: {e}"));
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let (private_s, public_s) = (private.display().to_string(), public.display().to_string());
    run(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", &private_s]);
    run(&["pkey", "-in", &private_s, "-pubout", "-out", &public_s]);
    (std::fs::read(&private).expect("private key"), std::fs::read(&public).expect("public key"))
}

/// docker-compose's Hive Router configuration (router/hive-router.docker.yaml) loads and routes
/// each subgraph to its compose service (the names and ports docker-compose.yml gives them): run
/// here with the container's paths and port replaced and the service URLs pointed at stand-ins,
/// a query reaches the payments stand-in with the client's `Authorization`, and its answer the
/// client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_hive_router_configuration_loads_and_routes_to_the_services() {
    let Some(bin) = hive_router_or_skip() else { return };
    let root = repo_root();
    let docker = std::fs::read_to_string(root.join("router/hive-router.docker.yaml")).expect("docker config");
    let compose = std::fs::read_to_string(root.join("docker-compose.yml")).expect("docker-compose.yml");
    for (service, addr, url) in [
        ("payments", "PAYMENTS_ADDR: 0.0.0.0:4001", "url: http://payments:4001/graphql"),
        ("murchases", "MURCHASES_ADDR: 0.0.0.0:4002", "url: http://murchases:4002/graphql"),
    ] {
        assert!(
            compose.contains(&format!("\n  {service}:\n")) && compose.contains(addr),
            "compose runs {service} on {addr}"
        );
        assert!(docker.contains(url), "the router routes {service} to {url}");
    }
    assert!(docker.contains("path: /app/supergraph.graphql") && docker.contains("host: 0.0.0.0"), "{docker}");
    let account =
        json!({"data": {"connectedAccount": {"id": "acc-stub", "status": "ACTIVE", "providerAccountId": null}}});
    let (payments, seen) = testing::hive_router::stub_subgraph(account).await;
    let (murchases, _) = testing::hive_router::stub_subgraph(json!({"data": null})).await;
    let logs = testing::TempDir::new("hive-compose");
    let http = http_client();
    let (_router, base) = start_on_free_port(&http, "/readiness", |port| {
        let config = docker
            .replace("/app/supergraph.graphql", &root.join("schema/supergraph.graphql").display().to_string())
            .replace("host: 0.0.0.0", "host: 127.0.0.1")
            .replace("port: 4000", &format!("port: {port}"))
            .replace("http://payments:4001/graphql", &payments)
            .replace("http://murchases:4002/graphql", &murchases);
        let path = logs.path().join(format!("compose-{port}.yaml"));
        std::fs::write(&path, config).expect("config");
        let mut cmd = Command::new(&bin);
        cmd.current_dir(&root);
        Proc::spawn("hive-router", cmd, &[("ROUTER_CONFIG_FILE_PATH", path.display().to_string())], logs.path())
    })
    .await;
    let token = owner_token("m1");
    let r = gql(&http, &format!("{base}/graphql"), Some(&token), ACCOUNT, json!({"m": "m1"})).await;
    assert_eq!(r["data"]["connectedAccount"]["id"], "acc-stub", "{r}");
    let seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    assert_eq!(seen, vec![Some(format!("Bearer {token}"))], "the client's Authorization reaches the subgraph, once");
}
