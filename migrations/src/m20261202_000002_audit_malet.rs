//! The audit log per Malet (issue 12 item 5): `audit_log.malet_id`, the Malet a change concerns,
//! indexed with the time for `auditLog(maletId, from, to)`. Existing rows are filled in from what
//! they name: a ledger entry's Malet (`commission_ledger`), an account's (`connected_account`),
//! the Malet itself (`malet_commission_rule`), and for a transfer the Malet whose account it went
//! to (its `destination` in the logged after-state). Webhook replays stay platform-wide (NULL).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000002_audit_malet"
    }
}

const UP: &[&str] = &[
    "ALTER TABLE audit_log ADD COLUMN malet_id TEXT",
    "CREATE INDEX audit_log_malet ON audit_log (malet_id, created_at)",
    "UPDATE audit_log SET malet_id = (SELECT l.malet_id FROM commission_ledger l WHERE l.id = audit_log.entity_id) \
     WHERE entity_type = 'commission_ledger' AND malet_id IS NULL",
    "UPDATE audit_log SET malet_id = (SELECT a.malet_id FROM connected_accounts a WHERE a.id = audit_log.entity_id) \
     WHERE entity_type = 'connected_account' AND malet_id IS NULL",
    "UPDATE audit_log SET malet_id = entity_id WHERE entity_type = 'malet_commission_rule' AND malet_id IS NULL",
];

/// A transfer's destination (the provider account id) read from its logged after-state.
fn transfer_backfill(backend: DbBackend) -> String {
    let destination = match backend {
        DbBackend::Postgres => "CAST(audit_log.after_state AS JSONB) ->> 'destination'",
        _ => "json_extract(audit_log.after_state, '$.destination')",
    };
    format!(
        "UPDATE audit_log SET malet_id = (SELECT a.malet_id FROM connected_accounts a \
         WHERE a.provider_account_id = {destination}) \
         WHERE entity_type = 'transfer' AND malet_id IS NULL AND after_state IS NOT NULL"
    )
}

const DOWN: &[&str] = &["DROP INDEX IF EXISTS audit_log_malet", "ALTER TABLE audit_log DROP COLUMN malet_id"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        for s in UP {
            conn.execute_unprepared(s).await?;
        }
        conn.execute_unprepared(&transfer_backfill(manager.get_database_backend())).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        for s in DOWN {
            conn.execute_unprepared(s).await?;
        }
        Ok(())
    }
}
