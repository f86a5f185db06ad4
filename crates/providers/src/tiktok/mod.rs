//! TikTok Shop as a storefront (issue 14 item 4, R-HOOK-5): webhook verification ([`webhook`]),
//! the transformers of its notifications and of its Get Order Detail answer into neutral
//! storefront types ([`transformers`]), and the Partner API client that reads an order's detail
//! ([`client`]): a notification carries an order's id and status, never its amounts.
//!
//! TikTok Shop collects the buyer's money and pays the seller itself: no payment of ours names
//! these orders. The platform's commission on one is therefore owed by the seller (a receivable),
//! not withheld from a payment.
//!
//! Sources (the public Partner API documents, version 202309, and its official SDK's models):
//! `tests/fixtures/tiktok/README.md`.

pub mod client;
pub mod transformers;
pub mod webhook;

/// The header a notification's signature arrives in (no `Bearer` prefix).
pub const SIGNATURE_HEADER: &str = "authorization";
