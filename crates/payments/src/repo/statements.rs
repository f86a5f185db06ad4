//! The reads of a seller statement: sums and rows of a Malet's balance movements in one
//! currency, over the `(account_id, created_at)` index.

use chrono::{DateTime, Utc};
use entity::{balance_movements, reserve_holds};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect,
};
use service_core::db::sum_bigint;

/// Pending and reserve, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromQueryResult)]
pub struct Sums {
    pub pending: i64,
    pub reserve: i64,
}

/// The pending and reserve balances of `accounts` in `currency` just before `before`: the sums
/// of their movements created before it.
pub async fn sums_before<C: ConnectionTrait>(
    conn: &C,
    accounts: &[String],
    currency: &str,
    before: DateTime<Utc>,
) -> Result<Sums, DbErr> {
    if accounts.is_empty() {
        return Ok(Sums::default());
    }
    Ok(balance_movements::Entity::find()
        .select_only()
        .column_as(sum_bigint("pending_delta"), "pending")
        .column_as(sum_bigint("reserve_delta"), "reserve")
        .filter(balance_movements::Column::AccountId.is_in(accounts.iter().cloned()))
        .filter(balance_movements::Column::Currency.eq(currency))
        .filter(balance_movements::Column::CreatedAt.lt(before))
        .into_model::<Sums>()
        .one(conn)
        .await?
        .unwrap_or_default())
}

/// The movements of `accounts` in `currency` created in `[from, to)`, by time then id, at most
/// `limit`.
pub async fn movements_between<C: ConnectionTrait>(
    conn: &C,
    accounts: &[String],
    currency: &str,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    limit: u64,
) -> Result<Vec<balance_movements::Model>, DbErr> {
    if accounts.is_empty() {
        return Ok(Vec::new());
    }
    balance_movements::Entity::find()
        .filter(balance_movements::Column::AccountId.is_in(accounts.iter().cloned()))
        .filter(balance_movements::Column::Currency.eq(currency))
        .filter(balance_movements::Column::CreatedAt.gte(from))
        .filter(balance_movements::Column::CreatedAt.lt(to))
        .order_by_asc(balance_movements::Column::CreatedAt)
        .order_by_asc(balance_movements::Column::Id)
        .limit(limit)
        .all(conn)
        .await
}

/// The ledger entry of each given reserve hold: `(hold id, ledger id)`.
pub async fn hold_ledgers<C: ConnectionTrait>(conn: &C, holds: &[String]) -> Result<Vec<(String, String)>, DbErr> {
    let mut out = Vec::with_capacity(holds.len());
    for ids in holds.chunks(500) {
        let rows: Vec<(String, String)> = reserve_holds::Entity::find()
            .select_only()
            .columns([reserve_holds::Column::Id, reserve_holds::Column::LedgerId])
            .filter(reserve_holds::Column::Id.is_in(ids.iter().cloned()))
            .into_tuple()
            .all(conn)
            .await?;
        out.extend(rows);
    }
    Ok(out)
}
