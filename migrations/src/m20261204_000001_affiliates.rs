//! Affiliates as payees (issue 13, item 2): an affiliate registered with its own payout account,
//! and the payouts of its share of each order; and the per-order view (item 3) reads an order's
//! entries across its sellers by an index on the order id. What an affiliate earned is not copied: it is the
//! current `affiliate_amount` of the ledger entries that name it (refunds lower it by postings),
//! so its balance is always the sum of postings less what was paid.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000001_affiliates"
    }
}

const UP: &[&str] = &[
    r#"CREATE TABLE affiliates (
    id                   TEXT PRIMARY KEY,
    provider             TEXT NOT NULL,
    provider_account_id  TEXT,
    currency             TEXT NOT NULL,
    status               TEXT NOT NULL,
    created_by           TEXT NOT NULL,
    created_at           {TS} NOT NULL,
    updated_at           {TS} NOT NULL
)"#,
    // One provider account pays one affiliate.
    "CREATE UNIQUE INDEX affiliates_account ON affiliates (provider, provider_account_id) \
     WHERE provider_account_id IS NOT NULL",
    r#"CREATE TABLE affiliate_payouts (
    id            TEXT PRIMARY KEY,
    affiliate_id  TEXT NOT NULL,
    amount        BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    status        TEXT NOT NULL,
    reference     TEXT,
    last_error    TEXT,
    created_by    TEXT NOT NULL,
    created_at    {TS} NOT NULL,
    updated_at    {TS} NOT NULL
)"#,
    "CREATE INDEX affiliate_payouts_affiliate ON affiliate_payouts (affiliate_id, created_at)",
    // A manual payout is recorded once per reference.
    "CREATE UNIQUE INDEX affiliate_payouts_reference ON affiliate_payouts (affiliate_id, reference) \
     WHERE reference IS NOT NULL",
    // An affiliate's lines and sums read only its own entries.
    "CREATE INDEX commission_ledger_affiliate ON commission_ledger (affiliate_id, currency, created_at) \
     WHERE affiliate_id IS NOT NULL",
    "CREATE INDEX commission_ledger_order ON commission_ledger (order_id)",
];

const DOWN: &[&str] = &[
    "DROP INDEX commission_ledger_order",
    "DROP INDEX commission_ledger_affiliate",
    "DROP TABLE affiliate_payouts",
    "DROP TABLE affiliates",
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
