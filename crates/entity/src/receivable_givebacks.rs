use sea_orm::entity::prelude::*;

/// What the seller paid of a receivable beyond what it owes after a refund (or a cancellation)
/// of the order, given back: a transfer to the seller from the earning a recovery took it from.
/// A gift the provider refused stays FAILED and counted as given: the seller's balance shows the
/// money as its own, and finance pays it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "receivable_givebacks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub receivable_id: String,
    /// The recovery it gives back part of.
    pub recovery_id: String,
    /// That recovery's earning.
    pub ledger_id: String,
    /// Its outgoing movement (the transfer); for a NETTED one, its own id.
    pub movement_id: String,
    pub method: crate::enums::RecoveryMethod,
    pub amount: i64,
    pub status: crate::enums::RecoveryStatus,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
