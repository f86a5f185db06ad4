//! Issue 8 regressions on payments (HTTP on a random port, SQLite and PostgreSQL): canonical
//! ids, no existence oracles, range-checked provider amounts, exact `Long` totals, and an HTTP
//! server that one slow or greedy client cannot take down.

mod common;

use std::time::{Duration, Instant};

use common::*;
use sea_orm::ConnectionTrait;
use serde_json::json;
use test_support::{TestDb, admin_token, error_code, owner_token, token};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Item 6: the access decision and the write use one canonical id; a denied or malformed
/// request writes nothing.
#[tokio::test]
async fn malet_ids_are_parsed_once_and_a_refusal_writes_nothing() {
    for t in TestDb::all().await {
        let app = spawn(&t.conn).await;
        // The review's case: a token for "malet-c " created malet-c's account.
        let res = app.create(&owner_token("malet-c "), "malet-c ").await;
        assert_eq!(error_code(&res).as_deref(), Some("BAD_USER_INPUT"), "{:?}: {res}", t.backend);
        let res = app.create(&owner_token("malet-c"), "malet-c\t").await;
        assert_eq!(error_code(&res).as_deref(), Some("BAD_USER_INPUT"), "{res}");
        let res = app.create(&owner_token("malet-d"), "malet-c").await;
        assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"), "{res}");
        use sea_orm::{EntityTrait, PaginatorTrait};
        assert_eq!(entity::connected_accounts::Entity::find().count(&t.conn).await.expect("count"), 0);
        assert!(app.stripe.requests_to("/v1/accounts").is_empty(), "nothing sent to Stripe");
        let res = app.create(&owner_token("malet-c"), "malet-c").await;
        assert_eq!(res["data"]["createConnectedAccount"]["maletId"], "malet-c", "{res}");
    }
}

/// Item 7: permission is checked before anything is looked up, so answers do not tell which
/// ids exist.
#[tokio::test]
async fn no_existence_oracles() {
    for t in TestDb::all().await {
        let app = spawn(&t.conn).await;
        let m = "mutation { createConnectedAccount(input: {maletId: \"m1\", provider: MANUAL}) { id } }";
        let res = app.gql.run(Some(&owner_token("m1")), m, json!({})).await;
        let id = res["data"]["createConnectedAccount"]["id"].as_str().expect("id").to_owned();
        let nobody = token("nobody", "", &[], 3600);
        let other = owner_token("m2");
        for tok in [&nobody, &other] {
            for target in [id.as_str(), "no-such-account"] {
                for field in ["confirmManualAccount", "suspendConnectedAccount", "deactivateConnectedAccount"] {
                    let vars = json!({"id": target, "reason": "probe"});
                    let res = app.mutate(tok, field, "", vars).await;
                    assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"), "{field} {target}: {res}");
                }
                let q = "query($r: [_Any!]!) { _entities(representations: $r) { ... on ConnectedAccount { id } } }";
                let res =
                    app.gql.run(Some(tok), q, json!({"r": [{"__typename": "ConnectedAccount", "id": target}]})).await;
                assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"), "_entities {target}: {res}");
            }
        }
        // An admin learns that an id does not exist.
        let res = app.mutate(&admin_token(), "confirmManualAccount", "", json!({"id": "no-such", "reason": "r"})).await;
        assert_eq!(error_code(&res).as_deref(), Some("NOT_FOUND"), "{res}");
    }
}

/// Item 4 (payments): a payout's amount must be positive and within the maximum; a total that
/// a JavaScript router would round is a typed error, never a rounded number.
#[tokio::test]
async fn provider_amounts_are_range_checked_and_long_totals_stay_exact() {
    for t in TestDb::all().await {
        let app = spawn(&t.conn).await;
        let owner = owner_token("m1");
        let res = app.create(&owner, "m1").await;
        let a = &res["data"]["createConnectedAccount"];
        let (id, acct) =
            (a["id"].as_str().expect("id").to_owned(), a["providerAccountId"].as_str().expect("a").to_owned());
        assert_eq!(app.webhook(&account_updated("evt_a", &acct, chrono::Utc::now().timestamp(), true)).await, 200);
        for (i, amount) in [-100_000_i64, 0, 100_000_000, i64::MAX].into_iter().enumerate() {
            let e = test_support::events::payout(&format!("evt_po_{i}"), &acct, amount, true);
            assert_eq!(app.webhook(&e).await, 200);
        }
        let res = app.account(&owner, "m1").await;
        let a = &res["data"]["connectedAccount"];
        assert_eq!(
            (a["pendingBalance"].clone(), a["totalPayouts"].clone()),
            (json!(0), json!(0)),
            "{:?}: {res}",
            t.backend
        );
        let statuses: Vec<String> = entity::webhook_events::Entity::find()
            .all(&t.conn)
            .await
            .expect("events")
            .into_iter()
            .filter(|e| e.event_type == "payout.paid")
            .map(|e| e.status.to_string())
            .collect();
        assert!(statuses.iter().all(|s| s == "NEEDS_ATTENTION"), "{statuses:?}");
        // A balance beyond 2^53 − 1 (only reachable by writing the table directly) is refused
        // with VALUE_OUT_OF_RANGE instead of being rounded by the router.
        t.conn
            .execute_unprepared(&format!(
                "INSERT INTO balance_movements (id, account_id, malet_id, kind, currency, earnings_delta, pending_delta, \
                 source_type, source_id, idempotency_key, created_at) VALUES ('mv-big', '{id}', 'm1', 'EARNING', 'USD', \
                 9007199254740992, 9007199254740992, 'ledger', 'l-big', 'earning:l-big', '2026-11-25T00:00:00Z')"
            ))
            .await
            .expect("movement");
        let res =
            app.gql.run(Some(&owner), "{ connectedAccount(maletId: \"m1\") { pendingBalance } }", json!({})).await;
        assert_eq!(error_code(&res).as_deref(), Some("VALUE_OUT_OF_RANGE"), "{res}");
        assert!(!res.to_string().contains("9007199254740992"), "{res}");
    }
}

use sea_orm::EntityTrait;

async fn spawn_with(db: &sea_orm::DatabaseConnection, limits: service_core::http::HttpLimits) -> String {
    let mut config = config(None);
    config.common.http = limits;
    let state = payments::startup::state(&config, db.clone()).expect("state");
    let app = state.bind("127.0.0.1:0".parse().expect("addr")).await.expect("bind");
    let base = format!("http://{}", app.local_addr().expect("addr"));
    tokio::spawn(app.run());
    base
}

fn addr(base: &str) -> String {
    base.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection (or `limit` passes); returns what was read and
/// whether it closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut out = Vec::new();
    let mut buf = [0_u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), false),
        }
    }
}

/// Item 10: header and body timeouts, a connection cap and an in-flight cap; `/health` keeps
/// answering under slow and idle clients.
#[tokio::test]
async fn slow_and_idle_clients_cannot_take_the_server_down() {
    for t in TestDb::all().await {
        let limits = service_core::http::HttpLimits {
            header_timeout_secs: 1,
            body_timeout_secs: 1,
            request_timeout_secs: 3,
            max_connections: 1024,
            max_in_flight: 1,
            ..Default::default()
        };
        let base = spawn_with(&t.conn, limits).await;
        let http = reqwest::Client::new();

        // A client that never finishes its headers is disconnected after the header timeout.
        let mut slow = TcpStream::connect(addr(&base)).await.expect("connect");
        slow.write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\n").await.expect("write");
        let started = Instant::now();
        let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(5)).await;
        assert!(closed, "half-sent headers are cut off");
        assert!(started.elapsed() < Duration::from_secs(4), "after about the header timeout: {:?}", started.elapsed());

        // 300 idle sockets: /health still answers at once, and the idle sockets are closed.
        let mut idle = Vec::new();
        for _ in 0..300 {
            idle.push(TcpStream::connect(addr(&base)).await.expect("idle connect"));
        }
        let started = Instant::now();
        let health = http.get(format!("{base}/health")).send().await.expect("health");
        assert_eq!(health.status(), 200);
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
        let (_, closed) = read_until_closed(&mut idle[0], Duration::from_secs(5)).await;
        assert!(closed, "an idle connection is closed after the header timeout");
        drop(idle);

        // A request whose body trickles holds the only in-flight slot until the body timeout:
        // meanwhile other requests are shed with 503 OVERLOADED, and /health answers.
        let mut trickle = TcpStream::connect(addr(&base)).await.expect("connect");
        trickle
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"query\"")
        .await
        .expect("write");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let shed =
            http.post(format!("{base}/graphql")).json(&json!({"query": "{ __typename }"})).send().await.expect("post");
        assert_eq!(shed.status(), 503);
        assert_eq!(shed.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
        let body: serde_json::Value = shed.json().await.expect("json");
        assert_eq!(body["errors"][0]["extensions"]["code"], "OVERLOADED", "{body}");
        assert_eq!(http.get(format!("{base}/health")).send().await.expect("health").status(), 200);
        let started = Instant::now();
        let (answer, _) = read_until_closed(&mut trickle, Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 4"), "the trickling body ends with a 4xx: {answer}");
        assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
        // The slot is free again.
        let ok =
            http.post(format!("{base}/graphql")).json(&json!({"query": "{ __typename }"})).send().await.expect("post");
        assert_eq!(ok.status(), 200);
    }
}

/// Item 10: at most `max_connections` are served at once; idle ones are reclaimed by the header
/// timeout, so a waiting client is served soon after.
#[tokio::test]
async fn the_connection_cap_reclaims_idle_connections() {
    for t in TestDb::all().await {
        let limits = service_core::http::HttpLimits {
            header_timeout_secs: 1,
            body_timeout_secs: 1,
            request_timeout_secs: 3,
            max_connections: 8,
            max_in_flight: 16,
            ..Default::default()
        };
        let base = spawn_with(&t.conn, limits).await;
        let mut idle = Vec::new();
        for _ in 0..8 {
            idle.push(TcpStream::connect(addr(&base)).await.expect("idle"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        let health = reqwest::Client::new().get(format!("{base}/health")).send().await.expect("health");
        assert_eq!(health.status(), 200);
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(500), "the ninth connection waited for a free slot: {waited:?}");
        assert!(waited < Duration::from_secs(4), "{waited:?}");
    }
}
