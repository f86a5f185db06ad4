//! Database migrations (one set for SQLite and PostgreSQL). Every step has a `down`.
//!
//! Column conventions: amounts are `BIGINT` minor units; timestamps are UTC (`TIMESTAMPTZ` on
//! PostgreSQL, ISO-8601 text on SQLite); ids are text (UUIDs). Rates are exact decimal strings
//! (`"0.08"`) in `TEXT` columns on both backends: sea-orm decodes SQLite DECIMAL through `f64`
//! and SQLite's numeric affinity would store it as a float, which money code must never do.
//! The repositories parse them into `domain::Rate`.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_initial;
mod m20261201_000001_trust;
mod m20261201_000002_refund_facts;
mod m20261201_000003_running_totals;
mod m20261202_000001_provider_neutral;
mod m20261202_000002_audit_malet;
mod m20261202_000003_money_movement;
mod m20261203_000001_multi_party;
mod m20261204_000001_affiliates;
mod m20261205_000001_storefronts;
mod m20261206_000001_receivables;
mod m20261207_000001_receivable_refunds;
mod m20261207_000002_delivery_retries;

pub struct Migrator;

/// Runs `statements` in order, with `{TS}` standing for the backend's timestamp type
/// (TIMESTAMPTZ on PostgreSQL, TEXT on SQLite).
async fn execute_all(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};
    let ts = if manager.get_database_backend() == DbBackend::Postgres { "TIMESTAMPTZ" } else { "TEXT" };
    let conn = manager.get_connection();
    for s in statements {
        conn.execute_unprepared(&s.replace("{TS}", ts)).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_initial::Migration),
            Box::new(m20261201_000001_trust::Migration),
            Box::new(m20261201_000002_refund_facts::Migration),
            Box::new(m20261201_000003_running_totals::Migration),
            Box::new(m20261202_000001_provider_neutral::Migration),
            Box::new(m20261202_000002_audit_malet::Migration),
            Box::new(m20261202_000003_money_movement::Migration),
            Box::new(m20261203_000001_multi_party::Migration),
            Box::new(m20261204_000001_affiliates::Migration),
            Box::new(m20261205_000001_storefronts::Migration),
            Box::new(m20261206_000001_receivables::Migration),
            Box::new(m20261207_000001_receivable_refunds::Migration),
            Box::new(m20261207_000002_delivery_retries::Migration),
        ]
    }
}
