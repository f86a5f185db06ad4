//! The pure revenue-sharing domain. No web, GraphQL or database crates here: everything is
//! plain values and functions, tested to the cent.

pub mod allocation;
pub mod commission;
pub mod events;
pub mod ids;
pub mod ledger_events;
pub mod lifecycle;
pub mod metadata;
pub mod money;
pub mod orders;
pub mod permissions;
pub mod provider;
pub mod rate;
pub mod refund;
pub mod reserve;
pub mod schedule;
pub mod storefront;

pub use commission::{Breakdown, CommissionConfig, CommissionError, CommissionRule, OrderAmounts, Tier};
pub use ids::{IdError, MaletId, OrderId, RecordId};
pub use lifecycle::{AccountStatus, LedgerStatus, TransitionError};
pub use money::{Currency, Money, MoneyError, Rounding};
pub use permissions::{AccessDenied, Actor, Permission};
pub use rate::Rate;
