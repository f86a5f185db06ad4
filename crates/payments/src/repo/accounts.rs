use entity::connected_accounts;
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect};

pub async fn by_id<C: ConnectionTrait>(conn: &C, id: &str) -> Result<Option<connected_accounts::Model>, DbErr> {
    connected_accounts::Entity::find_by_id(id.to_owned()).one(conn).await
}

/// Reads an account for update (row lock on PostgreSQL; SQLite serializes writers).
pub async fn for_update<C: ConnectionTrait>(conn: &C, id: &str) -> Result<Option<connected_accounts::Model>, DbErr> {
    let q = connected_accounts::Entity::find_by_id(id.to_owned());
    let q = if conn.get_database_backend() == DbBackend::Postgres { q.lock_exclusive() } else { q };
    q.one(conn).await
}

pub use entity::queries::{account_by_provider_id as by_provider_account, live_account as live_for_malet};

/// How many of the Malet's accounts were deactivated (numbers the live account's generation).
pub async fn deactivated_count<C: ConnectionTrait>(conn: &C, malet_id: &str) -> Result<u64, DbErr> {
    connected_accounts::Entity::find()
        .filter(connected_accounts::Column::MaletId.eq(malet_id))
        .filter(connected_accounts::Column::Status.eq("DEACTIVATED"))
        .count(conn)
        .await
}
