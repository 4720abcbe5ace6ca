//! Money in integer minor units (fen for CNY), never floats.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::DomainError;

/// An ISO 4217 currency code such as `CNY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    pub const CNY: Self = Self(*b"CNY");

    pub fn as_str(&self) -> &str {
        // Built only from ASCII uppercase letters.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl TryFrom<String> for Currency {
    type Error = DomainError;
    fn try_from(code: String) -> Result<Self, Self::Error> {
        let bytes = code.as_bytes();
        if bytes.len() == 3 && bytes.iter().all(u8::is_ascii_uppercase) {
            Ok(Self([bytes[0], bytes[1], bytes[2]]))
        } else {
            Err(DomainError::invalid(
                "currency",
                "a currency is three capital letters, e.g. CNY",
            ))
        }
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> Self {
        currency.as_str().to_owned()
    }
}

/// An amount of money: minor units (分) and a currency. Nothing else: a
/// field it does not know (`"major"`, `"amount"`) is refused, not ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// Minor units: 12900 is ¥129.00.
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn cny(minor: i64) -> Self {
        Self {
            minor,
            currency: Currency::CNY,
        }
    }

    pub fn zero(currency: Currency) -> Self {
        Self { minor: 0, currency }
    }

    pub fn is_positive(&self) -> bool {
        self.minor > 0
    }

    /// Checks an amount a user entered: positive and within a sane bound.
    pub fn check_positive(&self, field: &'static str) -> Result<(), DomainError> {
        const MAX_MINOR: i64 = 100_000_000_000; // ¥1,000,000,000.00
        if self.minor <= 0 {
            return Err(DomainError::invalid(
                field,
                "the amount must be greater than zero",
            ));
        }
        if self.minor > MAX_MINOR {
            return Err(DomainError::invalid(
                field,
                "the amount is implausibly large",
            ));
        }
        Ok(())
    }

    pub fn checked_add(self, other: Self) -> Result<Self, DomainError> {
        self.same_currency(other)?;
        self.minor
            .checked_add(other.minor)
            .map(|minor| Self {
                minor,
                currency: self.currency,
            })
            .ok_or(DomainError::MoneyOverflow)
    }

    pub fn checked_sub(self, other: Self) -> Result<Self, DomainError> {
        self.same_currency(other)?;
        self.minor
            .checked_sub(other.minor)
            .map(|minor| Self {
                minor,
                currency: self.currency,
            })
            .ok_or(DomainError::MoneyOverflow)
    }

    fn same_currency(self, other: Self) -> Result<(), DomainError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(DomainError::CurrencyMismatch {
                expected: self.currency.as_str().to_owned(),
                actual: other.currency.as_str().to_owned(),
            })
        }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        write!(
            f,
            "{sign}{}.{:02} {}",
            abs / 100,
            abs % 100,
            self.currency.as_str()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_with_a_field_it_does_not_know_is_refused() {
        let error =
            serde_json::from_str::<Money>(r#"{"minor": 100, "currency": "CNY", "major": 1}"#)
                .unwrap_err();
        assert!(
            error.to_string().contains("unknown field `major`"),
            "{error}"
        );
    }

    #[test]
    fn amounts_print_in_yuan_with_two_decimals() {
        assert_eq!(Money::cny(12900).to_string(), "129.00 CNY");
        assert_eq!(Money::cny(-5).to_string(), "-0.05 CNY");
    }

    #[test]
    fn currencies_do_not_mix() {
        let usd = Money {
            minor: 1,
            currency: Currency::try_from("USD".to_owned()).unwrap(),
        };
        assert!(matches!(
            Money::cny(1).checked_add(usd),
            Err(DomainError::CurrencyMismatch { .. })
        ));
        assert!(Currency::try_from("cny".to_owned()).is_err());
    }

    #[test]
    fn overflow_is_an_error() {
        assert_eq!(
            Money::cny(i64::MAX).checked_add(Money::cny(1)),
            Err(DomainError::MoneyOverflow)
        );
    }
}
