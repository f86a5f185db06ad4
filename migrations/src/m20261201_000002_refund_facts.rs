//! Refunds stay exact under races and provider failures (issue 9): every refund the provider
//! reports is kept once by its id, every application-fee refund owed is queued in the same
//! transaction as the clawback that causes it, and each entry keeps the fee the provider charged.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000002_refund_facts"
    }
}

const UP: &[&str] = &[
    // Refunds as the provider reports them (API reply or webhook), once per provider refund id:
    // the entry's refunded total is never below their sum, whatever arrives first.
    r#"CREATE TABLE provider_refunds (
    id                  TEXT PRIMARY KEY,
    ledger_id           TEXT NOT NULL,
    provider            TEXT NOT NULL,
    provider_refund_id  TEXT NOT NULL,
    amount              BIGINT NOT NULL,
    source              TEXT NOT NULL,
    created_at          {TS} NOT NULL,
    UNIQUE (provider, provider_refund_id)
)"#,
    "CREATE INDEX provider_refunds_ledger ON provider_refunds (ledger_id)",
    // Application-fee refunds owed to the seller, queued with the clawback posting that causes
    // them (key: the entry and the cumulative refunded total it reached). PENDING rows are sent
    // with their key; UNCOLLECTED is the part the provider no longer holds of the fee.
    r#"CREATE TABLE fee_refunds (
    id                      TEXT PRIMARY KEY,
    ledger_id               TEXT NOT NULL,
    amount                  BIGINT NOT NULL,
    status                  TEXT NOT NULL,
    idempotency_key         TEXT NOT NULL UNIQUE,
    provider_fee_refund_id  TEXT,
    attempts                BIGINT NOT NULL DEFAULT 0,
    last_error              TEXT,
    created_at              {TS} NOT NULL,
    updated_at              {TS} NOT NULL
)"#,
    "CREATE INDEX fee_refunds_status ON fee_refunds (status, ledger_id)",
    "CREATE INDEX fee_refunds_ledger ON fee_refunds (ledger_id)",
    // The application fee the provider actually charged with the payment (NULL: unknown).
    "ALTER TABLE commission_ledger ADD COLUMN provider_fee_amount BIGINT",
    // Existing entries: the fee charged is what the seller did not receive at payment time
    // (gross minus the earning's net), not the ledger's fee as later adjustments changed it.
    "UPDATE commission_ledger SET provider_fee_amount = gross_amount - (SELECT p.net_delta FROM ledger_postings p \
     WHERE p.ledger_id = commission_ledger.id AND p.kind = 'EARNING') WHERE provider_fee_amount IS NULL",
    // Indexes the webhook and summary paths use (by charge, balances by Malet and currency).
    "CREATE INDEX commission_ledger_charge ON commission_ledger (provider_charge_id)",
    "CREATE INDEX balance_movements_malet ON balance_movements (malet_id, currency)",
    // The settlement job reads only entries not settled yet.
    "CREATE INDEX commission_ledger_unsettled ON commission_ledger (created_at) WHERE settlement_date IS NULL",
];

const DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS commission_ledger_unsettled",
    "DROP INDEX IF EXISTS balance_movements_malet",
    "DROP INDEX IF EXISTS commission_ledger_charge",
    "ALTER TABLE commission_ledger DROP COLUMN provider_fee_amount",
    "DROP TABLE IF EXISTS fee_refunds",
    "DROP TABLE IF EXISTS provider_refunds",
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
