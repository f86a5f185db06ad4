//! WooCommerce as a storefront (issue 14, R-HOOK-5): webhook verification and the setup ping
//! ([`webhook`]), the transformers of its REST v3 order and refund objects into neutral
//! storefront events ([`transformers`]), and a REST client ([`client`]) for what a webhook does
//! not carry (a refund's lines) and for the backfill of orders whose delivery was missed
//! (WooCommerce disables a webhook after repeated failures and does not redeliver). WooCommerce
//! pays nobody here: the money arrives through a payment provider whose payment names the order.

pub mod client;
pub mod transformers;
pub mod webhook;

/// The headers WooCommerce sends with every delivery (`WC_Webhook::deliver`).
pub const SIGNATURE_HEADER: &str = "x-wc-webhook-signature";
/// The site's home URL with a trailing slash: which shop it is.
pub const SOURCE_HEADER: &str = "x-wc-webhook-source";
pub const TOPIC_HEADER: &str = "x-wc-webhook-topic";
pub const DELIVERY_ID_HEADER: &str = "x-wc-webhook-delivery-id";
pub const WEBHOOK_ID_HEADER: &str = "x-wc-webhook-id";
