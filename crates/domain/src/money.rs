//! Money: an `i64` count of a currency's minor unit plus the currency (R-MONEY-1, R-MONEY-4).
//!
//! Every operation is checked: overflow and currency mismatch are errors, never panics or wraps.

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// Errors of money arithmetic and parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown or unsupported currency code {0:?}")]
    UnknownCurrency(String),
    #[error("currency mismatch: {left} and {right} cannot be combined")]
    CurrencyMismatch { left: Currency, right: Currency },
    #[error("amount overflow")]
    Overflow,
    #[error("amount must not be negative, got {0}")]
    Negative(i64),
    #[error("amount must be greater than zero")]
    NotPositive,
    #[error("amount {0:?} is not an integer count of minor units")]
    NotInteger(String),
}

/// ISO 4217 currencies the platform settles in, with their minor-unit exponent.
/// The list is deliberately explicit: an unknown code is rejected rather than guessed.
const CURRENCIES: &[(&str, u32)] = &[
    ("USD", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("CAD", 2),
    ("AUD", 2),
    ("NZD", 2),
    ("CHF", 2),
    ("SEK", 2),
    ("NOK", 2),
    ("DKK", 2),
    ("PLN", 2),
    ("CZK", 2),
    ("MXN", 2),
    ("BRL", 2),
    ("SGD", 2),
    ("HKD", 2),
    ("INR", 2),
    ("ZAR", 2),
    ("NGN", 2),
    ("KES", 2),
    ("GHS", 2),
    ("JPY", 0),
    ("KRW", 0),
    ("VND", 0),
    ("CLP", 0),
    ("UGX", 0),
    ("XOF", 0),
    ("XAF", 0),
];

/// A validated ISO 4217 currency code (upper case, from the supported list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    pub const USD: Currency = Currency(*b"USD");
    pub const EUR: Currency = Currency(*b"EUR");
    pub const JPY: Currency = Currency(*b"JPY");

    /// Parses a code case-insensitively (`usd` from Stripe, `USD` from GraphQL).
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        let upper = code.trim().to_ascii_uppercase();
        CURRENCIES
            .iter()
            .find(|(c, _)| *c == upper)
            .and_then(|(c, _)| c.as_bytes().try_into().ok())
            .map(Currency)
            .ok_or_else(|| MoneyError::UnknownCurrency(code.to_owned()))
    }

    pub fn code(&self) -> &str {
        // The bytes always come from the ASCII table above.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Lower-case code, the form Stripe uses.
    pub fn lower(&self) -> String {
        self.code().to_ascii_lowercase()
    }

    /// Number of decimal places of the minor unit (2 for USD, 0 for JPY).
    pub fn exponent(&self) -> u32 {
        CURRENCIES.iter().find(|(c, _)| c.as_bytes() == self.0).map(|(_, e)| *e).unwrap_or(2)
    }

    /// Minor units of a decimal amount string in this currency (`"100.00"` USD → 10000,
    /// `"1000"` JPY → 1000), exactly: never through a float. Refused: anything but an optional
    /// `-`, digits and at most one `.` with digits; more decimal places than the currency has
    /// (`"10.005"` USD, `"1000.5"` JPY); amounts beyond `i64`.
    pub fn minor_from_decimal(&self, text: &str) -> Result<i64, MoneyError> {
        let invalid = || MoneyError::NotInteger(text.to_owned());
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = match digits.split_once('.') {
            Some((w, f)) => (w, f),
            None => (digits, ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && fraction.is_empty())
            || !all_digits(whole)
            || !all_digits(fraction)
            || (digits.contains('.') && fraction.is_empty())
        {
            return Err(invalid());
        }
        let exponent = self.exponent() as usize;
        // Trailing zeros beyond the currency's places are exact ("1000.00" JPY is 1000).
        let significant = fraction.trim_end_matches('0');
        if significant.len() > exponent {
            return Err(invalid());
        }
        let padded = format!("{whole}{fraction:0<exponent$}");
        let padded = &padded[..whole.len() + exponent];
        let magnitude: i128 = if padded.is_empty() { Ok(0) } else { padded.parse().map_err(|_| MoneyError::Overflow) }?;
        i64::try_from(if negative { -magnitude } else { magnitude }).map_err(|_| MoneyError::Overflow)
    }

    /// The decimal string of `minor` units in this currency (10000 USD → `"100.00"`, 1000 JPY →
    /// `"1000"`), the form PayPal and storefront APIs take.
    pub fn decimal_from_minor(&self, minor: i64) -> String {
        let exponent = self.exponent() as usize;
        let sign = if minor < 0 { "-" } else { "" };
        let digits = minor.unsigned_abs().to_string();
        if exponent == 0 {
            return format!("{sign}{digits}");
        }
        let digits = format!("{digits:0>width$}", width = exponent + 1);
        let (whole, fraction) = digits.split_at(digits.len() - exponent);
        format!("{sign}{whole}.{fraction}")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Currency::parse(&value)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.code().to_owned()
    }
}

/// An amount of money: minor units and currency. May be negative (a balance can be).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    pub const fn new(minor: i64, currency: Currency) -> Self {
        Money { minor, currency }
    }

    pub const fn zero(currency: Currency) -> Self {
        Money { minor: 0, currency }
    }

    /// A non-negative amount (a price, a refund request).
    pub fn non_negative(minor: i64, currency: Currency) -> Result<Self, MoneyError> {
        if minor < 0 {
            return Err(MoneyError::Negative(minor));
        }
        Ok(Money { minor, currency })
    }

    /// A strictly positive amount (a charge, a refund).
    pub fn positive(minor: i64, currency: Currency) -> Result<Self, MoneyError> {
        if minor <= 0 {
            return Err(MoneyError::NotPositive);
        }
        Ok(Money { minor, currency })
    }

    pub const fn minor(&self) -> i64 {
        self.minor
    }

    pub const fn currency(&self) -> Currency {
        self.currency
    }

    fn same_currency(&self, other: &Money) -> Result<(), MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch { left: self.currency, right: other.currency });
        }
        Ok(())
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(&other)?;
        let minor = self.minor.checked_add(other.minor).ok_or(MoneyError::Overflow)?;
        Ok(Money { minor, currency: self.currency })
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(&other)?;
        let minor = self.minor.checked_sub(other.minor).ok_or(MoneyError::Overflow)?;
        Ok(Money { minor, currency: self.currency })
    }

    /// Sums amounts of one currency; an empty iterator sums to zero in `currency`.
    pub fn sum<I: IntoIterator<Item = Money>>(currency: Currency, items: I) -> Result<Money, MoneyError> {
        items.into_iter().try_fold(Money::zero(currency), Money::checked_add)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.minor, self.currency)
    }
}

/// Parses an amount written as a string of minor units (Stripe metadata values):
/// digits only, optional leading minus is rejected, no decimals.
pub fn parse_minor_units(text: &str) -> Result<i64, MoneyError> {
    let t = text.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        if t.starts_with('-') && t.len() > 1 && t[1..].bytes().all(|b| b.is_ascii_digit()) {
            return Err(MoneyError::Negative(t.parse::<i64>().unwrap_or(i64::MIN)));
        }
        return Err(MoneyError::NotInteger(text.to_owned()));
    }
    t.parse::<i64>().map_err(|_| MoneyError::Overflow)
}

/// The only rounding strategies money code may use; each call names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// Banker's rounding: ties go to the even neighbour (R-MONEY-2, every computed part).
    HalfEven,
    /// Towards zero: used only for the floor step of largest-remainder allocation.
    Down,
}

/// Rounds an exact decimal amount of minor units to an integer with the named strategy.
pub fn round_minor(value: Decimal, rounding: Rounding) -> Result<i64, MoneyError> {
    let strategy = match rounding {
        Rounding::HalfEven => RoundingStrategy::MidpointNearestEven,
        Rounding::Down => RoundingStrategy::ToZero,
    };
    let rounded = value.round_dp_with_strategy(0, strategy);
    i64::try_from(rounded).map_err(|_| MoneyError::Overflow)
}

/// `amount × numerator / denominator`, computed exactly in `i128` and rounded with `rounding`.
/// Used for proportional clawbacks (R-REF-1). The denominator must be positive.
pub fn mul_div(amount: i64, numerator: i64, denominator: i64, rounding: Rounding) -> Result<i64, MoneyError> {
    if denominator <= 0 {
        return Err(MoneyError::NotPositive);
    }
    let product = i128::from(amount) * i128::from(numerator);
    let den = i128::from(denominator);
    let result = match rounding {
        Rounding::Down => product / den,
        Rounding::HalfEven => {
            let (q, r) = (product.div_euclid(den), product.rem_euclid(den));
            match (2 * r).cmp(&den) {
                std::cmp::Ordering::Less => q,
                std::cmp::Ordering::Greater => q + 1,
                std::cmp::Ordering::Equal => q + (q & 1),
            }
        }
    };
    i64::try_from(result).map_err(|_| MoneyError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_convert_exactly_by_the_currency_exponent() {
        let usd = Currency::USD;
        assert_eq!(usd.minor_from_decimal("100.00"), Ok(10_000));
        assert_eq!(usd.minor_from_decimal("20.08"), Ok(2008));
        assert_eq!(usd.minor_from_decimal("0.1"), Ok(10));
        assert_eq!(usd.minor_from_decimal("40"), Ok(4000));
        assert_eq!(usd.minor_from_decimal(".5"), Ok(50));
        assert_eq!(usd.minor_from_decimal("-3.20"), Ok(-320));
        assert_eq!(usd.minor_from_decimal("1.230"), Ok(123));
        assert_eq!(Currency::JPY.minor_from_decimal("1000"), Ok(1000));
        assert_eq!(Currency::JPY.minor_from_decimal("1000.00"), Ok(1000));
        for bad in ["10.005", "1e3", "", ".", "1.", "1,00", " 1.00", "+1", "0x10", "1.2.3", "--1", "NaN"] {
            assert!(usd.minor_from_decimal(bad).is_err(), "{bad:?}");
        }
        assert!(Currency::JPY.minor_from_decimal("1000.5").is_err());
        assert_eq!(usd.minor_from_decimal("92233720368547758.07"), Ok(i64::MAX));
        assert_eq!(usd.minor_from_decimal("92233720368547758.08"), Err(MoneyError::Overflow));
        assert_eq!(usd.minor_from_decimal("-92233720368547758.08"), Ok(i64::MIN));
        assert_eq!(usd.decimal_from_minor(i64::MIN), "-92233720368547758.08");
        assert_eq!(usd.decimal_from_minor(2008), "20.08");
        assert_eq!(usd.decimal_from_minor(5), "0.05");
        assert_eq!(usd.decimal_from_minor(-320), "-3.20");
        assert_eq!(Currency::JPY.decimal_from_minor(1000), "1000");
    }

    proptest::proptest! {
        #[test]
        fn decimal_strings_round_trip(minor in proptest::prelude::any::<i64>(), jpy in proptest::prelude::any::<bool>()) {
            let currency = if jpy { Currency::JPY } else { Currency::USD };
            let text = currency.decimal_from_minor(minor);
            proptest::prop_assert_eq!(currency.minor_from_decimal(&text), Ok(minor));
        }
    }

    #[test]
    fn currency_parses_case_insensitively_and_rejects_unknown() {
        assert_eq!(Currency::parse("usd"), Ok(Currency::USD));
        assert_eq!(Currency::parse("JPY").map(|c| c.exponent()), Ok(0));
        assert!(matches!(Currency::parse("XYZ"), Err(MoneyError::UnknownCurrency(_))));
        assert!(matches!(Currency::parse(""), Err(MoneyError::UnknownCurrency(_))));
        assert!(matches!(Currency::parse("US"), Err(MoneyError::UnknownCurrency(_))));
    }

    #[test]
    fn arithmetic_is_checked() {
        let a = Money::new(i64::MAX, Currency::USD);
        assert_eq!(a.checked_add(Money::new(1, Currency::USD)), Err(MoneyError::Overflow));
        let b = Money::new(i64::MIN, Currency::USD);
        assert_eq!(b.checked_sub(Money::new(1, Currency::USD)), Err(MoneyError::Overflow));
        assert!(matches!(
            Money::new(1, Currency::USD).checked_add(Money::new(1, Currency::EUR)),
            Err(MoneyError::CurrencyMismatch { .. })
        ));
        assert_eq!(Money::non_negative(-1, Currency::USD), Err(MoneyError::Negative(-1)));
        assert_eq!(Money::positive(0, Currency::USD), Err(MoneyError::NotPositive));
    }

    #[test]
    fn minor_units_parse_strictly() {
        assert_eq!(parse_minor_units("10000"), Ok(10000));
        assert!(matches!(parse_minor_units("-5"), Err(MoneyError::Negative(-5))));
        assert!(matches!(parse_minor_units("10.5"), Err(MoneyError::NotInteger(_))));
        assert!(matches!(parse_minor_units("abc"), Err(MoneyError::NotInteger(_))));
        assert_eq!(parse_minor_units("99999999999999999999"), Err(MoneyError::Overflow));
    }

    #[test]
    fn half_even_rounding() {
        use rust_decimal::Decimal;
        let d = |s: &str| s.parse::<Decimal>().expect("decimal");
        assert_eq!(round_minor(d("2.5"), Rounding::HalfEven), Ok(2));
        assert_eq!(round_minor(d("3.5"), Rounding::HalfEven), Ok(4));
        assert_eq!(round_minor(d("-2.5"), Rounding::HalfEven), Ok(-2));
        assert_eq!(round_minor(d("2.51"), Rounding::HalfEven), Ok(3));
        assert_eq!(round_minor(d("2.9"), Rounding::Down), Ok(2));
    }

    #[test]
    fn mul_div_rounds_half_even_exactly() {
        assert_eq!(mul_div(800, 4000, 10000, Rounding::HalfEven), Ok(320));
        assert_eq!(mul_div(5, 1, 2, Rounding::HalfEven), Ok(2)); // 2.5 -> 2
        assert_eq!(mul_div(7, 1, 2, Rounding::HalfEven), Ok(4)); // 3.5 -> 4
        assert_eq!(mul_div(i64::MAX, i64::MAX, i64::MAX, Rounding::HalfEven), Ok(i64::MAX));
        assert_eq!(mul_div(i64::MAX, 2, 1, Rounding::HalfEven), Err(MoneyError::Overflow));
        assert_eq!(mul_div(1, 1, 0, Rounding::HalfEven), Err(MoneyError::NotPositive));
        assert_eq!(mul_div(-5, 1, 2, Rounding::HalfEven), Ok(-2));
        assert_eq!(mul_div(-7, 1, 2, Rounding::Down), Ok(-3));
    }
}
