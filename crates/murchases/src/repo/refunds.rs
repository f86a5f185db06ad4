//! Refund facts reported by the provider, and the application-fee refunds owed for clawbacks.

use domain::provider::ProviderKind;
use entity::{commission_ledger, fee_refunds, provider_refunds, refunds};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use service_core::clock;

pub use entity::enums::FeeRefundStatus;

/// Records a refund the provider reports (once per provider refund id).
pub async fn record_provider_refund<C: ConnectionTrait>(
    conn: &C,
    entry: &commission_ledger::Model,
    provider: ProviderKind,
    provider_refund_id: &str,
    amount: i64,
    source: &str,
) -> Result<(), DbErr> {
    provider_refunds::Entity::insert(provider_refunds::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        ledger_id: Set(entry.id.clone()),
        provider: Set(provider.into()),
        provider_refund_id: Set(provider_refund_id.to_owned()),
        amount: Set(amount),
        source: Set(source.to_owned()),
        created_at: Set(clock::now()),
    })
    .on_conflict_do_nothing_on([provider_refunds::Column::Provider, provider_refunds::Column::ProviderRefundId])
    .exec(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Default, FromQueryResult)]
struct Sum {
    total: Option<i64>,
}

/// The sum of the entry's refunds known by provider id.
pub async fn known_total<C: ConnectionTrait>(conn: &C, ledger_id: &str) -> Result<i64, DbErr> {
    Ok(provider_refunds::Entity::find()
        .select_only()
        .column_as(service_core::db::sum_bigint("amount"), "total")
        .filter(provider_refunds::Column::LedgerId.eq(ledger_id))
        .into_model::<Sum>()
        .one(conn)
        .await?
        .and_then(|s| s.total)
        .unwrap_or(0))
}

/// Whether a ledger refund posting already names this provider refund.
pub async fn posting_names_refund<C: ConnectionTrait>(conn: &C, provider_refund_id: &str) -> Result<bool, DbErr> {
    Ok(refunds::Entity::find().filter(refunds::Column::ProviderRefundId.eq(provider_refund_id)).count(conn).await? > 0)
}

/// The fee refunds of an entry that count against the fee the provider holds (sent or sending).
pub async fn fee_refunded_or_sending<C: ConnectionTrait>(conn: &C, ledger_id: &str) -> Result<i64, DbErr> {
    Ok(fee_refunds::Entity::find()
        .select_only()
        .column_as(service_core::db::sum_bigint("amount"), "total")
        .filter(fee_refunds::Column::LedgerId.eq(ledger_id))
        .filter(fee_refunds::Column::Status.is_in([FeeRefundStatus::Pending.as_str(), FeeRefundStatus::Sent.as_str()]))
        .into_model::<Sum>()
        .one(conn)
        .await?
        .and_then(|s| s.total)
        .unwrap_or(0))
}

/// Queues a fee refund row (a second queue with the same key is a no-op).
pub async fn queue_fee_refund<C: ConnectionTrait>(
    conn: &C,
    ledger_id: &str,
    amount: i64,
    status: FeeRefundStatus,
    key: &str,
) -> Result<(), DbErr> {
    let now = clock::now();
    fee_refunds::Entity::insert(fee_refunds::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        ledger_id: Set(ledger_id.to_owned()),
        amount: Set(amount),
        status: Set(status),
        idempotency_key: Set(key.to_owned()),
        provider_fee_refund_id: Set(None),
        attempts: Set(0),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict_do_nothing_on([fee_refunds::Column::IdempotencyKey])
    .exec(conn)
    .await?;
    Ok(())
}

/// Every fee refund row of an entry (for reads and tests).
pub async fn fee_refunds_of<C: ConnectionTrait>(conn: &C, ledger_id: &str) -> Result<Vec<fee_refunds::Model>, DbErr> {
    fee_refunds::Entity::find()
        .filter(fee_refunds::Column::LedgerId.eq(ledger_id))
        .order_by_asc(fee_refunds::Column::CreatedAt)
        .all(conn)
        .await
}

/// Fee refunds, newest first, optionally of one status.
pub async fn list_fee_refunds<C: ConnectionTrait>(
    conn: &C,
    status: Option<FeeRefundStatus>,
    limit: u64,
) -> Result<Vec<fee_refunds::Model>, DbErr> {
    let mut q = fee_refunds::Entity::find();
    if let Some(status) = status {
        q = q.filter(fee_refunds::Column::Status.eq(status.as_str()));
    }
    q.order_by_desc(fee_refunds::Column::CreatedAt).limit(limit).all(conn).await
}
