//! The `payments` subgraph: connected payout accounts, onboarding, payout schedules, balances.

pub mod config;
pub mod startup;
