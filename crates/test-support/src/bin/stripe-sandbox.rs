//! `stripe-sandbox`: the local Stripe sandbox for development (see `test_support::sandbox`), and
//! a CLI that acts in it like `stripe trigger` does at Stripe.
//!
//! ```text
//! stripe-sandbox [serve] --addr 127.0.0.1:4010 --webhook-secret whsec_… \
//!     --endpoint http://127.0.0.1:4001/webhooks/stripe --endpoint http://127.0.0.1:4002/webhooks/stripe
//! stripe-sandbox onboard --malet malet-1                      # OWNER_TOKEN
//! stripe-sandbox pay     --malet malet-1 --amount 10000 [--order ord-1]   # OWNER_TOKEN
//! stripe-sandbox refund  --malet malet-1 --order ord-1 --amount 4000      # ADMIN_TOKEN
//! stripe-sandbox payout  --malet malet-1 --amount 7992                    # OWNER_TOKEN
//! stripe-sandbox dispute --payment-intent pi_… [--outcome lost|won]
//! ```
//! `serve` reads `STRIPE_SANDBOX_ADDR`, the first of `STRIPE_WEBHOOK_SECRETS` and
//! `STRIPE_SANDBOX_ENDPOINTS` (comma-separated) when the flags are absent, and refuses
//! `APP_ENV=production`. The other commands talk to the router (`--router`, default
//! `http://127.0.0.1:4000`) with the token `scripts/dev` prints, and to the sandbox (`--sandbox`,
//! default `http://127.0.0.1:4010`).

use std::collections::HashMap;

use serde_json::{Value, json};
use test_support::sandbox::{Sandbox, SandboxConfig};

fn usage(why: &str) -> ! {
    eprintln!(
        "stripe-sandbox: {why}\nusage: stripe-sandbox [serve] --addr HOST:PORT --webhook-secret SECRET --endpoint URL …\n       \
         stripe-sandbox onboard|pay|refund|payout --malet ID [--amount N] [--order ID] [--reason TEXT] [--router URL] [--sandbox URL] [--token JWT]\n       \
         stripe-sandbox dispute --payment-intent PI [--outcome lost|won] [--sandbox URL]"
    );
    std::process::exit(2)
}

fn fail(why: impl std::fmt::Display) -> ! {
    eprintln!("stripe-sandbox: {why}");
    std::process::exit(1)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let command = match args.first().map(String::as_str) {
        None => "serve".to_owned(),
        Some(first) if first.starts_with("--") => "serve".to_owned(),
        Some(_) => args.remove(0),
    };
    let mut flags: HashMap<String, Vec<String>> = HashMap::new();
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        let Some(name) = flag.strip_prefix("--") else { usage(&format!("unexpected argument {flag}")) };
        let value = it.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        flags.entry(name.to_owned()).or_default().push(value);
    }
    match command.as_str() {
        "serve" => serve(flags).await,
        "onboard" | "pay" | "refund" | "payout" | "dispute" => act(&command, &flags).await,
        other => usage(&format!("unknown command {other}")),
    }
}

async fn serve(flags: HashMap<String, Vec<String>>) {
    service_core::telemetry::init_logging();
    if std::env::var("APP_ENV").is_ok_and(|e| e.eq_ignore_ascii_case("production")) {
        usage("the sandbox is for development only and never runs with APP_ENV=production");
    }
    let one = |name: &str| flags.get(name).and_then(|v| v.last().cloned());
    let addr =
        one("addr").or_else(|| std::env::var("STRIPE_SANDBOX_ADDR").ok()).unwrap_or_else(|| "127.0.0.1:4010".into());
    let addr = addr.parse().unwrap_or_else(|_| usage(&format!("{addr} is not HOST:PORT")));
    let webhook_secret = one("webhook-secret")
        .or_else(|| {
            std::env::var("STRIPE_WEBHOOK_SECRETS").ok().and_then(|s| s.split(',').next().map(|s| s.trim().to_owned()))
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| usage("no webhook secret"));
    let mut endpoints = flags.get("endpoint").cloned().unwrap_or_default();
    if endpoints.is_empty() {
        endpoints = std::env::var("STRIPE_SANDBOX_ENDPOINTS")
            .map(|e| e.split(',').map(str::trim).filter(|e| !e.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default();
    }
    if endpoints.is_empty() {
        usage("no webhook endpoint");
    }
    let config = SandboxConfig { addr, endpoints: endpoints.clone(), webhook_secret };
    let sandbox = Sandbox::start(config).await.unwrap_or_else(|e| fail(e));
    eprintln!("stripe-sandbox: Stripe API on {} → webhooks to {}", sandbox.base_url(), endpoints.join(", "));
    let _ = tokio::signal::ctrl_c().await;
}

struct Ctx {
    http: reqwest::Client,
    router: String,
    sandbox: String,
}

impl Ctx {
    async fn gql(&self, token: &str, query: &str, variables: Value) -> Value {
        let res = self
            .http
            .post(format!("{}/graphql", self.router))
            .bearer_auth(token)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .unwrap_or_else(|e| {
                fail(format!("the router at {} does not answer ({e}): is ./scripts/dev running?", self.router))
            });
        let body: Value = res.json().await.unwrap_or_else(|e| fail(format!("the router's answer: {e}")));
        if let Some(errors) = body["errors"].as_array().filter(|e| !e.is_empty()) {
            let messages: Vec<String> = errors
                .iter()
                .map(|e| {
                    format!(
                        "{} ({})",
                        e["message"].as_str().unwrap_or("error"),
                        e["extensions"]["code"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            fail(messages.join("; "));
        }
        body["data"].clone()
    }

    async fn post(&self, url: &str, body: Option<Value>) -> Value {
        let req = self.http.post(url);
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        let res =
            req.send().await.unwrap_or_else(|e| fail(format!("the sandbox at {} does not answer ({e})", self.sandbox)));
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        if !status.is_success() {
            fail(format!("the sandbox answered {status}: {text}"));
        }
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

fn token(flags: &HashMap<String, Vec<String>>, var: &str) -> String {
    flags
        .get("token")
        .and_then(|v| v.last().cloned())
        .or_else(|| std::env::var(var).ok())
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| usage(&format!("no token: export {var} as ./scripts/dev prints it, or pass --token")))
}

async fn act(command: &str, flags: &HashMap<String, Vec<String>>) {
    let one = |name: &str| flags.get(name).and_then(|v| v.last().cloned());
    let required = |name: &str| one(name).unwrap_or_else(|| usage(&format!("{command} needs --{name}")));
    let amount = || {
        required("amount")
            .parse::<i64>()
            .unwrap_or_else(|_| usage("--amount is an amount in minor units (10000 = 100.00)"))
    };
    let ctx = Ctx {
        http: reqwest::Client::new(),
        router: one("router").unwrap_or_else(|| "http://127.0.0.1:4000".into()).trim_end_matches('/').to_owned(),
        sandbox: one("sandbox").unwrap_or_else(|| "http://127.0.0.1:4010".into()).trim_end_matches('/').to_owned(),
    };
    if command == "dispute" {
        let pi = required("payment-intent");
        let outcome = one("outcome");
        if outcome.as_deref().is_some_and(|o| o != "lost" && o != "won") {
            usage("--outcome is lost or won");
        }
        let body = outcome.as_ref().map(|o| json!({"outcome": o}));
        let d =
            ctx.post(&format!("{}/sandbox/payment_intents/{pi}/dispute", ctx.sandbox), body.or(Some(json!({})))).await;
        println!(
            "payment {pi} disputed ({}, {}): charge.dispute.created{} sent",
            d["id"].as_str().unwrap_or("?"),
            d["amount"],
            match outcome.as_deref() {
                Some("lost") => ", then funds_withdrawn and closed (lost)",
                Some(_) => ", then funds_reinstated and closed (won)",
                None => "",
            }
        );
        return;
    }
    let malet = required("malet");
    match command {
        "onboard" => {
            let owner = token(flags, "OWNER_TOKEN");
            let q = "mutation($m: ID!) { createConnectedAccount(input: {maletId: $m}) { status providerAccountId onboardingUrl } }";
            let created = ctx.gql(&owner, q, json!({"m": malet})).await;
            let url = created["createConnectedAccount"]["onboardingUrl"]
                .as_str()
                .unwrap_or_else(|| fail("no onboarding link"))
                .to_owned();
            let done = ctx.http.post(format!("{url}/complete")).send().await.unwrap_or_else(|e| fail(e));
            if !done.status().is_success() {
                fail(format!("onboarding at {url} answered {}", done.status()));
            }
            let acct = created["createConnectedAccount"]["providerAccountId"].as_str().unwrap_or_default();
            println!("onboarded {malet}: account {acct} (onboarding page {url}); account.updated sent");
        }
        "pay" => {
            let owner = token(flags, "OWNER_TOKEN");
            let order =
                one("order").unwrap_or_else(|| format!("ord-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]));
            let q = "mutation($o: ID!, $m: ID!, $a: Int!) { createMurchasePayment(input: {orderId: $o, maletId: $m, grossAmount: $a}) \
                     { paymentIntentId applicationFeeAmount breakdown { grossAmount commissionAmount processingFee reserveAmount netPayout } } }";
            let paid = ctx.gql(&owner, q, json!({"o": order, "m": malet, "a": amount()})).await;
            let p = &paid["createMurchasePayment"];
            let pi = p["paymentIntentId"].as_str().unwrap_or_else(|| fail("no PaymentIntent"));
            ctx.post(&format!("{}/sandbox/payment_intents/{pi}/succeed", ctx.sandbox), None).await;
            let b = &p["breakdown"];
            println!(
                "order {order} paid ({pi}): gross {}, commission {}, processing fee {}, reserve {}, net {}; payment_intent.succeeded sent",
                b["grossAmount"], b["commissionAmount"], b["processingFee"], b["reserveAmount"], b["netPayout"]
            );
        }
        "refund" => {
            let admin = token(flags, "ADMIN_TOKEN");
            let order = required("order");
            let reason = one("reason").unwrap_or_else(|| "sandbox refund".into());
            let q = "mutation($m: ID!, $o: ID!, $a: Int!, $r: String!) { refundMurchase(maletId: $m, orderId: $o, amount: $a, reason: $r) \
                     { refundedAmount refundedCommission commissionAmount reserveAmount netPayout status } }";
            let r = ctx.gql(&admin, q, json!({"m": malet, "o": order, "a": amount(), "r": reason})).await;
            let e = &r["refundMurchase"];
            println!(
                "order {order} refunded {} in all: commission taken back {}, commission {}, reserve {}, net {}, {}",
                e["refundedAmount"],
                e["refundedCommission"],
                e["commissionAmount"],
                e["reserveAmount"],
                e["netPayout"],
                e["status"].as_str().unwrap_or_default()
            );
        }
        "payout" => {
            let owner = token(flags, "OWNER_TOKEN");
            let q = "query($m: ID!) { connectedAccount(maletId: $m) { providerAccountId currency } }";
            let a = ctx.gql(&owner, q, json!({"m": malet})).await;
            let acct = a["connectedAccount"]["providerAccountId"]
                .as_str()
                .unwrap_or_else(|| fail(format!("{malet} has no account")));
            let currency = a["connectedAccount"]["currency"].as_str().unwrap_or("USD").to_ascii_lowercase();
            let payout = ctx
                .post(
                    &format!("{}/sandbox/accounts/{acct}/payouts", ctx.sandbox),
                    Some(json!({"amount": amount(), "currency": currency})),
                )
                .await;
            println!(
                "payout {} of {} {} to {malet}'s bank: payout.paid sent",
                payout["id"].as_str().unwrap_or("?"),
                payout["amount"],
                currency
            );
        }
        _ => usage(&format!("unknown command {command}")),
    }
}
