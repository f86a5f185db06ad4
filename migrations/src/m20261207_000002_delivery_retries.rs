//! Storefront deliveries whose source did not answer (SOURCE_UNAVAILABLE) are read again by a
//! job, with backoff: how many reads were tried and when the next is due. After the last try
//! the delivery needs an admin (NEEDS_ATTENTION).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000002_delivery_retries"
    }
}

const UP: &[&str] = &[
    "ALTER TABLE storefront_deliveries ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE storefront_deliveries ADD COLUMN next_attempt_at {TS}",
    // Kept before this migration: due now.
    "UPDATE storefront_deliveries SET next_attempt_at = received_at WHERE status = 'SOURCE_UNAVAILABLE'",
    // The job's query: the due ones of one status.
    "CREATE INDEX storefront_deliveries_due ON storefront_deliveries (status, next_attempt_at)",
];

const DOWN: &[&str] = &[
    "DROP INDEX storefront_deliveries_due",
    "ALTER TABLE storefront_deliveries DROP COLUMN next_attempt_at",
    "ALTER TABLE storefront_deliveries DROP COLUMN attempts",
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
