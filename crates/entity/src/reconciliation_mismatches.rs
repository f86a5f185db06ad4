use sea_orm::entity::prelude::*;

/// A difference reconciliation found between our books and the provider's records, kept once
/// (by its fingerprint) with its resolution.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reconciliation_mismatches")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub provider: crate::enums::Provider,
    /// Class, object and the ids on both sides: a later run finds the same row.
    pub fingerprint: String,
    pub class: crate::enums::MismatchClass,
    pub object_kind: crate::enums::ReconObject,
    pub our_ref: Option<String>,
    pub provider_ref: Option<String>,
    pub our_amount: Option<i64>,
    pub provider_amount: Option<i64>,
    pub currency: Option<String>,
    /// Our side and the provider's, as JSON.
    pub ours: Option<String>,
    pub theirs: Option<String>,
    pub detail: String,
    pub occurred_at: DateTimeUtc,
    pub state: crate::enums::MismatchState,
    pub resolution_reason: Option<String>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTimeUtc>,
    pub first_seen_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
