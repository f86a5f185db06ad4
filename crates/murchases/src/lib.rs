//! The `murchases` subgraph: the per-order commission ledger, refunds, admin commission rules.

pub mod config;
pub mod graphql;
pub mod http;
pub mod repo;
pub mod service;
pub mod startup;
