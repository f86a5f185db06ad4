//! Commission ledger entries, postings, refunds and payment exceptions.

use domain::provider::ProviderKind;
use entity::{commission_ledger, malet_ledger_totals, payment_exceptions};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect,
    Select,
};

/// `SUM(affiliate_amount)` (as `total`) of an affiliate's entries in `currency`, counting no share
/// while a dispute's funds are withdrawn; with `settled_by`, only entries settled by then. Read
/// through the affiliate's index.
pub fn affiliate_shares_select(
    affiliate_id: &str,
    currency: &str,
    settled_by: Option<chrono::DateTime<chrono::Utc>>,
) -> Select<commission_ledger::Entity> {
    use commission_ledger::Column as C;
    let select = commission_ledger::Entity::find()
        .select_only()
        .column_as(service_core::db::sum_bigint("affiliate_amount"), "total")
        .filter(C::AffiliateId.eq(affiliate_id))
        .filter(C::Currency.eq(currency))
        .filter(C::DisputeDebit.lte(0));
    match settled_by {
        Some(at) => select.filter(C::SettlementDate.is_not_null()).filter(C::SettlementDate.lte(at)),
        None => select,
    }
}

pub async fn by_id<C: ConnectionTrait>(conn: &C, id: &str) -> Result<Option<commission_ledger::Model>, DbErr> {
    commission_ledger::Entity::find_by_id(id.to_owned()).one(conn).await
}

/// Reads an entry for update: a row lock on PostgreSQL (SQLite serializes writers anyway).
pub async fn for_update<C: ConnectionTrait>(
    conn: &C,
    select: Select<commission_ledger::Entity>,
) -> Result<Option<commission_ledger::Model>, DbErr> {
    locked(conn, select).one(conn).await
}

/// `select` with its rows locked for update where the database locks rows (PostgreSQL; SQLite's
/// write transaction holds the whole database).
fn locked<C: ConnectionTrait>(
    conn: &C,
    select: Select<commission_ledger::Entity>,
) -> Select<commission_ledger::Entity> {
    if conn.get_database_backend() == DbBackend::Postgres { select.lock_exclusive() } else { select }
}

/// Every entry `select` finds, locked for update (PostgreSQL; SQLite's write transaction holds
/// the whole database).
pub async fn all_for_update<C: ConnectionTrait>(
    conn: &C,
    select: Select<commission_ledger::Entity>,
) -> Result<Vec<commission_ledger::Model>, DbErr> {
    locked(conn, select).all(conn).await
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
        .filter(commission_ledger::Column::Provider.eq(entity::enums::Provider::from(provider)))
        .filter(commission_ledger::Column::ProviderPaymentId.eq(provider_payment_id))
}

/// The entry of one Malet in a provider payment (a multi-seller charge has one per Malet).
pub fn by_payment_malet_select(
    provider: ProviderKind,
    provider_payment_id: &str,
    malet_id: &str,
) -> Select<commission_ledger::Entity> {
    by_payment_select(provider, provider_payment_id).filter(commission_ledger::Column::MaletId.eq(malet_id))
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
        // The bound the (malet_id, created_at) index seeks to; the condition below only breaks
        // ties at that instant (an OR alone makes the planner scan from the newest entry).
        .filter(commission_ledger::Column::CreatedAt.lte(created_at))
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

/// How many entries a Malet has (every currency): from the running totals, one row per currency.
pub async fn count<C: ConnectionTrait>(conn: &C, malet_id: &str) -> Result<u64, DbErr> {
    let rows =
        malet_ledger_totals::Entity::find().filter(malet_ledger_totals::Column::MaletId.eq(malet_id)).all(conn).await?;
    Ok(rows.iter().map(|r| u64::try_from(r.entries).unwrap_or(0)).sum())
}

/// Lifetime totals of a Malet's entries in one currency: the running totals row the posting
/// trigger keeps (equal to the sums of the entries, see [`totals_mismatches`]); zero when the
/// Malet has no entry in that currency.
pub async fn totals<C: ConnectionTrait>(
    conn: &C,
    malet_id: &str,
    currency: &str,
) -> Result<malet_ledger_totals::Model, DbErr> {
    Ok(malet_ledger_totals::Entity::find_by_id((malet_id.to_owned(), currency.to_owned())).one(conn).await?.unwrap_or(
        malet_ledger_totals::Model {
            malet_id: malet_id.to_owned(),
            currency: currency.to_owned(),
            entries: 0,
            gross: 0,
            refunded: 0,
            commission: 0,
            reserve: 0,
            affiliate: 0,
            net: 0,
        },
    ))
}

#[derive(Debug, Default, Clone, PartialEq, Eq, FromQueryResult)]
struct Sums {
    malet_id: String,
    currency: String,
    entries: i64,
    gross: Option<i64>,
    refunded: Option<i64>,
    commission: Option<i64>,
    reserve: Option<i64>,
    affiliate: Option<i64>,
    net: Option<i64>,
}

/// The invariant of the running totals: for every Malet and currency (or one Malet's), the totals
/// row equals the sums of the entries. Returns the pairs where they differ, with both values
/// (empty when the books agree). A full scan: for checks and tests, not for requests.
pub async fn totals_mismatches<C: ConnectionTrait>(conn: &C, malet_id: Option<&str>) -> Result<Vec<String>, DbErr> {
    let mut query = commission_ledger::Entity::find()
        .select_only()
        .column(commission_ledger::Column::MaletId)
        .column(commission_ledger::Column::Currency)
        .column_as(commission_ledger::Column::Id.count(), "entries")
        .column_as(service_core::db::sum_bigint("gross_amount"), "gross")
        .column_as(service_core::db::sum_bigint("refunded_amount"), "refunded")
        .column_as(service_core::db::sum_bigint("commission_amount"), "commission")
        .column_as(service_core::db::sum_bigint("reserve_amount"), "reserve")
        .column_as(service_core::db::sum_bigint("affiliate_amount"), "affiliate")
        .column_as(service_core::db::sum_bigint("net_payout"), "net")
        .group_by(commission_ledger::Column::MaletId)
        .group_by(commission_ledger::Column::Currency);
    let mut totals = malet_ledger_totals::Entity::find();
    if let Some(m) = malet_id {
        query = query.filter(commission_ledger::Column::MaletId.eq(m));
        totals = totals.filter(malet_ledger_totals::Column::MaletId.eq(m));
    }
    let sums = query.into_model::<Sums>().all(conn).await?;
    let mut rows: std::collections::BTreeMap<(String, String), malet_ledger_totals::Model> =
        totals.all(conn).await?.into_iter().map(|t| ((t.malet_id.clone(), t.currency.clone()), t)).collect();
    let mut out = Vec::new();
    for s in sums {
        let expected = malet_ledger_totals::Model {
            malet_id: s.malet_id.clone(),
            currency: s.currency.clone(),
            entries: s.entries,
            gross: s.gross.unwrap_or(0),
            refunded: s.refunded.unwrap_or(0),
            commission: s.commission.unwrap_or(0),
            reserve: s.reserve.unwrap_or(0),
            affiliate: s.affiliate.unwrap_or(0),
            net: s.net.unwrap_or(0),
        };
        match rows.remove(&(s.malet_id, s.currency)) {
            Some(row) if row == expected => {}
            other => out.push(format!("sums {expected:?} but totals {other:?}")),
        }
    }
    out.extend(
        rows.into_values().filter(|r| r.entries != 0 || r.gross != 0).map(|r| format!("totals {r:?} without entries")),
    );
    Ok(out)
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
        .filter(payment_exceptions::Column::Provider.eq(entity::enums::Provider::from(provider)))
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

/// The posting with this idempotency key.
pub async fn posting_by_key<C: ConnectionTrait>(
    conn: &C,
    key: &str,
) -> Result<Option<entity::ledger_postings::Model>, DbErr> {
    use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _};
    entity::ledger_postings::Entity::find()
        .filter(entity::ledger_postings::Column::IdempotencyKey.eq(key))
        .one(conn)
        .await
}

pub async fn posting_exists<C: ConnectionTrait>(conn: &C, key: &str) -> Result<bool, DbErr> {
    Ok(posting_by_key(conn, key).await?.is_some())
}
