//! GraphQL scalars shared by both subgraphs.

use async_graphql::{InputValueError, InputValueResult, Number, Scalar, ScalarType, Value};

/// `Long`: a 64-bit signed count of minor units, for lifetime totals and summaries that can
/// exceed GraphQL's 32-bit `Int` (R-MONEY-5). Serialized as a JSON number; values up to
/// 2^53 − 1 (about 90 trillion dollars in cents) pass exactly through JavaScript routers, and
/// larger inputs are rejected rather than rounded, and a larger output is a typed error
/// (`VALUE_OUT_OF_RANGE`), never a number a router would round (R-MONEY-5, R-TRUST-4).
/// The value is private: a `Long` is only made by the checked constructors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Long(i64);

/// The largest integer JavaScript represents exactly.
pub const MAX_SAFE: i64 = (1 << 53) - 1;

impl Long {
    /// A value for the API; beyond ±(2^53 − 1) it is refused.
    pub fn new(value: i64) -> Result<Self, crate::graphql::ApiError> {
        if (-MAX_SAFE..=MAX_SAFE).contains(&value) {
            Ok(Long(value))
        } else {
            tracing::error!(value, "a Long value exceeds 2^53 - 1 and is not served");
            Err(crate::graphql::ApiError::OutOfRange(
                "the value exceeds 2^53 - 1 and cannot be represented exactly".into(),
            ))
        }
    }

    /// A row count.
    pub fn count(n: u64) -> Result<Self, crate::graphql::ApiError> {
        Self::new(i64::try_from(n).unwrap_or(i64::MAX))
    }

    pub fn value(&self) -> i64 {
        self.0
    }
}

#[Scalar(name = "Long")]
impl ScalarType for Long {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::Number(n) => match n.as_i64() {
                Some(v) if (-MAX_SAFE..=MAX_SAFE).contains(&v) => Ok(Long(v)),
                _ => Err(InputValueError::custom("Long must be an integer within ±(2^53 − 1)")),
            },
            Value::String(s) => s
                .parse::<i64>()
                .ok()
                .filter(|v| (-MAX_SAFE..=MAX_SAFE).contains(v))
                .map(Long)
                .ok_or_else(|| InputValueError::custom("Long must be an integer within ±(2^53 − 1)")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::Number(Number::from(self.0))
    }
}

/// A per-entry amount as GraphQL `Int` (32-bit). Entry amounts fit it; a value that does not
/// is an error, never a silent truncation.
pub fn int32(amount: i64) -> Result<i32, crate::graphql::ApiError> {
    i32::try_from(amount).map_err(|_| {
        crate::graphql::ApiError::internal(format!("amount {amount} exceeds GraphQL Int; use the Long field"))
    })
}

/// The GraphQL `Float` of a rate (the seed's `commissionRate: Float!`,
/// `rollingReservePercent: Float!`). This is the one place a decimal becomes a float: for
/// display only, at the API boundary; the exact value travels as a decimal string next to it.
pub type DisplayFloat = f64;

/// Converts an exact decimal to its display float.
pub fn display_float(value: rust_decimal::Decimal) -> Result<DisplayFloat, crate::graphql::ApiError> {
    use rust_decimal::prelude::ToPrimitive;
    value.to_f64().ok_or_else(|| crate::graphql::ApiError::internal(format!("{value} is not representable")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_carries_totals_beyond_32_bits_and_refuses_unsafe_integers() {
        let big = i64::from(i32::MAX) + 1;
        assert_eq!(Long::new(big).map(|l| l.to_value()).ok(), Some(Value::Number(Number::from(big))));
        assert!(Long::new(MAX_SAFE).is_ok() && Long::new(-MAX_SAFE).is_ok());
        let refused = Long::new(MAX_SAFE + 1).expect_err("beyond 2^53 - 1");
        assert_eq!(refused.code(), "VALUE_OUT_OF_RANGE");
        assert!(Long::new(i64::MAX).is_err() && Long::new(i64::MIN).is_err());
        assert_eq!(<Long as ScalarType>::parse(Value::Number(Number::from(big))).ok(), Some(Long(big)));
        assert_eq!(<Long as ScalarType>::parse(Value::Number(Number::from(MAX_SAFE))).ok(), Some(Long(MAX_SAFE)));
        assert!(<Long as ScalarType>::parse(Value::Number(Number::from(MAX_SAFE + 1))).is_err());
        assert!(<Long as ScalarType>::parse(Value::String("12.5".into())).is_err());
        assert_eq!(<Long as ScalarType>::parse(Value::String("-7".into())).ok(), Some(Long(-7)));
        assert!(int32(big).is_err());
        assert_eq!(int32(i64::from(i32::MAX)).ok(), Some(i32::MAX));
    }
}
