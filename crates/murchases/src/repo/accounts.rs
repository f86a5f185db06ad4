//! Narrow read-only queries of payments' data (connected accounts and balances).

use entity::balance_movements;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QuerySelect};

pub use entity::queries::{account_by_provider_id as by_provider_account, live_account};

#[derive(Debug, Default, FromQueryResult)]
pub struct BalanceSums {
    pub pending: Option<i64>,
    pub reserve: Option<i64>,
}

/// Pending and reserve balances of a Malet in one currency (sums of its movements).
pub async fn balances<C: ConnectionTrait>(conn: &C, malet_id: &str, currency: &str) -> Result<(i64, i64), DbErr> {
    let sums = balance_movements::Entity::find()
        .select_only()
        .column_as(service_core::db::sum_bigint("pending_delta"), "pending")
        .column_as(service_core::db::sum_bigint("reserve_delta"), "reserve")
        .filter(balance_movements::Column::MaletId.eq(malet_id))
        .filter(balance_movements::Column::Currency.eq(currency))
        .into_model::<BalanceSums>()
        .one(conn)
        .await?
        .unwrap_or_default();
    Ok((sums.pending.unwrap_or(0), sums.reserve.unwrap_or(0)))
}
