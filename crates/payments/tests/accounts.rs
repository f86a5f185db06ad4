//! Connected accounts through HTTP with a fake Stripe, on SQLite and PostgreSQL.

mod common;

use common::*;
use serde_json::json;
use test_support::{TestDb, admin_token, error_code, owner_token, stripe_signature, token};

#[tokio::test]
async fn onboarding_flow_to_active() {
    for t in TestDb::all().await {
        let app = spawn(&t.conn).await;
        let owner = owner_token("m1");
        let res = app.create(&owner, "m1").await;
        let a = &res["data"]["createConnectedAccount"];
        assert_eq!(a["status"], "ONBOARDING", "{:?}: {res}", t.backend);
        assert_eq!(a["provider"], "STRIPE_CONNECT");
        let url = a["onboardingUrl"].as_str().expect("onboarding url").to_owned();
        let acct = a["providerAccountId"].as_str().expect("acct").to_owned();
        assert!(acct.starts_with("acct_"));
        assert_eq!(a["pendingBalance"], 0);
        assert_eq!(a["rollingReservePercent"], 10.0);

        // Exactly the fields Stripe expects.
        let create = app.stripe.last("/v1/accounts").expect("account created");
        assert_eq!(create.field("type"), Some("express"));
        assert_eq!(create.idempotency_key.as_deref(), Some("connected-account:m1:0"));
        let link = app.stripe.last("/v1/account_links").expect("link");
        assert_eq!(link.field("type"), Some("account_onboarding"));
        assert_eq!(link.field("account"), Some(acct.as_str()));
        assert_eq!(link.field("return_url"), Some("https://dash.example/return"));
        assert_eq!(link.field("refresh_url"), Some("https://dash.example/refresh"));

        // A second account for the same Malet is refused, clearly.
        let again = app.create(&owner, "m1").await;
        assert_eq!(error_code(&again).as_deref(), Some("CONFLICT"), "{again}");

        // A fresh link.
        let id = a["id"].as_str().expect("id").to_owned();
        let q = "mutation($id: ID!) { refreshOnboardingLink(connectedAccountId: $id) { onboardingUrl status } }";
        let res = app.gql.run(Some(&owner), q, json!({"id": id})).await;
        let fresh = res["data"]["refreshOnboardingLink"]["onboardingUrl"].as_str().expect("url");
        assert_ne!(fresh, url, "{res}");

        // Stripe reports charges and payouts enabled.
        let now = chrono::Utc::now().timestamp();
        assert_eq!(app.webhook(&account_updated("evt_a1", &acct, now, true)).await, 200);
        let res = app.account(&owner, "m1").await;
        let a = &res["data"]["connectedAccount"];
        assert_eq!(a["status"], "ACTIVE", "{res}");
        assert_eq!(a["kycVerified"], true);
        // Same event again, then an older restricted snapshot: nothing changes.
        assert_eq!(app.webhook(&account_updated("evt_a1", &acct, now, true)).await, 200);
        assert_eq!(app.webhook(&account_updated("evt_a0", &acct, now - 60, false)).await, 200);
        let after = app.account(&owner, "m1").await;
        assert_eq!(after, res);
        // Onboarding is over: no more links.
        let res = app.gql.run(Some(&owner), q, json!({"id": id})).await;
        assert_eq!(error_code(&res).as_deref(), Some("CONFLICT"));
    }
}

#[tokio::test]
async fn racing_creates_leave_exactly_one_account() {
    for t in TestDb::all().await {
        let app = spawn(&t.conn).await;
        let owner = owner_token("m1");
        let results = futures::future::join_all((0..5).map(|_| app.create(&owner, "m1"))).await;
        let ok = results.iter().filter(|r| r["data"]["createConnectedAccount"].is_object()).count();
        assert_eq!(ok, 1, "{:?}: {results:?}", t.backend);
        for r in results.iter().filter(|r| r["errors"].is_array()) {
            assert_eq!(error_code(r).as_deref(), Some("CONFLICT"), "{r}");
        }
        use sea_orm::{EntityTrait, PaginatorTrait};
        assert_eq!(entity::connected_accounts::Entity::find().count(&t.conn).await.expect("count"), 1);
    }
}

#[tokio::test]
async fn provider_failure_leaves_no_row_and_can_be_retried() {
    for t in TestDb::all().await {
        let app = spawn(&t.conn).await;
        let owner = owner_token("m1");
        app.stripe.fail_next("/v1/accounts", 400);
        let res = app.create(&owner, "m1").await;
        assert_eq!(error_code(&res).as_deref(), Some("PROVIDER_ERROR"), "{res}");
        use sea_orm::{EntityTrait, PaginatorTrait};
        assert_eq!(entity::connected_accounts::Entity::find().count(&t.conn).await.expect("count"), 0);
        let res = app.create(&owner, "m1").await;
        assert_eq!(res["data"]["createConnectedAccount"]["status"], "ONBOARDING", "{res}");
    }
}

#[tokio::test]
async fn payout_schedule_is_validated_and_pushed_to_stripe() {
    for t in TestDb::all().await {
        let app = spawn(&t.conn).await;
        let owner = owner_token("m1");
        let id = app.create(&owner, "m1").await["data"]["createConnectedAccount"]["id"].clone();
        let acct = app.account(&owner, "m1").await["data"]["connectedAccount"]["providerAccountId"].clone();
        let m = "mutation($i: UpdatePayoutScheduleInput!) { updatePayoutSchedule(input: $i) { id payoutSchedule { interval dayOfWeek dayOfMonth } } }";
        let res = app
            .gql
            .run(Some(&owner), m, json!({"i": {"connectedAccountId": id, "interval": "WEEKLY", "dayOfWeek": 1}}))
            .await;
        assert_eq!(
            res["data"]["updatePayoutSchedule"]["payoutSchedule"],
            json!({"interval": "WEEKLY", "dayOfWeek": 1, "dayOfMonth": null}),
            "{res}"
        );
        let sent = app.stripe.last(&format!("/v1/accounts/{}", acct.as_str().expect("acct"))).expect("update sent");
        assert_eq!(sent.field("settings[payouts][schedule][interval]"), Some("weekly"));
        assert_eq!(sent.field("settings[payouts][schedule][weekly_anchor]"), Some("monday"));

        let res = app
            .gql
            .run(Some(&owner), m, json!({"i": {"connectedAccountId": id, "interval": "MONTHLY", "dayOfMonth": 31}}))
            .await;
        assert_eq!(res["data"]["updatePayoutSchedule"]["payoutSchedule"]["dayOfMonth"], 31, "{res}");
        let sent = app.stripe.last(&format!("/v1/accounts/{}", acct.as_str().expect("acct"))).expect("update sent");
        assert_eq!(sent.field("settings[payouts][schedule][monthly_anchor]"), Some("31"));

        let before = app.stripe.requests().len();
        for bad in [
            json!({"connectedAccountId": id, "interval": "WEEKLY", "dayOfWeek": 0}),
            json!({"connectedAccountId": id, "interval": "WEEKLY", "dayOfWeek": 8}),
            json!({"connectedAccountId": id, "interval": "MONTHLY", "dayOfMonth": 32}),
            json!({"connectedAccountId": id, "interval": "WEEKLY"}),
        ] {
            let res = app.gql.run(Some(&owner), m, json!({"i": bad})).await;
            assert_eq!(error_code(&res).as_deref(), Some("BAD_USER_INPUT"), "{res}");
        }
        assert_eq!(app.stripe.requests().len(), before, "nothing sent for invalid schedules");
        let res = app.account(&owner, "m1").await;
        assert_eq!(res["data"]["connectedAccount"]["payoutSchedule"]["interval"], "MONTHLY", "state unchanged");
    }
}

#[tokio::test]
async fn lifecycle_mutations_are_guarded_and_illegal_transitions_refused() {
    for t in TestDb::all().await {
        let app = spawn(&t.conn).await;
        let owner = owner_token("m1");
        let res = app.create(&owner, "m1").await;
        let id = res["data"]["createConnectedAccount"]["id"].clone();
        let acct = res["data"]["createConnectedAccount"]["providerAccountId"].as_str().expect("acct").to_owned();
        let vars = json!({"id": id, "reason": "test"});
        // ONBOARDING cannot be suspended or reinstated.
        let res = app.mutate(&admin_token(), "suspendConnectedAccount", "", vars.clone()).await;
        assert_eq!(error_code(&res).as_deref(), Some("ILLEGAL_TRANSITION"), "{res}");
        assert_eq!(app.webhook(&account_updated("evt_1", &acct, chrono::Utc::now().timestamp(), true)).await, 200);
        // Owners cannot suspend (admin only).
        let res = app.mutate(&owner, "suspendConnectedAccount", "", vars.clone()).await;
        assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"), "{res}");
        let res = app.mutate(&admin_token(), "suspendConnectedAccount", "", vars.clone()).await;
        assert_eq!(res["data"]["suspendConnectedAccount"]["status"], "SUSPENDED", "{res}");
        let res = app.mutate(&admin_token(), "reinstateConnectedAccount", "", vars.clone()).await;
        assert_eq!(res["data"]["reinstateConnectedAccount"]["status"], "ACTIVE", "{res}");
        let res = app.mutate(&admin_token(), "reinstateConnectedAccount", "", vars.clone()).await;
        assert_eq!(error_code(&res).as_deref(), Some("ILLEGAL_TRANSITION"), "{res}");
        // Another owner cannot deactivate; this owner can; then it is terminal.
        let res = app.mutate(&owner_token("m2"), "deactivateConnectedAccount", "", vars.clone()).await;
        assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"), "{res}");
        let res = app.mutate(&owner, "deactivateConnectedAccount", "", vars.clone()).await;
        assert_eq!(res["data"]["deactivateConnectedAccount"]["status"], "DEACTIVATED", "{res}");
        let res = app.mutate(&admin_token(), "reinstateConnectedAccount", "", vars.clone()).await;
        assert_eq!(error_code(&res).as_deref(), Some("ILLEGAL_TRANSITION"));
        // The Malet can start over with a new account.
        let res = app.create(&owner, "m1").await;
        assert_eq!(res["data"]["createConnectedAccount"]["status"], "ONBOARDING", "{res}");
        use sea_orm::{EntityTrait, PaginatorTrait};
        assert!(entity::audit_log::Entity::find().count(&t.conn).await.expect("count") >= 4);
    }
}

#[tokio::test]
async fn other_owners_and_anonymous_callers_get_nothing_also_through_entities() {
    for t in TestDb::all().await {
        let app = spawn(&t.conn).await;
        let res = app.create(&owner_token("ma"), "ma").await;
        let id = res["data"]["createConnectedAccount"]["id"].clone();
        let b = owner_token("mb");
        let res = app.account(&b, "ma").await;
        assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"), "{res}");
        let res = app.create(&b, "ma").await;
        assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"));
        let q = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Malet { connectedAccount { status onboardingUrl } } ... on ConnectedAccount { status pendingBalance onboardingUrl } } }";
        let reps = json!({"r": [{"__typename": "Malet", "id": "ma"}, {"__typename": "ConnectedAccount", "id": id}]});
        let res = app.gql.run(Some(&b), q, reps.clone()).await;
        assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"), "{res}");
        assert!(!res.to_string().contains("ONBOARDING") && !res.to_string().contains("http"), "no data: {res}");
        let res = app.gql.run(None, q, reps.clone()).await;
        assert_eq!(error_code(&res).as_deref(), Some("UNAUTHENTICATED"), "{res}");
        assert!(!res.to_string().contains("ONBOARDING"));
        let res = app.account("", "ma").await;
        assert_eq!(error_code(&res).as_deref(), Some("UNAUTHENTICATED"));
        let expired = token("x", "VIEW_PAYOUTS", &["ma"], -600);
        assert_eq!(error_code(&app.account(&expired, "ma").await).as_deref(), Some("UNAUTHENTICATED"));
        // The owner sees it through _entities too.
        let res = app.gql.run(Some(&owner_token("ma")), q, reps).await;
        assert_eq!(res["data"]["_entities"][0]["connectedAccount"]["status"], "ONBOARDING", "{res}");
    }
}

#[tokio::test]
async fn bad_webhooks_are_rejected_with_state_unchanged() {
    for t in TestDb::all().await {
        let app = spawn(&t.conn).await;
        let res = app.create(&owner_token("m1"), "m1").await;
        let acct = res["data"]["createConnectedAccount"]["providerAccountId"].as_str().expect("acct").to_owned();
        let body = account_updated("evt_x", &acct, chrono::Utc::now().timestamp(), true).to_string();
        assert_eq!(app.raw_webhook(body.clone(), None).await, 400);
        assert_eq!(app.raw_webhook(body.clone(), Some("t=1,v1=deadbeef".into())).await, 400);
        let stale = providers::stripe::webhook::sign(
            body.as_bytes(),
            test_support::TEST_WEBHOOK_SECRET,
            chrono::Utc::now().timestamp() - 400,
        );
        assert_eq!(app.raw_webhook(body.clone(), Some(stale)).await, 400);
        let junk = "[1, 2".to_owned();
        assert_eq!(app.raw_webhook(junk.clone(), Some(stripe_signature(&junk))).await, 400);
        let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(70 * 1024));
        assert_eq!(app.raw_webhook(big.clone(), Some(stripe_signature(&big))).await, 413);
        let res = app.account(&owner_token("m1"), "m1").await;
        assert_eq!(res["data"]["connectedAccount"]["status"], "ONBOARDING", "{res}");
        // Rotation: a body signed with the old secret still verifies.
        let old =
            providers::stripe::webhook::sign(body.as_bytes(), "whsec_old_rotated", chrono::Utc::now().timestamp());
        assert_eq!(app.raw_webhook(body, Some(old)).await, 200);
        let res = app.account(&owner_token("m1"), "m1").await;
        assert_eq!(res["data"]["connectedAccount"]["status"], "ACTIVE", "{res}");
    }
}

#[tokio::test]
async fn health_ready_and_metrics() {
    for t in TestDb::all().await {
        let app = spawn(&t.conn).await;
        let get = |p: &str| app.http.get(format!("{}{p}", app.base)).send();
        assert_eq!(get("/health").await.expect("health").status(), 200);
        assert_eq!(get("/ready").await.expect("ready").status(), 200);
        let text = get("/metrics").await.expect("metrics").text().await.expect("text");
        assert!(text.contains("http_requests_total"), "{text}");
        // GraphiQL and introspection are off outside development.
        assert_eq!(get("/graphql").await.expect("get").status(), 405);
        let res = app.gql.run(None, "{ __schema { types { name } } }", json!({})).await;
        assert!(res["data"]["__schema"].is_null(), "introspection disabled: {res}");
        t.conn.clone().close().await.expect("close");
        assert_eq!(get("/ready").await.expect("ready").status(), 503);
    }
}

#[tokio::test]
async fn manual_accounts_need_no_provider_and_record_payouts_by_hand() {
    for t in TestDb::all().await {
        let app = spawn(&t.conn).await;
        let owner = owner_token("m1");
        let m = format!(
            "mutation {{ createConnectedAccount(input: {{maletId: \"m1\", provider: MANUAL}}) {{ {ACCOUNT_FIELDS} }} }}"
        );
        let res = app.gql.run(Some(&owner), &m, json!({})).await;
        let a = &res["data"]["createConnectedAccount"];
        assert_eq!((a["status"].clone(), a["provider"].clone()), (json!("PENDING"), json!("MANUAL")), "{res}");
        assert!(a["onboardingUrl"].is_null() && a["providerAccountId"].is_null());
        assert!(app.stripe.requests().is_empty(), "no external calls");
        let id = a["id"].clone();
        let vars = json!({"id": id, "reason": "bank details checked"});
        let res = app.mutate(&owner, "confirmManualAccount", "", vars.clone()).await;
        assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"), "{res}");
        let res = app.mutate(&admin_token(), "confirmManualAccount", "", vars).await;
        assert_eq!(res["data"]["confirmManualAccount"]["status"], "ACTIVE", "{res}");

        // Earnings arrive as for any account (here: a movement as payments' consumer writes it).
        use sea_orm::ConnectionTrait;
        t.conn
            .execute_unprepared(&format!(
                "INSERT INTO balance_movements (id, account_id, malet_id, kind, currency, earnings_delta, pending_delta, \
                 source_type, source_id, idempotency_key, created_at) VALUES ('mv1', '{}', 'm1', 'EARNING', 'USD', 1000, \
                 1000, 'ledger', 'l1', 'earning:l1', '2026-11-25T00:00:00Z')",
                id.as_str().expect("id")
            ))
            .await
            .expect("earning");
        let pay = "mutation($id: ID!, $a: Int!, $r: String!) { recordManualPayout(connectedAccountId: $id, amount: $a, reference: $r) { pendingBalance totalPayouts } }";
        let res = app.gql.run(Some(&owner), pay, json!({"id": id, "a": 600, "r": "wire-1"})).await;
        assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"), "{res}");
        for (amount, reference) in [(0, "wire-1"), (-5, "wire-1"), (600, " "), (1001, "wire-1")] {
            let res = app.gql.run(Some(&admin_token()), pay, json!({"id": id, "a": amount, "r": reference})).await;
            assert_eq!(error_code(&res).as_deref(), Some("BAD_USER_INPUT"), "{amount} {reference}: {res}");
        }
        let res = app.gql.run(Some(&admin_token()), pay, json!({"id": id, "a": 600, "r": "wire-1"})).await;
        assert_eq!(res["data"]["recordManualPayout"], json!({"pendingBalance": 400, "totalPayouts": 600}), "{res}");
        let res = app.gql.run(Some(&admin_token()), pay, json!({"id": id, "a": 100, "r": "wire-1"})).await;
        assert_eq!(error_code(&res).as_deref(), Some("CONFLICT"), "the same reference is recorded once: {res}");
    }
}
