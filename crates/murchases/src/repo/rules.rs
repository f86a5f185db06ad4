//! Malet settings and versioned commission rules.

use entity::{commission_rules, malet_settings};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

pub async fn settings<C: ConnectionTrait>(conn: &C, malet_id: &str) -> Result<Option<malet_settings::Model>, DbErr> {
    malet_settings::Entity::find_by_id(malet_id.to_owned()).one(conn).await
}

/// The rule version in force at `at`: the newest version effective at or before it.
pub async fn effective_rule<C: ConnectionTrait>(
    conn: &C,
    malet_id: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Option<commission_rules::Model>, DbErr> {
    commission_rules::Entity::find()
        .filter(commission_rules::Column::MaletId.eq(malet_id))
        .filter(commission_rules::Column::EffectiveFrom.lte(at))
        .order_by_desc(commission_rules::Column::EffectiveFrom)
        .order_by_desc(commission_rules::Column::Version)
        .one(conn)
        .await
}

/// The newest rule version (whatever its effective time).
pub async fn latest_rule<C: ConnectionTrait>(
    conn: &C,
    malet_id: &str,
) -> Result<Option<commission_rules::Model>, DbErr> {
    commission_rules::Entity::find()
        .filter(commission_rules::Column::MaletId.eq(malet_id))
        .order_by_desc(commission_rules::Column::Version)
        .one(conn)
        .await
}

pub async fn history<C: ConnectionTrait>(conn: &C, malet_id: &str) -> Result<Vec<commission_rules::Model>, DbErr> {
    commission_rules::Entity::find()
        .filter(commission_rules::Column::MaletId.eq(malet_id))
        .order_by_asc(commission_rules::Column::Version)
        .all(conn)
        .await
}
