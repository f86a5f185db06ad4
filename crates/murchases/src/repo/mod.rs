//! Database reads and writes of the murchases subgraph. It writes only its own tables
//! (malet_settings, commission_rules, commission_ledger, ledger_postings, refunds,
//! payment_exceptions, checkouts, outbox, audit_log, affiliates, storefront_*) and reads payments' tables through the narrow
//! read-only queries in [`accounts`].

pub mod accounts;
pub mod checkouts;
pub mod ledger;
pub mod refunds;
pub mod rules;
pub mod storefronts;
