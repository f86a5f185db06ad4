//! Commission receivables (issue 14 item 4): on an order a storefront collected itself (TikTok
//! Shop pays its sellers), the platform's commission is owed by the seller. One receivable per
//! such order, with what it is owed now (after cancellations) and each recovery of it from one
//! of the seller's later earnings: a reversal of that payment's transfer, at most once per
//! receivable and earning. A recovery the provider refused (FAILED) counts for nothing, so the
//! receivable is open again for the next earning.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000001_receivables"
    }
}

const UP: &[&str] = &[
    r#"CREATE TABLE commission_receivables (
    id                   TEXT PRIMARY KEY,
    storefront_order_id  TEXT NOT NULL,
    malet_id             TEXT NOT NULL,
    account_id           TEXT NOT NULL,
    platform             TEXT NOT NULL,
    platform_order_id    TEXT NOT NULL,
    currency             TEXT NOT NULL,
    original_amount      BIGINT NOT NULL,
    amount               BIGINT NOT NULL,
    commission_rate      TEXT NOT NULL,
    rule_version         BIGINT NOT NULL,
    breakdown            TEXT NOT NULL,
    created_at           {TS} NOT NULL,
    updated_at           {TS} NOT NULL
)"#,
    "CREATE UNIQUE INDEX commission_receivables_order ON commission_receivables (storefront_order_id)",
    // A new earning looks for its seller's receivables in its currency, oldest first.
    "CREATE INDEX commission_receivables_malet ON commission_receivables (malet_id, currency, created_at)",
    r#"CREATE TABLE receivable_recoveries (
    id             TEXT PRIMARY KEY,
    receivable_id  TEXT NOT NULL,
    ledger_id      TEXT NOT NULL,
    movement_id    TEXT NOT NULL,
    amount         BIGINT NOT NULL,
    status         TEXT NOT NULL,
    created_at     {TS} NOT NULL,
    updated_at     {TS} NOT NULL
)"#,
    "CREATE UNIQUE INDEX receivable_recoveries_once ON receivable_recoveries (receivable_id, ledger_id)",
    "CREATE UNIQUE INDEX receivable_recoveries_movement ON receivable_recoveries (movement_id)",
];

const DOWN: &[&str] = &["DROP TABLE receivable_recoveries", "DROP TABLE commission_receivables"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::execute_all(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::execute_all(manager, DOWN).await
    }
}
