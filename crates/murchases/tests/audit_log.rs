//! `auditLog(maletId, from, to, limit, offset)` (issue 12 item 5) on SQLite and PostgreSQL:
//! admin changes of a Malet are listed for that Malet only, with who, when, before, after and
//! why; only MANAGE_COMMISSIONS on the Malet reads them.

mod common;

use common::*;
use serde_json::{Value, json};
use test_support::{admin_token, error_code, owner_token, token};

const AUDIT: &str = "query($m: ID!, $f: DateTime, $t: DateTime, $l: Int = 50, $o: Int = 0) {
  auditLog(maletId: $m, from: $f, to: $t, limit: $l, offset: $o) {
    id maletId actor action entityType entityId before after reason createdAt } }";

async fn audit(app: &TestApp, tok: &str, vars: Value) -> Value {
    app.gql.run(Some(tok), AUDIT, vars).await
}

fn json_of(v: &Value) -> Value {
    serde_json::from_str(v.as_str().unwrap_or_else(|| panic!("not JSON text: {v}"))).expect("JSON text")
}

#[tokio::test]
async fn a_malets_admin_changes_are_in_its_audit_log_and_no_other() {
    for t in all_dbs().await {
        let app = spawn(&t.conn, None).await;
        seed_account(&t.conn, "ma", "acct_ma", "ACTIVE").await;
        seed_account(&t.conn, "mb", "acct_mb", "ACTIVE").await;
        assert_eq!(app.webhook(&payment_succeeded("evt_a", "pi_a", "ord_a", Some("ma"), 10_000)).await, 200);
        assert_eq!(app.webhook(&payment_succeeded("evt_b", "pi_b", "ord_b", Some("mb"), 10_000)).await, 200);
        let admin = admin_token();
        let start = chrono::Utc::now() - chrono::Duration::seconds(1);
        let tier = "mutation($m: ID!, $r: String!) { setMaletTier(maletId: $m, tier: PRO, reason: $r) { version } }";
        let res = app.gql.run(Some(&admin), tier, json!({"m": "ma", "r": "upgraded plan"})).await;
        assert!(res["errors"].is_null(), "{res}");
        let id = ledger(&app, &owner_token("ma"), "ma").await["data"]["commissionLedger"][0]["id"].clone();
        let adjust =
            "mutation($id: ID!) { adjustCommission(ledgerId: $id, amount: -100, reason: \"goodwill\") { id } }";
        let res = app.gql.run(Some(&admin), adjust, json!({"id": id})).await;
        assert!(res["errors"].is_null(), "{res}");
        let res = app.gql.run(Some(&admin), tier, json!({"m": "mb", "r": "b's plan"})).await;
        assert!(res["errors"].is_null(), "{res}");

        let res = audit(&app, &admin, json!({"m": "ma"})).await;
        let rows = res["data"]["auditLog"].as_array().unwrap_or_else(|| panic!("{:?}: {res}", t.backend));
        assert_eq!(rows.len(), 2, "{res}");
        // Newest first: the adjustment, then the tier change.
        let (adj, set) = (&rows[0], &rows[1]);
        assert_eq!(
            (adj["action"].clone(), adj["entityType"].clone(), adj["entityId"].clone()),
            (json!("adjust_commission"), json!("commission_ledger"), id.clone())
        );
        assert_eq!(
            (adj["maletId"].clone(), adj["actor"].clone(), adj["reason"].clone()),
            (json!("ma"), json!("admin"), json!("goodwill"))
        );
        assert_eq!(json_of(&adj["before"]), json!({"commission": 800, "net": 7992}));
        assert_eq!(json_of(&adj["after"])["commission"], 700);
        assert_eq!((set["action"].clone(), set["entityId"].clone()), (json!("set_malet_tier"), json!("ma")));
        assert_eq!((set["actor"].clone(), set["reason"].clone()), (json!("admin"), json!("upgraded plan")));
        assert_eq!(json_of(&set["after"])["tier"], "pro");
        assert!(set["before"].is_string(), "{set}");
        let when = chrono::DateTime::parse_from_rfc3339(adj["createdAt"].as_str().expect("time")).expect("time");
        assert!(when >= start, "{adj}");
        // Not in the other Malet's log, and its own change is there only.
        let res = audit(&app, &admin, json!({"m": "mb"})).await;
        let rows = res["data"]["auditLog"].as_array().expect("rows");
        assert_eq!(rows.len(), 1, "{res}");
        assert_eq!((rows[0]["maletId"].clone(), rows[0]["reason"].clone()), (json!("mb"), json!("b's plan")));
        // Pages and periods.
        let res = audit(&app, &admin, json!({"m": "ma", "l": 1, "o": 1})).await;
        assert_eq!(res["data"]["auditLog"][0]["action"], "set_malet_tier", "{res}");
        assert_eq!(res["data"]["auditLog"].as_array().map(Vec::len), Some(1));
        let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
        let res = audit(&app, &admin, json!({"m": "ma", "f": later})).await;
        assert_eq!(res["data"]["auditLog"], json!([]), "{res}");
        let res = audit(&app, &admin, json!({"m": "ma", "f": start.to_rfc3339(), "t": later})).await;
        assert_eq!(res["data"]["auditLog"].as_array().map(Vec::len), Some(2), "{res}");
        // An admin of Malet `ma` only reads `ma`'s log.
        let ma_admin = token("ma-admin", "MANAGE_COMMISSIONS", &["ma"], 3600);
        assert_eq!(
            audit(&app, &ma_admin, json!({"m": "ma"})).await["data"]["auditLog"].as_array().map(Vec::len),
            Some(2)
        );
        let res = audit(&app, &ma_admin, json!({"m": "mb"})).await;
        assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"), "{res}");
    }
}

#[tokio::test]
async fn only_manage_commissions_reads_the_audit_log_and_bad_pages_are_refused() {
    for t in all_dbs().await {
        let app = spawn(&t.conn, None).await;
        seed_account(&t.conn, "ma", "acct_ma", "ACTIVE").await;
        let tier = "mutation { setMaletTier(maletId: \"ma\", tier: PRO, reason: \"r\") { version } }";
        assert!(app.gql.run(Some(&admin_token()), tier, json!({})).await["errors"].is_null());
        // The Malet's owner (VIEW_* and MANAGE_PAYOUTS, no MANAGE_COMMISSIONS): FORBIDDEN, also
        // for a Malet that does not exist.
        for m in ["ma", "nope"] {
            let res = audit(&app, &owner_token("ma"), json!({"m": m})).await;
            assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"), "{:?}: {res}", t.backend);
            assert!(res["data"].is_null() || res["data"]["auditLog"].is_null(), "{res}");
        }
        let res = app.gql.run(None, AUDIT, json!({"m": "ma"})).await;
        assert_eq!(error_code(&res).as_deref(), Some("UNAUTHENTICATED"), "{res}");
        let now = chrono::Utc::now();
        for vars in [
            json!({"m": "ma", "l": 0}),
            json!({"m": "ma", "l": 101}),
            json!({"m": "ma", "o": -1}),
            json!({"m": "ma", "f": now.to_rfc3339(), "t": now.to_rfc3339()}),
            json!({"m": "ma", "f": now.to_rfc3339(), "t": (now - chrono::Duration::days(1)).to_rfc3339()}),
            json!({"m": " ma"}),
        ] {
            let res = audit(&app, &admin_token(), vars.clone()).await;
            assert_eq!(error_code(&res).as_deref(), Some("BAD_USER_INPUT"), "{vars}: {res}");
        }
        assert_eq!(
            audit(&app, &admin_token(), json!({"m": "ma", "l": 100})).await["data"]["auditLog"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
    }
}
