//! Storefront orders (issue 14, R-HOOK-5): the shops admins registered (which Malet a shop is,
//! and where its webhook secret comes from: a reference, never the secret itself), one order
//! record per (platform, shop, order id) with its lines, the refunds the storefront reported,
//! every delivery once by its delivery id, and the payments that arrived before their order.
//! A ledger entry of a storefront order keeps the order's commissionable base and what the
//! storefront's refunds took back of it, so an item refund takes back that item's share.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000001_storefronts"
    }
}

const UP: &[&str] = &[
    r#"CREATE TABLE storefront_shops (
    id          TEXT PRIMARY KEY,
    platform    TEXT NOT NULL,
    shop        TEXT NOT NULL,
    malet_id    TEXT NOT NULL,
    secret_env  TEXT,
    api_key_env    TEXT,
    api_secret_env TEXT,
    affiliate_attribution BOOLEAN NOT NULL DEFAULT FALSE,
    created_by  TEXT NOT NULL,
    created_at  {TS} NOT NULL,
    updated_at  {TS} NOT NULL
)"#,
    "CREATE UNIQUE INDEX storefront_shops_shop ON storefront_shops (platform, shop)",
    "CREATE INDEX storefront_shops_malet ON storefront_shops (malet_id, platform)",
    r#"CREATE TABLE storefront_orders (
    id                   TEXT PRIMARY KEY,
    platform             TEXT NOT NULL,
    shop                 TEXT NOT NULL,
    platform_order_id    TEXT NOT NULL,
    malet_id             TEXT NOT NULL,
    currency             TEXT NOT NULL,
    status               TEXT NOT NULL,
    subtotal             BIGINT NOT NULL,
    discount             BIGINT NOT NULL,
    tax                  BIGINT NOT NULL,
    shipping             BIGINT NOT NULL,
    total                BIGINT NOT NULL,
    prices_include_tax   BOOLEAN NOT NULL DEFAULT FALSE,
    source_version       TEXT,
    affiliate_id         TEXT,
    ledger_id            TEXT,
    provider             TEXT,
    provider_payment_id  TEXT,
    created_at           {TS} NOT NULL,
    updated_at           {TS} NOT NULL
)"#,
    "CREATE UNIQUE INDEX storefront_orders_key ON storefront_orders (platform, shop, platform_order_id)",
    // A payment finds its order by the Malet its money went to and the order id it names.
    "CREATE INDEX storefront_orders_malet ON storefront_orders (malet_id, platform, platform_order_id)",
    "CREATE INDEX storefront_orders_listing ON storefront_orders (malet_id, created_at)",
    r#"CREATE TABLE storefront_order_lines (
    id          TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL,
    line_id     TEXT NOT NULL,
    product     TEXT NOT NULL,
    quantity    BIGINT NOT NULL,
    unit_price  BIGINT NOT NULL,
    amount      BIGINT NOT NULL,
    vendor      TEXT,
    discount    BIGINT NOT NULL,
    tax         BIGINT NOT NULL
)"#,
    "CREATE UNIQUE INDEX storefront_order_lines_line ON storefront_order_lines (order_id, line_id)",
    // Refunds are keyed by the order's storefront key: one may arrive before its order.
    r#"CREATE TABLE storefront_refunds (
    id                 TEXT PRIMARY KEY,
    platform           TEXT NOT NULL,
    shop               TEXT NOT NULL,
    platform_order_id  TEXT NOT NULL,
    refund_id          TEXT NOT NULL,
    currency           TEXT NOT NULL,
    base               BIGINT NOT NULL,
    tax                BIGINT NOT NULL DEFAULT 0,
    amount             BIGINT NOT NULL,
    created_at         {TS} NOT NULL
)"#,
    "CREATE UNIQUE INDEX storefront_refunds_refund ON storefront_refunds (platform, shop, platform_order_id, refund_id)",
    r#"CREATE TABLE storefront_deliveries (
    id           TEXT PRIMARY KEY,
    platform     TEXT NOT NULL,
    shop         TEXT NOT NULL,
    delivery_id  TEXT NOT NULL,
    event_id     TEXT,
    topic        TEXT NOT NULL,
    status       TEXT NOT NULL,
    note         TEXT,
    payload      TEXT NOT NULL,
    received_at  {TS} NOT NULL
)"#,
    // A delivery id is the storefront's, so it is unique per shop (each shop signs its own).
    "CREATE UNIQUE INDEX storefront_deliveries_delivery ON storefront_deliveries (platform, shop, delivery_id)",
    // Admins list the deliveries that need them.
    "CREATE INDEX storefront_deliveries_status ON storefront_deliveries (status, received_at)",
    r#"CREATE TABLE storefront_payment_waits (
    id                   TEXT PRIMARY KEY,
    platform             TEXT NOT NULL,
    malet_id             TEXT NOT NULL,
    platform_order_id    TEXT NOT NULL,
    provider             TEXT NOT NULL,
    provider_payment_id  TEXT NOT NULL,
    webhook_event_id     TEXT NOT NULL,
    created_at           {TS} NOT NULL
)"#,
    "CREATE UNIQUE INDEX storefront_payment_waits_payment ON storefront_payment_waits \
     (platform, malet_id, platform_order_id, provider, provider_payment_id)",
    "ALTER TABLE commission_ledger ADD COLUMN items_base BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE commission_ledger ADD COLUMN items_refunded_base BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE commission_ledger ADD COLUMN items_refunded_amount BIGINT NOT NULL DEFAULT 0",
];

const DOWN: &[&str] = &[
    "ALTER TABLE commission_ledger DROP COLUMN items_refunded_amount",
    "ALTER TABLE commission_ledger DROP COLUMN items_refunded_base",
    "ALTER TABLE commission_ledger DROP COLUMN items_base",
    "DROP TABLE storefront_payment_waits",
    "DROP TABLE storefront_deliveries",
    "DROP TABLE storefront_refunds",
    "DROP TABLE storefront_order_lines",
    "DROP TABLE storefront_orders",
    "DROP TABLE storefront_shops",
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
