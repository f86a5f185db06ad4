//! Storefront shops, orders, their lines and refunds, deliveries and waiting payments.

use entity::enums::Platform;
use entity::{
    storefront_deliveries, storefront_order_lines, storefront_orders, storefront_payment_waits, storefront_refunds,
    storefront_shops,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};

/// `select` locked for update on PostgreSQL (SQLite's write transaction holds the database).
fn locked<C: ConnectionTrait, E: EntityTrait>(conn: &C, select: Select<E>) -> Select<E> {
    if conn.get_database_backend() == DbBackend::Postgres { select.lock_exclusive() } else { select }
}

pub async fn shop<C: ConnectionTrait>(
    conn: &C,
    platform: Platform,
    shop: &str,
) -> Result<Option<storefront_shops::Model>, DbErr> {
    storefront_shops::Entity::find()
        .filter(storefront_shops::Column::Platform.eq(platform))
        .filter(storefront_shops::Column::Shop.eq(shop))
        .one(conn)
        .await
}

/// The shops of a Malet on a platform, locked: a storefront's deliveries and the payments of its
/// Malet on that platform take this lock first, so a payment that finds no order and the order
/// that arrives meanwhile cannot miss each other.
/// (In id order, so two lockers never deadlock.)
pub async fn lock_malet_shops<C: ConnectionTrait>(
    conn: &C,
    platform: Platform,
    malet_id: &str,
) -> Result<Vec<storefront_shops::Model>, DbErr> {
    let select = storefront_shops::Entity::find()
        .filter(storefront_shops::Column::MaletId.eq(malet_id))
        .filter(storefront_shops::Column::Platform.eq(platform))
        .order_by_asc(storefront_shops::Column::Id);
    locked(conn, select).all(conn).await
}

/// Stores a delivery once per (platform, shop, delivery id); false when it was already stored.
pub async fn insert_delivery<C: ConnectionTrait>(
    conn: &C,
    row: storefront_deliveries::ActiveModel,
) -> Result<bool, DbErr> {
    let inserted = storefront_deliveries::Entity::insert(row)
        .on_conflict_do_nothing_on([
            storefront_deliveries::Column::Platform,
            storefront_deliveries::Column::Shop,
            storefront_deliveries::Column::DeliveryId,
        ])
        .exec_without_returning(conn)
        .await?;
    Ok(matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0))
}

/// The inbox event of a waiting payment, locked, or `None` while someone else holds it (or
/// when it is gone): on PostgreSQL `FOR UPDATE SKIP LOCKED`; SQLite's write transaction holds
/// the database.
pub async fn waiting_event<C: ConnectionTrait>(
    conn: &C,
    receiver: &str,
    wait: &storefront_payment_waits::Model,
) -> Result<Option<entity::webhook_events::Model>, DbErr> {
    use entity::webhook_events;
    let select = webhook_events::Entity::find()
        .filter(webhook_events::Column::Receiver.eq(receiver))
        .filter(webhook_events::Column::Provider.eq(wait.provider))
        .filter(webhook_events::Column::EventId.eq(&wait.webhook_event_id));
    if conn.get_database_backend() == DbBackend::Postgres {
        use sea_orm::sea_query::{LockBehavior, LockType};
        select.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked).one(conn).await
    } else {
        select.one(conn).await
    }
}

/// A shop's stored delivery by its delivery id.
pub async fn delivery_by_key<C: ConnectionTrait>(
    conn: &C,
    platform: Platform,
    shop: &str,
    delivery_id: &str,
) -> Result<Option<storefront_deliveries::Model>, DbErr> {
    storefront_deliveries::Entity::find()
        .filter(storefront_deliveries::Column::Platform.eq(platform))
        .filter(storefront_deliveries::Column::Shop.eq(shop))
        .filter(storefront_deliveries::Column::DeliveryId.eq(delivery_id))
        .one(conn)
        .await
}

/// A stored delivery, locked (a replay applies it once).
pub async fn delivery_for_update<C: ConnectionTrait>(
    conn: &C,
    id: &str,
) -> Result<Option<storefront_deliveries::Model>, DbErr> {
    locked(conn, storefront_deliveries::Entity::find_by_id(id.to_owned())).one(conn).await
}

pub async fn order_by_key<C: ConnectionTrait>(
    conn: &C,
    platform: Platform,
    shop: &str,
    order_id: &str,
) -> Result<Option<storefront_orders::Model>, DbErr> {
    let select = storefront_orders::Entity::find()
        .filter(storefront_orders::Column::Platform.eq(platform))
        .filter(storefront_orders::Column::Shop.eq(shop))
        .filter(storefront_orders::Column::PlatformOrderId.eq(order_id));
    locked(conn, select).one(conn).await
}

/// The orders of a Malet with this platform order id (one per shop; normally one).
pub async fn orders_of_malet<C: ConnectionTrait>(
    conn: &C,
    platform: Platform,
    malet_id: &str,
    order_id: &str,
) -> Result<Vec<storefront_orders::Model>, DbErr> {
    let select = storefront_orders::Entity::find()
        .filter(storefront_orders::Column::MaletId.eq(malet_id))
        .filter(storefront_orders::Column::Platform.eq(platform))
        .filter(storefront_orders::Column::PlatformOrderId.eq(order_id))
        .limit(2);
    locked(conn, select).all(conn).await
}

pub async fn refunds_of<C: ConnectionTrait>(
    conn: &C,
    order: &storefront_orders::Model,
) -> Result<Vec<storefront_refunds::Model>, DbErr> {
    storefront_refunds::Entity::find()
        .filter(storefront_refunds::Column::Platform.eq(order.platform))
        .filter(storefront_refunds::Column::Shop.eq(&order.shop))
        .filter(storefront_refunds::Column::PlatformOrderId.eq(&order.platform_order_id))
        .order_by_asc(storefront_refunds::Column::CreatedAt)
        .all(conn)
        .await
}

/// The refunds of a page of orders, in one query (matched to their order by the caller).
pub async fn refunds_of_orders<C: ConnectionTrait>(
    conn: &C,
    orders: &[storefront_orders::Model],
) -> Result<Vec<storefront_refunds::Model>, DbErr> {
    let ids: Vec<String> = orders.iter().map(|o| o.platform_order_id.clone()).collect();
    let rows = storefront_refunds::Entity::find()
        .filter(storefront_refunds::Column::PlatformOrderId.is_in(ids))
        .order_by_asc(storefront_refunds::Column::CreatedAt)
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|r| {
            orders
                .iter()
                .any(|o| (o.platform, &o.shop, &o.platform_order_id) == (r.platform, &r.shop, &r.platform_order_id))
        })
        .collect())
}

/// The waiting payments of a page of orders (one Malet's), in one query.
pub async fn waits_of_orders<C: ConnectionTrait>(
    conn: &C,
    malet_id: &str,
    orders: &[storefront_orders::Model],
) -> Result<Vec<storefront_payment_waits::Model>, DbErr> {
    let ids: Vec<String> = orders.iter().map(|o| o.platform_order_id.clone()).collect();
    storefront_payment_waits::Entity::find()
        .filter(storefront_payment_waits::Column::MaletId.eq(malet_id))
        .filter(storefront_payment_waits::Column::PlatformOrderId.is_in(ids))
        .order_by_asc(storefront_payment_waits::Column::CreatedAt)
        .all(conn)
        .await
}

pub async fn lines_of<C: ConnectionTrait>(
    conn: &C,
    order_ids: Vec<String>,
) -> Result<Vec<storefront_order_lines::Model>, DbErr> {
    storefront_order_lines::Entity::find()
        .filter(storefront_order_lines::Column::OrderId.is_in(order_ids))
        .order_by_asc(storefront_order_lines::Column::OrderId)
        .order_by_asc(storefront_order_lines::Column::LineId)
        .all(conn)
        .await
}

pub async fn waits_for<C: ConnectionTrait>(
    conn: &C,
    order: &storefront_orders::Model,
) -> Result<Vec<storefront_payment_waits::Model>, DbErr> {
    storefront_payment_waits::Entity::find()
        .filter(storefront_payment_waits::Column::Platform.eq(order.platform))
        .filter(storefront_payment_waits::Column::MaletId.eq(&order.malet_id))
        .filter(storefront_payment_waits::Column::PlatformOrderId.eq(&order.platform_order_id))
        .order_by_asc(storefront_payment_waits::Column::CreatedAt)
        .all(conn)
        .await
}

/// A page of a Malet's orders, newest first.
pub async fn page<C: ConnectionTrait>(
    conn: &C,
    malet_id: &str,
    platform: Option<Platform>,
    limit: u64,
    offset: u64,
) -> Result<Vec<storefront_orders::Model>, DbErr> {
    let mut select = storefront_orders::Entity::find().filter(storefront_orders::Column::MaletId.eq(malet_id));
    if let Some(p) = platform {
        select = select.filter(storefront_orders::Column::Platform.eq(p));
    }
    select
        .order_by_desc(storefront_orders::Column::CreatedAt)
        .order_by_desc(storefront_orders::Column::Id)
        .limit(limit)
        .offset(offset)
        .all(conn)
        .await
}

/// The deliveries whose source did not answer and that are due to be read again, soonest first
/// (index `storefront_deliveries_due`).
pub fn due_deliveries_select(
    now: chrono::DateTime<chrono::Utc>,
    limit: u64,
) -> sea_orm::Select<storefront_deliveries::Entity> {
    storefront_deliveries::Entity::find()
        .filter(storefront_deliveries::Column::Status.eq(entity::enums::DeliveryStatus::SourceUnavailable))
        .filter(storefront_deliveries::Column::NextAttemptAt.lte(now))
        .order_by_asc(storefront_deliveries::Column::NextAttemptAt)
        .limit(limit)
}
