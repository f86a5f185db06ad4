//! Narrow read-only queries of payments' data (connected accounts and balances).

use entity::{balance_movements, connected_accounts};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QuerySelect};

/// The live (not DEACTIVATED) account of a Malet.
pub async fn live_account<C: ConnectionTrait>(
    conn: &C,
    malet_id: &str,
) -> Result<Option<connected_accounts::Model>, DbErr> {
    connected_accounts::Entity::find()
        .filter(connected_accounts::Column::MaletId.eq(malet_id))
        .filter(connected_accounts::Column::Status.ne("DEACTIVATED"))
        .one(conn)
        .await
}

/// The account behind a provider account id (`acct_…`), to find the Malet of a payment.
pub async fn by_provider_account<C: ConnectionTrait>(
    conn: &C,
    provider_account_id: &str,
) -> Result<Option<connected_accounts::Model>, DbErr> {
    connected_accounts::Entity::find()
        .filter(connected_accounts::Column::ProviderAccountId.eq(provider_account_id))
        .one(conn)
        .await
}

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
