//! Rates: fractions in `[0, 1]` over `rust_decimal::Decimal` (R-MONEY-1).

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::{MoneyError, Rounding, round_minor};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    #[error("rate {0} is outside [0, 1]")]
    OutOfRange(Decimal),
    #[error("rate {0:?} is not a decimal number")]
    NotANumber(String),
}

/// A fraction between 0 and 1 inclusive, e.g. `0.08` for 8%.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
/// Serialized as a decimal string (`"0.08"`): a float in a config file is refused.
#[serde(try_from = "String", into = "String")]
pub struct Rate(Decimal);

impl Rate {
    pub const ZERO: Rate = Rate(Decimal::ZERO);
    pub const ONE: Rate = Rate(Decimal::ONE);

    pub fn new(value: Decimal) -> Result<Self, RateError> {
        if value < Decimal::ZERO || value > Decimal::ONE {
            return Err(RateError::OutOfRange(value));
        }
        Ok(Rate(value.normalize()))
    }

    /// A percentage such as `10` for 10%.
    pub fn from_percent(percent: Decimal) -> Result<Self, RateError> {
        let value = percent.checked_div(Decimal::ONE_HUNDRED).ok_or(RateError::OutOfRange(percent))?;
        Rate::new(value)
    }

    pub fn value(&self) -> Decimal {
        self.0
    }

    pub fn percent(&self) -> Decimal {
        (self.0 * Decimal::ONE_HUNDRED).normalize()
    }

    /// `amount × rate` rounded to the minor unit with the named strategy.
    pub fn apply(&self, amount: i64, rounding: Rounding) -> Result<i64, MoneyError> {
        let exact = Decimal::from(amount).checked_mul(self.0).ok_or(MoneyError::Overflow)?;
        round_minor(exact, rounding)
    }

    /// `1 − rate`.
    pub fn complement(&self) -> Rate {
        Rate(Decimal::ONE - self.0)
    }
}

impl FromStr for Rate {
    type Err = RateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let d = Decimal::from_str(s.trim()).map_err(|_| RateError::NotANumber(s.to_owned()))?;
        Rate::new(d)
    }
}

impl TryFrom<Decimal> for Rate {
    type Error = RateError;
    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        Rate::new(value)
    }
}

impl TryFrom<String> for Rate {
    type Error = RateError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Rate> for String {
    fn from(value: Rate) -> Self {
        value.0.to_string()
    }
}

impl From<Rate> for Decimal {
    fn from(value: Rate) -> Self {
        value.0
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn rejects_out_of_range_and_garbage() {
        assert!(Rate::new(dec!(-0.01)).is_err());
        assert!(Rate::new(dec!(1.01)).is_err());
        assert!("abc".parse::<Rate>().is_err());
        assert!("NaN".parse::<Rate>().is_err());
        assert_eq!("0.08".parse::<Rate>().map(|r| r.value()), Ok(dec!(0.08)));
        assert_eq!(Rate::from_percent(dec!(10)).map(|r| r.value()), Ok(dec!(0.1)));
    }

    #[test]
    fn apply_rounds_half_even() {
        let r = Rate::new(dec!(0.5)).expect("rate");
        assert_eq!(r.apply(5, Rounding::HalfEven), Ok(2));
        assert_eq!(r.apply(7, Rounding::HalfEven), Ok(4));
        assert_eq!(Rate::ONE.apply(i64::MAX, Rounding::HalfEven), Ok(i64::MAX));
    }
}
