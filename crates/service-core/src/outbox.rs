//! Transactional outbox: an event is written in the same transaction as the change it reports,
//! and consumed exactly once (the consumer's own writes and the completion commit together,
//! and every consumer write carries the outbox key as its idempotency key).

use entity::outbox;
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use crate::clock;

pub use entity::enums::OutboxStatus;
pub const STATUS_PENDING: OutboxStatus = OutboxStatus::Pending;
pub const STATUS_DONE: OutboxStatus = OutboxStatus::Done;
pub const STATUS_FAILED: OutboxStatus = OutboxStatus::Failed;
/// An event that can never apply as it is: kept with its reason, not retried, for an admin.
pub const STATUS_PARKED: OutboxStatus = OutboxStatus::Parked;

/// The PostgreSQL notification channel of the outbox: [`enqueue`] notifies it with the topic, in
/// the writer's transaction, so consumers on any instance hear of new work when it commits.
pub const NOTIFY_CHANNEL: &str = "outbox";

/// Writes an event; a second write with the same idempotency key is a no-op. On PostgreSQL it
/// also notifies [`NOTIFY_CHANNEL`] (delivered at commit; nothing if the transaction rolls back).
pub async fn enqueue<C: ConnectionTrait>(
    conn: &C,
    topic: &str,
    aggregate_id: &str,
    payload: &str,
    idempotency_key: &str,
) -> Result<(), DbErr> {
    let now = clock::now();
    let row = outbox::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        topic: Set(topic.to_owned()),
        aggregate_id: Set(aggregate_id.to_owned()),
        payload: Set(payload.to_owned()),
        idempotency_key: Set(idempotency_key.to_owned()),
        status: Set(STATUS_PENDING),
        attempts: Set(0),
        last_error: Set(None),
        available_at: Set(now),
        locked_until: Set(None),
        created_at: Set(now),
        processed_at: Set(None),
    };
    outbox::Entity::insert(row).on_conflict_do_nothing_on([outbox::Column::IdempotencyKey]).exec(conn).await?;
    if conn.get_database_backend() == DbBackend::Postgres {
        conn.execute_raw(sea_orm::Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [NOTIFY_CHANNEL.into(), topic.into()],
        ))
        .await?;
    }
    Ok(())
}

/// Wakes `wake` whenever a transaction that wrote an event of `topic` commits, on any instance
/// (PostgreSQL `LISTEN`; the listener reconnects after a lost connection). On SQLite there is no
/// notification: consumers rely on their poll. Stops with `jobs`.
pub fn spawn_listener(
    db: &sea_orm::DatabaseConnection,
    topic: &'static str,
    wake: std::sync::Arc<tokio::sync::Notify>,
    jobs: &crate::jobs::Jobs,
) {
    if db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let pool = db.get_postgres_connection_pool().clone();
    jobs.spawn_until_stop("outbox-listener", async move {
        loop {
            let listener = async {
                let mut listener = sea_orm::sqlx::postgres::PgListener::connect_with(&pool).await?;
                listener.listen(NOTIFY_CHANNEL).await?;
                // Work committed while we were not listening is picked up by this first wake.
                wake.notify_one();
                loop {
                    match listener.try_recv().await? {
                        Some(n) if n.payload() != topic => {}
                        // A notification for the topic, or `None`: the connection was lost and
                        // re-established, and what was committed meanwhile was not heard.
                        _ => wake.notify_one(),
                    }
                }
                #[allow(unreachable_code)]
                Ok::<(), sea_orm::sqlx::Error>(())
            };
            if let Err(e) = listener.await {
                tracing::warn!(error = %e, "outbox listener lost its connection; reconnecting");
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    });
}

/// The consumer's query: the oldest due event of `topic` (PENDING, or FAILED after its backoff).
pub fn due_select(topic: &str, now: chrono::DateTime<chrono::Utc>) -> sea_orm::Select<outbox::Entity> {
    outbox::Entity::find()
        .filter(outbox::Column::Topic.eq(topic))
        .filter(outbox::Column::Status.is_in([STATUS_PENDING, STATUS_FAILED]))
        .filter(outbox::Column::AvailableAt.lte(now))
        .order_by_asc(outbox::Column::CreatedAt)
        .order_by_asc(outbox::Column::Id)
        .limit(1)
}

/// Claims the oldest due event of `topic` for the transaction `txn`, or `None` when nothing is
/// due. The claim is the transaction's row lock (`FOR UPDATE SKIP LOCKED` on PostgreSQL: other
/// consumers pass over it; SQLite's write transaction excludes them), so it ends with the
/// transaction: a consumer that dies mid-event leaves nothing claimed, and the event is due again
/// at once. Complete it with [`complete`] in the same transaction; after a rollback, record the
/// attempt with [`fail`] or [`park`].
pub async fn claim_next(txn: &DatabaseTransaction, topic: &str) -> Result<Option<outbox::Model>, DbErr> {
    let mut query = due_select(topic, clock::now());
    if txn.get_database_backend() == DbBackend::Postgres {
        query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    query.one(txn).await
}

/// Claims up to `limit` due events of `topic` for `txn`, oldest first, like [`claim_next`] (row
/// locks that other consumers skip on PostgreSQL; the write lock on SQLite).
pub async fn claim_due(txn: &DatabaseTransaction, topic: &str, limit: u64) -> Result<Vec<outbox::Model>, DbErr> {
    let mut query = due_select(topic, clock::now()).limit(limit);
    if txn.get_database_backend() == DbBackend::Postgres {
        query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    query.all(txn).await
}

/// Marks an event consumed; call inside the consumer's transaction.
pub async fn complete<C: ConnectionTrait>(conn: &C, id: &str) -> Result<(), DbErr> {
    outbox::Entity::update_many()
        .col_expr(outbox::Column::Status, Expr::value(STATUS_DONE))
        .col_expr(outbox::Column::ProcessedAt, Expr::value(clock::now()))
        .col_expr(outbox::Column::LockedUntil, Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None))
        .filter(outbox::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Records a failed attempt and schedules a retry with backoff.
pub async fn fail<C: ConnectionTrait>(conn: &C, row: &outbox::Model, error: &str) -> Result<(), DbErr> {
    let attempts = row.attempts + 1;
    outbox::Entity::update_many()
        .col_expr(outbox::Column::Status, Expr::value(STATUS_FAILED))
        .col_expr(outbox::Column::Attempts, Expr::value(attempts))
        .col_expr(outbox::Column::LastError, Expr::value(error.chars().take(2000).collect::<String>()))
        .col_expr(outbox::Column::AvailableAt, Expr::value(clock::now() + clock::backoff(attempts)))
        .col_expr(outbox::Column::LockedUntil, Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None))
        .filter(outbox::Column::Id.eq(row.id.clone()))
        .exec(conn)
        .await?;
    Ok(())
}

/// Parks an event that can never apply (it stays, with its reason, and is not claimed again).
pub async fn park<C: ConnectionTrait>(conn: &C, row: &outbox::Model, reason: &str) -> Result<(), DbErr> {
    outbox::Entity::update_many()
        .col_expr(outbox::Column::Status, Expr::value(STATUS_PARKED))
        .col_expr(outbox::Column::Attempts, Expr::value(row.attempts + 1))
        .col_expr(outbox::Column::LastError, Expr::value(reason.chars().take(2000).collect::<String>()))
        .col_expr(outbox::Column::LockedUntil, Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None))
        .filter(outbox::Column::Id.eq(row.id.clone()))
        .exec(conn)
        .await?;
    Ok(())
}
