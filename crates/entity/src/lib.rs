//! sea-orm entities, one module per table (the schema lives in `migrations/`).
//!
//! Rates are stored as canonical decimal text and parsed into `domain::Rate` by the repositories:
//! sea-orm reads SQLite DECIMAL values through `f64`, which money code must never do.

pub mod account_balances;
pub mod affiliate_payouts;
pub mod affiliates;
pub mod audit_log;
pub mod balance_movements;
pub mod checkouts;
pub mod commission_ledger;
pub mod commission_receivables;
pub mod commission_rules;
pub mod connected_accounts;
pub mod disputes;
pub mod enums;
pub mod fee_refunds;
pub mod ledger_postings;
pub mod malet_ledger_totals;
pub mod malet_settings;
pub mod outbox;
pub mod outgoing_movements;
pub mod payment_exceptions;
pub mod payouts;
pub mod provider_refunds;
pub mod queries;
pub mod receivable_givebacks;
pub mod receivable_recoveries;
pub mod reconciliation_mismatches;
pub mod refunds;
pub mod reserve_holds;
pub mod storefront_deliveries;
pub mod storefront_order_lines;
pub mod storefront_orders;
pub mod storefront_payment_waits;
pub mod storefront_refunds;
pub mod storefront_shops;
pub mod webhook_events;
