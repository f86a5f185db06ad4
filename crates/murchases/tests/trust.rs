//! Issue 8 regressions on murchases (HTTP on a random port, SQLite and PostgreSQL): credit
//! follows the destination, amounts are range-checked, currency mismatches are visible, order
//! ids are scoped to their Malet, malformed requests and costly queries get typed errors.

mod common;

use common::*;
use serde_json::{Value, json};
use test_support::{admin_token, error_code, owner_token, token_with_times};

async fn exceptions(app: &TestApp) -> Vec<(String, String)> {
    let res = app.gql.run(Some(&admin_token()), "{ paymentExceptions { providerPaymentId reason } }", json!({})).await;
    res["data"]["paymentExceptions"]
        .as_array()
        .expect("exceptions")
        .iter()
        .map(|e| {
            (e["providerPaymentId"].as_str().unwrap_or("").to_owned(), e["reason"].as_str().unwrap_or("").to_owned())
        })
        .collect()
}

async fn count(app: &TestApp, malet: &str) -> Value {
    let q = "query($m: ID!) { commissionLedgerCount(maletId: $m) }";
    app.gql.run(Some(&admin_token()), q, json!({"m": malet})).await["data"]["commissionLedgerCount"].clone()
}

fn paid(event: &str, pi: &str, order: &str, malet: Option<&str>, destination: Option<&str>, amount: i64) -> Value {
    test_support::events::payment_succeeded(event, pi, order, malet, destination, amount)
}

/// Item 1: a metadata Malet that is not the owner of the account the money went to, an unknown
/// destination, or no destination at all is an exception, never a balance.
#[tokio::test]
async fn credit_follows_the_destination_never_the_metadata() {
    for t in all_dbs().await {
        let app = spawn(&t.conn, None).await;
        seed_account(&t.conn, "mu", "acct_mu", "ACTIVE").await;
        seed_account(&t.conn, "mv", "acct_mv", "ACTIVE").await;
        // metadata says U, money went to an account nobody here owns.
        assert_eq!(app.webhook(&paid("e1", "pi_1", "o1", Some("mu"), Some("acct_unknown"), 10_000)).await, 200);
        // metadata says U, money went to V's account.
        assert_eq!(app.webhook(&paid("e2", "pi_2", "o2", Some("mu"), Some("acct_mv"), 10_000)).await, 200);
        // a direct charge on V's account (event.account), metadata says U.
        let mut direct = paid("e3", "pi_3", "o3", Some("mu"), None, 10_000);
        direct["data"]["object"]["transfer_data"] = Value::Null;
        direct["account"] = json!("acct_mv");
        assert_eq!(app.webhook(&direct).await, 200);
        // no destination at all.
        let mut nowhere = paid("e4", "pi_4", "o4", Some("mu"), None, 10_000);
        nowhere["data"]["object"]["transfer_data"] = Value::Null;
        nowhere["account"] = Value::Null;
        assert_eq!(app.webhook(&nowhere).await, 200);
        let ex = exceptions(&app).await;
        let reason = |pi: &str| ex.iter().find(|(p, _)| p == pi).map(|(_, r)| r.clone()).unwrap_or_default();
        assert!(reason("pi_1").contains("not a known payout account"), "{:?}: {ex:?}", t.backend);
        assert!(reason("pi_2").contains("does not own the destination"), "{ex:?}");
        assert!(reason("pi_3").contains("does not own the destination"), "{ex:?}");
        assert!(reason("pi_4").contains("no destination"), "{ex:?}");
        assert_eq!(count(&app, "mu").await, 0, "nothing credited to U");
        assert_eq!(count(&app, "mv").await, 0, "nor to V");
        use sea_orm::{EntityTrait, PaginatorTrait};
        assert_eq!(entity::outbox::Entity::find().count(&t.conn).await.expect("count"), 0, "no balance event");

        // A direct charge on U's own account is U's sale, credited to that account.
        let mut own = paid("e5", "pi_5", "o5", None, None, 10_000);
        own["data"]["object"]["transfer_data"] = Value::Null;
        own["account"] = json!("acct_mu");
        assert_eq!(app.webhook(&own).await, 200);
        assert_eq!(count(&app, "mu").await, 1);
        let row = entity::commission_ledger::Entity::find().one(&t.conn).await.expect("q").expect("entry");
        let account = entity::queries::account_by_provider_id(&t.conn, "acct_mu").await.expect("q").expect("acct");
        assert_eq!(row.account_id.as_deref(), Some(account.id.as_str()), "the entry names the credited account");
    }
}

/// Item 1 (money the platform never received): a payment whose application fee is below what
/// the breakdown says the platform keeps (or that reports none) is an exception, not an entry
/// whose commission and reserve would later be paid out of platform money.
#[tokio::test]
async fn a_payment_without_the_platform_share_is_an_exception() {
    for t in all_dbs().await {
        let app = spawn(&t.conn, None).await;
        seed_account(&t.conn, "m1", "acct_m1", "ACTIVE").await;
        let mut low = paid("e1", "pi_low", "o1", Some("m1"), Some("acct_m1"), 10_000);
        low["data"]["object"]["application_fee_amount"] = json!(2007);
        let mut none = paid("e2", "pi_none", "o2", Some("m1"), None, 10_000);
        none["data"]["object"]["transfer_data"] = Value::Null;
        none["data"]["object"]["application_fee_amount"] = Value::Null;
        none["account"] = json!("acct_m1");
        for e in [&low, &none] {
            assert_eq!(app.webhook(e).await, 200);
        }
        let ex = exceptions(&app).await;
        assert_eq!(ex.len(), 2, "{:?}: {ex:?}", t.backend);
        assert!(ex.iter().all(|(_, r)| r.contains("did not collect its share")), "{ex:?}");
        assert_eq!(count(&app, "m1").await, 0);
        // Exactly the breakdown's fee (2008 for 10000, Starter, new seller) is recorded.
        let mut exact = paid("e3", "pi_exact", "o3", Some("m1"), Some("acct_m1"), 10_000);
        exact["data"]["object"]["application_fee_amount"] = json!(2008);
        assert_eq!(app.webhook(&exact).await, 200);
        assert_eq!(count(&app, "m1").await, 1);
    }
}

/// Item 4: provider amounts are range-checked at the boundary; the summary keeps working.
#[tokio::test]
async fn oversized_and_negative_amounts_are_refused_where_they_enter() {
    for t in all_dbs().await {
        let app = spawn(&t.conn, None).await;
        seed_account(&t.conn, "m1", "acct_m1", "ACTIVE").await;
        for (i, amount) in [i64::MAX, 3_000_000_000, 100_000_000].into_iter().enumerate() {
            let e = paid(&format!("e{i}"), &format!("pi_{i}"), &format!("o{i}"), Some("m1"), Some("acct_m1"), amount);
            assert_eq!(app.webhook(&e).await, 200);
        }
        let ex = exceptions(&app).await;
        assert_eq!(ex.len(), 3, "{:?}: {ex:?}", t.backend);
        assert!(ex.iter().all(|(_, r)| r.contains("exceeds the per-transaction maximum")), "{ex:?}");
        // The largest allowed amount is recorded; a negative refund total is not applied.
        assert_eq!(app.webhook(&paid("ok", "pi_ok", "o_ok", Some("m1"), Some("acct_m1"), 99_999_999)).await, 200);
        assert_eq!(app.webhook(&charge_refunded("r1", "pi_ok", 99_999_999, -5)).await, 200);
        let q = "{ earningsSummary(maletId: \"m1\") { totalGross totalCommission } }";
        let res = app.gql.run(Some(&owner_token("m1")), q, json!({})).await;
        assert_eq!(res["data"]["earningsSummary"]["totalGross"], 99_999_999, "{res}");
        let page = ledger(&app, &owner_token("m1"), "m1").await;
        assert_eq!(page["data"]["commissionLedger"][0]["refundedAmount"], 0, "{page}");
    }
}

/// Item 5: a payment in another currency than its account's is an exception with its reason,
/// not an entry whose balance event fails forever.
#[tokio::test]
async fn a_currency_mismatch_is_a_visible_exception() {
    for t in all_dbs().await {
        let app = spawn(&t.conn, None).await;
        seed_account(&t.conn, "m1", "acct_m1", "ACTIVE").await;
        let mut eur = paid("e1", "pi_eur", "o1", Some("m1"), Some("acct_m1"), 10_000);
        eur["data"]["object"]["currency"] = json!("eur");
        assert_eq!(app.webhook(&eur).await, 200);
        let ex = exceptions(&app).await;
        assert_eq!(ex.len(), 1, "{:?}: {ex:?}", t.backend);
        assert!(ex[0].1.contains("EUR payment to an account that settles in USD"), "{ex:?}");
        assert_eq!(count(&app, "m1").await, 0);
        use sea_orm::{EntityTrait, PaginatorTrait};
        assert_eq!(entity::outbox::Entity::find().count(&t.conn).await.expect("count"), 0);
    }
}

/// Item 7: order ids belong to their Malet: another shop's `ord-b-0` is its own order, and a
/// refund names the Malet. Permission is decided before anything is looked up.
#[tokio::test]
async fn orders_are_scoped_to_their_malet_and_permission_comes_first() {
    for t in all_dbs().await {
        let app = spawn(&t.conn, None).await;
        seed_account(&t.conn, "ma", "acct_ma", "ACTIVE").await;
        seed_account(&t.conn, "mb", "acct_mb", "ACTIVE").await;
        assert_eq!(app.webhook(&payment_succeeded("e1", "pi_b", "ord-b-0", Some("mb"), 10_000)).await, 200);
        assert_eq!(app.webhook(&payment_succeeded("e2", "pi_a", "ord-b-0", Some("ma"), 5_000)).await, 200);
        assert_eq!((count(&app, "ma").await, count(&app, "mb").await), (json!(1), json!(1)), "{:?}", t.backend);
        assert!(exceptions(&app).await.is_empty());
        // refundMurchase names the Malet; without the permission nothing is looked up, so an
        // existing and a missing order answer the same.
        let refund = "mutation($m: ID!, $o: ID!) { refundMurchase(maletId: $m, orderId: $o, amount: 100, reason: \"x\") { refundedAmount } }";
        for order in ["ord-b-0", "no-such-order"] {
            let res = app.gql.run(Some(&owner_token("ma")), refund, json!({"m": "mb", "o": order})).await;
            assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"), "{order}: {res}");
        }
        let res = app.gql.run(Some(&admin_token()), refund, json!({"m": "ma", "o": "no-such-order"})).await;
        assert_eq!(error_code(&res).as_deref(), Some("NOT_FOUND"), "{res}");
        // A ledger id probe by a Malet owner: FORBIDDEN whether or not the entry exists.
        let adjust = "mutation($id: ID!) { adjustCommission(ledgerId: $id, amount: 1, reason: \"x\") { id } }";
        let res = app.gql.run(Some(&owner_token("ma")), adjust, json!({"id": "nope"})).await;
        assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"), "{res}");
    }
}

/// Item 6: ids are canonical; surrounding whitespace and control characters are BAD_USER_INPUT.
#[tokio::test]
async fn malet_ids_are_canonical() {
    for t in all_dbs().await {
        let app = spawn(&t.conn, None).await;
        let q = "query($m: ID!) { earningsSummary(maletId: $m) { totalGross } }";
        for bad in ["malet-c ", " malet-c", "malet\u{7}c", ""] {
            let res = app.gql.run(Some(&owner_token(bad)), q, json!({"m": bad})).await;
            assert_eq!(error_code(&res).as_deref(), Some("BAD_USER_INPUT"), "{bad:?}: {res}");
        }
        let set = "mutation($m: ID!) { setMaletTier(maletId: $m, tier: PRO, reason: \"r\") { version } }";
        let res = app.gql.run(Some(&admin_token()), set, json!({"m": "malet-c "})).await;
        assert_eq!(error_code(&res).as_deref(), Some("BAD_USER_INPUT"), "{res}");
        use sea_orm::{EntityTrait, PaginatorTrait};
        assert_eq!(entity::commission_rules::Entity::find().count(&t.conn).await.expect("count"), 0, "nothing written");
    }
}

/// Items 8, 9, 11, 12 on murchases: clock claims, query cost, `_service`, suggestions, bad JSON.
#[tokio::test]
async fn requests_that_would_degrade_or_describe_the_service_are_refused_with_codes() {
    for t in all_dbs().await {
        let app = spawn(&t.conn, None).await;
        seed_account(&t.conn, "m1", "acct_m1", "ACTIVE").await;
        let owner = owner_token("m1");
        let now = chrono::Utc::now().timestamp();
        // Item 8: nbf and iat in the future.
        let q = "{ earningsSummary(maletId: \"m1\") { totalGross } }";
        for tok in [token_with_times(Some(now + 600), None), token_with_times(None, Some(now + 600))] {
            let res = app.gql.run(Some(&tok), q, json!({})).await;
            assert_eq!(error_code(&res).as_deref(), Some("UNAUTHENTICATED"), "{res}");
        }
        assert!(app.gql.run(Some(&token_with_times(Some(now - 5), Some(now))), q, json!({})).await["errors"].is_null());

        // Item 9: nesting pages multiplies their cost; the dashboard's page of 100 passes.
        let nested = "{ commissionLedger(maletId: \"m1\") { malet { commissionLedger { malet { commissionLedger { id } } } } } }";
        let res = app.gql.run(Some(&owner), nested, json!({})).await;
        assert_eq!(error_code(&res).as_deref(), Some("QUERY_TOO_COMPLEX"), "{res}");
        let dashboard = format!(
            "{{ earningsSummary(maletId: \"m1\") {{ totalGross totalCommission totalNetPayouts pendingBalance reserveBalance }} \
             commissionLedgerCount(maletId: \"m1\") commissionLedger(maletId: \"m1\", limit: 100) {{ {LEDGER_FIELDS} disputed createdAt affiliateId }} }}"
        );
        let res = app.gql.run(Some(&owner), &dashboard, json!({})).await;
        assert!(res["errors"].is_null(), "the dashboard query passes: {res}");
        // `_entities`: at most 100 representations, and their number multiplies the cost.
        let reps: Vec<Value> = (0..500).map(|_| json!({"__typename": "Malet", "id": "m1"})).collect();
        let ent = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Malet { commissionLedger { id } } } }";
        let res = app.gql.run(Some(&owner), ent, json!({"r": reps})).await;
        assert_eq!(error_code(&res).as_deref(), Some("QUERY_TOO_COMPLEX"), "{res}");
        // A variable's default counts like a value sent with the request.
        let defaulted = format!(
            "query($r: [_Any!]! = [{}]) {{ _entities(representations: $r) {{ ... on Malet {{ id }} }} }}",
            vec!["{__typename: \"Malet\", id: \"m1\"}"; 150].join(", ")
        );
        let res = app.gql.run(Some(&owner), &defaulted, json!({})).await;
        assert_eq!(error_code(&res).as_deref(), Some("QUERY_TOO_COMPLEX"), "{res}");
        let reps: Vec<Value> = (0..100).map(|_| json!({"__typename": "Malet", "id": "m1"})).collect();
        let big = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Malet { commissionLedger(limit: 100) { id } } } }";
        let res = app.gql.run(Some(&owner), big, json!({"r": reps})).await;
        assert_eq!(error_code(&res).as_deref(), Some("QUERY_TOO_COMPLEX"), "100 x a 100-row page: {res}");
        let res = app.gql.run(Some(&owner), ent, json!({"r": [{"__typename": "Malet", "id": "m1"}]})).await;
        assert!(res["errors"].is_null(), "{res}");

        // Item 11: no SDL for anonymous callers in production, and no suggestions.
        let res = app.gql.run(None, "{ _service { sdl } }", json!({})).await;
        assert_eq!(error_code(&res).as_deref(), Some("UNAUTHENTICATED"), "{res}");
        assert!(!res.to_string().contains("type Query"), "{res}");
        let res = app.gql.run(Some(&owner), "{ _service { sdl } }", json!({})).await;
        assert!(res["data"]["_service"]["sdl"].as_str().is_some_and(|s| s.contains("CommissionLedger")), "{res}");
        let res = app.gql.run(Some(&owner), "{ earningSummary(maletId: \"m1\") { totalGross } }", json!({})).await;
        assert_eq!(error_code(&res).as_deref(), Some("GRAPHQL_VALIDATION_FAILED"), "{res}");
        assert!(!res.to_string().contains("Did you mean"), "{res}");

        // Item 12: malformed JSON is a GraphQL-over-HTTP error with a stable code.
        let r = app
            .http
            .post(format!("{}/graphql", app.base))
            .header("content-type", "application/json")
            .body("{\"query\": ")
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.expect("a JSON body");
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_REQUEST", "{body}");
        assert!(!body.to_string().contains("ParseRequestError"), "no Rust debug text: {body}");
    }
}
