//! Refunds of seller-collected orders (issue 14): a TikTok Shop return lowers the commission
//! the seller owes on its order. The receivable keeps the items base the storefront refunded
//! (its `amount` is the commission on what is left) and whether the order was cancelled; what
//! the seller already paid beyond the lower amount is given back, each gift a transfer to the
//! seller from the earning its recovery was taken from (`receivable_givebacks`). A recovery (and
//! a gift back) is a REVERSAL of a payment's transfer (a TRANSFER back), or, where the provider
//! moves no money that way (MANUAL, PayPal), NETTED: the earning and the debt are both on the
//! seller's balance, and its payouts pay the difference.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000001_receivable_refunds"
    }
}

const UP: &[&str] = &[
    "ALTER TABLE commission_receivables ADD COLUMN refunded_base BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE commission_receivables ADD COLUMN status TEXT NOT NULL DEFAULT 'OWED'",
    // Receivables of orders cancelled before this migration (amount 0, something was owed).
    "UPDATE commission_receivables SET status = 'CANCELLED' WHERE amount = 0 AND original_amount > 0",
    "ALTER TABLE receivable_recoveries ADD COLUMN method TEXT NOT NULL DEFAULT 'REVERSAL'",
    // The commission's base when it was computed (the items less discounts, or more under a
    // rule that commissions tax or shipping): how a refund is shared.
    "ALTER TABLE commission_receivables ADD COLUMN commission_base BIGINT NOT NULL DEFAULT 0",
    // What is still to recover, kept with every change (so an earning finds the open ones
    // without reading every receivable the seller ever had).
    "ALTER TABLE commission_receivables ADD COLUMN open_amount BIGINT NOT NULL DEFAULT 0",
    "UPDATE commission_receivables SET open_amount = CASE WHEN amount > COALESCE((SELECT SUM(r.amount) FROM receivable_recoveries r WHERE r.receivable_id = commission_receivables.id \
     AND r.status <> 'FAILED'), 0) \
     THEN amount - COALESCE((SELECT SUM(r.amount) FROM receivable_recoveries r WHERE r.receivable_id = commission_receivables.id \
     AND r.status <> 'FAILED'), 0) ELSE 0 END",
    "CREATE INDEX commission_receivables_open ON commission_receivables (malet_id, currency, created_at) WHERE open_amount > 0",
    r#"CREATE TABLE receivable_givebacks (
    id             TEXT PRIMARY KEY,
    receivable_id  TEXT NOT NULL,
    recovery_id    TEXT NOT NULL,
    ledger_id      TEXT NOT NULL,
    movement_id    TEXT NOT NULL,
    method         TEXT NOT NULL,
    amount         BIGINT NOT NULL,
    status         TEXT NOT NULL,
    created_at     {TS} NOT NULL,
    updated_at     {TS} NOT NULL
)"#,
    "CREATE INDEX receivable_givebacks_receivable ON receivable_givebacks (receivable_id)",
    "CREATE UNIQUE INDEX receivable_givebacks_movement ON receivable_givebacks (movement_id)",
];

const DOWN: &[&str] = &[
    "DROP TABLE receivable_givebacks",
    "DROP INDEX commission_receivables_open",
    "ALTER TABLE commission_receivables DROP COLUMN open_amount",
    "ALTER TABLE commission_receivables DROP COLUMN commission_base",
    "ALTER TABLE receivable_recoveries DROP COLUMN method",
    "ALTER TABLE commission_receivables DROP COLUMN status",
    "ALTER TABLE commission_receivables DROP COLUMN refunded_base",
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
