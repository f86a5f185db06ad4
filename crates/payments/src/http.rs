//! payments' own HTTP routes besides GraphQL: a seller statement as CSV,
//! `GET /statements/{maletId}.csv?from=…&to=…[&currency=…]`.
//!
//! Authenticated exactly like `/graphql` (`Authorization: Bearer <JWT>`, the same verifier) and
//! decided by the same rule (VIEW_PAYOUTS on the Malet): 401 without a token or with a bad one,
//! 403 without the permission (before anything is read), 400 for bad input (an id, a time, a
//! period over 366 days or with more than 10,000 lines), 404 when the Malet has no account.
//! `from` and `to` are RFC 3339 times (`2026-11-01T00:00:00Z`; a `+` offset must be sent as
//! `%2B`) or dates (`2026-11-01`, midnight UTC). Errors are GraphQL-style JSON bodies with the
//! stable code.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, NaiveDate, Utc};
use domain::ids::MaletId;
use domain::permissions::Permission;
use serde::Deserialize;
use service_core::auth::Authenticator;
use service_core::graphql::{ApiError, error_body};

use crate::service::Payments;
use crate::service::statements::{Statement, StatementBalance};

#[derive(Clone)]
struct StatementsState {
    service: Payments,
    auth: Authenticator,
}

/// The routes (with their state), merged into the subgraph's router.
pub fn routes(service: Payments, auth: Authenticator) -> Router {
    Router::new().route("/statements/{file}", get(statement_csv)).with_state(StatementsState { service, auth })
}

#[derive(Debug, Deserialize)]
struct Period {
    from: Option<String>,
    to: Option<String>,
    currency: Option<String>,
}

/// The status of an API error on this route.
fn status_of(err: &ApiError) -> StatusCode {
    match err {
        ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
        ApiError::Forbidden => StatusCode::FORBIDDEN,
        ApiError::BadInput(_) => StatusCode::BAD_REQUEST,
        ApiError::NotFound(_) => StatusCode::NOT_FOUND,
        ApiError::Conflict(_) | ApiError::IllegalTransition(_) => StatusCode::CONFLICT,
        ApiError::Provider(_) => StatusCode::BAD_GATEWAY,
        ApiError::QueryTooComplex(_) => StatusCode::BAD_REQUEST,
        ApiError::OutOfRange(_) | ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn error_response(err: ApiError) -> Response {
    let mut response = error_body(status_of(&err), &err.message(), err.code());
    if matches!(err, ApiError::Unauthenticated) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// A time parameter: RFC 3339, or a date (midnight UTC).
fn parse_time(name: &str, value: Option<&str>) -> Result<DateTime<Utc>, ApiError> {
    let value = value.map(str::trim).filter(|v| !v.is_empty());
    let Some(value) = value else {
        return Err(ApiError::BadInput(format!("{name} is required (RFC 3339 time or YYYY-MM-DD)")));
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| ApiError::BadInput(format!("{name} is not an RFC 3339 time or a YYYY-MM-DD date")))
}

async fn statement_csv(
    State(state): State<StatementsState>,
    Path(file): Path<String>,
    period: Result<Query<Period>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Response {
    match statement_response(&state, &file, period, &headers).await {
        Ok(response) => response,
        Err(e) => error_response(e),
    }
}

async fn statement_response(
    state: &StatementsState,
    file: &str,
    period: Result<Query<Period>, axum::extract::rejection::QueryRejection>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let actor = match state.auth.authenticate(headers) {
        Ok(actor) if actor.is_authenticated() => actor,
        Ok(_) => return Err(ApiError::Unauthenticated),
        Err(e) => {
            tracing::info!(error = %e, "rejected token");
            return Err(ApiError::Unauthenticated);
        }
    };
    let Some(malet) = file.strip_suffix(".csv") else {
        return Err(ApiError::NotFound("statement (ask for /statements/{maletId}.csv)".into()));
    };
    let malet = MaletId::parse(malet)?;
    // The permission before anything else is read or parsed.
    actor.can(Permission::ViewPayouts, malet.as_str())?;
    let Query(period) = period.map_err(|e| ApiError::BadInput(e.body_text()))?;
    let from = parse_time("from", period.from.as_deref())?;
    let to = parse_time("to", period.to.as_deref())?;
    let statement = state.service.payout_statement(&actor, &malet, from, to, period.currency.as_deref()).await?;
    let body = render_csv(&statement)?;
    let disposition = format!(
        "attachment; filename=\"statement-{}-{}-{}-{}.csv\"",
        safe_file_part(statement.malet_id.as_str()),
        statement.currency.code(),
        statement.from.format("%Y%m%d"),
        statement.to.format("%Y%m%d")
    );
    let disposition = HeaderValue::from_str(&disposition).map_err(ApiError::internal)?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response())
}

/// A Malet id as part of a file name: letters, digits, `-` and `_`; anything else `_`.
fn safe_file_part(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// The CSV header row.
pub const CSV_COLUMNS: &[&str] = &[
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
    "movement_id",
];

/// A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break, quotes
/// doubled.
fn quoted(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

/// A text field: like [`quoted`], and a text a spreadsheet would run as a formula (starting
/// with `=`, `+`, `-`, `@`, a tab or a carriage return) is prefixed with `'`.
fn text(field: &str) -> String {
    if field.starts_with(['=', '+', '-', '@', '\t', '\r']) { quoted(&format!("'{field}")) } else { quoted(field) }
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The statement as CSV: a header, an OPENING row (the balances at `from`), one row per line
/// (its pending and reserve changes, and the balance after it) and a CLOSING row (the balances
/// at `to`). Amounts in minor units and as exact decimals of the currency. Lines end in CRLF.
pub fn render_csv(statement: &Statement) -> Result<String, ApiError> {
    let currency = statement.currency;
    let money = |v: i64| currency.decimal_from_minor(v);
    let mut out = String::new();
    let mut row = |cells: Vec<String>| {
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    };
    row(CSV_COLUMNS.iter().map(|c| (*c).to_owned()).collect());
    let balance_row = |date: DateTime<Utc>, kind: &str, description: &str, b: &StatementBalance| {
        let total = b.total()?;
        Ok::<_, ApiError>(vec![
            time(date),
            text(kind),
            String::new(),
            String::new(),
            text(description),
            b.pending.to_string(),
            money(b.pending),
            b.reserve.to_string(),
            money(b.reserve),
            total.to_string(),
            money(total),
            text(currency.code()),
            String::new(),
            String::new(),
        ])
    };
    row(balance_row(statement.from, "OPENING", "Opening balance", &statement.opening)?);
    for line in &statement.lines {
        let after = line.balance_after.total()?;
        row(vec![
            time(line.at),
            text(line.kind.as_str()),
            text(line.order_id.as_deref().unwrap_or_default()),
            text(line.ledger_id.as_deref().unwrap_or_default()),
            text(&line.description),
            line.pending_delta.to_string(),
            money(line.pending_delta),
            line.reserve_delta.to_string(),
            money(line.reserve_delta),
            after.to_string(),
            money(after),
            text(currency.code()),
            text(&line.account_id),
            text(&line.id),
        ]);
    }
    let closing = match statement.next_payout_date {
        Some(d) => format!("Closing balance; next payout {}", d.format("%Y-%m-%d")),
        None => "Closing balance".to_owned(),
    };
    row(balance_row(statement.to, "CLOSING", &closing, &statement.closing)?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::statements::{LineKind, StatementLine};

    #[test]
    fn fields_are_quoted_and_formulas_neutralised() {
        assert_eq!(quoted("plain"), "plain");
        assert_eq!(quoted("a,b"), "\"a,b\"");
        assert_eq!(quoted("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quoted("two\nlines"), "\"two\nlines\"");
        assert_eq!(quoted("cr\r"), "\"cr\r\"");
        assert_eq!(text("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(text("+1"), "'+1");
        assert_eq!(text("-1"), "'-1");
        assert_eq!(text("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(text("\tx"), "'\tx");
        assert_eq!(text("ord_1"), "ord_1");
        assert_eq!(text(""), "");
        assert_eq!(safe_file_part("m-1_a.b/c"), "m-1_a_b_c");
    }

    #[test]
    fn times_parse_as_rfc3339_or_dates() {
        let t = parse_time("from", Some("2026-11-01T10:00:00Z")).expect("rfc3339");
        assert_eq!(t.to_rfc3339(), "2026-11-01T10:00:00+00:00");
        let t = parse_time("from", Some("2026-11-01T10:00:00+02:00")).expect("offset");
        assert_eq!(t.to_rfc3339(), "2026-11-01T08:00:00+00:00");
        let d = parse_time("to", Some("2026-12-01")).expect("date");
        assert_eq!(d.to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert!(matches!(parse_time("to", None), Err(ApiError::BadInput(_))));
        assert!(matches!(parse_time("to", Some("yesterday")), Err(ApiError::BadInput(_))));
        assert!(matches!(parse_time("to", Some("2026-11-01 10:00:00 00:00")), Err(ApiError::BadInput(_))));
    }

    #[test]
    fn the_csv_has_opening_lines_and_closing_with_exact_decimals() {
        let at = DateTime::from_timestamp(1_764_000_000, 0).expect("time");
        let line = StatementLine {
            id: "mv1".into(),
            at,
            kind: LineKind::RefundClawback,
            account_id: "a1".into(),
            ledger_id: Some("l1".into()),
            order_id: Some("=cmd|' /C calc'!A0".into()),
            source_type: "ledger".into(),
            source_id: "l1".into(),
            description: "Refund clawback (order x), \"partial\"".into(),
            pending_delta: -3196,
            reserve_delta: -355,
            earnings_delta: -3551,
            payouts_delta: 0,
            balance_after: StatementBalance { pending: 4796, reserve: 533 },
            sale: None,
        };
        let statement = Statement {
            malet_id: "m1".into(),
            currency: domain::money::Currency::USD,
            from: at,
            to: at + chrono::Duration::days(30),
            account_ids: vec!["a1".into()],
            opening: StatementBalance { pending: 7992, reserve: 888 },
            lines: vec![line],
            closing: StatementBalance { pending: 4796, reserve: 533 },
            payout_schedule: None,
            next_payout_date: NaiveDate::from_ymd_opt(2026, 12, 3),
        };
        let csv = render_csv(&statement).expect("csv");
        let rows: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(rows.len(), 5, "{csv}");
        assert_eq!(rows[0], CSV_COLUMNS.join(","));
        assert_eq!(
            rows[1],
            "2025-11-24T16:00:00.000000Z,OPENING,,,Opening balance,7992,79.92,888,8.88,8880,88.80,USD,,"
        );
        assert_eq!(
            rows[2],
            "2025-11-24T16:00:00.000000Z,REFUND_CLAWBACK,'=cmd|' /C calc'!A0,l1,\
             \"Refund clawback (order x), \"\"partial\"\"\",-3196,-31.96,-355,-3.55,5329,53.29,USD,a1,mv1"
        );
        assert_eq!(
            rows[3],
            "2025-12-24T16:00:00.000000Z,CLOSING,,,Closing balance; next payout 2026-12-03,4796,47.96,533,5.33,5329,53.29,USD,,"
        );
        assert_eq!(rows[4], "");
    }
}
