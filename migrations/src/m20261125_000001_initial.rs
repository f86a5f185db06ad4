use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000001_initial"
    }
}

/// The schema, with `{TS}` (timestamp) and `{RATE}` (decimal rate) filled per backend.
const UP: &str = r#"
-- Per-Malet settings owned by murchases: tier and default currency.
CREATE TABLE malet_settings (
    malet_id        TEXT PRIMARY KEY,
    tier            TEXT NOT NULL,
    currency        TEXT NOT NULL,
    first_sale_at   {TS},
    rule_version    BIGINT NOT NULL DEFAULT 0,
    created_at      {TS} NOT NULL,
    updated_at      {TS} NOT NULL
);

-- Versioned commission rules (R-COMM-4): a new row per change, history kept.
CREATE TABLE commission_rules (
    id                  TEXT PRIMARY KEY,
    malet_id            TEXT NOT NULL,
    version             BIGINT NOT NULL,
    tier                TEXT NOT NULL,
    commission_rate     {RATE},
    affiliate_rate      {RATE},
    affiliate_funding   TEXT,
    effective_from      {TS} NOT NULL,
    created_by          TEXT NOT NULL,
    reason              TEXT NOT NULL,
    created_at          {TS} NOT NULL,
    UNIQUE (malet_id, version)
);
CREATE INDEX commission_rules_effective ON commission_rules (malet_id, effective_from);

-- Connected payout accounts owned by payments (R-ACCT-1). Balances are not stored here:
-- they are sums over balance_movements (R-PAY-2).
CREATE TABLE connected_accounts (
    id                      TEXT PRIMARY KEY,
    malet_id                TEXT NOT NULL,
    user_id                 TEXT NOT NULL,
    provider                TEXT NOT NULL,
    provider_account_id     TEXT UNIQUE,
    status                  TEXT NOT NULL,
    status_reason           TEXT,
    payout_interval         TEXT,
    payout_day_of_week      SMALLINT,
    payout_day_of_month     SMALLINT,
    rolling_reserve_rate    {RATE} NOT NULL,
    reserve_expires_at      {TS},
    currency                TEXT NOT NULL,
    onboarding_url          TEXT,
    kyc_verified            BOOLEAN NOT NULL DEFAULT FALSE,
    charges_enabled         BOOLEAN NOT NULL DEFAULT FALSE,
    payouts_enabled         BOOLEAN NOT NULL DEFAULT FALSE,
    provider_snapshot_at    BIGINT,
    created_at              {TS} NOT NULL,
    updated_at              {TS} NOT NULL
);
-- R-ACCT-2: at most one account per Malet that is not DEACTIVATED, enforced by the database.
CREATE UNIQUE INDEX connected_accounts_one_live_per_malet
    ON connected_accounts (malet_id) WHERE status <> 'DEACTIVATED';

-- Append-only balance movements (R-PAY-2). Each row says how it changes each balance.
-- idempotency_key makes every producer (outbox consumer, webhook, job) apply at most once.
CREATE TABLE balance_movements (
    id                  TEXT PRIMARY KEY,
    account_id          TEXT NOT NULL REFERENCES connected_accounts (id),
    malet_id            TEXT NOT NULL,
    kind                TEXT NOT NULL,
    currency            TEXT NOT NULL,
    earnings_delta      BIGINT NOT NULL DEFAULT 0,
    pending_delta       BIGINT NOT NULL DEFAULT 0,
    reserve_delta       BIGINT NOT NULL DEFAULT 0,
    payouts_delta       BIGINT NOT NULL DEFAULT 0,
    source_type         TEXT NOT NULL,
    source_id           TEXT NOT NULL,
    idempotency_key     TEXT NOT NULL UNIQUE,
    memo                TEXT,
    created_at          {TS} NOT NULL
);
CREATE INDEX balance_movements_account ON balance_movements (account_id, created_at);

-- Reserve holds awaiting release (R-RES-2), owned by payments.
CREATE TABLE reserve_holds (
    id                  TEXT PRIMARY KEY,
    account_id          TEXT NOT NULL REFERENCES connected_accounts (id),
    ledger_id           TEXT NOT NULL UNIQUE,
    amount              BIGINT NOT NULL,
    currency            TEXT NOT NULL,
    release_at          {TS},
    status              TEXT NOT NULL,
    claimed_by          TEXT,
    claimed_until       {TS},
    transfer_id         TEXT,
    created_at          {TS} NOT NULL,
    updated_at          {TS} NOT NULL
);
CREATE INDEX reserve_holds_due ON reserve_holds (status, release_at);

-- Payouts to sellers' banks, owned by payments.
CREATE TABLE payouts (
    id                  TEXT PRIMARY KEY,
    account_id          TEXT NOT NULL REFERENCES connected_accounts (id),
    provider_payout_id  TEXT UNIQUE,
    amount              BIGINT NOT NULL,
    currency            TEXT NOT NULL,
    status              TEXT NOT NULL,
    recorded_by         TEXT,
    created_at          {TS} NOT NULL,
    updated_at          {TS} NOT NULL
);

-- Disputes (chargebacks), owned by payments: they drive the suspension threshold.
CREATE TABLE disputes (
    id                  TEXT PRIMARY KEY,
    provider            TEXT NOT NULL,
    provider_dispute_id TEXT NOT NULL,
    account_id          TEXT,
    charge_id           TEXT NOT NULL,
    amount              BIGINT NOT NULL,
    currency            TEXT NOT NULL,
    status              TEXT NOT NULL,
    opened_at           {TS} NOT NULL,
    closed_at           {TS},
    UNIQUE (provider, provider_dispute_id)
);

-- The commission ledger, owned by murchases: one entry per order and per provider charge.
-- Current parts satisfy gross - refunded = commission + fee + reserve + affiliate + net.
CREATE TABLE commission_ledger (
    id                      TEXT PRIMARY KEY,
    order_id                TEXT NOT NULL UNIQUE,
    malet_id                TEXT NOT NULL,
    provider                TEXT NOT NULL,
    provider_payment_id     TEXT NOT NULL,
    provider_charge_id      TEXT,
    destination_account_id  TEXT,
    currency                TEXT NOT NULL,
    gross_amount            BIGINT NOT NULL,
    commission_rate         {RATE} NOT NULL,
    original_commission     BIGINT NOT NULL,
    original_reserve        BIGINT NOT NULL,
    original_affiliate      BIGINT NOT NULL,
    commission_amount       BIGINT NOT NULL,
    processing_fee          BIGINT NOT NULL,
    reserve_amount          BIGINT NOT NULL,
    affiliate_amount        BIGINT NOT NULL,
    affiliate_id            TEXT,
    net_payout              BIGINT NOT NULL,
    application_fee_amount  BIGINT NOT NULL,
    refunded_amount         BIGINT NOT NULL DEFAULT 0,
    refunded_commission     BIGINT NOT NULL DEFAULT 0,
    status                  TEXT NOT NULL,
    disputed                BOOLEAN NOT NULL DEFAULT FALSE,
    rule_version            BIGINT NOT NULL,
    breakdown               TEXT NOT NULL,
    settlement_date         {TS},
    created_at              {TS} NOT NULL,
    updated_at              {TS} NOT NULL,
    UNIQUE (provider, provider_payment_id)
);
CREATE INDEX commission_ledger_malet ON commission_ledger (malet_id, created_at);

-- Every change to a ledger entry as an append-only posting (earning, refund, adjustment).
CREATE TABLE ledger_postings (
    id                  TEXT PRIMARY KEY,
    ledger_id           TEXT NOT NULL REFERENCES commission_ledger (id),
    kind                TEXT NOT NULL,
    commission_delta    BIGINT NOT NULL DEFAULT 0,
    reserve_delta       BIGINT NOT NULL DEFAULT 0,
    affiliate_delta     BIGINT NOT NULL DEFAULT 0,
    net_delta           BIGINT NOT NULL DEFAULT 0,
    refunded_delta      BIGINT NOT NULL DEFAULT 0,
    idempotency_key     TEXT NOT NULL UNIQUE,
    actor               TEXT,
    reason              TEXT,
    created_at          {TS} NOT NULL
);

-- Refunds requested through the API or reported by the provider.
CREATE TABLE refunds (
    id                  TEXT PRIMARY KEY,
    ledger_id           TEXT NOT NULL REFERENCES commission_ledger (id),
    provider_refund_id  TEXT UNIQUE,
    amount              BIGINT NOT NULL,
    cumulative_refunded BIGINT NOT NULL,
    application_fee_refunded BIGINT NOT NULL,
    reason              TEXT,
    source              TEXT NOT NULL,
    idempotency_key     TEXT NOT NULL UNIQUE,
    created_at          {TS} NOT NULL
);

-- Payments whose metadata could not be used (R-HOOK-4): visible to admins, never guessed.
CREATE TABLE payment_exceptions (
    id                  TEXT PRIMARY KEY,
    provider            TEXT NOT NULL,
    provider_payment_id TEXT NOT NULL,
    event_id            TEXT,
    reason              TEXT NOT NULL,
    payload             TEXT NOT NULL,
    resolved_at         {TS},
    created_at          {TS} NOT NULL,
    UNIQUE (provider, provider_payment_id)
);

-- Webhook inbox (R-HOOK-2/3): stored before acknowledging, applied idempotently, retried.
-- Both subgraphs share the database and Stripe delivers each event to each endpoint, so the
-- receiving subgraph is part of the key.
CREATE TABLE webhook_events (
    id                  TEXT PRIMARY KEY,
    receiver            TEXT NOT NULL,
    provider            TEXT NOT NULL,
    event_id            TEXT NOT NULL,
    event_type          TEXT NOT NULL,
    provider_created    BIGINT NOT NULL,
    payload             TEXT NOT NULL,
    status              TEXT NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    last_error          TEXT,
    next_attempt_at     {TS},
    locked_until        {TS},
    received_at         {TS} NOT NULL,
    processed_at        {TS},
    UNIQUE (receiver, provider, event_id)
);
CREATE INDEX webhook_events_pending ON webhook_events (receiver, status, next_attempt_at);

-- Transactional outbox: cross-subgraph events and outgoing provider calls.
CREATE TABLE outbox (
    id                  TEXT PRIMARY KEY,
    topic               TEXT NOT NULL,
    aggregate_id        TEXT NOT NULL,
    payload             TEXT NOT NULL,
    idempotency_key     TEXT NOT NULL UNIQUE,
    status              TEXT NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    last_error          TEXT,
    available_at        {TS} NOT NULL,
    locked_until        {TS},
    created_at          {TS} NOT NULL,
    processed_at        {TS}
);
CREATE INDEX outbox_pending ON outbox (topic, status, available_at);

-- Audit log of every admin and money-relevant change (who, when, before, after, reason).
CREATE TABLE audit_log (
    id                  TEXT PRIMARY KEY,
    actor               TEXT NOT NULL,
    action              TEXT NOT NULL,
    entity_type         TEXT NOT NULL,
    entity_id           TEXT NOT NULL,
    before_state        TEXT,
    after_state         TEXT,
    reason              TEXT,
    created_at          {TS} NOT NULL
);
CREATE INDEX audit_log_entity ON audit_log (entity_type, entity_id, created_at);
"#;

const TABLES_IN_DROP_ORDER: &[&str] = &[
    "audit_log",
    "outbox",
    "webhook_events",
    "payment_exceptions",
    "refunds",
    "ledger_postings",
    "commission_ledger",
    "disputes",
    "payouts",
    "reserve_holds",
    "balance_movements",
    "connected_accounts",
    "commission_rules",
    "malet_settings",
];

fn render(backend: DbBackend) -> String {
    let (ts, rate) = match backend {
        DbBackend::Postgres => ("TIMESTAMPTZ", "TEXT"),
        _ => ("TEXT", "TEXT"),
    };
    UP.replace("{TS}", ts).replace("{RATE}", rate)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sql = render(manager.get_database_backend());
        let conn = manager.get_connection();
        for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let statement: String =
                statement.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
            if !statement.trim().is_empty() {
                conn.execute_unprepared(&statement).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        for table in TABLES_IN_DROP_ORDER {
            conn.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}")).await?;
        }
        Ok(())
    }
}
