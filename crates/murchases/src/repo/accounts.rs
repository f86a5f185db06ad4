//! Narrow read-only queries of payments' data (connected accounts and balances).

use entity::account_balances;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

pub use entity::queries::{account_by_provider_id as by_provider_account, live_account};

/// Pending and reserve balances of a Malet in one currency: the running balances of its
/// accounts (one row per account, kept by the movements trigger).
pub async fn balances<C: ConnectionTrait>(conn: &C, malet_id: &str, currency: &str) -> Result<(i64, i64), DbErr> {
    let rows = account_balances::Entity::find()
        .filter(account_balances::Column::MaletId.eq(malet_id))
        .filter(account_balances::Column::Currency.eq(currency))
        .all(conn)
        .await?;
    Ok(rows.iter().fold((0, 0), |(p, r), b| (p + b.pending, r + b.reserve)))
}
