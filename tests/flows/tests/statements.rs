//! Seller statements (issue 12 item 4) across both subgraphs on SQLite and PostgreSQL: a month
//! of sales, a refund, a payout and reserve releases balances exactly (opening + lines =
//! closing = the account's balances), and the CSV over HTTP carries the same lines and amounts.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use flows::{Apps, spawn};
use sea_orm::EntityTrait;
use sea_orm::sea_query::Expr;
use serde_json::{Value, json};
use test_support::{self as testing, TestDb, admin_token, error_code, owner_token, token};

const STATEMENT: &str = "query($m: ID!, $f: DateTime!, $t: DateTime!, $c: String) {
  payoutStatement(maletId: $m, from: $f, to: $t, currency: $c) {
    maletId currency accountIds lineCount nextPayoutDate payoutSchedule { interval dayOfWeek }
    opening { pending reserve balance } closing { pending reserve balance }
    lines { id at kind accountId orderId ledgerId sourceType description pendingDelta reserveDelta delta
            balanceAfter { pending reserve balance }
            sale { gross commission processingFee affiliate reserve net } }
  } }";

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

async fn statement(apps: &Apps, tok: Option<&str>, malet: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Value {
    apps.pay.run(tok, STATEMENT, json!({"m": malet, "f": ts(from), "t": ts(to)})).await
}

/// `GET /statements/<malet>.csv?from&to` with `tok`: status, headers and body.
async fn csv(
    apps: &Apps,
    tok: Option<&str>,
    path: &str,
    from: &str,
    to: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = apps.http.get(format!("{}/statements/{path}", apps.pay_base)).query(&[("from", from), ("to", to)]);
    if let Some(t) = tok {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("csv request");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.text().await.expect("body"))
}

/// Reads RFC 4180 CSV (quoted fields, doubled quotes, CRLF).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(field.is_empty() && row.is_empty(), "the CSV ends with CRLF");
    rows
}

fn long(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

#[tokio::test]
async fn a_month_of_movements_balances_exactly_and_the_csv_says_the_same() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        let now = Utc::now();
        let (from, to) = (now - Duration::days(30), now + Duration::days(1));
        let (_, acct) = apps.active_account("m1").await;
        // Before the period: a sale (its earning moved back 45 days).
        apps.pay_order("ord_0", "pi_0", &acct, 10_000).await;
        apps.payments.service.consume_ledger_events(100).await.expect("earning");
        entity::balance_movements::Entity::update_many()
            .col_expr(entity::balance_movements::Column::CreatedAt, Expr::value(now - Duration::days(45)))
            .exec(&t.conn)
            .await
            .expect("backdate");
        // In the period: two sales, a partial refund, a payout, the reserve releases.
        apps.pay_order("ord_1", "pi_1", &acct, 10_000).await;
        apps.pay_order("ord_2", "pi_2", &acct, 5_000).await;
        apps.payments.service.consume_ledger_events(100).await.expect("earnings");
        let refund = testing::events::charge_refunded("evt_ref_1", "pi_1", 10_000, 4_000);
        assert_eq!(apps.webhook(&apps.mur_base, &refund).await, 200);
        apps.payments.service.consume_ledger_events(100).await.expect("clawback");
        let payout = testing::events::payout("evt_po_1", &acct, 5_000, true);
        assert_eq!(apps.webhook(&apps.pay_base, &payout).await, 200);
        let due = apps.settle_all().await;
        assert_eq!(apps.payments.service.release_due_reserves(due).await.expect("release"), 3, "{:?}", t.backend);
        let set = "mutation($a: ID!) { updatePayoutSchedule(input: {connectedAccountId: $a, interval: WEEKLY, dayOfWeek: 5}) { id } }";
        let q = "query { connectedAccount(maletId: \"m1\") { id } }";
        let id = apps.pay.run(Some(&owner_token("m1")), q, json!({})).await["data"]["connectedAccount"]["id"].clone();
        let res = apps.pay.run(Some(&owner_token("m1")), set, json!({"a": id})).await;
        assert!(res["errors"].is_null(), "{res}");

        let res = statement(&apps, Some(&owner_token("m1")), "m1", from, to).await;
        let s = &res["data"]["payoutStatement"];
        assert!(res["errors"].is_null(), "{:?}: {res}", t.backend);
        assert_eq!((s["maletId"].clone(), s["currency"].clone()), (json!("m1"), json!("USD")));
        assert_eq!(s["accountIds"], json!([id]));
        // Opening: the sale before the period (R-COMM-6: net 7992, reserve 888).
        assert_eq!(s["opening"], json!({"pending": 7992, "reserve": 888, "balance": 8880}), "{s}");
        let lines = s["lines"].as_array().expect("lines");
        let kinds: Vec<(&str, Option<&str>)> =
            lines.iter().map(|l| (l["kind"].as_str().expect("kind"), l["orderId"].as_str())).collect();
        assert_eq!(
            kinds[..4],
            [("SALE", Some("ord_1")), ("SALE", Some("ord_2")), ("REFUND_CLAWBACK", Some("ord_1")), ("PAYOUT", None)],
            "{s}"
        );
        let mut released: Vec<&str> = kinds[4..]
            .iter()
            .map(|(k, o)| {
                assert_eq!(*k, "RESERVE_RELEASE");
                o.expect("a release names its order")
            })
            .collect();
        released.sort_unstable();
        assert_eq!(released, ["ord_0", "ord_1", "ord_2"]);
        assert_eq!(s["lineCount"], lines.len());
        // The sale line's split at payment time.
        assert_eq!(
            lines[0]["sale"],
            json!({"gross": 10000, "commission": 800, "processingFee": 320, "affiliate": 0, "reserve": 888, "net": 7992})
        );
        assert_eq!((long(&lines[0]["pendingDelta"]), long(&lines[0]["reserveDelta"])), (7992, 888));
        assert!(lines[0]["description"].as_str().expect("d").contains("gross 100.00, commission 8.00"), "{}", lines[0]);
        assert_eq!((long(&lines[3]["pendingDelta"]), long(&lines[3]["reserveDelta"])), (-5000, 0));
        // Opening + every line = closing, line by line; by time, then id.
        let (mut pending, mut reserve) = (long(&s["opening"]["pending"]), long(&s["opening"]["reserve"]));
        let mut previous: Option<(String, String)> = None;
        for l in lines {
            pending = pending.checked_add(long(&l["pendingDelta"])).expect("no overflow");
            reserve = reserve.checked_add(long(&l["reserveDelta"])).expect("no overflow");
            assert_eq!(long(&l["delta"]), long(&l["pendingDelta"]) + long(&l["reserveDelta"]));
            assert_eq!(
                l["balanceAfter"],
                json!({"pending": pending, "reserve": reserve, "balance": pending + reserve})
            );
            let key = (l["at"].as_str().expect("at").to_owned(), l["id"].as_str().expect("id").to_owned());
            let at = DateTime::parse_from_rfc3339(&key.0).expect("time");
            assert!(at >= from && at < to, "{l}");
            if let Some(p) = &previous {
                let before = DateTime::parse_from_rfc3339(&p.0).expect("time");
                assert!(before < at || (before == at && p.1 < key.1), "order: {p:?} then {key:?}");
            }
            previous = Some(key);
        }
        assert_eq!(s["closing"], json!({"pending": pending, "reserve": reserve, "balance": pending + reserve}));
        // Closing = the account's balances as connectedAccount reports them.
        let bal = apps.balances("m1").await;
        assert_eq!(
            (s["closing"]["pending"].clone(), s["closing"]["reserve"].clone()),
            (bal["pendingBalance"].clone(), bal["reserveBalance"].clone()),
            "{bal}"
        );
        assert_eq!(bal["reserveBalance"], 0, "every hold released");
        assert!(payments::repo::movements::balance_mismatches(&t.conn).await.expect("check").is_empty());
        // The schedule's next payout day (WEEKLY, Friday).
        assert_eq!(s["payoutSchedule"], json!({"interval": "WEEKLY", "dayOfWeek": 5}));
        let next = domain::schedule::PayoutSchedule::Weekly { day_of_week: 5 }
            .next_payout_after(Utc::now().date_naive())
            .expect("a date");
        assert_eq!(s["nextPayoutDate"], next.format("%Y-%m-%d").to_string());

        // An earlier period: only the first sale, from zero.
        let res = statement(&apps, Some(&owner_token("m1")), "m1", now - Duration::days(60), from).await;
        let early = &res["data"]["payoutStatement"];
        assert_eq!(early["opening"], json!({"pending": 0, "reserve": 0, "balance": 0}), "{res}");
        assert_eq!(early["lineCount"], 1);
        assert_eq!(early["lines"][0]["orderId"], "ord_0");
        assert_eq!(early["closing"], s["opening"]);

        // The same statement as CSV.
        let (status, headers, body) = csv(&apps, Some(&owner_token("m1")), "m1.csv", &ts(from), &ts(to)).await;
        assert_eq!(status, 200, "{:?}: {body}", t.backend);
        assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
        let disposition = headers["content-disposition"].to_str().expect("ascii");
        assert!(disposition.starts_with("attachment; filename=\"statement-m1-USD-"), "{disposition}");
        let rows = parse_csv(&body);
        assert_eq!(rows.len(), lines.len() + 3, "{body}");
        assert_eq!(
            rows[0],
            [
                "date",
                "kind",
                "order_id",
                "ledger_id",
                "description",
                "pending_minor",
                "pending",
                "reserve_minor",
                "reserve",
                "balance_minor",
                "balance",
                "currency",
                "account_id",
                "movement_id"
            ]
        );
        assert_eq!(rows[1][1..2], ["OPENING"]);
        assert_eq!(rows[1][5..11], ["7992", "79.92", "888", "8.88", "8880", "88.80"]);
        for (row, l) in rows[2..rows.len() - 1].iter().zip(lines) {
            assert_eq!(row[1], l["kind"].as_str().expect("kind"));
            assert_eq!(row[2], l["orderId"].as_str().unwrap_or(""));
            assert_eq!(row[3], l["ledgerId"].as_str().unwrap_or(""));
            assert_eq!(row[4], l["description"].as_str().expect("description"));
            assert_eq!(row[5], long(&l["pendingDelta"]).to_string());
            assert_eq!(row[6], domain::money::Currency::USD.decimal_from_minor(long(&l["pendingDelta"])));
            assert_eq!(row[7], long(&l["reserveDelta"]).to_string());
            assert_eq!(row[8], domain::money::Currency::USD.decimal_from_minor(long(&l["reserveDelta"])));
            assert_eq!(row[9], long(&l["balanceAfter"]["balance"]).to_string());
            assert_eq!(row[13], l["id"].as_str().expect("id"));
            let at = DateTime::parse_from_rfc3339(&row[0]).expect("csv time");
            assert_eq!(at, DateTime::parse_from_rfc3339(l["at"].as_str().expect("at")).expect("time"));
        }
        let closing = &rows[rows.len() - 1];
        assert_eq!(closing[1], "CLOSING");
        assert_eq!(closing[5], pending.to_string());
        assert_eq!(closing[7], reserve.to_string());
        assert_eq!(closing[9], (pending + reserve).to_string());
        assert!(closing[4].contains(&next.format("%Y-%m-%d").to_string()), "{closing:?}");
        // The payout line in decimals.
        assert_eq!(rows[5][5..7], ["-5000", "-50.00"]);
        // Dates are accepted as well as times; an admin may read it.
        let (status, _, body) = csv(&apps, Some(&admin_token()), "m1.csv", "2020-01-01", "2020-12-31").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(parse_csv(&body).len(), 3, "header, opening and closing only: {body}");
    }
}

#[tokio::test]
async fn statements_are_only_for_the_malets_owner_and_admins() {
    for t in TestDb::all().await {
        let apps = spawn(&t.conn).await;
        apps.seller_with_sale("m1", 10_000).await;
        let now = Utc::now();
        let (from, to) = (now - Duration::days(1), now + Duration::days(1));
        let (f, tt) = (ts(from), ts(to));
        // Another Malet's owner, a token without VIEW_PAYOUTS: FORBIDDEN / 403.
        let revenue_only = token("viewer", "VIEW_REVENUE MANAGE_PAYOUTS", &["m1"], 3600);
        for tok in [owner_token("m2"), revenue_only] {
            let res = statement(&apps, Some(&tok), "m1", from, to).await;
            assert_eq!(error_code(&res).as_deref(), Some("FORBIDDEN"), "{:?}: {res}", t.backend);
            assert!(res["data"].is_null() || res["data"]["payoutStatement"].is_null(), "{res}");
            let (status, _, body) = csv(&apps, Some(&tok), "m1.csv", &f, &tt).await;
            assert_eq!(status, 403, "{body}");
            assert!(!body.contains("ord_1"), "{body}");
            // Forbidden whether or not the period is valid, and whether or not the Malet exists.
            assert_eq!(csv(&apps, Some(&tok), "m1.csv", "not a time", &tt).await.0, 403);
            assert_eq!(csv(&apps, Some(&tok), "m9.csv", &f, &tt).await.0, 403);
        }
        // No token, a bad token: UNAUTHENTICATED / 401.
        let res = statement(&apps, None, "m1", from, to).await;
        assert_eq!(error_code(&res).as_deref(), Some("UNAUTHENTICATED"), "{res}");
        let (status, headers, _) = csv(&apps, None, "m1.csv", &f, &tt).await;
        assert_eq!(status, 401);
        assert_eq!(headers["www-authenticate"], "Bearer");
        assert_eq!(csv(&apps, Some("not-a-jwt"), "m1.csv", &f, &tt).await.0, 401);
        let forged = format!("{}x", owner_token("m1"));
        assert_eq!(csv(&apps, Some(&forged), "m1.csv", &f, &tt).await.0, 401);
        // Bad input: BAD_USER_INPUT / 400.
        let owner = owner_token("m1");
        for (a, b) in [(to, from), (from, from), (now - Duration::days(400), now)] {
            let res = statement(&apps, Some(&owner), "m1", a, b).await;
            assert_eq!(error_code(&res).as_deref(), Some("BAD_USER_INPUT"), "{res}");
            let (status, _, body) = csv(&apps, Some(&owner), "m1.csv", &ts(a), &ts(b)).await;
            assert_eq!(status, 400, "{body}");
            assert!(body.contains("BAD_USER_INPUT"), "{body}");
        }
        assert_eq!(csv(&apps, Some(&owner), "m1.csv", "yesterday", &tt).await.0, 400);
        assert_eq!(csv(&apps, Some(&owner), "m1.csv", &f, "").await.0, 400);
        let res = apps.pay.run(Some(&owner), STATEMENT, json!({"m": "m1", "f": f, "t": tt, "c": "XYZ"})).await;
        assert_eq!(error_code(&res).as_deref(), Some("BAD_USER_INPUT"), "{res}");
        let res = apps.pay.run(Some(&owner), STATEMENT, json!({"m": " m1", "f": f, "t": tt})).await;
        assert_eq!(error_code(&res).as_deref(), Some("BAD_USER_INPUT"), "{res}");
        // Another format than CSV, a Malet without an account.
        assert_eq!(csv(&apps, Some(&owner), "m1.pdf", &f, &tt).await.0, 404);
        assert_eq!(csv(&apps, Some(&owner_token("m9")), "m9.csv", &f, &tt).await.0, 404);
        // The owner and an admin read it.
        for tok in [owner, admin_token()] {
            let res = statement(&apps, Some(&tok), "m1", from, to).await;
            assert_eq!(res["data"]["payoutStatement"]["lineCount"], 1, "{res}");
            assert_eq!(csv(&apps, Some(&tok), "m1.csv", &f, &tt).await.0, 200);
        }
    }
}
