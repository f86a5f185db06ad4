//! Issue 16: the API guide (`docs/api.md`) is executed, example by example and in order, through
//! the real gateway in front of the real `payments` and `murchases` binaries (a fresh database of
//! each kind, the fake Stripe): every query and mutation it shows must answer what the guide says,
//! so an example whose names or shapes drift from the schema fails here.
//!
//! The guide's format: a ```graphql block headed `# example: <name>  token: <who>`, then the
//! ```json block of its response. In a response, `"<any>"` matches any value and `"<id:x>"` matches
//! any value and remembers it as `x`; `{{x}}` in a later query or step stands for it. A line
//! `<!-- step: <what> -->` is something the outside world does between two examples (Stripe sends
//! a webhook); the test does it at that point. `{{today}}` and `{{tomorrow}}` are the UTC midnights
//! around the run.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use test_support::{self as testing, TestDb, admin_token, affiliate_token, order_service_token, owner_token};

struct Example {
    name: String,
    token: Option<String>,
    query: String,
    expected: Value,
}

enum Item {
    Example(Example),
    Step(String),
}

fn token_of(who: &str) -> Option<String> {
    match who {
        "admin" => Some(admin_token()),
        "order service" => Some(order_service_token()),
        other if other.starts_with("affiliate ") => Some(affiliate_token(&other["affiliate ".len()..])),
        "none" => None,
        other => match other.strip_prefix("owner of ") {
            Some(malet) => Some(owner_token(malet)),
            None => panic!("unknown token {other:?} in docs/api.md"),
        },
    }
}

fn guide() -> String {
    std::fs::read_to_string(repo_root().join("docs/api.md")).expect("docs/api.md")
}

/// The guide's examples and steps, in order.
fn items(text: &str) -> Vec<Item> {
    let mut out = Vec::new();
    let mut pending: Option<(String, Option<String>, String)> = None;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(step) = line.strip_prefix("<!-- step: ").and_then(|l| l.strip_suffix(" -->")) {
            assert!(pending.is_none(), "a step between an example and its response: {step}");
            out.push(Item::Step(step.to_owned()));
            continue;
        }
        let Some(lang) = line.strip_prefix("```").filter(|l| !l.is_empty()) else { continue };
        let body = lines.by_ref().take_while(|l| *l != "```").collect::<Vec<_>>().join("\n");
        match (lang, pending.take()) {
            ("graphql", None) => {
                let (head, query) = body.split_once('\n').expect("a header line and a query");
                let head = head.strip_prefix("# example: ").expect("header `# example: <name>  token: <who>`");
                let (name, who) = head.split_once("  token: ").expect("token");
                pending = Some((name.to_owned(), token_of(who), query.to_owned()));
            }
            ("json", Some((name, token, query))) => {
                let expected =
                    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{name}: response is not JSON: {e}"));
                out.push(Item::Example(Example { name, token, query, expected }));
            }
            ("graphql", Some((name, ..))) => panic!("{name}: no response block after the example"),
            (other, Some((name, ..))) => panic!("{name}: the response block is {other}, not json"),
            _ => {}
        }
    }
    assert!(pending.is_none(), "the last example has no response");
    out
}

/// `expected` is contained in `actual`: every key of an expected object matches, arrays match
/// element by element with the same length, `"<any>"` matches anything and `"<id:x>"` matches
/// anything and records it in `captured`.
fn contains(expected: &Value, actual: &Value, captured: &mut HashMap<String, Value>) -> bool {
    match (expected, actual) {
        (Value::String(e), a) if e == "<any>" => !a.is_null(),
        (Value::String(e), a) if e.starts_with("<id:") && e.ends_with('>') => {
            captured.insert(e[4..e.len() - 1].to_owned(), a.clone());
            !a.is_null()
        }
        (Value::Object(e), Value::Object(a)) => {
            e.iter().all(|(k, v)| a.get(k).is_some_and(|av| contains(v, av, captured)))
        }
        (Value::Array(e), Value::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(e, a)| contains(e, a, captured))
        }
        (e, a) => e == a,
    }
}

/// `text` with every `{{x}}` replaced by the value captured as `x`.
fn substitute(text: &str, captured: &HashMap<String, Value>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").map(|e| start + e).expect("`{{` closed by `}}`");
        let name = &rest[start + 2..end];
        let missing = Value::String("MISSING".into());
        let value = match captured.get(name) {
            Some(v) => v,
            None if std::env::var_os("API_GUIDE_PRINT").is_some() => &missing,
            None => panic!("{{{{{name}}}}} is used before an example captures it"),
        };
        match value {
            Value::String(s) => out.push_str(s),
            other => out.push_str(&other.to_string()),
        }
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// What the outside world does at a `<!-- step: … -->` line.
async fn step(s: &Stack, what: &str) {
    let words: Vec<&str> = what.split_whitespace().collect();
    match words.as_slice() {
        // Stripe reports the finished onboarding of a connected account, to both subgraphs'
        // endpoints (payments acts on sellers' accounts, murchases on affiliates').
        ["stripe", "account.updated", acct] => {
            let e = account_updated(acct);
            assert_eq!(s.webhook(&s.payments_base, &e).await, 200, "{what}");
            assert_eq!(s.webhook(&s.murchases_base, &e).await, 200, "{what}");
        }
        // The buyer paid the PaymentIntent a checkout created: Stripe sends it, as it stands, to
        // murchases.
        ["stripe", "payment_intent.succeeded", pi] => {
            let mut e = testing::stripe_event("payment_intent.succeeded");
            e["id"] = json!(format!("evt_paid_{pi}"));
            e["data"]["object"] = s.stripe.payment_intent(pi).unwrap_or_else(|| panic!("{what}: no such intent"));
            e["data"]["object"]["created"] = json!(chrono::Utc::now().timestamp());
            assert_eq!(s.webhook(&s.murchases_base, &e).await, 200, "{what}");
        }
        // A payment made outside our checkout, without our metadata: it cannot be credited.
        ["stripe", "payment_intent.succeeded", "without", "metadata", pi] => {
            let e = testing::events::payment_succeeded(&format!("evt_{pi}"), pi, "ord_unknown", None, None, 5_000);
            let mut e = e;
            e["data"]["object"]["metadata"] = json!({});
            assert_eq!(s.webhook(&s.murchases_base, &e).await, 200, "{what}");
        }
        // A refund made in the Stripe Dashboard, straight at Stripe; its webhook never arrives.
        ["stripe", "dashboard", "refund", pi, amount] => {
            let res = s
                .http
                .post(format!("{}/v1/refunds", s.stripe.base_url()))
                .bearer_auth("sk_test_dashboard")
                .form(&[("payment_intent", *pi), ("amount", *amount)])
                .send()
                .await
                .expect("refund at the fake Stripe");
            assert!(res.status().is_success(), "{what}: {}", res.text().await.unwrap_or_default());
        }
        // A Shopify shop reports a paid order (the worked example's: two lines of 100.00 in all,
        // 8.00 tax, 5.00 shipping), signed with the app's secret.
        // Shopify's `orders/paid` of the fixture order under another id (optionally naming an
        // affiliate in its `note_attributes`, as a storefront app would).
        ["shopify", "orders/paid", shop, order, rest @ ..] => {
            let mut o = testing::shopify::fixture("orders_paid");
            o["id"] = json!(order.parse::<u64>().expect("a Shopify order id"));
            o["note_attributes"] = match rest {
                [] => json!([]),
                ["affiliate", a] => json!([{"name": "affiliateId", "value": a}]),
                _ => panic!("unknown step {what:?} in docs/api.md"),
            };
            let id = format!("wh-{order}");
            let delivery = testing::shopify::Delivery::new(shop, "orders/paid", &id, &o);
            assert_eq!(delivery.post(&s.http, &s.murchases_base).await.0, 200, "{what}");
        }
        // A signed Shopify delivery whose body is cut short (it does not read as an order).
        ["shopify", "unreadable", shop, id] => {
            let mut delivery = testing::shopify::Delivery::new(shop, "orders/paid", id, &json!({}));
            delivery.body = "{\"id\": 450789471, ".to_owned();
            assert_eq!(delivery.post(&s.http, &s.murchases_base).await.0, 200, "{what}");
        }
        // Shopify refunds one line (40.00 and its 3.20 tax) of an order.
        ["shopify", "refunds/create", shop, order, refund] => {
            let mut r = testing::shopify::fixture("refunds_create");
            r["id"] = json!(refund.parse::<u64>().expect("a Shopify refund id"));
            r["order_id"] = json!(order.parse::<u64>().expect("a Shopify order id"));
            let id = format!("wh-r{refund}");
            let delivery = testing::shopify::Delivery::new(shop, "refunds/create", &id, &r);
            assert_eq!(delivery.post(&s.http, &s.murchases_base).await.0, 200, "{what}");
        }
        // The WooCommerce store has an order (the worked example's numbers) created just now,
        // whose webhook never arrived.
        ["woocommerce", "store", "order", id] => {
            let created = chrono::Utc::now() - chrono::Duration::seconds(1);
            let id = id.parse::<u64>().expect("a WooCommerce order id");
            s.woo.put_order(testing::woocommerce::order(id, &created.format("%Y-%m-%dT%H:%M:%S").to_string()));
        }
        // Stripe reports a charge's refunds (cumulative), to murchases.
        ["stripe", "charge.refunded", pi, amount, refunded] => {
            let (amount, refunded) = (amount.parse().expect("amount"), refunded.parse().expect("refunded"));
            let e = testing::events::charge_refunded(&format!("evt_refunded_{pi}_{refunded}"), pi, amount, refunded);
            assert_eq!(s.webhook(&s.murchases_base, &e).await, 200, "{what}");
        }
        // The Stripe payment of a Shopify order, made by the shop's checkout to the seller.
        ["stripe", "shopify", "payment", pi, order, acct, amount] => {
            let amount = amount.parse::<i64>().expect("amount");
            let mut e = testing::events::payment_succeeded(&format!("evt_{pi}"), pi, order, None, Some(acct), amount);
            e["data"]["object"]["metadata"]["platform"] = json!("shopify");
            assert_eq!(s.webhook(&s.murchases_base, &e).await, 200, "{what}");
        }
        _ => panic!("unknown step {what:?} in docs/api.md"),
    }
}

/// Queries are retried until they answer what the guide says (balances reach payments through
/// the outbox a moment after a sale); mutations run once.
async fn run(s: &Stack, ex: &Example, captured: &mut HashMap<String, Value>, print: bool) {
    let query = substitute(&ex.query, captured);
    let is_query = !query.trim_start().starts_with("mutation");
    let deadline = Instant::now() + EVENTUAL_TIMEOUT;
    loop {
        let res = s.router_gql(ex.token.as_deref(), &query, json!({})).await;
        let mut attempt = captured.clone();
        let matched = contains(&ex.expected, &res, &mut attempt);
        if matched {
            *captured = attempt;
        }
        if print && (matched || !is_query || Instant::now() > deadline - Duration::from_secs(15)) {
            // Writing the guide: `API_GUIDE_PRINT=1` prints every answer instead of failing.
            println!("### {} {}\n{res}\n", ex.name, if matched { "ok" } else { "DIFFERS" });
            return;
        }
        if matched {
            return;
        }
        assert!(
            is_query && Instant::now() < deadline,
            "example {}: the guide says\n{}\nthe router answers\n{res}",
            ex.name,
            ex.expected
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn walk(db: &TestDb) {
    let items = items(&guide());
    let examples = items.iter().filter(|i| matches!(i, Item::Example(_))).count();
    assert!(examples >= 30, "the guide's examples were read ({examples})");
    let print = std::env::var_os("API_GUIDE_PRINT").is_some();
    let s = Stack::start(&db.database_url()).await;
    // The day the guide runs, for the periods of statements and reconciliation.
    let today = chrono::Utc::now().date_naive().and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let mut captured = HashMap::from([
        // The test WooCommerce store's home URL (a random port).
        ("woo".to_owned(), json!(s.woo.source().trim_end_matches('/'))),
        ("today".to_owned(), json!(today.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))),
        (
            "tomorrow".to_owned(),
            json!((today + chrono::Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        ),
    ]);
    for item in &items {
        match item {
            Item::Step(what) => step(&s, &substitute(what, &captured)).await,
            Item::Example(ex) => run(&s, ex, &mut captured, print).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_guide_runs_through_the_router_on_sqlite() {
    walk(&TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_guide_runs_through_the_router_on_postgres() {
    // `None` only when PostgreSQL is unreachable and not required (TestDb prints a warning).
    let Some(db) = TestDb::postgres_fresh().await else { return };
    walk(&db).await;
}

/// Every root field of the supergraph has an example in the guide.
#[test]
fn every_query_and_mutation_has_an_example() {
    let schema = std::fs::read_to_string(repo_root().join("schema/supergraph.graphql")).expect("supergraph");
    let items = items(&guide());
    let queries: Vec<&str> =
        items.iter().filter_map(|i| if let Item::Example(e) = i { Some(e.query.as_str()) } else { None }).collect();
    let mut missing = Vec::new();
    for root in ["Query", "Mutation"] {
        let start = schema.find(&format!("\ntype {root}\n")).unwrap_or_else(|| panic!("type {root}"));
        let body = &schema[start..];
        let body = &body[body.find('{').expect("{")..body.find("\n}").expect("}")];
        // A field is a line indented by two spaces that starts with a name followed by `(` or `:`.
        // Descriptions (between `"""` lines) are skipped.
        let mut in_description = false;
        for line in body.lines() {
            if line.matches("\"\"\"").count() % 2 == 1 {
                in_description = !in_description;
                continue;
            }
            if in_description || !line.starts_with("  ") || line.starts_with("   ") {
                continue;
            }
            let name: String = line.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            let after = line.trim()[name.len()..].chars().next();
            if name.is_empty() || !matches!(after, Some('(' | ':')) {
                continue;
            }
            let used = queries.iter().any(|q| {
                q.match_indices(&name).any(|(i, _)| {
                    let before = q[..i].chars().next_back();
                    let next = q[i + name.len()..].chars().next();
                    !before.is_some_and(|c| c.is_ascii_alphanumeric()) && matches!(next, Some('(' | ' ' | '{' | '}'))
                })
            });
            if !used {
                missing.push(format!("{root}.{name}"));
            }
        }
    }
    assert!(missing.is_empty(), "docs/api.md has no example of {missing:?}");
}

#[test]
fn containment_is_strict_where_it_matters() {
    let v = json!({"a": [1, {"b": "x", "c": 2}], "d": null});
    let mut c = HashMap::new();
    assert!(contains(&json!({"a": [1, {"b": "<id:b>"}]}), &v, &mut c));
    assert_eq!(c["b"], "x");
    assert_eq!(substitute("id: \"{{b}}\"", &c), "id: \"x\"");
    assert!(!contains(&json!({"a": [1]}), &v, &mut c), "arrays keep their length");
    assert!(!contains(&json!({"a": [1, {"c": 3}]}), &v, &mut c));
    assert!(!contains(&json!({"e": 1}), &v, &mut c));
    assert!(!contains(&json!({"d": "<any>"}), &v, &mut c), "<any> is not null");
}
