//! What the storefront transformers share: ids and amounts as storefronts write them (ids as
//! JSON numbers or strings, amounts as decimal strings of the store's currency, read exactly).

use domain::money::Currency;
use domain::storefront::{Platform, StorefrontEvent, StorefrontEventKind};

use crate::events::MalformedEvent;

/// Defines `malformed`, `id_text` and `minor` in a storefront transformer, bound to its
/// platform's name (what its errors start with).
macro_rules! platform_readers {
    ($platform:literal) => {
        fn malformed(what: impl std::fmt::Display) -> $crate::events::MalformedEvent {
            $crate::storefront_json::malformed($platform, what)
        }

        fn id_text(v: &serde_json::Value, what: &str) -> Result<String, $crate::events::MalformedEvent> {
            $crate::storefront_json::id_text($platform, v, what)
        }

        fn minor(
            currency: domain::money::Currency,
            text: &str,
            what: &str,
        ) -> Result<i64, $crate::events::MalformedEvent> {
            $crate::storefront_json::minor($platform, currency, text, what)
        }
    };
}
pub(crate) use platform_readers;

/// A malformed body of `platform`'s.
pub(crate) fn malformed(platform: &str, what: impl std::fmt::Display) -> MalformedEvent {
    MalformedEvent(format!("{platform}: {what}"))
}

/// Our text form of a storefront id (a JSON number, or a string in some payloads).
pub(crate) fn id_text(platform: &str, v: &serde_json::Value, what: &str) -> Result<String, MalformedEvent> {
    match v {
        serde_json::Value::Number(n) if n.is_u64() => Ok(n.to_string()),
        serde_json::Value::String(s) if !s.is_empty() && s.len() <= 200 => Ok(s.clone()),
        _ => Err(malformed(platform, format!("{what} is not an id"))),
    }
}

/// A decimal amount of `currency` in minor units, exactly.
pub(crate) fn minor(platform: &str, currency: Currency, text: &str, what: &str) -> Result<i64, MalformedEvent> {
    currency.minor_from_decimal(text.trim()).map_err(|e| malformed(platform, format!("{what} {text:?}: {e}")))
}

/// A topic the platform's transformer does not act on: still JSON (a body that is not is
/// malformed like any other).
pub(crate) fn unhandled(name: &str, body: &str) -> Result<StorefrontEventKind, MalformedEvent> {
    serde_json::from_str::<serde::de::IgnoredAny>(body).map_err(|e| malformed(name, format!("not JSON: {e}")))?;
    Ok(StorefrontEventKind::Unhandled)
}

/// The neutral event of a delivery.
pub(crate) fn event(
    platform: Platform,
    shop: &str,
    delivery_id: &str,
    topic: &str,
    kind: StorefrontEventKind,
) -> StorefrontEvent {
    StorefrontEvent {
        platform,
        shop: shop.to_owned(),
        delivery_id: delivery_id.to_owned(),
        topic: topic.to_owned(),
        kind,
    }
}
