//! Provider-neutral storage (issue 11): every table names a provider the same way, by its
//! `ProviderKind` (`STRIPE_CONNECT`, `PAYPAL`, …), and disputes keep the neutral status
//! (`OPEN`, `WON`, `LOST`) instead of one provider's words.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000001_provider_neutral"
    }
}

const UP: &[&str] = &[
    "UPDATE webhook_events SET provider = 'STRIPE_CONNECT' WHERE provider = 'stripe'",
    "UPDATE disputes SET provider = 'STRIPE_CONNECT' WHERE provider = 'stripe'",
    "UPDATE payouts SET recorded_by = 'STRIPE_CONNECT' WHERE recorded_by = 'stripe'",
    // Stripe's dispute statuses: `won` and `warning_closed` (an inquiry closed without a
    // chargeback) are decided for the seller, `lost` for the buyer, the rest are open.
    r#"UPDATE disputes SET status = CASE
        WHEN status IN ('won', 'warning_closed') THEN 'WON'
        WHEN status = 'lost' THEN 'LOST'
        ELSE 'OPEN' END
     WHERE status NOT IN ('OPEN', 'WON', 'LOST')"#,
];

const DOWN: &[&str] = &[
    "UPDATE webhook_events SET provider = 'stripe' WHERE provider = 'STRIPE_CONNECT'",
    "UPDATE disputes SET provider = 'stripe' WHERE provider = 'STRIPE_CONNECT'",
    "UPDATE payouts SET recorded_by = 'stripe' WHERE recorded_by = 'STRIPE_CONNECT'",
    r#"UPDATE disputes SET status = CASE
        WHEN status = 'WON' THEN 'won'
        WHEN status = 'LOST' THEN 'lost'
        ELSE 'needs_response' END
     WHERE status IN ('OPEN', 'WON', 'LOST')"#,
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
