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

/// Every account the Malet has had, oldest first.
pub async fn all_for_malet<C: ConnectionTrait>(
    conn: &C,
    malet_id: &str,
) -> Result<Vec<connected_accounts::Model>, DbErr> {
    use sea_orm::QueryOrder;
    connected_accounts::Entity::find()
        .filter(connected_accounts::Column::MaletId.eq(malet_id))
        .order_by_asc(connected_accounts::Column::CreatedAt)
        .all(conn)
        .await
}

/// An account of the Malet that blocks a new one (deactivated while SUSPENDED), if any.
pub async fn blocking_new_account<C: ConnectionTrait>(
    conn: &C,
    malet_id: &str,
) -> Result<Option<connected_accounts::Model>, DbErr> {
    connected_accounts::Entity::find()
        .filter(connected_accounts::Column::MaletId.eq(malet_id))
        .filter(connected_accounts::Column::BlocksNewAccount.eq(true))
        .one(conn)
        .await
}

/// Locks every account row of the Malet for the rest of the transaction (PostgreSQL; SQLite's
/// write transactions are serialized).
pub async fn lock_all_for_malet<C: ConnectionTrait>(conn: &C, malet_id: &str) -> Result<(), DbErr> {
    if conn.get_database_backend() == DbBackend::Postgres {
        connected_accounts::Entity::find()
            .filter(connected_accounts::Column::MaletId.eq(malet_id))
            .lock_exclusive()
            .all(conn)
            .await?;
    }
    Ok(())
}
