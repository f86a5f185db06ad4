//! Identifiers that arrive from outside (GraphQL arguments, JWT claims, provider metadata),
//! parsed once into canonical values (R-TRUST-3). A value that is not already canonical is
//! refused, never trimmed or normalized: the access decision and the write then use exactly the
//! same string.

use std::fmt;

/// The longest identifier accepted.
pub const MAX_ID_LEN: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} is not a valid identifier: {reason}")]
pub struct IdError {
    pub field: &'static str,
    pub reason: &'static str,
}

fn check(field: &'static str, raw: &str) -> Result<(), IdError> {
    if raw.is_empty() {
        return Err(IdError { field, reason: "it is empty" });
    }
    if raw.len() > MAX_ID_LEN {
        return Err(IdError { field, reason: "it is longer than 200 bytes" });
    }
    if raw.trim() != raw {
        return Err(IdError { field, reason: "it has surrounding whitespace" });
    }
    if raw.chars().any(char::is_control) {
        return Err(IdError { field, reason: "it contains control characters" });
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Parses a canonical identifier; surrounding whitespace, control characters, the
            /// empty string and overlong values are refused.
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                check($field, raw)?;
                Ok($name(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A Malet (shop) id.
    MaletId,
    "maletId"
);
id_type!(
    /// An order id, unique within its Malet.
    OrderId,
    "orderId"
);
id_type!(
    /// An affiliate (who sent the buyer), a payee of its share of each order (R-AFF).
    AffiliateId,
    "affiliateId"
);
id_type!(
    /// An id of one of our own records (connected account, ledger entry).
    RecordId,
    "id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_ids_parse_and_others_are_refused() {
        assert_eq!(MaletId::parse("malet-c").map(|m| m.to_string()), Ok("malet-c".to_owned()));
        for bad in ["", "malet-c ", " malet-c", "malet\u{0}c", "m\nc", "\u{7f}"] {
            assert!(MaletId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(MaletId::parse(&"x".repeat(201)).is_err());
        assert!(MaletId::parse(&"x".repeat(200)).is_ok());
        assert_eq!(OrderId::parse(" o").map_err(|e| e.field), Err("orderId"));
    }
}
