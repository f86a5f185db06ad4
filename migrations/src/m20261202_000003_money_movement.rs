//! Money movement and reconciliation (issue 12): every call that moves money is a row of
//! `outgoing_movements`, written in the transaction of the posting that causes it; a lost
//! dispute's debit is kept on the entry and its postings; reconciliation keeps each difference
//! it finds with our books once, with its resolution.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000003_money_movement"
    }
}

const UP: &[&str] = &[
    r#"CREATE TABLE outgoing_movements (
    id               TEXT PRIMARY KEY,
    owner            TEXT NOT NULL,
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL,
    provider         TEXT NOT NULL,
    malet_id         TEXT NOT NULL,
    account_id       TEXT NOT NULL,
    ledger_id        TEXT,
    posting_key      TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL UNIQUE,
    amount           BIGINT NOT NULL,
    currency         TEXT NOT NULL,
    destination      TEXT,
    source_ref       TEXT,
    source_charge    TEXT,
    metadata         TEXT,
    provider_ref     TEXT,
    attempts         BIGINT NOT NULL DEFAULT 0,
    last_error       TEXT,
    next_attempt_at  {TS} NOT NULL,
    created_at       {TS} NOT NULL,
    updated_at       {TS} NOT NULL
)"#,
    // The sender reads only movements not final yet, oldest due first.
    "CREATE INDEX outgoing_movements_due ON outgoing_movements (owner, next_attempt_at) \
     WHERE status IN ('PENDING', 'SENT', 'UNKNOWN')",
    "CREATE INDEX outgoing_movements_ledger ON outgoing_movements (ledger_id)",
    "CREATE INDEX outgoing_movements_created ON outgoing_movements (provider, created_at)",
    // Fee refunds still to send become outgoing movements with the key and the metadata they were
    // (or may have been) sent with, so a resend is the same request; one already tried is of
    // unknown outcome and is looked up first (by that metadata).
    r#"INSERT INTO outgoing_movements (id, owner, kind, status, provider, malet_id, account_id, ledger_id,
        posting_key, idempotency_key, amount, currency, destination, source_ref, provider_ref, attempts,
        last_error, next_attempt_at, created_at, updated_at, metadata)
     SELECT 'fee-refund-' || f.id, 'murchases', 'FEE_REFUND',
        CASE WHEN f.attempts > 0 THEN 'UNKNOWN' ELSE 'PENDING' END,
        l.provider, l.malet_id, COALESCE(l.account_id, ''), l.id, f.idempotency_key, f.idempotency_key,
        f.amount, l.currency, l.destination_account_id, l.provider_payment_id, NULL, f.attempts,
        f.last_error, f.updated_at, f.created_at, f.updated_at,
        '{"feeRefundId":"' || f.id || '","ledgerId":"' || l.id || '","orderId":"' ||
            REPLACE(REPLACE(l.order_id, '\', '\\'), '"', '\"') || '"}'
     FROM fee_refunds f JOIN commission_ledger l ON l.id = f.ledger_id
     WHERE f.status = 'PENDING'"#,
    // What a lost dispute took from the seller (disputed amount plus the fee the seller bears),
    // on the entry and as each posting's difference.
    "ALTER TABLE commission_ledger ADD COLUMN dispute_debit BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE ledger_postings ADD COLUMN dispute_delta BIGINT NOT NULL DEFAULT 0",
    // What an adjustment moved between the platform's commission and the seller (the amount
    // `adjustCommission` was given): what undoing it needs.
    "ALTER TABLE ledger_postings ADD COLUMN adjustment_delta BIGINT NOT NULL DEFAULT 0",
    r#"CREATE TABLE reconciliation_mismatches (
    id                 TEXT PRIMARY KEY,
    provider           TEXT NOT NULL,
    fingerprint        TEXT NOT NULL UNIQUE,
    class              TEXT NOT NULL,
    object_kind        TEXT NOT NULL,
    our_ref            TEXT,
    provider_ref       TEXT,
    our_amount         BIGINT,
    provider_amount    BIGINT,
    currency           TEXT,
    ours               TEXT,
    theirs             TEXT,
    detail             TEXT NOT NULL,
    occurred_at        {TS} NOT NULL,
    state              TEXT NOT NULL,
    resolution_reason  TEXT,
    resolved_by        TEXT,
    resolved_at        {TS},
    first_seen_at      {TS} NOT NULL
)"#,
    "CREATE INDEX reconciliation_mismatches_time ON reconciliation_mismatches (occurred_at)",
];

const DOWN: &[&str] = &[
    "DROP TABLE IF EXISTS reconciliation_mismatches",
    "ALTER TABLE ledger_postings DROP COLUMN adjustment_delta",
    "ALTER TABLE ledger_postings DROP COLUMN dispute_delta",
    "ALTER TABLE commission_ledger DROP COLUMN dispute_debit",
    "DROP TABLE IF EXISTS outgoing_movements",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::execute_all(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::execute_all(manager, DOWN).await
    }
}
