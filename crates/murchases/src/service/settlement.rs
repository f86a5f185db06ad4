//! Settlement: when an entry becomes SETTLED.
//!
//! Definition: an entry settles when the provider has made its funds available, which for
//! Stripe destination charges is the charge's payout delay after the payment. We use a fixed,
//! configured delay (`SETTLE_AFTER_DAYS`, default 2 days, Stripe's standard delay for US
//! accounts) counted from the payment: a PENDING, undisputed entry older than that becomes
//! SETTLED with `settlementDate` = the moment the job settled it. An entry already partially
//! refunded keeps its status but gets its `settlementDate`. Disputed entries wait until the
//! dispute is resolved. Settling emits a `SETTLED` event that starts the 30-day reserve
//! release clock in payments (R-RES-2).
//!
//! The job is idempotent and safe to run concurrently: each entry is settled by a conditional
//! update that only one runner can win; postings and outbox events are keyed by the entry.

use chrono::{DateTime, Duration, Utc};
use domain::lifecycle::LedgerStatus;
use entity::commission_ledger;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use service_core::outbox;

use domain::ledger_events::{BalanceEventKind, TOPIC_BALANCE};

use super::{Murchases, ServiceResult};

impl Murchases {
    /// Settles every due entry as of `now`; returns how many this call settled.
    pub async fn settle_due(&self, now: DateTime<Utc>) -> ServiceResult<usize> {
        let cutoff = now - Duration::days(self.settle_after_days);
        let due = crate::repo::ledger::due_for_settlement(cutoff, 500).all(&self.db).await?;
        let mut settled = 0;
        for entry in due {
            let txn = service_core::db::begin_write(&self.db).await?;
            let new_status = if entry.status.domain() == LedgerStatus::Pending {
                LedgerStatus::Pending.transition(LedgerStatus::Settled)?.as_str()
            } else {
                entry.status.as_str()
            };
            let res = commission_ledger::Entity::update_many()
                .col_expr(commission_ledger::Column::Status, Expr::value(new_status))
                .col_expr(commission_ledger::Column::SettlementDate, Expr::value(Some(now)))
                .col_expr(commission_ledger::Column::UpdatedAt, Expr::value(now))
                .filter(commission_ledger::Column::Id.eq(entry.id.clone()))
                .filter(commission_ledger::Column::SettlementDate.is_null())
                .filter(commission_ledger::Column::Status.eq(entry.status))
                .exec(&txn)
                .await?;
            if res.rows_affected != 1 {
                txn.rollback().await?;
                continue;
            }
            let mut event = super::ledger::balance_event(&entry, BalanceEventKind::Settled, 0, 0, now)?;
            event.settlement_date = Some(now);
            outbox::enqueue(&txn, TOPIC_BALANCE, &entry.id, &event.to_payload(), &format!("settled:{}", entry.id))
                .await?;
            txn.commit().await?;
            settled += 1;
        }
        Ok(settled)
    }
}
