//! Commission ledger entries, postings, refunds and payment exceptions.

use domain::provider::ProviderKind;
use entity::{commission_ledger, payment_exceptions};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Select,
};

pub async fn by_id<C: ConnectionTrait>(conn: &C, id: &str) -> Result<Option<commission_ledger::Model>, DbErr> {
    commission_ledger::Entity::find_by_id(id.to_owned()).one(conn).await
}

/// Reads an entry for update: a row lock on PostgreSQL (SQLite serializes writers anyway).
pub async fn for_update<C: ConnectionTrait>(
    conn: &C,
    select: Select<commission_ledger::Entity>,
) -> Result<Option<commission_ledger::Model>, DbErr> {
    let select = if conn.get_database_backend() == DbBackend::Postgres { select.lock_exclusive() } else { select };
    select.one(conn).await
}

pub fn by_id_select(id: &str) -> Select<commission_ledger::Entity> {
    commission_ledger::Entity::find_by_id(id.to_owned())
}

/// The entry of a Malet's order (order ids are unique per Malet, not globally).
pub fn by_order_select(malet_id: &str, order_id: &str) -> Select<commission_ledger::Entity> {
    commission_ledger::Entity::find()
        .filter(commission_ledger::Column::MaletId.eq(malet_id))
        .filter(commission_ledger::Column::OrderId.eq(order_id))
}

/// The entry of a provider payment (the unique index on provider and payment id serves it).
pub fn by_payment_select(provider: ProviderKind, provider_payment_id: &str) -> Select<commission_ledger::Entity> {
    commission_ledger::Entity::find()
        .filter(commission_ledger::Column::Provider.eq(provider.as_str()))
        .filter(commission_ledger::Column::ProviderPaymentId.eq(provider_payment_id))
}

/// Entries the settlement job may settle: not settled, not disputed, paid before `cutoff`
/// (served by the partial index on unsettled entries).
pub fn due_for_settlement(cutoff: chrono::DateTime<chrono::Utc>, limit: u64) -> Select<commission_ledger::Entity> {
    use domain::lifecycle::LedgerStatus;
    commission_ledger::Entity::find()
        .filter(commission_ledger::Column::SettlementDate.is_null())
        .filter(commission_ledger::Column::Disputed.eq(false))
        .filter(commission_ledger::Column::CreatedAt.lte(cutoff))
        .filter(
            commission_ledger::Column::Status
                .is_in([LedgerStatus::Pending.as_str(), LedgerStatus::PartiallyRefunded.as_str()]),
        )
        .limit(limit)
}

pub fn by_charge_select(charge_id: &str) -> Select<commission_ledger::Entity> {
    commission_ledger::Entity::find().filter(commission_ledger::Column::ProviderChargeId.eq(charge_id))
}

/// A page of a Malet's entries, newest first.
pub async fn page<C: ConnectionTrait>(
    conn: &C,
    malet_id: &str,
    limit: u64,
    offset: u64,
) -> Result<Vec<commission_ledger::Model>, DbErr> {
    commission_ledger::Entity::find()
        .filter(commission_ledger::Column::MaletId.eq(malet_id))
        .order_by_desc(commission_ledger::Column::CreatedAt)
        .order_by_desc(commission_ledger::Column::Id)
        .limit(limit)
        .offset(offset)
        .all(conn)
        .await
}

/// The page after (older than) the entry at (`created_at`, `id`), newest first: a keyset read
/// on the (malet_id, created_at) index, the same cost at any depth.
pub async fn page_after<C: ConnectionTrait>(
    conn: &C,
    malet_id: &str,
    limit: u64,
    created_at: chrono::DateTime<chrono::Utc>,
    id: &str,
) -> Result<Vec<commission_ledger::Model>, DbErr> {
    use sea_orm::Condition;
    commission_ledger::Entity::find()
        .filter(commission_ledger::Column::MaletId.eq(malet_id))
        .filter(
            Condition::any().add(commission_ledger::Column::CreatedAt.lt(created_at)).add(
                Condition::all()
                    .add(commission_ledger::Column::CreatedAt.eq(created_at))
                    .add(commission_ledger::Column::Id.lt(id)),
            ),
        )
        .order_by_desc(commission_ledger::Column::CreatedAt)
        .order_by_desc(commission_ledger::Column::Id)
        .limit(limit)
        .all(conn)
        .await
}

pub async fn count<C: ConnectionTrait>(conn: &C, malet_id: &str) -> Result<u64, DbErr> {
    commission_ledger::Entity::find().filter(commission_ledger::Column::MaletId.eq(malet_id)).count(conn).await
}

#[derive(Debug, Default, FromQueryResult)]
pub struct Totals {
    pub gross: Option<i64>,
    pub refunded: Option<i64>,
    pub commission: Option<i64>,
    pub net: Option<i64>,
}

/// Lifetime sums of a Malet's entries in one currency.
pub async fn totals<C: ConnectionTrait>(conn: &C, malet_id: &str, currency: &str) -> Result<Totals, DbErr> {
    Ok(commission_ledger::Entity::find()
        .select_only()
        .column_as(service_core::db::sum_bigint("gross_amount"), "gross")
        .column_as(service_core::db::sum_bigint("refunded_amount"), "refunded")
        .column_as(service_core::db::sum_bigint("commission_amount"), "commission")
        .column_as(service_core::db::sum_bigint("net_payout"), "net")
        .filter(commission_ledger::Column::MaletId.eq(malet_id))
        .filter(commission_ledger::Column::Currency.eq(currency))
        .into_model::<Totals>()
        .one(conn)
        .await?
        .unwrap_or_default())
}

/// Marks the open exceptions of a payment resolved (it has just been recorded, e.g. after an
/// admin registered its destination account and replayed the event).
pub async fn resolve_exceptions<C: ConnectionTrait>(
    conn: &C,
    provider: ProviderKind,
    payment_id: &str,
) -> Result<u64, DbErr> {
    use sea_orm::sea_query::Expr;
    Ok(payment_exceptions::Entity::update_many()
        .col_expr(payment_exceptions::Column::ResolvedAt, Expr::value(Some(service_core::clock::now())))
        .filter(payment_exceptions::Column::Provider.eq(provider.as_str()))
        .filter(payment_exceptions::Column::ProviderPaymentId.eq(payment_id))
        .filter(payment_exceptions::Column::ResolvedAt.is_null())
        .exec(conn)
        .await?
        .rows_affected)
}

pub async fn exceptions<C: ConnectionTrait>(conn: &C, limit: u64) -> Result<Vec<payment_exceptions::Model>, DbErr> {
    payment_exceptions::Entity::find()
        .filter(payment_exceptions::Column::ResolvedAt.is_null())
        .order_by_desc(payment_exceptions::Column::CreatedAt)
        .limit(limit)
        .all(conn)
        .await
}
