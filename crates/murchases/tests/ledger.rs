//! The commission ledger through HTTP: signed webhooks in, GraphQL out, on SQLite and PostgreSQL.

mod common;

use common::*;
use serde_json::json;
use test_support::{admin_token, error_code, owner_token, stripe_signature, token};

#[tokio::test]
async fn payment_succeeded_creates_the_worked_example_entry_once_even_when_delivered_20_times_concurrently() {
    for t in all_dbs().await {
        let app = spawn(&t.conn, None).await;
        seed_account(&t.conn, "m1", "acct_m1", "ACTIVE").await;
        let event = payment_succeeded("evt_pi_1", "pi_1", "ord_1", None, 10_000);
        // maletId absent: found from transfer_data.destination.
        let mut event = event;
        event["data"]["object"]["transfer_data"] = json!({"destination": "acct_m1"});
        let deliveries = (0..20).map(|_| app.webhook(&event));
        let statuses = futures::future::join_all(deliveries).await;
        assert!(statuses.iter().all(|s| *s == 200), "{:?}: {statuses:?}", t.backend);

        let res = ledger(&app, &owner_token("m1"), "m1").await;
        let rows = res["data"]["commissionLedger"].as_array().expect("rows").clone();
        assert_eq!(rows.len(), 1, "{:?}: {res}", t.backend);
        let e = &rows[0];
        assert_eq!(e["orderId"], "ord_1");
        assert_eq!(e["grossAmount"], 10_000);
        assert_eq!(e["commissionAmount"], 800);
        assert_eq!(e["processingFee"], 320);
        assert_eq!(e["reserveAmount"], 888);
        assert_eq!(e["netPayout"], 7992);
        assert_eq!(e["applicationFeeAmount"], 2008);
        assert_eq!(e["commissionRate"], 0.08);
        assert_eq!(e["commissionRateDecimal"], "0.08");
        assert_eq!(e["status"], "PENDING");
        assert_eq!(e["currency"], "USD");
        assert_eq!(e["breakdown"]["tier"], "STARTER");

        // One earning event for payments in the outbox.
        let n = outbox_count(&t.conn).await;
        assert_eq!(n, 1, "{:?}", t.backend);
    }
}

async fn outbox_count(db: &sea_orm::DatabaseConnection) -> i64 {
    use sea_orm::{EntityTrait, PaginatorTrait};
    entity::outbox::Entity::find().count(db).await.expect("count") as i64
}

#[tokio::test]
async fn refunds_claw_back_cumulatively_and_converge() {
    for t in all_dbs().await {
        let app = spawn(&t.conn, None).await;
        seed_account(&t.conn, "m1", "acct_m1", "ACTIVE").await;
        // Enterprise seller: no reserve, so the spec's refund example applies with a fee.
        assert_eq!(app.webhook(&payment_succeeded("evt_1", "pi_1", "ord_1", Some("m1"), 10_000)).await, 200);
        assert_eq!(app.webhook(&charge_refunded("evt_r1", "pi_1", 10_000, 4_000)).await, 200);
        let res = ledger(&app, &owner_token("m1"), "m1").await;
        let e = &res["data"]["commissionLedger"][0];
        assert_eq!(e["refundedAmount"], 4_000, "{res}");
        assert_eq!(e["refundedCommission"], 320);
        assert_eq!(e["commissionAmount"], 480);
        assert_eq!(e["status"], "PARTIALLY_REFUNDED");
        let identity = |e: &serde_json::Value| {
            10_000 - e["refundedAmount"].as_i64().expect("r")
                == e["commissionAmount"].as_i64().expect("c")
                    + e["processingFee"].as_i64().expect("f")
                    + e["reserveAmount"].as_i64().expect("res")
                    + e["affiliateAmount"].as_i64().expect("a")
                    + e["netPayout"].as_i64().expect("n")
        };
        assert!(identity(e), "R-MONEY-2 identity: {e}");
        // Same event again, and an older (smaller) cumulative amount: nothing changes.
        assert_eq!(app.webhook(&charge_refunded("evt_r1", "pi_1", 10_000, 4_000)).await, 200);
        assert_eq!(app.webhook(&charge_refunded("evt_r0", "pi_1", 10_000, 1_000)).await, 200);
        let again = ledger(&app, &owner_token("m1"), "m1").await;
        assert_eq!(again["data"]["commissionLedger"][0], *e);
        // Full refund.
        assert_eq!(app.webhook(&charge_refunded("evt_r2", "pi_1", 10_000, 10_000)).await, 200);
        let res = ledger(&app, &owner_token("m1"), "m1").await;
        let e = &res["data"]["commissionLedger"][0];
        assert_eq!(e["status"], "REFUNDED");
        assert_eq!(e["commissionAmount"], 0);
        assert!(identity(e), "{e}");
    }
}

#[tokio::test]
async fn refund_before_payment_is_retried_not_lost() {
    for t in all_dbs().await {
        let app = spawn(&t.conn, None).await;
        seed_account(&t.conn, "m9", "acct_m9", "ACTIVE").await;
        assert_eq!(app.webhook(&charge_refunded("evt_r1", "pi_9", 10_000, 4_000)).await, 200);
        assert_eq!(app.webhook(&payment_succeeded("evt_1", "pi_9", "ord_9", Some("m9"), 10_000)).await, 200);
        // The retry pass (the background loop in production) applies the stored refund. Its
        // backoff is in the future, so make it due first.
        use sea_orm::ConnectionTrait;
        t.conn
            .execute_unprepared("UPDATE webhook_events SET next_attempt_at = NULL WHERE status = 'FAILED'")
            .await
            .expect("due");
        assert_eq!(app.state.inbox.process_due(10).await.expect("retry"), 1);
        let res = ledger(&app, &owner_token("m9"), "m9").await;
        assert_eq!(res["data"]["commissionLedger"][0]["refundedAmount"], 4_000, "{res}");
    }
}

#[tokio::test]
async fn bad_webhooks_are_rejected_and_change_nothing() {
    for t in all_dbs().await {
        let app = spawn(&t.conn, None).await;
        let body = payment_succeeded("evt_x", "pi_x", "ord_x", Some("m1"), 10_000).to_string();
        // No signature, wrong secret, tampered body, stale timestamp, malformed JSON.
        assert_eq!(app.raw_webhook(body.clone(), None).await, 400);
        let wrong = providers::stripe::webhook::sign(body.as_bytes(), "whsec_wrong", chrono::Utc::now().timestamp());
        assert_eq!(app.raw_webhook(body.clone(), Some(wrong)).await, 400);
        assert_eq!(app.raw_webhook(body.replace("10000", "99999"), Some(stripe_signature(&body))).await, 400);
        let stale = providers::stripe::webhook::sign(
            body.as_bytes(),
            test_support::TEST_WEBHOOK_SECRET,
            chrono::Utc::now().timestamp() - 301,
        );
        assert_eq!(app.raw_webhook(body.clone(), Some(stale)).await, 400);
        let junk = "{not json".to_owned();
        assert_eq!(app.raw_webhook(junk.clone(), Some(stripe_signature(&junk))).await, 400);
        // Over the body limit.
        let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(70 * 1024));
        assert_eq!(app.raw_webhook(big.clone(), Some(stripe_signature(&big))).await, 413);
        use sea_orm::{EntityTrait, PaginatorTrait};
        assert_eq!(entity::webhook_events::Entity::find().count(&t.conn).await.expect("count"), 0);
        assert_eq!(entity::commission_ledger::Entity::find().count(&t.conn).await.expect("count"), 0);
        // Unknown event types are acknowledged and recorded without effect.
        let mut unknown = test_support::stripe_event("payout.paid");
        unknown["id"] = json!("evt_unknown");
        assert_eq!(app.webhook(&unknown).await, 200);
        assert_eq!(entity::webhook_events::Entity::find().count(&t.conn).await.expect("count"), 1);
    }
}

#[tokio::test]
async fn unusable_metadata_needs_attention_and_is_never_guessed() {
    for t in all_dbs().await {
        let app = spawn(&t.conn, None).await;
        let mut no_order = payment_succeeded("evt_a", "pi_a", "ord_a", Some("m1"), 10_000);
        no_order["data"]["object"]["metadata"] = json!({"maletId": "m1"});
        let mut bad_tax = payment_succeeded("evt_b", "pi_b", "ord_b", Some("m1"), 10_000);
        bad_tax["data"]["object"]["metadata"]["tax"] = json!("12.5");
        let mut bad_currency = payment_succeeded("evt_c", "pi_c", "ord_c", Some("m1"), 10_000);
        bad_currency["data"]["object"]["currency"] = json!("zzz");
        let no_malet = payment_succeeded("evt_d", "pi_d", "ord_d", None, 10_000);
        for e in [&no_order, &bad_tax, &bad_currency, &no_malet] {
            assert_eq!(app.webhook(e).await, 200);
        }
        let res =
            app.gql.run(Some(&admin_token()), "{ paymentExceptions { providerPaymentId reason } }", json!({})).await;
        let rows = res["data"]["paymentExceptions"].as_array().expect("rows");
        assert_eq!(rows.len(), 4, "{res}");
        use sea_orm::{EntityTrait, PaginatorTrait};
        assert_eq!(entity::commission_ledger::Entity::find().count(&t.conn).await.expect("count"), 0);
        // Owners cannot see the admin list.
        let res = app.gql.run(Some(&owner_token("m1")), "{ paymentExceptions { reason } }", json!({})).await;
        assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"));
    }
}

#[tokio::test]
async fn tier_changes_apply_to_new_orders_only_and_entries_keep_their_rule_version() {
    for t in all_dbs().await {
        let app = spawn(&t.conn, None).await;
        seed_account(&t.conn, "m1", "acct_m1", "ACTIVE").await;
        assert_eq!(app.webhook(&payment_succeeded("evt_1", "pi_1", "ord_1", Some("m1"), 10_000)).await, 200);
        let m = "mutation { setMaletTier(maletId: \"m1\", tier: PRO, reason: \"upgraded plan\") { version tier } }";
        let owner = app.gql.run(Some(&owner_token("m1")), m, json!({})).await;
        assert_eq!(error_code(&owner).as_deref(), Some("FORBIDDEN"), "{owner}");
        let res = app.gql.run(Some(&admin_token()), m, json!({})).await;
        assert_eq!(res["data"]["setMaletTier"]["version"], 1, "{res}");
        // Paid after the change (the rule in force at the payment's time applies).
        let mut later = payment_succeeded("evt_2", "pi_2", "ord_2", Some("m1"), 10_000);
        later["data"]["object"]["created"] = json!(chrono::Utc::now().timestamp() + 2);
        assert_eq!(app.webhook(&later).await, 200);
        let res = ledger(&app, &owner_token("m1"), "m1").await;
        let rows = res["data"]["commissionLedger"].as_array().expect("rows");
        let by_order = |o: &str| rows.iter().find(|r| r["orderId"] == o).expect("row").clone();
        assert_eq!(by_order("ord_1")["commissionAmount"], 800);
        assert_eq!(by_order("ord_1")["ruleVersion"], 0);
        assert_eq!(by_order("ord_1")["breakdown"]["tier"], "STARTER");
        assert_eq!(by_order("ord_2")["commissionAmount"], 500);
        assert_eq!(by_order("ord_2")["ruleVersion"], 1);
        assert_eq!(by_order("ord_2")["breakdown"]["tier"], "PRO");
        // Audited.
        use sea_orm::{EntityTrait, PaginatorTrait};
        assert_eq!(entity::audit_log::Entity::find().count(&t.conn).await.expect("count"), 1);
    }
}

#[tokio::test]
async fn owners_see_only_their_own_malets_also_through_entities() {
    for t in all_dbs().await {
        let app = spawn(&t.conn, None).await;
        seed_account(&t.conn, "ma", "acct_ma", "ACTIVE").await;
        assert_eq!(app.webhook(&payment_succeeded("evt_1", "pi_1", "ord_1", Some("ma"), 10_000)).await, 200);
        let b = owner_token("mb");
        let res = ledger(&app, &b, "ma").await;
        assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"), "{res}");
        assert!(res["data"].is_null() || res["data"]["commissionLedger"].is_null(), "{res}");
        let res = app.gql.run(Some(&b), "{ earningsSummary(maletId: \"ma\") { totalGross } }", json!({})).await;
        assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"));
        // _entities: Malet A's fields and A's ledger entry.
        let q = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Malet { earningsSummary { totalGross } commissionLedger { grossAmount } } } }";
        let res = app.gql.run(Some(&b), q, json!({"r": [{"__typename": "Malet", "id": "ma"}]})).await;
        assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"), "{res}");
        assert!(!res.to_string().contains("10000"), "no data leaks: {res}");
        let id = ledger(&app, &owner_token("ma"), "ma").await["data"]["commissionLedger"][0]["id"].clone();
        let q = "query($r: [_Any!]!) { _entities(representations: $r) { ... on CommissionLedger { grossAmount netPayout } } }";
        let res = app.gql.run(Some(&b), q, json!({"r": [{"__typename": "CommissionLedger", "id": id}]})).await;
        assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"), "{res}");
        assert!(!res.to_string().contains("7992"), "{res}");
        // No token: UNAUTHENTICATED; expired or forged token: UNAUTHENTICATED for the request.
        let res = ledger(&app, "", "ma").await;
        assert_eq!(error_code(&res).as_deref(), Some("UNAUTHENTICATED"), "{res}");
        let res = app.gql.run(None, "{ earningsSummary(maletId: \"ma\") { totalGross } }", json!({})).await;
        assert_eq!(error_code(&res).as_deref(), Some("UNAUTHENTICATED"));
        let expired = token("u", "VIEW_REVENUE", &["ma"], -3600);
        assert_eq!(error_code(&ledger(&app, &expired, "ma").await).as_deref(), Some("UNAUTHENTICATED"));
        let forged = format!("{}x", owner_token("ma"));
        assert_eq!(error_code(&ledger(&app, &forged, "ma").await).as_deref(), Some("UNAUTHENTICATED"));
        // The owner of A sees the summary.
        let res = app
            .gql
            .run(
                Some(&owner_token("ma")),
                "{ earningsSummary(maletId: \"ma\") { totalGross totalCommission totalNetPayouts currency } }",
                json!({}),
            )
            .await;
        assert_eq!(res["data"]["earningsSummary"]["totalGross"], 10_000, "{res}");
        assert_eq!(res["data"]["earningsSummary"]["currency"], "USD");
    }
}

#[tokio::test]
async fn preview_matches_the_engine_and_writes_nothing() {
    for t in all_dbs().await {
        let app = spawn(&t.conn, None).await;
        let q = "query($i: OrderInput!) { previewCommission(input: $i) { commissionAmount processingFee reserveAmount netPayout applicationFeeAmount commissionRate } }";
        let res = app.gql.run(Some(&owner_token("m1")), q, json!({"i": {"maletId": "m1", "grossAmount": 10000}})).await;
        let p = &res["data"]["previewCommission"];
        assert_eq!(
            (p["commissionAmount"].clone(), p["processingFee"].clone(), p["reserveAmount"].clone()),
            (json!(800), json!(320), json!(888)),
            "{res}"
        );
        assert_eq!((p["netPayout"].clone(), p["applicationFeeAmount"].clone()), (json!(7992), json!(2008)));
        for bad in [
            json!({"maletId": "m1", "grossAmount": -5}),
            json!({"maletId": "m1", "grossAmount": 100, "currency": "XYZ"}),
        ] {
            let res = app.gql.run(Some(&owner_token("m1")), q, json!({"i": bad})).await;
            assert_eq!(error_code(&res).as_deref(), Some("BAD_USER_INPUT"), "{res}");
        }
        let res = app.gql.run(Some(&owner_token("m1")), q, json!({"i": {"maletId": "m1", "grossAmount": 10.5}})).await;
        assert!(res["errors"].is_array(), "non-integer amounts are refused: {res}");
        use sea_orm::{EntityTrait, PaginatorTrait};
        assert_eq!(entity::commission_ledger::Entity::find().count(&t.conn).await.expect("count"), 0);
        assert_eq!(entity::outbox::Entity::find().count(&t.conn).await.expect("count"), 0);
    }
}

#[tokio::test]
async fn ledger_pages_newest_first_and_limits_are_enforced() {
    for t in all_dbs().await {
        let app = spawn(&t.conn, None).await;
        seed_account(&t.conn, "m1", "acct_m1", "ACTIVE").await;
        for i in 0..5 {
            let e =
                payment_succeeded(&format!("evt_{i}"), &format!("pi_{i}"), &format!("ord_{i}"), Some("m1"), 1_000 + i);
            assert_eq!(app.webhook(&e).await, 200);
        }
        let q = "query($l: Int, $o: Int) { commissionLedger(maletId: \"m1\", limit: $l, offset: $o) { orderId } commissionLedgerCount(maletId: \"m1\") }";
        let tok = owner_token("m1");
        let page1 = app.gql.run(Some(&tok), q, json!({"l": 2, "o": 0})).await;
        let page3 = app.gql.run(Some(&tok), q, json!({"l": 2, "o": 4})).await;
        assert_eq!(page1["data"]["commissionLedger"], json!([{"orderId": "ord_4"}, {"orderId": "ord_3"}]), "{page1}");
        assert_eq!(page3["data"]["commissionLedger"], json!([{"orderId": "ord_0"}]));
        assert_eq!(page1["data"]["commissionLedgerCount"], 5);
        let res = app.gql.run(Some(&tok), q, json!({"l": 1000, "o": 0})).await;
        assert_eq!(error_code(&res).as_deref(), Some("BAD_USER_INPUT"));
        // Keyset paging: each page after the last cursor of the previous one, the same order.
        let kq =
            "query($l: Int, $a: String) { commissionLedger(maletId: \"m1\", limit: $l, after: $a) { orderId cursor } }";
        let mut seen = Vec::new();
        let mut after = serde_json::Value::Null;
        loop {
            let page = app.gql.run(Some(&tok), kq, json!({"l": 2, "a": after})).await;
            let rows = page["data"]["commissionLedger"].as_array().cloned().unwrap_or_else(|| panic!("{page}"));
            if rows.is_empty() {
                break;
            }
            seen.extend(rows.iter().map(|r| r["orderId"].as_str().expect("order").to_owned()));
            after = rows[rows.len() - 1]["cursor"].clone();
        }
        assert_eq!(seen, ["ord_4", "ord_3", "ord_2", "ord_1", "ord_0"], "{:?}", t.backend);
        for (vars, why) in [
            (json!({"l": 2, "a": "not a cursor", "o": 0}), "bad cursor"),
            (json!({"l": 2, "a": after_of_first(&app, &tok).await, "o": 2}), "both"),
        ] {
            let q = "query($l: Int, $a: String, $o: Int) { commissionLedger(maletId: \"m1\", limit: $l, after: $a, offset: $o) { orderId } }";
            let res = app.gql.run(Some(&tok), q, vars).await;
            assert_eq!(error_code(&res).as_deref(), Some("BAD_USER_INPUT"), "{why}: {res}");
        }
    }
}

#[tokio::test]
async fn adjustments_are_audited_and_keep_the_identity() {
    for t in all_dbs().await {
        let app = spawn(&t.conn, None).await;
        seed_account(&t.conn, "m1", "acct_m1", "ACTIVE").await;
        assert_eq!(app.webhook(&payment_succeeded("evt_1", "pi_1", "ord_1", Some("m1"), 10_000)).await, 200);
        let id = ledger(&app, &owner_token("m1"), "m1").await["data"]["commissionLedger"][0]["id"].clone();
        let m = "mutation($id: ID!, $a: Int!) { adjustCommission(ledgerId: $id, amount: $a, reason: \"goodwill\") { commissionAmount netPayout } }";
        let res = app.gql.run(Some(&owner_token("m1")), m, json!({"id": id, "a": -100})).await;
        assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"));
        let res = app.gql.run(Some(&admin_token()), m, json!({"id": id, "a": -100})).await;
        assert_eq!(res["data"]["adjustCommission"], json!({"commissionAmount": 700, "netPayout": 8092}), "{res}");
        let res = app.gql.run(Some(&admin_token()), m, json!({"id": id, "a": -100_000})).await;
        assert_eq!(error_code(&res).as_deref(), Some("BAD_USER_INPUT"));
        use sea_orm::{EntityTrait, PaginatorTrait};
        assert_eq!(entity::audit_log::Entity::find().count(&t.conn).await.expect("count"), 1);
    }
}

async fn after_of_first(app: &TestApp, tok: &str) -> serde_json::Value {
    let q = "{ commissionLedger(maletId: \"m1\", limit: 1) { cursor } }";
    app.gql.run(Some(tok), q, json!({})).await["data"]["commissionLedger"][0]["cursor"].clone()
}
