//! Issue 8 regressions across both subgraphs (in-process on one database, fake Stripe, SQLite
//! and PostgreSQL): balances follow the account an entry names, the commission base is shaped
//! only by the order service, and suspension cannot be escaped by opening a new account.

use flows::spawn;
use sea_orm::ConnectionTrait;
use serde_json::json;
use test_support::{self as testing, TestDb, admin_token, error_code, order_service_token, owner_token};

const CREATE: &str = "mutation($i: OrderInput!) { createMurchasePayment(input: $i) { paymentIntentId breakdown { commissionableBase commissionAmount } } }";

async fn exceptions(apps: &flows::Apps) -> Vec<String> {
    let res = apps.mur.run(Some(&admin_token()), "{ paymentExceptions { reason } }", json!({})).await;
    res["data"]["paymentExceptions"]
        .as_array()
        .expect("exceptions")
        .iter()
        .map(|e| e["reason"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// Item 1 (payments side): a ledger event is applied to the account the entry names or parked
/// with its reason; it never falls back to "the live account of the Malet".
#[tokio::test]
async fn balances_apply_to_the_named_account_or_park_the_event() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        let (account_id, acct) = apps.active_account("m1").await;
        apps.pay_order("ord_1", "pi_1", &acct, 10_000).await;
        assert_eq!(apps.payments.service.consume_ledger_events(10).await.expect("earning"), 1);
        assert_eq!(apps.balances("m1").await["pendingBalance"], 7992);
        let entry = entity::commission_ledger::Entity::find().one(&t.conn).await.expect("q").expect("entry");
        assert_eq!(entry.account_id.as_deref(), Some(account_id.as_str()));
        // An event for m1 naming no known account (as the old code produced for metadata-only
        // payments): parked, m1's balance untouched.
        let payload = json!({"kind": "EARNING", "ledger_id": "l-forged", "order_id": "o", "malet_id": "m1",
            "account_id": null, "destination": "acct_nobody", "currency": "USD", "net_delta": 50_000,
            "reserve_delta": 0, "occurred_at": chrono::Utc::now(), "settlement_date": null});
        service_core::outbox::enqueue(
            &t.conn,
            "murchases.balance",
            "l-forged",
            &payload.to_string(),
            "earning:l-forged",
        )
        .await
        .expect("enqueue");
        assert_eq!(apps.payments.service.consume_ledger_events(10).await.expect("consume"), 0);
        assert_eq!(apps.balances("m1").await["pendingBalance"], 7992, "{:?}", t.backend);
        let row = entity::outbox::Entity::find()
            .filter(entity::outbox::Column::IdempotencyKey.eq("earning:l-forged"))
            .one(&t.conn)
            .await
            .expect("q")
            .expect("row");
        assert_eq!(row.status, entity::enums::OutboxStatus::Parked);
        assert!(row.last_error.as_deref().is_some_and(|e| e.contains("names no known account")), "{row:?}");
        // Parked events are not claimed again.
        assert_eq!(apps.payments.service.consume_ledger_events(10).await.expect("consume"), 0);
        // Item 5 on payments: an event in another currency than the account's is parked too.
        let payload = json!({"kind": "EARNING", "ledger_id": "l-eur", "order_id": "o2", "malet_id": "m1",
            "account_id": account_id, "destination": acct, "currency": "EUR", "net_delta": 100,
            "reserve_delta": 0, "occurred_at": chrono::Utc::now(), "settlement_date": null});
        service_core::outbox::enqueue(&t.conn, "murchases.balance", "l-eur", &payload.to_string(), "earning:l-eur")
            .await
            .expect("enqueue");
        apps.payments.service.consume_ledger_events(10).await.expect("consume");
        let row = entity::outbox::Entity::find()
            .filter(entity::outbox::Column::IdempotencyKey.eq("earning:l-eur"))
            .one(&t.conn)
            .await
            .expect("q")
            .expect("row");
        assert_eq!(row.status, entity::enums::OutboxStatus::Parked, "{row:?}");
    }
}

/// Item 2: an owner may charge an amount but not shape the base; the order service may, within
/// the configured bounds; the ledger uses what checkout stored.
#[tokio::test]
async fn only_the_order_service_shapes_the_commission_base() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        apps.active_account("m1").await;
        let owner = owner_token("m1");
        for shaped in [
            json!({"orderId": "o1", "maletId": "m1", "grossAmount": 10000, "subtotal": 0, "shipping": 10000}),
            json!({"orderId": "o1", "maletId": "m1", "grossAmount": 5000, "subtotal": 5000, "discount": 5000, "tax": 5000}),
            json!({"orderId": "o1", "maletId": "m1", "grossAmount": 10000, "affiliateId": "me"}),
        ] {
            let res = apps.mur.run(Some(&owner), CREATE, json!({"i": shaped})).await;
            assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"), "{shaped}: {res}");
        }
        assert!(apps.stripe.requests_to("/v1/payment_intents").is_empty(), "nothing charged");
        // The order service is bound by the limits too: at most half the gross outside the base.
        let svc = order_service_token();
        let res = apps
            .mur
            .run(
                Some(&svc),
                CREATE,
                json!({"i": {"orderId": "o1", "maletId": "m1", "grossAmount": 10000, "subtotal": 0, "shipping": 10000}}),
            )
            .await;
        assert_eq!(error_code(&res).as_deref(), Some("BAD_USER_INPUT"), "{res}");
        assert!(res.to_string().contains("out of commission"), "{res}");
        // A real breakdown from the order service: tax and shipping are not commissionable.
        let input = json!({"orderId": "o2", "maletId": "m1", "grossAmount": 11000, "subtotal": 10000, "tax": 800, "shipping": 200});
        let res = apps.mur.run(Some(&svc), CREATE, json!({"i": input})).await;
        let created = &res["data"]["createMurchasePayment"];
        assert_eq!(created["breakdown"]["commissionableBase"], 10000, "{:?}: {res}", t.backend);
        assert_eq!(created["breakdown"]["commissionAmount"], 800);
        // The payment arrives with metadata someone changed on the way: an exception, not a
        // smaller commission.
        let pi = created["paymentIntentId"].as_str().expect("pi").to_owned();
        let mut e = testing::stripe_event("payment_intent.succeeded");
        e["id"] = json!("evt_paid_o2");
        e["data"]["object"] = apps.stripe.payment_intent(&pi).expect("pi");
        e["data"]["object"]["metadata"]["subtotal"] = json!("0");
        e["data"]["object"]["metadata"]["shipping"] = json!("10200");
        e["data"]["object"]["metadata"]["tax"] = json!("800");
        assert_eq!(apps.webhook(&apps.mur_base, &e).await, 200);
        let ex = exceptions(&apps).await;
        assert!(ex.iter().any(|r| r.contains("disagrees with its checkout")), "{ex:?}");
        // The untouched payment is recorded with checkout's breakdown.
        e["id"] = json!("evt_paid_o2_again");
        e["data"]["object"] = apps.stripe.payment_intent(&pi).expect("pi");
        e["data"]["object"]["id"] = json!(pi);
        t.conn.execute_unprepared("DELETE FROM payment_exceptions").await.expect("clear");
        assert_eq!(apps.webhook(&apps.mur_base, &e).await, 200);
        let res = apps
            .mur
            .run(
                Some(&owner),
                "{ commissionLedger(maletId: \"m1\") { orderId commissionAmount grossAmount } }",
                json!({}),
            )
            .await;
        assert_eq!(
            res["data"]["commissionLedger"],
            json!([{"orderId": "o2", "commissionAmount": 800, "grossAmount": 11000}]),
            "{res}"
        );
        // A storefront payment (not our checkout) whose metadata shapes the base to nothing.
        let (_, acct) = (0, apps.stripe.payment_intent(&pi).expect("pi")["transfer_data"]["destination"].clone());
        let mut e = testing::events::payment_succeeded("evt_sf", "pi_sf", "o3", Some("m1"), acct.as_str(), 5000);
        e["data"]["object"]["metadata"] =
            json!({"orderId": "o3", "maletId": "m1", "subtotal": "5000", "discount": "5000", "tax": "5000"});
        assert_eq!(apps.webhook(&apps.mur_base, &e).await, 200);
        assert!(
            exceptions(&apps).await.iter().any(|r| r.contains("out of commission")),
            "{:?}",
            exceptions(&apps).await
        );
    }
}

async fn suspend_and_deactivate(apps: &flows::Apps, id: &str, owner: &str) {
    let m = "mutation($id: ID!) { suspendConnectedAccount(connectedAccountId: $id, reason: \"fraud\") { status } }";
    let res = apps.pay.run(Some(&admin_token()), m, json!({"id": id})).await;
    assert_eq!(res["data"]["suspendConnectedAccount"]["status"], "SUSPENDED", "{res}");
    let m =
        "mutation($id: ID!) { deactivateConnectedAccount(connectedAccountId: $id, reason: \"closing\") { status } }";
    let res = apps.pay.run(Some(owner), m, json!({"id": id})).await;
    assert_eq!(res["data"]["deactivateConnectedAccount"]["status"], "DEACTIVATED", "{res}");
}

/// Item 3: deactivating a SUSPENDED account and opening a new one needs an admin; the negative
/// balance and the dispute history follow the Malet.
#[tokio::test]
async fn suspension_cannot_be_escaped_with_a_new_account() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        let owner = owner_token("m1");
        let (old_id, acct) = apps.active_account("m1").await;
        // Two sales, both disputed (threshold 2: the third dispute in the window suspends).
        for i in 0..2 {
            apps.pay_order(&format!("ord_{i}"), &format!("pi_{i}"), &acct, 10_000).await;
        }
        apps.payments.service.consume_ledger_events(10).await.expect("earnings");
        for i in 0..2 {
            let d = testing::events::dispute_created(&format!("evt_dp_{i}"), &format!("dp_{i}"), &format!("pi_{i}"));
            assert_eq!(apps.webhook(&apps.pay_base, &d).await, 200);
        }
        // A refund larger than the balance leaves the seller owing money.
        t.conn
            .execute_unprepared(&format!(
                "INSERT INTO balance_movements (id, account_id, malet_id, kind, currency, earnings_delta, pending_delta, \
                 source_type, source_id, idempotency_key, created_at) VALUES ('mv-debt', '{old_id}', 'm1', 'REFUND_CLAWBACK', \
                 'USD', -20000, -20000, 'ledger', 'l-debt', 'debt:l-debt', '2026-11-25T00:00:00Z')"
            ))
            .await
            .expect("debt");
        let owed = 2 * 7992 - 20000;
        assert_eq!(apps.balances("m1").await["pendingBalance"], owed);
        suspend_and_deactivate(&apps, &old_id, &owner).await;

        let create = "mutation { createConnectedAccount(input: {maletId: \"m1\"}) { id status pendingBalance } }";
        let res = apps.pay.run(Some(&owner), create, json!({})).await;
        assert_eq!(error_code(&res).as_deref(), Some("CONFLICT"), "{:?}: {res}", t.backend);
        assert!(res.to_string().contains("an admin must allow"), "{res}");
        let allow = "mutation($m: ID!) { allowNewConnectedAccount(maletId: $m, reason: \"appeal accepted\") { id } }";
        let res = apps.pay.run(Some(&owner), allow, json!({"m": "m1"})).await;
        assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"), "{res}");
        let res = apps.pay.run(Some(&admin_token()), allow, json!({"m": "m1"})).await;
        assert!(res["errors"].is_null(), "{res}");
        let res = apps.pay.run(Some(&owner), create, json!({})).await;
        let new = &res["data"]["createConnectedAccount"];
        assert_eq!(new["pendingBalance"], owed, "the debt follows the Malet: {res}");
        let new_id = new["id"].as_str().expect("id").to_owned();
        let q = "query($r: [_Any!]!) { _entities(representations: $r) { ... on ConnectedAccount { status pendingBalance } } }";
        let old = apps
            .pay
            .run(Some(&admin_token()), q, json!({"r": [{"__typename": "ConnectedAccount", "id": old_id}]}))
            .await;
        assert_eq!(old["data"]["_entities"][0], json!({"status": "DEACTIVATED", "pendingBalance": 0}), "{old}");

        // Activate the new account and sell once more: one more dispute is the third in the
        // window, and the new account is suspended.
        let acct2 = entity::queries::account_by_id(&t.conn, &new_id).await.expect("q").expect("row");
        let acct2 = acct2.provider_account_id.expect("acct");
        let e = testing::events::account_updated("evt_acct2", &acct2, chrono::Utc::now().timestamp(), true);
        assert_eq!(apps.webhook(&apps.pay_base, &e).await, 200);
        apps.pay_order("ord_9", "pi_9", &acct2, 10_000).await;
        let d = testing::events::dispute_created("evt_dp_9", "dp_9", "pi_9");
        assert_eq!(apps.webhook(&apps.pay_base, &d).await, 200);
        assert_eq!(apps.balances("m1").await["status"], "SUSPENDED", "the dispute history followed the Malet");
    }
}

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
