//! Payments our checkout created, with the breakdown they charged.

use entity::checkouts;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

/// Every checkout row of a payment: one, or one per seller of a multi-seller order (by Malet).
pub async fn by_payment<C: ConnectionTrait>(
    conn: &C,
    provider: domain::provider::ProviderKind,
    provider_payment_id: &str,
) -> Result<Vec<checkouts::Model>, DbErr> {
    checkouts::Entity::find()
        .filter(checkouts::Column::Provider.eq(entity::enums::Provider::from(provider)))
        .filter(checkouts::Column::ProviderPaymentId.eq(provider_payment_id))
        .order_by_asc(checkouts::Column::MaletId)
        .all(conn)
        .await
}

/// The checkout of a Malet's order.
pub async fn by_order<C: ConnectionTrait>(
    conn: &C,
    malet_id: &str,
    order_id: &str,
) -> Result<Option<checkouts::Model>, DbErr> {
    checkouts::Entity::find()
        .filter(checkouts::Column::MaletId.eq(malet_id))
        .filter(checkouts::Column::OrderId.eq(order_id))
        .one(conn)
        .await
}

/// Stores a checkout; a retry of the same checkout (same payment) is a no-op.
pub async fn insert<C: ConnectionTrait>(conn: &C, row: checkouts::ActiveModel) -> Result<(), DbErr> {
    checkouts::Entity::insert(row)
        .on_conflict_do_nothing_on([
            checkouts::Column::Provider,
            checkouts::Column::ProviderPaymentId,
            checkouts::Column::MaletId,
        ])
        .exec(conn)
        .await?;
    Ok(())
}
