//! Audit log: who changed what, when, from what to what, and why (R-COMM-4).

use entity::audit_log;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};

pub struct AuditEntry<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub entity_type: &'a str,
    pub entity_id: &'a str,
    /// The Malet the change concerns (what `auditLog(maletId)` lists); `None` for platform-wide
    /// changes (a webhook event's replay).
    pub malet_id: Option<&'a str>,
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
        malet_id: Set(entry.malet_id.map(str::to_owned)),
        before_state: Set(entry.before.map(|v| v.to_string())),
        after_state: Set(entry.after.map(|v| v.to_string())),
        reason: Set(entry.reason.map(str::to_owned)),
        created_at: Set(crate::clock::now()),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// What [`for_malet`] reads: a Malet's entries in `[from, to)` (either bound open), a page.
#[derive(Debug, Clone)]
pub struct AuditQuery<'a> {
    pub malet_id: &'a str,
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    pub limit: u64,
    pub offset: u64,
}

/// A Malet's audit entries, newest first (the `(malet_id, created_at)` index).
pub async fn for_malet<C: ConnectionTrait>(conn: &C, q: &AuditQuery<'_>) -> Result<Vec<audit_log::Model>, DbErr> {
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
    let mut select = audit_log::Entity::find().filter(audit_log::Column::MaletId.eq(q.malet_id));
    if let Some(from) = q.from {
        select = select.filter(audit_log::Column::CreatedAt.gte(from));
    }
    if let Some(to) = q.to {
        select = select.filter(audit_log::Column::CreatedAt.lt(to));
    }
    select
        .order_by_desc(audit_log::Column::CreatedAt)
        .order_by_desc(audit_log::Column::Id)
        .limit(q.limit)
        .offset(q.offset)
        .all(conn)
        .await
}
