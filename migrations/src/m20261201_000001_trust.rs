//! Trust hardening (issue 8): orders are scoped to their Malet, every ledger entry names the
//! account it credits, checkout keeps the breakdown it charged, and an account that ended
//! SUSPENDED blocks a new one until an admin allows it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000001_trust"
    }
}

/// The ledger with order ids unique per Malet (was: globally) and the credited account.
/// SQLite cannot drop an inline UNIQUE constraint, so the table is rebuilt there.
const LEDGER_COLUMNS: &str = "id, order_id, malet_id, provider, provider_payment_id, provider_charge_id, \
    destination_account_id, currency, gross_amount, commission_rate, original_commission, original_reserve, \
    original_affiliate, commission_amount, processing_fee, reserve_amount, affiliate_amount, affiliate_id, net_payout, \
    application_fee_amount, refunded_amount, refunded_commission, status, disputed, rule_version, breakdown, \
    settlement_date, created_at, updated_at";

fn sqlite_ledger_rebuild(with_account: bool) -> String {
    let (account_col, select_account, unique) = if with_account {
        (
            "    account_id              TEXT,\n",
            ", NULL",
            "    UNIQUE (malet_id, order_id),\n    UNIQUE (provider, provider_payment_id)",
        )
    } else {
        ("", "", "    UNIQUE (order_id),\n    UNIQUE (provider, provider_payment_id)")
    };
    let target_cols = if with_account { format!("{LEDGER_COLUMNS}, account_id") } else { LEDGER_COLUMNS.to_owned() };
    format!(
        r#"PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE commission_ledger_new (
    id                      TEXT PRIMARY KEY,
    order_id                TEXT NOT NULL,
    malet_id                TEXT NOT NULL,
    provider                TEXT NOT NULL,
    provider_payment_id     TEXT NOT NULL,
    provider_charge_id      TEXT,
    destination_account_id  TEXT,
    currency                TEXT NOT NULL,
    gross_amount            BIGINT NOT NULL,
    commission_rate         TEXT NOT NULL,
    original_commission     BIGINT NOT NULL,
    original_reserve        BIGINT NOT NULL,
    original_affiliate      BIGINT NOT NULL,
    commission_amount       BIGINT NOT NULL,
    processing_fee          BIGINT NOT NULL,
    reserve_amount          BIGINT NOT NULL,
    affiliate_amount        BIGINT NOT NULL,
    affiliate_id            TEXT,
    net_payout              BIGINT NOT NULL,
    application_fee_amount  BIGINT NOT NULL,
    refunded_amount         BIGINT NOT NULL DEFAULT 0,
    refunded_commission     BIGINT NOT NULL DEFAULT 0,
    status                  TEXT NOT NULL,
    disputed                BOOLEAN NOT NULL DEFAULT FALSE,
    rule_version            BIGINT NOT NULL,
    breakdown               TEXT NOT NULL,
    settlement_date         TEXT,
    created_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL,
{account_col}{unique}
);
INSERT INTO commission_ledger_new ({target_cols}) SELECT {LEDGER_COLUMNS}{select_account} FROM commission_ledger;
DROP TABLE commission_ledger;
ALTER TABLE commission_ledger_new RENAME TO commission_ledger;
CREATE INDEX commission_ledger_malet ON commission_ledger (malet_id, created_at);
COMMIT;
PRAGMA foreign_keys = ON;"#
    )
}

/// What both backends add with plain statements.
const COMMON_UP: &[&str] = &[
    // Checkout (createMurchasePayment) keeps what it charged: the ledger uses this breakdown for
    // the payment it created, and metadata that disagrees becomes an exception.
    r#"CREATE TABLE IF NOT EXISTS checkouts (
    id                  TEXT PRIMARY KEY,
    malet_id            TEXT NOT NULL,
    order_id            TEXT NOT NULL,
    account_id          TEXT NOT NULL,
    provider            TEXT NOT NULL,
    provider_payment_id TEXT NOT NULL,
    provider_account_id TEXT,
    currency            TEXT NOT NULL,
    gross_amount        BIGINT NOT NULL,
    subtotal            BIGINT NOT NULL,
    discount            BIGINT NOT NULL,
    tax                 BIGINT NOT NULL,
    shipping            BIGINT NOT NULL,
    affiliate_id        TEXT,
    created_by          TEXT NOT NULL,
    created_at          {TS} NOT NULL,
    UNIQUE (provider, provider_payment_id),
    UNIQUE (malet_id, order_id)
)"#,
    // Set when an account is deactivated while SUSPENDED: the Malet needs an admin's
    // `allowNewConnectedAccount` before it may open another one.
    "ALTER TABLE connected_accounts ADD COLUMN blocks_new_account BOOLEAN NOT NULL DEFAULT FALSE",
    "CREATE INDEX disputes_account_opened ON disputes (account_id, opened_at)",
    // Existing entries name the account they were paid to (their destination's owner).
    "UPDATE commission_ledger SET account_id = (SELECT ca.id FROM connected_accounts ca \
     WHERE ca.provider_account_id = commission_ledger.destination_account_id) \
     WHERE account_id IS NULL AND destination_account_id IS NOT NULL",
    // Accounts already deactivated while SUSPENDED block a new account too.
    "UPDATE connected_accounts SET blocks_new_account = TRUE WHERE status = 'DEACTIVATED' AND id IN \
     (SELECT entity_id FROM audit_log WHERE action = 'deactivate_connected_account' \
     AND before_state LIKE '%\"status\":\"SUSPENDED\"%')",
];

const COMMON_DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS disputes_account_opened",
    "ALTER TABLE connected_accounts DROP COLUMN blocks_new_account",
    "DROP TABLE IF EXISTS checkouts",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let conn = manager.get_connection();
        match backend {
            // One call: the whole script runs on one pooled connection (the pragma is per connection).
            DbBackend::Sqlite => conn.execute_unprepared(&sqlite_ledger_rebuild(true)).await.map(|_| ())?,
            _ => {
                for s in [
                    "ALTER TABLE commission_ledger DROP CONSTRAINT commission_ledger_order_id_key",
                    "ALTER TABLE commission_ledger ADD COLUMN account_id TEXT",
                    "CREATE UNIQUE INDEX commission_ledger_malet_order ON commission_ledger (malet_id, order_id)",
                ] {
                    conn.execute_unprepared(s).await?;
                }
            }
        }
        let ts = if backend == DbBackend::Postgres { "TIMESTAMPTZ" } else { "TEXT" };
        for s in COMMON_UP {
            conn.execute_unprepared(&s.replace("{TS}", ts)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        for s in COMMON_DOWN {
            conn.execute_unprepared(s).await?;
        }
        match manager.get_database_backend() {
            DbBackend::Sqlite => conn.execute_unprepared(&sqlite_ledger_rebuild(false)).await.map(|_| ())?,
            _ => {
                for s in [
                    "DROP INDEX IF EXISTS commission_ledger_malet_order",
                    "ALTER TABLE commission_ledger DROP COLUMN account_id",
                    "ALTER TABLE commission_ledger ADD CONSTRAINT commission_ledger_order_id_key UNIQUE (order_id)",
                ] {
                    conn.execute_unprepared(s).await?;
                }
            }
        }
        Ok(())
    }
}
