//! What the storefront transformers share: ids and amounts as storefronts write them (ids as
//! JSON numbers or strings, amounts as decimal strings of the store's currency, read exactly).

use domain::money::Currency;

use crate::events::MalformedEvent;

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
