//! Read queries more than one subgraph needs (murchases reads payments' accounts through these
//! narrow, read-only functions).

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use crate::connected_accounts;

/// The Malet's account that is not DEACTIVATED (at most one, enforced by the database).
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

/// The account behind a provider account id (`acct_…`).
pub async fn account_by_provider_id<C: ConnectionTrait>(
    conn: &C,
    provider_account_id: &str,
) -> Result<Option<connected_accounts::Model>, DbErr> {
    connected_accounts::Entity::find()
        .filter(connected_accounts::Column::ProviderAccountId.eq(provider_account_id))
        .one(conn)
        .await
}

/// The reserve hold payments keeps for a ledger entry (murchases asks whether it was released).
pub async fn reserve_hold_for_ledger<C: ConnectionTrait>(
    conn: &C,
    ledger_id: &str,
) -> Result<Option<crate::reserve_holds::Model>, DbErr> {
    crate::reserve_holds::Entity::find().filter(crate::reserve_holds::Column::LedgerId.eq(ledger_id)).one(conn).await
}

/// An account by our own id.
pub async fn account_by_id<C: ConnectionTrait>(conn: &C, id: &str) -> Result<Option<connected_accounts::Model>, DbErr> {
    connected_accounts::Entity::find_by_id(id.to_owned()).one(conn).await
}
