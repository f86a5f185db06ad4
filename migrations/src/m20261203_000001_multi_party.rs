//! Multi-seller orders (issue 13): one charge on the platform pays several Malets, each with its
//! own ledger entry and checkout row, and each seller's net is sent as a Transfer from that
//! charge. A payment therefore has one entry (and one checkout row) per Malet: the uniqueness of
//! `(provider, provider_payment_id)` becomes `(provider, provider_payment_id, malet_id)`.
//!
//! - `funding`: how the seller's money reaches it. `DESTINATION_CHARGE` (every entry so far): the
//!   charge itself pays the seller's account and the platform keeps an application fee;
//!   `SEPARATE_TRANSFER`: the platform is paid and transfers each seller's net.
//! - `transfer_group`: the order the charge and its transfers are grouped under at the provider.
//! - `checkouts.processing_fee_estimate`: a seller's share of the order's processing fee.
//! - `outgoing_movements.transfer_group`, `source_transfer` (the movement id of the transfer a
//!   reversal takes money back from).
//!
//! SQLite cannot drop an inline UNIQUE constraint: the two tables are rebuilt from their own
//! stored definitions (the documented procedure: new table, copy, drop, rename, indexes and
//! triggers again), so every column added by earlier steps is kept as it is.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000001_multi_party"
    }
}

const OLD_UNIQUE: &str = "UNIQUE (provider, provider_payment_id)";
const NEW_UNIQUE: &str = "UNIQUE (provider, provider_payment_id, malet_id)";

const ADD: &[&str] = &[
    "ALTER TABLE commission_ledger ADD COLUMN funding TEXT NOT NULL DEFAULT 'DESTINATION_CHARGE'",
    "ALTER TABLE commission_ledger ADD COLUMN transfer_group TEXT",
    "ALTER TABLE checkouts ADD COLUMN funding TEXT NOT NULL DEFAULT 'DESTINATION_CHARGE'",
    "ALTER TABLE checkouts ADD COLUMN transfer_group TEXT",
    "ALTER TABLE checkouts ADD COLUMN processing_fee_estimate BIGINT",
    "ALTER TABLE outgoing_movements ADD COLUMN transfer_group TEXT",
    "ALTER TABLE outgoing_movements ADD COLUMN source_transfer TEXT",
];

const DROP: &[&str] = &[
    "ALTER TABLE outgoing_movements DROP COLUMN source_transfer",
    "ALTER TABLE outgoing_movements DROP COLUMN transfer_group",
    "ALTER TABLE checkouts DROP COLUMN processing_fee_estimate",
    "ALTER TABLE checkouts DROP COLUMN transfer_group",
    "ALTER TABLE checkouts DROP COLUMN funding",
    "ALTER TABLE commission_ledger DROP COLUMN transfer_group",
    "ALTER TABLE commission_ledger DROP COLUMN funding",
];

async fn sqlite_definitions<C: ConnectionTrait>(conn: &C, table: &str) -> Result<(String, Vec<String>), DbErr> {
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT type, sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL ORDER BY type DESC",
            [table.into()],
        ))
        .await?;
    let mut create = None;
    let mut others = Vec::new();
    for row in rows {
        let kind: String = row.try_get("", "type")?;
        let sql: String = row.try_get("", "sql")?;
        match kind.as_str() {
            "table" => create = Some(sql),
            _ => others.push(sql),
        }
    }
    let create = create.ok_or_else(|| DbErr::Migration(format!("table {table} not found")))?;
    Ok((create, others))
}

/// Rebuilds `table` on SQLite with its stored definition, `from` replaced by `to`.
async fn sqlite_rebuild<C: ConnectionTrait>(conn: &C, table: &str, from: &str, to: &str) -> Result<(), DbErr> {
    let (create, others) = sqlite_definitions(conn, table).await?;
    if !create.contains(from) {
        return Err(DbErr::Migration(format!("{table}: its definition has no {from}")));
    }
    let body = create
        .find('(')
        .map(|i| &create[i..])
        .ok_or_else(|| DbErr::Migration(format!("{table}: unreadable definition")))?;
    let new_table = format!("{table}_rebuilt");
    let mut script = vec![
        "PRAGMA foreign_keys = OFF".to_owned(),
        "BEGIN".to_owned(),
        // Triggers of other tables that name this one stay as they are through the rename.
        "PRAGMA legacy_alter_table = ON".to_owned(),
        format!("CREATE TABLE {new_table} {}", body.replacen(from, to, 1)),
        format!("INSERT INTO {new_table} SELECT * FROM {table}"),
        format!("DROP TABLE {table}"),
        format!("ALTER TABLE {new_table} RENAME TO {table}"),
    ];
    script.extend(others);
    script.extend([
        "PRAGMA legacy_alter_table = OFF".to_owned(),
        "COMMIT".to_owned(),
        "PRAGMA foreign_keys = ON".to_owned(),
    ]);
    // One call: the whole script runs on one pooled connection (the pragmas are per connection).
    conn.execute_unprepared(&script.join(";\n")).await.map(|_| ())
}

async fn swap_unique(manager: &SchemaManager<'_>, from: &str, to: &str, widen: bool) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    match manager.get_database_backend() {
        DbBackend::Sqlite => {
            for table in ["commission_ledger", "checkouts"] {
                sqlite_rebuild(conn, table, from, to).await?;
            }
        }
        _ => {
            for table in ["commission_ledger", "checkouts"] {
                let statements = if widen {
                    [
                        format!(
                            "ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {table}_provider_provider_payment_id_key"
                        ),
                        format!("ALTER TABLE {table} ADD CONSTRAINT {table}_provider_payment_malet_key {}", NEW_UNIQUE),
                    ]
                } else {
                    [
                        format!("ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {table}_provider_payment_malet_key"),
                        format!(
                            "ALTER TABLE {table} ADD CONSTRAINT {table}_provider_provider_payment_id_key {}",
                            OLD_UNIQUE
                        ),
                    ]
                };
                for s in statements {
                    conn.execute_unprepared(&s).await?;
                }
            }
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        for s in ADD {
            conn.execute_unprepared(s).await?;
        }
        swap_unique(manager, OLD_UNIQUE, NEW_UNIQUE, true).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        swap_unique(manager, NEW_UNIQUE, OLD_UNIQUE, false).await?;
        let conn = manager.get_connection();
        for s in DROP {
            conn.execute_unprepared(s).await?;
        }
        Ok(())
    }
}
