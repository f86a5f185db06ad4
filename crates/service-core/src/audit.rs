//! Audit log: who changed what, when, from what to what, and why (R-COMM-4).

use entity::audit_log;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};

pub struct AuditEntry<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub entity_type: &'a str,
    pub entity_id: &'a str,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub reason: Option<&'a str>,
}

/// Appends an audit entry; call in the same transaction as the change.
pub async fn record<C: ConnectionTrait>(conn: &C, entry: AuditEntry<'_>) -> Result<(), DbErr> {
    audit_log::Entity::insert(audit_log::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        actor: Set(entry.actor.to_owned()),
        action: Set(entry.action.to_owned()),
        entity_type: Set(entry.entity_type.to_owned()),
        entity_id: Set(entry.entity_id.to_owned()),
        before_state: Set(entry.before.map(|v| v.to_string())),
        after_state: Set(entry.after.map(|v| v.to_string())),
        reason: Set(entry.reason.map(str::to_owned)),
        created_at: Set(crate::clock::now()),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}
