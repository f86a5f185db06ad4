//! Running totals (issue 10, goal 2): a Malet's ledger totals and an account's balances are kept
//! as one row each, updated by a trigger in the same transaction as every posting and every
//! balance movement, so `earningsSummary`, `connectedAccount` balances and the ledger count read
//! one row instead of summing every entry. Postings and movements stay the source of truth (they
//! are append-only; the totals are derived): the trigger is the only writer of the totals, and
//! `murchases::repo::ledger::totals_mismatches` / `payments::repo::movements::balance_mismatches`
//! compare them with the sums.
//!
//! `malet_ledger_totals.entries` and `gross` grow with each EARNING posting (one per entry);
//! `refunded`, `commission`, `reserve`, `affiliate` and `net` add every posting's deltas, which
//! are exactly the changes of the entry's columns (see `murchases::service::ledger::posting`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000003_running_totals"
    }
}

const TABLES: &[&str] = &[
    r#"CREATE TABLE malet_ledger_totals (
    malet_id    TEXT NOT NULL,
    currency    TEXT NOT NULL,
    entries     BIGINT NOT NULL DEFAULT 0,
    gross       BIGINT NOT NULL DEFAULT 0,
    refunded    BIGINT NOT NULL DEFAULT 0,
    commission  BIGINT NOT NULL DEFAULT 0,
    reserve     BIGINT NOT NULL DEFAULT 0,
    affiliate   BIGINT NOT NULL DEFAULT 0,
    net         BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (malet_id, currency)
)"#,
    r#"CREATE TABLE account_balances (
    account_id  TEXT NOT NULL,
    currency    TEXT NOT NULL,
    malet_id    TEXT NOT NULL,
    movements   BIGINT NOT NULL DEFAULT 0,
    earnings    BIGINT NOT NULL DEFAULT 0,
    pending     BIGINT NOT NULL DEFAULT 0,
    reserve     BIGINT NOT NULL DEFAULT 0,
    payouts     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, currency)
)"#,
    "CREATE INDEX account_balances_malet ON account_balances (malet_id, currency)",
    // The reserve-release job reads the holds of ACTIVE accounts only.
    "CREATE INDEX connected_accounts_status ON connected_accounts (status)",
    // What the books already hold.
    "INSERT INTO malet_ledger_totals (malet_id, currency, entries, gross, refunded, commission, reserve, affiliate, net) \
     SELECT malet_id, currency, COUNT(*), COALESCE(SUM(gross_amount), 0), COALESCE(SUM(refunded_amount), 0), \
     COALESCE(SUM(commission_amount), 0), COALESCE(SUM(reserve_amount), 0), COALESCE(SUM(affiliate_amount), 0), \
     COALESCE(SUM(net_payout), 0) FROM commission_ledger GROUP BY malet_id, currency",
    "INSERT INTO account_balances (account_id, currency, malet_id, movements, earnings, pending, reserve, payouts) \
     SELECT account_id, currency, MIN(malet_id), COUNT(*), COALESCE(SUM(earnings_delta), 0), \
     COALESCE(SUM(pending_delta), 0), COALESCE(SUM(reserve_delta), 0), COALESCE(SUM(payouts_delta), 0) \
     FROM balance_movements GROUP BY account_id, currency",
];

/// The upserts both backends' triggers run (`NEW` is the inserted posting / movement).
const LEDGER_UPSERT: &str = "INSERT INTO malet_ledger_totals (malet_id, currency, entries, gross, refunded, commission, \
     reserve, affiliate, net) \
     SELECT l.malet_id, l.currency, CASE WHEN NEW.kind = 'EARNING' THEN 1 ELSE 0 END, \
     CASE WHEN NEW.kind = 'EARNING' THEN l.gross_amount ELSE 0 END, NEW.refunded_delta, NEW.commission_delta, \
     NEW.reserve_delta, NEW.affiliate_delta, NEW.net_delta FROM commission_ledger l WHERE l.id = NEW.ledger_id \
     ON CONFLICT (malet_id, currency) DO UPDATE SET entries = malet_ledger_totals.entries + excluded.entries, \
     gross = malet_ledger_totals.gross + excluded.gross, refunded = malet_ledger_totals.refunded + excluded.refunded, \
     commission = malet_ledger_totals.commission + excluded.commission, \
     reserve = malet_ledger_totals.reserve + excluded.reserve, \
     affiliate = malet_ledger_totals.affiliate + excluded.affiliate, net = malet_ledger_totals.net + excluded.net";

const BALANCE_UPSERT: &str = "INSERT INTO account_balances (account_id, currency, malet_id, movements, earnings, \
     pending, reserve, payouts) \
     VALUES (NEW.account_id, NEW.currency, NEW.malet_id, 1, NEW.earnings_delta, NEW.pending_delta, NEW.reserve_delta, \
     NEW.payouts_delta) \
     ON CONFLICT (account_id, currency) DO UPDATE SET movements = account_balances.movements + 1, \
     earnings = account_balances.earnings + excluded.earnings, pending = account_balances.pending + excluded.pending, \
     reserve = account_balances.reserve + excluded.reserve, payouts = account_balances.payouts + excluded.payouts";

const DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS connected_accounts_status",
    "DROP TRIGGER IF EXISTS ledger_postings_totals ON ledger_postings",
    "DROP TRIGGER IF EXISTS balance_movements_totals ON balance_movements",
    "DROP FUNCTION IF EXISTS ledger_postings_totals()",
    "DROP FUNCTION IF EXISTS balance_movements_totals()",
    "DROP TABLE IF EXISTS account_balances",
    "DROP TABLE IF EXISTS malet_ledger_totals",
];

const DOWN_SQLITE: &[&str] = &[
    "DROP INDEX IF EXISTS connected_accounts_status",
    "DROP TRIGGER IF EXISTS ledger_postings_totals",
    "DROP TRIGGER IF EXISTS balance_movements_totals",
    "DROP TABLE IF EXISTS account_balances",
    "DROP TABLE IF EXISTS malet_ledger_totals",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on both backends: the backfill and the triggers take effect together, so a
    /// posting or movement written by a running instance is counted exactly once (by the
    /// backfill or by the trigger). On SQLite the first CREATE takes the write lock for the whole
    /// migration; on PostgreSQL the tables are locked against writes first.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            conn.execute_unprepared(
                "LOCK TABLE ledger_postings, balance_movements, commission_ledger IN SHARE ROW EXCLUSIVE MODE",
            )
            .await?;
        }
        for s in TABLES {
            conn.execute_unprepared(s).await?;
        }
        let triggers = [
            ("ledger_postings_totals", "ledger_postings", LEDGER_UPSERT),
            ("balance_movements_totals", "balance_movements", BALANCE_UPSERT),
        ];
        for (name, table, upsert) in triggers {
            if manager.get_database_backend() == DbBackend::Postgres {
                conn.execute_unprepared(&format!(
                    "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {upsert}; RETURN NULL; END $$"
                ))
                .await?;
                conn.execute_unprepared(&format!(
                    "CREATE TRIGGER {name} AFTER INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()"
                ))
                .await?;
            } else {
                conn.execute_unprepared(&format!("CREATE TRIGGER {name} AFTER INSERT ON {table} BEGIN {upsert}; END"))
                    .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        let steps = if manager.get_database_backend() == DbBackend::Postgres { DOWN } else { DOWN_SQLITE };
        for s in steps {
            conn.execute_unprepared(s).await?;
        }
        Ok(())
    }
}
