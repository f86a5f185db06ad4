//! The local Stripe sandbox (issue 15 item 1) as `scripts/dev` runs it: the `stripe-sandbox`
//! binary in front of the real subgraphs and router. A new Malet's onboarding link opens the
//! sandbox's page, whose "Complete onboarding" button makes the account ACTIVE (by a signed
//! `account.updated` the sandbox delivers); a checkout's PaymentIntent paid in the sandbox
//! (`payment_intent.succeeded`) gives the worked example's numbers through the router (800
//! commission, 320 fee, 888 reserve, 7992 net).

mod common;

use std::process::Command;

use common::*;
use serde_json::json;
use test_support::{self as testing, TempDir, TestDb, owner_token};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_malet_onboards_and_sells_in_the_sandbox() {
    let db = TestDb::sqlite().await;
    ensure_router_deps();
    let logs = TempDir::new("mallnline-sandbox");
    let http = http_client();
    let sandbox_port = free_port();
    let sandbox_base = format!("http://127.0.0.1:{sandbox_port}");
    let start = |name: &'static str, addr_var: &'static str| {
        let (bin, logs, db, sandbox_base) =
            (workspace_bin(name), logs.path().to_owned(), db.database_url(), sandbox_base.clone());
        move |port: u16| {
            let mut env = subgraph_env(&db, &sandbox_base);
            env.push((addr_var, format!("127.0.0.1:{port}")));
            let mut cmd = Command::new(&bin);
            cmd.arg("serve");
            Proc::spawn(name, cmd, &env, &logs)
        }
    };
    let (_payments, payments_base) = start_on_free_port(&http, "/ready", start("payments", "PAYMENTS_ADDR")).await;
    let (_murchases, murchases_base) = start_on_free_port(&http, "/ready", start("murchases", "MURCHASES_ADDR")).await;
    let (_gateway, router) =
        start_on_free_port(&http, "/ready", |port| spawn_gateway(port, &payments_base, &murchases_base, logs.path()))
            .await;
    let mut cmd = Command::new(workspace_bin("stripe-sandbox"));
    cmd.args(["--addr", &format!("127.0.0.1:{sandbox_port}"), "--webhook-secret", testing::TEST_WEBHOOK_SECRET])
        .args(["--endpoint", &format!("{payments_base}/webhooks/stripe")])
        .args(["--endpoint", &format!("{murchases_base}/webhooks/stripe")]);
    let mut sandbox = Proc::spawn("stripe-sandbox", cmd, &[("APP_ENV", "development".to_owned())], logs.path());
    sandbox.wait_ready(&http, &format!("{sandbox_base}/sandbox/health")).await.expect("sandbox ready");
    let gql = |token: String, query: &'static str| {
        let (http, url) = (http.clone(), format!("{router}/graphql"));
        async move { common::gql(&http, &url, Some(&token), query, json!({})).await }
    };
    let owner = owner_token("malet-1");

    // Onboarding: the link is the sandbox's page; its button completes it.
    let created = gql(
        owner.clone(),
        "mutation { createConnectedAccount(input: {maletId: \"malet-1\"}) { status onboardingUrl } }",
    )
    .await;
    let url = created["data"]["createConnectedAccount"]["onboardingUrl"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned();
    assert!(url.starts_with(&sandbox_base), "{url}");
    let page = http.get(&url).send().await.expect("onboarding page").text().await.expect("html");
    assert!(page.contains("Complete onboarding") && page.contains("<form method=\"post\""), "{page}");
    let done = http.post(format!("{url}/complete")).send().await.expect("complete");
    assert_eq!(done.status().as_u16(), 200);
    let done = done.text().await.expect("html");
    assert!(done.contains("Onboarding is complete"), "{done}");
    // Back to where the account link returns the seller: its own payouts dashboard by default.
    assert!(
        done.contains("<a id=\"return\" href=\"http://127.0.0.1:4000/malet-1/manage/payouts?onboarding=done\">"),
        "{done}"
    );
    let account = "{ connectedAccount(maletId: \"malet-1\") { status pendingBalance reserveBalance } }";
    let active = eventually("the account is ACTIVE", || async {
        let r = gql(owner.clone(), account).await;
        if r["data"]["connectedAccount"]["status"] == "ACTIVE" { Ok(r) } else { Err(r) }
    })
    .await;
    assert_eq!(active["data"]["connectedAccount"]["pendingBalance"], 0);

    // A sale: the checkout's PaymentIntent, paid in the sandbox.
    let pay = "mutation { createMurchasePayment(input: {orderId: \"ord-1\", maletId: \"malet-1\", grossAmount: 10000}) { paymentIntentId breakdown { commissionAmount processingFee reserveAmount netPayout } } }";
    let checkout = gql(owner.clone(), pay).await;
    let c = &checkout["data"]["createMurchasePayment"];
    assert_eq!(
        c["breakdown"],
        json!({"commissionAmount": 800, "processingFee": 320, "reserveAmount": 888, "netPayout": 7992}),
        "{checkout}"
    );
    let pi = c["paymentIntentId"].as_str().expect("intent");
    let paid = http.post(format!("{sandbox_base}/sandbox/payment_intents/{pi}/succeed")).send().await.expect("pay");
    assert_eq!(paid.status().as_u16(), 200);
    let balances = eventually("the sale reaches the balances", || async {
        let r = gql(owner.clone(), account).await;
        let a = &r["data"]["connectedAccount"];
        if a["pendingBalance"] == 7992 && a["reserveBalance"] == 888 { Ok(r) } else { Err(r) }
    })
    .await;
    assert_eq!(balances["data"]["connectedAccount"]["status"], "ACTIVE");

    // The same with the CLI, for another Malet: onboard, pay, refund, pay out.
    let owner2 = owner_token("malet-2");
    let cli = |args: &[&str], token: &str| {
        let out = Command::new(workspace_bin("stripe-sandbox"))
            .args(args)
            .args(["--router", &router, "--sandbox", &sandbox_base, "--token", token])
            .output()
            .expect("run stripe-sandbox");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{args:?}: {text}{}", String::from_utf8_lossy(&out.stderr));
        text
    };
    let said = cli(&["onboard", "--malet", "malet-2"], &owner2);
    assert!(said.contains("onboarded malet-2"), "{said}");
    let account2 = "{ connectedAccount(maletId: \"malet-2\") { status pendingBalance reserveBalance totalPayouts } }";
    eventually("malet-2 is ACTIVE", || async {
        let r = gql(owner2.clone(), account2).await;
        if r["data"]["connectedAccount"]["status"] == "ACTIVE" { Ok(r) } else { Err(r) }
    })
    .await;
    let said = cli(&["pay", "--malet", "malet-2", "--amount", "10000", "--order", "ord-9"], &owner2);
    assert!(said.contains("commission 800, processing fee 320, reserve 888, net 7992"), "{said}");
    eventually("malet-2's sale reaches the balances", || async {
        let r = gql(owner2.clone(), account2).await;
        if r["data"]["connectedAccount"]["pendingBalance"] == 7992 { Ok(r) } else { Err(r) }
    })
    .await;
    let said = cli(&["refund", "--malet", "malet-2", "--order", "ord-9", "--amount", "4000"], &testing::admin_token());
    assert!(said.contains("commission taken back 320"), "{said}");
    let said = cli(&["payout", "--malet", "malet-2", "--amount", "1000"], &owner2);
    assert!(said.contains("payout po_"), "{said}");
    eventually("the payout is recorded", || async {
        let r = gql(owner2.clone(), account2).await;
        if r["data"]["connectedAccount"]["totalPayouts"] == 1000 { Ok(r) } else { Err(r) }
    })
    .await;
    // A sale the buyer disputes and the platform loses: the entry is marked disputed.
    let said = cli(&["pay", "--malet", "malet-2", "--amount", "5000", "--order", "ord-10"], &owner2);
    let pi =
        said.split(['(', ')']).nth(1).filter(|p| p.starts_with("pi_")).unwrap_or_else(|| panic!("{said}")).to_owned();
    let said = cli(&["dispute", "--payment-intent", &pi, "--outcome", "lost"], &owner2);
    assert!(said.contains("charge.dispute.created, then funds_withdrawn and closed (lost)"), "{said}");
    let ledger = "{ commissionLedger(maletId: \"malet-2\") { orderId disputed status } }";
    let disputed = eventually("the dispute reaches the ledger", || async {
        let r = gql(owner2.clone(), ledger).await;
        let hit =
            r["data"]["commissionLedger"].as_array().and_then(|a| a.iter().find(|e| e["orderId"] == "ord-10").cloned());
        if hit.as_ref().is_some_and(|e| e["disputed"] == true) { Ok(r) } else { Err(r) }
    })
    .await;
    assert!(disputed["errors"].is_null(), "{disputed}");
    drop(sandbox);
}
