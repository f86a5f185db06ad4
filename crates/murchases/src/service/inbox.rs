//! The webhook inbox for operators (issue 17): admins list stored events by status and replay one
//! that waits for them (NEEDS_ATTENTION) or keeps failing, once its cause is fixed.
//!
//! Both subgraphs keep their inbox in the one shared `webhook_events` table, so this list covers
//! every receiver. A murchases event is replayed here and now; a payments event is made due and
//! applied by the payments subgraph's retry loop (every `WEBHOOK_RETRY_INTERVAL_MS`, 1 s by
//! default), which this waits for briefly so the answer shows the outcome.

use std::sync::Arc;
use std::time::Duration;

use domain::ids::RecordId;
use domain::permissions::{Actor, Permission};
use entity::webhook_events;
use sea_orm::EntityTrait;
use service_core::webhook::{self, EventFilter, Inbox, Replay, Replayed, WebhookStatus};

use super::webhooks::{MurchasesEvents, RECEIVER};
use super::{Murchases, ServiceError, ServiceResult};

/// How long a replay of another subgraph's event waits for that subgraph to apply it.
const WAIT_FOR_OTHER_RECEIVER: Duration = Duration::from_secs(5);

impl Murchases {
    /// This subgraph's inbox (the same one the webhook route uses).
    pub fn inbox(&self) -> Inbox {
        Inbox { db: self.db.clone(), receiver: RECEIVER, applier: Arc::new(MurchasesEvents(self.clone())) }
    }

    /// Inbox events, newest first (admins: MANAGE_COMMISSIONS).
    pub async fn webhook_events(
        &self,
        actor: &Actor,
        receiver: Option<&str>,
        status: Option<WebhookStatus>,
        limit: i32,
        offset: i32,
    ) -> ServiceResult<Vec<webhook_events::Model>> {
        actor.can_admin(Permission::ManageCommissions)?;
        if !(1..=100).contains(&limit) {
            return Err(ServiceError::BadInput("limit must be between 1 and 100".into()));
        }
        let offset = u64::try_from(offset).map_err(|_| ServiceError::BadInput("offset must not be negative".into()))?;
        let filter = EventFilter {
            receiver: receiver.map(str::to_owned),
            status,
            limit: u64::try_from(limit).unwrap_or(100),
            offset,
        };
        Ok(webhook::list_events(&self.db, &filter).await?)
    }

    /// Applies a stored event again after its cause was fixed (admins: MANAGE_COMMISSIONS), with
    /// the reason audited. Replaying an event that is already applied changes nothing. Returns
    /// the event as it is afterwards (PROCESSED, or still NEEDS_ATTENTION / FAILED with the
    /// reason).
    pub async fn replay_webhook_event(
        &self,
        actor: &Actor,
        id: &RecordId,
        reason: &str,
    ) -> ServiceResult<webhook_events::Model> {
        actor.can_admin(Permission::ManageCommissions)?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(ServiceError::BadInput("a reason is required".into()));
        }
        let who = Replay { actor: actor.subject().unwrap_or("unknown"), reason };
        let row = webhook_events::Entity::find_by_id(id.as_str().to_owned())
            .one(&self.db)
            .await?
            .ok_or_else(|| ServiceError::missing(actor, format!("webhook event {id}")))?;
        // Another subgraph's event moves that subgraph's money (payouts, accounts): replaying it
        // needs that subgraph's admin permission too.
        if row.receiver != RECEIVER {
            actor.can_admin(Permission::ManagePayouts)?;
        }
        let replayed = if row.receiver == RECEIVER {
            self.inbox().replay(&row.id, who).await?
        } else {
            webhook::requeue(&self.db, &row.id, who).await?
        };
        if replayed == Some(Replayed::Queued) {
            let deadline = tokio::time::Instant::now() + WAIT_FOR_OTHER_RECEIVER;
            while tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let now = webhook_events::Entity::find_by_id(row.id.clone()).one(&self.db).await?;
                if now.is_some_and(|r| r.status != WebhookStatus::Received) {
                    break;
                }
            }
        }
        webhook_events::Entity::find_by_id(row.id.clone())
            .one(&self.db)
            .await?
            .ok_or_else(|| ServiceError::missing(actor, format!("webhook event {id}")))
    }
}
