//! Shopify as a storefront (issue 14, R-HOOK-5): webhook verification ([`webhook`]) and the
//! transformers of its order and refund payloads into neutral storefront events
//! ([`transformers`]). Shopify pays nobody here: the money of a Shopify order arrives through a
//! payment provider (Stripe, PayPal) whose payment names the order in its metadata.

pub mod transformers;
pub mod webhook;

/// The headers Shopify sends with every webhook delivery.
pub const HMAC_HEADER: &str = "x-shopify-hmac-sha256";
pub const TOPIC_HEADER: &str = "x-shopify-topic";
pub const SHOP_HEADER: &str = "x-shopify-shop-domain";
pub const WEBHOOK_ID_HEADER: &str = "x-shopify-webhook-id";
pub const EVENT_ID_HEADER: &str = "x-shopify-event-id";
