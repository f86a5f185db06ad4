//! Commission engine (R-COMM-1…6, R-RES-1, R-PAY-3): one function, [`compute`], turns an order's
//! amounts and the Malet's effective rule into the full breakdown, the Stripe
//! `application_fee_amount`, and a trace of the rule and inputs it used.
//!
//! Every computed part is rounded half-even to the minor unit; the seller's net payout is the
//! remainder, so `gross = commission + processing_fee + reserve + affiliate + net` always holds.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::{Currency, MoneyError, Rounding};
use crate::rate::Rate;

/// The commission configuration shipped in `config/commission.toml`.
pub const SHIPPED_CONFIG: &str = include_str!("../../../config/commission.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read commission config {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("invalid commission config: {0}")]
    Parse(String),
    #[error("commission config has no entry for tier {0}")]
    MissingTier(Tier),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommissionError {
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error("discount {discount} exceeds subtotal {subtotal}")]
    DiscountExceedsSubtotal { discount: i64, subtotal: i64 },
    #[error("order parts (subtotal - discount + tax + shipping = {parts}) exceed the gross {gross}")]
    PartsExceedGross { parts: i64, gross: i64 },
    #[error("order parts (subtotal - discount + tax + shipping = {parts}) do not add up to the gross {gross}")]
    PartsDoNotAddUp { parts: i64, gross: i64 },
    #[error("affiliate share {affiliate} exceeds the platform commission {commission} that funds it")]
    AffiliateExceedsCommission { affiliate: i64, commission: i64 },
    #[error("deductions {deductions} exceed the gross {gross}; the order is too small to charge")]
    DeductionsExceedGross { deductions: i64, gross: i64 },
}

/// Subscription tier of a Malet (R-COMM-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Starter,
    Pro,
    Enterprise,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::Starter, Tier::Pro, Tier::Enterprise];

    pub fn as_str(&self) -> &'static str {
        match self {
            Tier::Starter => "STARTER",
            Tier::Pro => "PRO",
            Tier::Enterprise => "ENTERPRISE",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tier {0:?} (expected STARTER, PRO or ENTERPRISE)")]
pub struct UnknownTier(pub String);

impl FromStr for Tier {
    type Err = UnknownTier;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "STARTER" => Ok(Tier::Starter),
            "PRO" => Ok(Tier::Pro),
            "ENTERPRISE" => Ok(Tier::Enterprise),
            _ => Err(UnknownTier(s.to_owned())),
        }
    }
}

/// Who pays an affiliate's share (R-COMM-5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AffiliateFunding {
    /// Out of the platform's commission (default).
    Platform,
    /// Out of the seller's net.
    Seller,
}

impl FromStr for AffiliateFunding {
    type Err = UnknownTier;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "PLATFORM" => Ok(AffiliateFunding::Platform),
            "SELLER" => Ok(AffiliateFunding::Seller),
            _ => Err(UnknownTier(s.to_owned())),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct RawConfig {
    version: i64,
    tiers: BTreeMap<Tier, RawTier>,
    processing_fee: RawFee,
    reserve: RawReserve,
    base: RawBase,
    affiliate: RawAffiliate,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    disputes: RawDisputes,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
struct RawDisputes {
    fee_minor: BTreeMap<String, i64>,
    fee_borne_by: DisputeFeeBearer,
}

impl Default for RawDisputes {
    fn default() -> Self {
        let d = DisputePolicy::default();
        RawDisputes { fee_minor: d.fee_minor, fee_borne_by: d.fee_borne_by }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
struct RawLimits {
    max_transaction_amount: i64,
    max_non_commissionable_share: Rate,
}

impl Default for RawLimits {
    fn default() -> Self {
        let limits = Limits::default();
        RawLimits {
            max_transaction_amount: limits.max_transaction_amount,
            max_non_commissionable_share: limits.max_non_commissionable_share,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct RawTier {
    commission_rate: Rate,
    reserve_rate: Option<Rate>,
}

#[derive(Debug, Clone, Deserialize)]
struct RawFee {
    rate: Rate,
    fixed_minor: i64,
    platform_margin_rate: Rate,
}

#[derive(Debug, Clone, Deserialize)]
struct RawReserve {
    new_seller_rate: Rate,
    new_seller_days: i64,
    release_after_days: i64,
}

#[derive(Debug, Clone, Deserialize)]
struct RawBase {
    tax_commissionable: bool,
    shipping_commissionable: bool,
}

#[derive(Debug, Clone, Deserialize)]
struct RawAffiliate {
    rate: Rate,
    funded_by: AffiliateFunding,
}

/// Per-tier policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TierPolicy {
    pub commission_rate: Rate,
    /// `None`: the default new-seller reserve applies.
    pub reserve_rate: Option<Rate>,
}

/// Processing fee estimate parameters (R-COMM-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProcessingFee {
    pub rate: Rate,
    pub fixed_minor: i64,
    pub platform_margin_rate: Rate,
}

impl ProcessingFee {
    /// The provider's estimated fee on a charge of `gross`: half-even(rate × gross) + fixed.
    pub fn estimate(&self, gross: i64) -> Result<i64, MoneyError> {
        add(self.rate.apply(gross, Rounding::HalfEven)?, self.fixed_minor)
    }
}

/// Rolling reserve parameters (R-RES-1, R-RES-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReserveConfig {
    pub new_seller_rate: Rate,
    pub new_seller_days: i64,
    pub release_after_days: i64,
}

/// The validated commission configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommissionConfig {
    pub version: i64,
    pub tiers: BTreeMap<Tier, TierPolicy>,
    pub processing_fee: ProcessingFee,
    pub reserve: ReserveConfig,
    pub tax_commissionable: bool,
    pub shipping_commissionable: bool,
    pub affiliate_rate: Rate,
    pub affiliate_funding: AffiliateFunding,
    pub limits: Limits,
    pub disputes: DisputePolicy,
}

/// Who bears the provider's dispute fee when a dispute is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DisputeFeeBearer {
    Seller,
    Platform,
}

/// What a lost dispute costs the seller (issue 12): the disputed amount, plus the provider's
/// dispute fee when the seller bears it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisputePolicy {
    /// The provider's fee per lost dispute, in minor units of the dispute's currency, by
    /// currency code; a currency without an entry has no fee.
    pub fee_minor: BTreeMap<String, i64>,
    pub fee_borne_by: DisputeFeeBearer,
}

impl Default for DisputePolicy {
    fn default() -> Self {
        DisputePolicy { fee_minor: BTreeMap::from([("USD".to_owned(), 1500)]), fee_borne_by: DisputeFeeBearer::Seller }
    }
}

impl DisputePolicy {
    /// What the seller is debited for a lost dispute of `amount` in `currency`.
    pub fn seller_debit(&self, amount: i64, currency: crate::money::Currency) -> Option<i64> {
        let fee = match self.fee_borne_by {
            DisputeFeeBearer::Seller => self.fee_minor.get(currency.code()).copied().unwrap_or(0),
            DisputeFeeBearer::Platform => 0,
        };
        amount.checked_add(fee)
    }
}

/// Bounds every amount and every order must respect, whoever sends them (R-TRUST-2,
/// R-TRUST-4): the order service, a storefront's payment metadata, a provider event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// The largest amount one transaction may carry, in minor units. Default 99 999 999
    /// (Stripe's own maximum charge, 999 999.99 in a two-decimal currency); it also keeps every
    /// per-entry amount inside GraphQL's 32-bit `Int`.
    pub max_transaction_amount: i64,
    /// The largest share of an order's gross that may be left out of the commissionable base
    /// (tax, shipping and discounts when they are not commissionable). Default 0.5.
    pub max_non_commissionable_share: Rate,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_transaction_amount: 99_999_999,
            max_non_commissionable_share: Rate::new(Decimal::new(5, 1)).unwrap_or(Rate::ZERO),
        }
    }
}

/// An amount or an order outside the configured [`Limits`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("{field} must be greater than zero, got {amount}")]
    NotPositive { field: &'static str, amount: i64 },
    #[error("{field} {amount} exceeds the per-transaction maximum {max}")]
    TooLarge { field: &'static str, amount: i64, max: i64 },
    #[error(
        "the commissionable base {base} leaves {excluded} of the gross {gross} out of commission, more than the allowed share {share}"
    )]
    BaseTooSmall { base: i64, gross: i64, excluded: i64, share: Rate },
}

impl Limits {
    /// A provider or caller amount that must be positive and within the per-transaction maximum.
    pub fn positive(&self, field: &'static str, amount: i64) -> Result<i64, LimitError> {
        if amount <= 0 {
            return Err(LimitError::NotPositive { field, amount });
        }
        self.at_most(field, amount)
    }

    /// An amount that may be zero (a cumulative refunded total), never negative or too large.
    pub fn non_negative(&self, field: &'static str, amount: i64) -> Result<i64, LimitError> {
        if amount < 0 {
            return Err(LimitError::NotPositive { field, amount });
        }
        self.at_most(field, amount)
    }

    fn at_most(&self, field: &'static str, amount: i64) -> Result<i64, LimitError> {
        if amount > self.max_transaction_amount {
            return Err(LimitError::TooLarge { field, amount, max: self.max_transaction_amount });
        }
        Ok(amount)
    }

    /// Checks a computed breakdown: its gross within the maximum, and at most
    /// `max_non_commissionable_share` of the gross outside the commissionable base.
    pub fn check(&self, b: &Breakdown) -> Result<(), LimitError> {
        self.positive("gross", b.gross)?;
        let excluded = b.gross - b.commissionable_base;
        let allowed = self.max_non_commissionable_share.value() * Decimal::from(b.gross);
        if Decimal::from(excluded) > allowed {
            return Err(LimitError::BaseTooSmall {
                base: b.commissionable_base,
                gross: b.gross,
                excluded,
                share: self.max_non_commissionable_share,
            });
        }
        Ok(())
    }
}

impl CommissionConfig {
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        for tier in Tier::ALL {
            if !raw.tiers.contains_key(&tier) {
                return Err(ConfigError::MissingTier(tier));
            }
        }
        if raw.processing_fee.fixed_minor < 0 {
            return Err(ConfigError::Parse("processing_fee.fixed_minor must not be negative".into()));
        }
        if raw.reserve.new_seller_days < 0 || raw.reserve.release_after_days < 0 {
            return Err(ConfigError::Parse("reserve day counts must not be negative".into()));
        }
        if raw.limits.max_transaction_amount <= 0 {
            return Err(ConfigError::Parse("limits.max_transaction_amount must be positive".into()));
        }
        let mut dispute_fees = BTreeMap::new();
        for (code, fee) in raw.disputes.fee_minor {
            let currency = crate::money::Currency::parse(&code)
                .map_err(|e| ConfigError::Parse(format!("disputes.fee_minor: {e}")))?;
            if fee < 0 || fee > raw.limits.max_transaction_amount {
                return Err(ConfigError::Parse(format!(
                    "disputes.fee_minor.{code} must be 0 to the transaction maximum"
                )));
            }
            dispute_fees.insert(currency.code().to_owned(), fee);
        }
        Ok(CommissionConfig {
            version: raw.version,
            tiers: raw
                .tiers
                .into_iter()
                .map(|(t, r)| (t, TierPolicy { commission_rate: r.commission_rate, reserve_rate: r.reserve_rate }))
                .collect(),
            processing_fee: ProcessingFee {
                rate: raw.processing_fee.rate,
                fixed_minor: raw.processing_fee.fixed_minor,
                platform_margin_rate: raw.processing_fee.platform_margin_rate,
            },
            reserve: ReserveConfig {
                new_seller_rate: raw.reserve.new_seller_rate,
                new_seller_days: raw.reserve.new_seller_days,
                release_after_days: raw.reserve.release_after_days,
            },
            tax_commissionable: raw.base.tax_commissionable,
            shipping_commissionable: raw.base.shipping_commissionable,
            affiliate_rate: raw.affiliate.rate,
            affiliate_funding: raw.affiliate.funded_by,
            limits: Limits {
                max_transaction_amount: raw.limits.max_transaction_amount,
                max_non_commissionable_share: raw.limits.max_non_commissionable_share,
            },
            disputes: DisputePolicy { fee_minor: dispute_fees, fee_borne_by: raw.disputes.fee_borne_by },
        })
    }

    /// The configuration shipped with the project.
    pub fn shipped() -> Result<Self, ConfigError> {
        Self::from_toml_str(SHIPPED_CONFIG)
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Io { path: path.display().to_string(), source })?;
        Self::from_toml_str(&text)
    }

    pub fn tier(&self, tier: Tier) -> Result<TierPolicy, ConfigError> {
        self.tiers.get(&tier).copied().ok_or(ConfigError::MissingTier(tier))
    }

    /// The effective rule for a Malet: its tier's policy with any admin overrides applied.
    pub fn rule_for(&self, tier: Tier, overrides: &RuleOverrides) -> Result<CommissionRule, ConfigError> {
        let policy = self.tier(tier)?;
        Ok(CommissionRule {
            tier,
            commission_rate: overrides.commission_rate.unwrap_or(policy.commission_rate),
            affiliate_rate: overrides.affiliate_rate.unwrap_or(self.affiliate_rate),
            affiliate_funding: overrides.affiliate_funding.unwrap_or(self.affiliate_funding),
            tax_commissionable: self.tax_commissionable,
            shipping_commissionable: self.shipping_commissionable,
            processing_fee: self.processing_fee,
            config_version: self.version,
        })
    }
}

/// Admin overrides for one Malet (R-COMM-4); `None` keeps the tier/config default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleOverrides {
    pub commission_rate: Option<Rate>,
    pub affiliate_rate: Option<Rate>,
    pub affiliate_funding: Option<AffiliateFunding>,
}

/// The rule one order is computed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CommissionRule {
    pub tier: Tier,
    pub commission_rate: Rate,
    pub affiliate_rate: Rate,
    pub affiliate_funding: AffiliateFunding,
    pub tax_commissionable: bool,
    pub shipping_commissionable: bool,
    pub processing_fee: ProcessingFee,
    pub config_version: i64,
}

/// The amounts of one order, in minor units of `currency`. Parse with [`OrderAmounts::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OrderAmounts {
    pub currency: Currency,
    /// What the buyer is charged (includes tax and shipping).
    pub gross: i64,
    pub subtotal: i64,
    pub discount: i64,
    pub tax: i64,
    pub shipping: i64,
    pub has_affiliate: bool,
}

impl OrderAmounts {
    /// Validates an order: every amount non-negative, gross positive, discount within the
    /// subtotal, and `subtotal − discount + tax + shipping = gross`. `subtotal: None` means the storefront
    /// sent no breakdown: the subtotal is then the gross minus tax and shipping.
    pub fn new(
        currency: Currency,
        gross: i64,
        subtotal: Option<i64>,
        discount: i64,
        tax: i64,
        shipping: i64,
        has_affiliate: bool,
    ) -> Result<Self, CommissionError> {
        if gross <= 0 {
            return Err(MoneyError::NotPositive.into());
        }
        for v in [discount, tax, shipping] {
            if v < 0 {
                return Err(MoneyError::Negative(v).into());
            }
        }
        let subtotal = match subtotal {
            Some(s) if s < 0 => return Err(MoneyError::Negative(s).into()),
            Some(s) => s,
            None => gross
                .checked_sub(tax)
                .and_then(|x| x.checked_sub(shipping))
                .and_then(|x| x.checked_add(discount))
                .ok_or(MoneyError::Overflow)?,
        };
        if discount > subtotal {
            return Err(CommissionError::DiscountExceedsSubtotal { discount, subtotal });
        }
        let parts =
            (subtotal - discount).checked_add(tax).and_then(|x| x.checked_add(shipping)).ok_or(MoneyError::Overflow)?;
        if parts > gross {
            return Err(CommissionError::PartsExceedGross { parts, gross });
        }
        // With a breakdown the parts must be the whole charge: otherwise a storefront could
        // shrink the commissionable base with a small subtotal.
        if parts != gross {
            return Err(CommissionError::PartsDoNotAddUp { parts, gross });
        }
        Ok(OrderAmounts { currency, gross, subtotal, discount, tax, shipping, has_affiliate })
    }

    /// A plain order: no breakdown, no tax, no shipping, no affiliate.
    pub fn simple(currency: Currency, gross: i64) -> Result<Self, CommissionError> {
        Self::new(currency, gross, None, 0, 0, 0, false)
    }
}

/// The full breakdown of one order. Identity: `gross = commission + processing_fee + reserve +
/// affiliate + net`, and `application_fee_amount = gross − net`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Breakdown {
    pub currency: Currency,
    pub gross: i64,
    pub commissionable_base: i64,
    pub commission_rate: Rate,
    /// The platform's commission after funding any platform-funded affiliate share.
    pub commission: i64,
    /// The commission before the affiliate share was taken out of it (= rate × base).
    pub gross_commission: i64,
    pub affiliate: i64,
    /// Seller-borne processing fee.
    pub processing_fee: i64,
    /// The full estimated processing fee, of which the platform absorbs `platform_absorbed_fee`.
    pub processing_fee_estimate: i64,
    pub platform_absorbed_fee: i64,
    pub reserve_rate: Rate,
    pub reserve: i64,
    pub net: i64,
    /// Stripe `application_fee_amount`: everything the seller does not receive now (R-PAY-3).
    pub application_fee_amount: i64,
    pub trace: Trace,
}

/// How a breakdown was obtained: the rule, the inputs and each step, for explainability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    pub config_version: i64,
    pub rule_version: Option<i64>,
    pub tier: String,
    pub rounding: String,
    pub inputs: BTreeMap<String, String>,
    pub steps: Vec<String>,
}

fn add(a: i64, b: i64) -> Result<i64, MoneyError> {
    a.checked_add(b).ok_or(MoneyError::Overflow)
}

fn sub(a: i64, b: i64) -> Result<i64, MoneyError> {
    a.checked_sub(b).ok_or(MoneyError::Overflow)
}

/// Computes the breakdown of an order under `rule` with the given reserve rate (see
/// [`crate::reserve::ReservePolicy::rate_at`]). `rule_version` is the stored version of the
/// Malet's rule, recorded in the trace.
pub fn compute(
    order: &OrderAmounts,
    rule: &CommissionRule,
    reserve_rate: Rate,
    rule_version: Option<i64>,
) -> Result<Breakdown, CommissionError> {
    compute_with_fee(order, rule, reserve_rate, rule_version, None)
}

/// [`compute`] for one seller's part of a multi-seller order (issue 13): the provider charges
/// its processing fee once on the whole charge, so the estimate is computed on the whole and
/// allocated across the sellers (`crate::orders::split`); `fee_estimate` is this part's share
/// (`None`: estimated on this order's own gross, as for a one-seller order).
pub fn compute_with_fee(
    order: &OrderAmounts,
    rule: &CommissionRule,
    reserve_rate: Rate,
    rule_version: Option<i64>,
    fee_estimate: Option<i64>,
) -> Result<Breakdown, CommissionError> {
    const HE: Rounding = Rounding::HalfEven;
    let mut steps = Vec::new();

    // R-COMM-3: subtotal net of discounts; tax and shipping only when the rule says so.
    let mut base = sub(order.subtotal, order.discount)?;
    if rule.tax_commissionable {
        base = add(base, order.tax)?;
    }
    if rule.shipping_commissionable {
        base = add(base, order.shipping)?;
    }
    steps.push(format!(
        "base = subtotal {} - discount {}{}{} = {base}",
        order.subtotal,
        order.discount,
        if rule.tax_commissionable { format!(" + tax {}", order.tax) } else { String::new() },
        if rule.shipping_commissionable { format!(" + shipping {}", order.shipping) } else { String::new() },
    ));

    let gross_commission = rule.commission_rate.apply(base, HE)?;
    steps.push(format!("commission = half_even({} x {base}) = {gross_commission}", rule.commission_rate));

    let affiliate = if order.has_affiliate { rule.affiliate_rate.apply(base, HE)? } else { 0 };
    let commission = match rule.affiliate_funding {
        AffiliateFunding::Platform => {
            if affiliate > gross_commission {
                return Err(CommissionError::AffiliateExceedsCommission { affiliate, commission: gross_commission });
            }
            sub(gross_commission, affiliate)?
        }
        AffiliateFunding::Seller => gross_commission,
    };
    if affiliate > 0 {
        steps.push(format!(
            "affiliate = half_even({} x {base}) = {affiliate}, funded by {:?}; platform commission = {commission}",
            rule.affiliate_rate, rule.affiliate_funding
        ));
    }

    // R-COMM-2: fee = rate × gross + fixed; the platform absorbs a share of it.
    let fee_estimate = match fee_estimate {
        Some(share) if share < 0 => return Err(MoneyError::Negative(share).into()),
        Some(share) => {
            steps.push(format!(
                "processing fee = {share}, this seller's share of the order's fee (largest remainder on item subtotals)"
            ));
            share
        }
        None => {
            let estimate = rule.processing_fee.estimate(order.gross)?;
            steps.push(format!(
                "processing fee = half_even({} x {}) + {} = {estimate}",
                rule.processing_fee.rate, order.gross, rule.processing_fee.fixed_minor
            ));
            estimate
        }
    };
    let absorbed = rule.processing_fee.platform_margin_rate.apply(fee_estimate, HE)?;
    let processing_fee = sub(fee_estimate, absorbed)?;
    steps.push(format!("platform absorbs {absorbed} of the processing fee; seller bears {processing_fee}"));

    // R-RES-1: reserve on what would otherwise go to the seller.
    let before_reserve = sub(sub(sub(order.gross, commission)?, processing_fee)?, affiliate)?;
    if before_reserve < 0 {
        return Err(CommissionError::DeductionsExceedGross {
            deductions: sub(order.gross, before_reserve)?,
            gross: order.gross,
        });
    }
    let reserve = reserve_rate.apply(before_reserve, HE)?;
    steps.push(format!("reserve = half_even({reserve_rate} x {before_reserve}) = {reserve}"));

    let net = sub(before_reserve, reserve)?;
    let application_fee_amount = sub(order.gross, net)?;
    steps.push(format!("net = remainder = {net}; application_fee_amount = gross - net = {application_fee_amount}"));

    let mut inputs = BTreeMap::new();
    inputs.insert("currency".into(), order.currency.to_string());
    inputs.insert("gross".into(), order.gross.to_string());
    inputs.insert("subtotal".into(), order.subtotal.to_string());
    inputs.insert("discount".into(), order.discount.to_string());
    inputs.insert("tax".into(), order.tax.to_string());
    inputs.insert("shipping".into(), order.shipping.to_string());
    inputs.insert("has_affiliate".into(), order.has_affiliate.to_string());
    inputs.insert("commission_rate".into(), rule.commission_rate.to_string());
    inputs.insert("affiliate_rate".into(), rule.affiliate_rate.to_string());
    inputs.insert("reserve_rate".into(), reserve_rate.to_string());
    inputs.insert("processing_fee_rate".into(), rule.processing_fee.rate.to_string());
    inputs.insert("processing_fee_fixed".into(), rule.processing_fee.fixed_minor.to_string());
    inputs.insert("platform_margin_rate".into(), rule.processing_fee.platform_margin_rate.to_string());

    Ok(Breakdown {
        currency: order.currency,
        gross: order.gross,
        commissionable_base: base,
        commission_rate: rule.commission_rate,
        commission,
        gross_commission,
        affiliate,
        processing_fee,
        processing_fee_estimate: fee_estimate,
        platform_absorbed_fee: absorbed,
        reserve_rate,
        reserve,
        net,
        application_fee_amount,
        trace: Trace {
            config_version: rule.config_version,
            rule_version,
            tier: rule.tier.to_string(),
            rounding: "half-even per part; net is the remainder".into(),
            inputs,
            steps,
        },
    })
}

#[cfg(test)]
mod limit_tests {
    use super::*;

    fn breakdown(gross: i64, subtotal: Option<i64>, discount: i64, tax: i64, shipping: i64) -> Breakdown {
        let config = CommissionConfig::shipped().expect("config");
        let rule = config.rule_for(Tier::Starter, &RuleOverrides::default()).expect("rule");
        let order = OrderAmounts::new(Currency::USD, gross, subtotal, discount, tax, shipping, false).expect("order");
        compute(&order, &rule, Rate::ZERO, None).expect("breakdown")
    }

    #[test]
    fn shipped_limits_refuse_a_base_shaped_to_zero_and_oversized_amounts() {
        let limits = CommissionConfig::shipped().expect("config").limits;
        assert_eq!(limits.max_transaction_amount, 99_999_999);
        // The review's orders: everything shipping, or subtotal = discount = tax.
        assert!(matches!(
            limits.check(&breakdown(10_000, Some(0), 0, 0, 10_000)),
            Err(LimitError::BaseTooSmall { .. })
        ));
        assert!(matches!(
            limits.check(&breakdown(5_000, Some(5_000), 5_000, 5_000, 0)),
            Err(LimitError::BaseTooSmall { .. })
        ));
        // Half the gross outside the base is the boundary: allowed; one cent more is not.
        assert_eq!(limits.check(&breakdown(10_000, Some(5_000), 0, 2_000, 3_000)), Ok(()));
        assert!(limits.check(&breakdown(10_000, Some(4_999), 0, 2_001, 3_000)).is_err());
        assert_eq!(limits.check(&breakdown(10_000, None, 0, 800, 0)), Ok(()));
        assert_eq!(limits.positive("amount", 99_999_999), Ok(99_999_999));
        assert!(limits.positive("amount", 100_000_000).is_err());
        assert!(limits.positive("amount", i64::MAX).is_err());
        assert!(limits.positive("amount", 0).is_err());
        assert!(limits.positive("amount", -100_000).is_err());
        assert_eq!(limits.non_negative("amount", 0), Ok(0));
    }
}
