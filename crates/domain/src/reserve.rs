//! Rolling reserve policy (R-RES-1…3).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::commission::{CommissionConfig, ConfigError, Tier};
use crate::rate::Rate;

/// The reserve policy of one seller account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservePolicy {
    pub rate: Rate,
    /// Sales after this instant carry no reserve (R-RES-3). `None`: the seller has not sold yet,
    /// so the window starts with the sale being computed.
    pub expires_at: Option<DateTime<Utc>>,
}

impl ReservePolicy {
    /// The policy for a seller of `tier` (Enterprise carries none) whose first sale is
    /// `first_sale_at` (or `None` before it).
    pub fn for_seller(
        config: &CommissionConfig,
        tier: Tier,
        first_sale_at: Option<DateTime<Utc>>,
    ) -> Result<Self, ConfigError> {
        let rate = config.tier(tier)?.reserve_rate.unwrap_or(config.reserve.new_seller_rate);
        Ok(ReservePolicy {
            rate,
            expires_at: first_sale_at.map(|t| t + Duration::days(config.reserve.new_seller_days)),
        })
    }

    /// The reserve rate that applies to a sale at `sale_at`.
    pub fn rate_at(&self, sale_at: DateTime<Utc>) -> Rate {
        match self.expires_at {
            Some(expiry) if sale_at >= expiry => Rate::ZERO,
            _ => self.rate,
        }
    }
}

/// When a reserve hold from a sale settled at `settled_at` is released (R-RES-2).
pub fn release_at(config: &CommissionConfig, settled_at: DateTime<Utc>) -> DateTime<Utc> {
    settled_at + Duration::days(config.reserve.release_after_days)
}

/// `reserveExpiresAt` for a seller whose first sale is at `first_sale_at`.
pub fn expires_at(config: &CommissionConfig, first_sale_at: DateTime<Utc>) -> DateTime<Utc> {
    first_sale_at + Duration::days(config.reserve.new_seller_days)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    #[test]
    fn new_seller_reserve_lapses_after_window_and_enterprise_has_none() {
        let config = CommissionConfig::shipped().expect("config");
        let first = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("time");
        let p = ReservePolicy::for_seller(&config, Tier::Starter, Some(first)).expect("policy");
        assert_eq!(p.rate_at(first).value(), dec!(0.1));
        assert_eq!(p.rate_at(first + Duration::days(89)).value(), dec!(0.1));
        assert_eq!(p.rate_at(first + Duration::days(90)), Rate::ZERO);
        let e = ReservePolicy::for_seller(&config, Tier::Enterprise, None).expect("policy");
        assert_eq!(e.rate_at(first), Rate::ZERO);
        assert_eq!(release_at(&config, first), first + Duration::days(30));
    }
}
