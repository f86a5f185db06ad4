//! Database access of the payments subgraph. It writes only its own tables
//! (connected_accounts, balance_movements, reserve_holds, payouts, disputes, audit_log) and
//! marks consumed outbox events; it reads murchases' ledger only to find the account of a
//! disputed charge.

pub mod accounts;
pub mod movements;
pub mod statements;
