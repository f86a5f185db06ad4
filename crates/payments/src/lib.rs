//! The `payments` subgraph: connected payout accounts, onboarding, payout schedules, balances.

pub mod config;
pub mod graphql;
pub mod http;
pub mod repo;
pub mod service;
pub mod startup;
