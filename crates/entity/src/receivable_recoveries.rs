use sea_orm::entity::prelude::*;

/// One recovery of a receivable from one of the seller's earnings (a reversal of that
/// payment's transfer), at most once per receivable and earning.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "receivable_recoveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub receivable_id: String,
    /// The earning it is taken from.
    pub ledger_id: String,
    /// Its outgoing movement (the transfer reversal); for a NETTED one, its own id.
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
