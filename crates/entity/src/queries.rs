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

/// What a seller statement shows of a sale: its order, gross and processing fee (which never
/// change) and the commission, reserve, affiliate share and net its EARNING posting recorded
/// (what the sale split into when it was paid, before any later refund or adjustment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleFacts {
    pub ledger_id: String,
    pub order_id: String,
    pub gross: i64,
    pub processing_fee: i64,
    /// `None` when the entry has no EARNING posting (not expected).
    pub earning: Option<EarningSplit>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EarningSplit {
    pub commission: i64,
    pub reserve: i64,
    pub affiliate: i64,
    pub net: i64,
}

/// Ids per `IN (…)` list (well inside every backend's bind-parameter limit).
const IN_CHUNK: usize = 500;

/// The sale facts of the given ledger entries (payments' statements read murchases' ledger
/// through this, read-only). Unknown ids are left out.
pub async fn sale_facts<C: ConnectionTrait>(conn: &C, ledger_ids: &[String]) -> Result<Vec<SaleFacts>, DbErr> {
    use sea_orm::QuerySelect;

    use crate::{commission_ledger as l, ledger_postings as p};
    let mut out = Vec::with_capacity(ledger_ids.len());
    for ids in ledger_ids.chunks(IN_CHUNK) {
        let entries: Vec<(String, String, i64, i64)> = l::Entity::find()
            .select_only()
            .columns([l::Column::Id, l::Column::OrderId, l::Column::GrossAmount, l::Column::ProcessingFee])
            .filter(l::Column::Id.is_in(ids.iter().cloned()))
            .into_tuple()
            .all(conn)
            .await?;
        let earnings: Vec<(String, i64, i64, i64, i64)> = p::Entity::find()
            .select_only()
            .columns([
                p::Column::LedgerId,
                p::Column::CommissionDelta,
                p::Column::ReserveDelta,
                p::Column::AffiliateDelta,
                p::Column::NetDelta,
            ])
            .filter(p::Column::LedgerId.is_in(ids.iter().cloned()))
            .filter(p::Column::Kind.eq(crate::enums::PostingKind::Earning))
            .into_tuple()
            .all(conn)
            .await?;
        let split: std::collections::HashMap<String, EarningSplit> = earnings
            .into_iter()
            .map(|(id, commission, reserve, affiliate, net)| (id, EarningSplit { commission, reserve, affiliate, net }))
            .collect();
        out.extend(entries.into_iter().map(|(ledger_id, order_id, gross, processing_fee)| SaleFacts {
            earning: split.get(&ledger_id).copied(),
            ledger_id,
            order_id,
            gross,
            processing_fee,
        }));
    }
    Ok(out)
}
