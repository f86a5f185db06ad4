//! The spec's worked examples, reproduced exactly (R-COMM-6, R-REF-2, R-PAY-3).

use domain::commission::{self, AffiliateFunding, CommissionConfig, OrderAmounts, RuleOverrides, Tier};
use domain::money::Currency;
use domain::rate::Rate;
use domain::refund::{self, OriginalParts, RefundError};
use rust_decimal_macros::dec;

fn config() -> CommissionConfig {
    CommissionConfig::shipped().expect("shipped config parses")
}

#[test]
fn starter_new_seller_10000() {
    let config = config();
    let rule = config.rule_for(Tier::Starter, &RuleOverrides::default()).expect("rule");
    let order = OrderAmounts::simple(Currency::USD, 10_000).expect("order");
    let b = commission::compute(&order, &rule, config.reserve.new_seller_rate, Some(1)).expect("breakdown");
    assert_eq!(b.commission_rate.value(), dec!(0.08));
    assert_eq!(b.commission, 800);
    assert_eq!(b.processing_fee, 320);
    assert_eq!(b.reserve, 888);
    assert_eq!(b.net, 7992);
    assert_eq!(b.application_fee_amount, 2008);
    assert_eq!(b.affiliate, 0);
    assert_eq!(b.trace.tier, "STARTER");
    assert_eq!(b.trace.rule_version, Some(1));
}

#[test]
fn tiers_come_from_config() {
    let config = config();
    let order = OrderAmounts::simple(Currency::USD, 10_000).expect("order");
    for (tier, commission) in [(Tier::Starter, 800), (Tier::Pro, 500), (Tier::Enterprise, 300)] {
        let rule = config.rule_for(tier, &RuleOverrides::default()).expect("rule");
        let b = commission::compute(&order, &rule, Rate::ZERO, None).expect("breakdown");
        assert_eq!(b.commission, commission, "{tier}");
    }
    // A different file changes the rates: nothing is a literal in code.
    let edited = commission::SHIPPED_CONFIG.replace("commission_rate = \"0.05\"", "commission_rate = \"0.06\"");
    let other = CommissionConfig::from_toml_str(&edited).expect("edited config");
    let rule = other.rule_for(Tier::Pro, &RuleOverrides::default()).expect("rule");
    assert_eq!(commission::compute(&order, &rule, Rate::ZERO, None).expect("b").commission, 600);
}

#[test]
fn tax_and_shipping_are_not_commissionable_and_discounts_reduce_the_base() {
    let config = config();
    let rule = config.rule_for(Tier::Starter, &RuleOverrides::default()).expect("rule");
    // subtotal 10000, discount 1000, tax 800, shipping 500 → gross 10300, base 9000.
    let order = OrderAmounts::new(Currency::USD, 10_300, Some(10_000), 1_000, 800, 500, false).expect("order");
    let b = commission::compute(&order, &rule, Rate::ZERO, None).expect("breakdown");
    assert_eq!(b.commissionable_base, 9_000);
    assert_eq!(b.commission, 720);
    // 2.9% of 10300 = 298.7 → 299, + 30
    assert_eq!(b.processing_fee, 329);
    assert_eq!(b.net, 10_300 - 720 - 329);
}

#[test]
fn affiliate_is_funded_by_platform_by_default_or_by_seller_per_rule() {
    let config = config();
    let overrides = RuleOverrides { affiliate_rate: Some(Rate::new(dec!(0.02)).expect("rate")), ..Default::default() };
    let rule = config.rule_for(Tier::Starter, &overrides).expect("rule");
    let order = OrderAmounts::new(Currency::USD, 10_000, None, 0, 0, 0, true).expect("order");
    let b = commission::compute(&order, &rule, Rate::ZERO, None).expect("breakdown");
    assert_eq!((b.gross_commission, b.affiliate, b.commission, b.net), (800, 200, 600, 10_000 - 800 - 320));

    let seller = RuleOverrides { affiliate_funding: Some(AffiliateFunding::Seller), ..overrides };
    let rule = config.rule_for(Tier::Starter, &seller).expect("rule");
    let b = commission::compute(&order, &rule, Rate::ZERO, None).expect("breakdown");
    assert_eq!((b.commission, b.affiliate, b.net), (800, 200, 10_000 - 800 - 320 - 200));
}

#[test]
fn platform_absorbed_processing_fee() {
    let text = commission::SHIPPED_CONFIG.replace("platform_margin_rate = \"0\"", "platform_margin_rate = \"0.5\"");
    let config = CommissionConfig::from_toml_str(&text).expect("config");
    let rule = config.rule_for(Tier::Starter, &RuleOverrides::default()).expect("rule");
    let b = commission::compute(&OrderAmounts::simple(Currency::USD, 10_000).expect("o"), &rule, Rate::ZERO, None)
        .expect("breakdown");
    assert_eq!((b.processing_fee_estimate, b.platform_absorbed_fee, b.processing_fee), (320, 160, 160));
}

#[test]
fn bad_orders_are_typed_errors() {
    let config = config();
    let rule = config.rule_for(Tier::Starter, &RuleOverrides::default()).expect("rule");
    assert!(OrderAmounts::simple(Currency::USD, 0).is_err());
    assert!(OrderAmounts::simple(Currency::USD, -5).is_err());
    assert!(OrderAmounts::new(Currency::USD, 100, Some(50), 60, 0, 0, false).is_err());
    assert!(OrderAmounts::new(Currency::USD, 100, Some(100), 0, 10, 0, false).is_err());
    assert!(OrderAmounts::new(Currency::USD, 100, None, 0, -1, 0, false).is_err());
    assert!(
        matches!(
            OrderAmounts::new(Currency::USD, 10_000, Some(1), 0, 0, 0, false),
            Err(commission::CommissionError::PartsDoNotAddUp { .. })
        ),
        "a small subtotal cannot shrink the commissionable base"
    );
    // 10 cents cannot carry a 30-cent fixed fee.
    let tiny = OrderAmounts::simple(Currency::USD, 10).expect("order");
    assert!(matches!(
        commission::compute(&tiny, &rule, Rate::ZERO, None),
        Err(commission::CommissionError::DeductionsExceedGross { .. })
    ));
    assert!(CommissionConfig::from_toml_str("version = 1").is_err());
    assert!(CommissionConfig::from_toml_str(&commission::SHIPPED_CONFIG.replace("\"0.08\"", "\"1.5\"")).is_err());
    assert!(
        CommissionConfig::from_toml_str(&commission::SHIPPED_CONFIG.replace("\"0.08\"", "0.08")).is_err(),
        "floats are refused"
    );
}

#[test]
fn refund_4000_of_10000_with_800_commission() {
    let original = OriginalParts {
        gross: 10_000,
        commission: 800,
        processing_fee: 0,
        reserve: 0,
        affiliate: 0,
        ..Default::default()
    };
    let r = refund::refund(&original, 0, 4_000).expect("refund");
    assert_eq!(r.refunded_amount, 4_000);
    assert_eq!(r.refunded_commission, 320);
    assert_eq!(r.commission, 480);
    assert_eq!(r.net, 5_520);
    assert!(!r.fully_refunded);
    let full = refund::refund(&original, 4_000, 6_000).expect("rest");
    assert!(full.fully_refunded);
    assert_eq!((full.commission, full.net), (0, 0));
}

#[test]
fn over_refunds_and_non_positive_refunds_are_rejected() {
    let original = OriginalParts {
        gross: 10_000,
        commission: 800,
        processing_fee: 320,
        reserve: 888,
        affiliate: 0,
        ..Default::default()
    };
    assert_eq!(
        refund::refund(&original, 4_000, 6_001),
        Err(RefundError::ExceedsRemaining { requested: 6_001, remaining: 6_000 })
    );
    assert_eq!(refund::refund(&original, 0, 0), Err(RefundError::NotPositive));
    assert_eq!(refund::refund(&original, 0, -1), Err(RefundError::NotPositive));
    // A full refund leaves the seller carrying the processing fee (R-REF-4).
    let full = refund::clawback(&original, 10_000).expect("full");
    assert_eq!((full.commission, full.reserve, full.processing_fee, full.net), (0, 0, 320, -320));
    assert_eq!(full.application_fee_refunded(), Ok(800 + 888));
}

/// Issue 14: a storefront order of 100.00 in two items (60.00 and 40.00), 8.00 tax and 5.00
/// shipping: gross 113.00, commission 8% of the items = 800. Refunding the 40.00 item (43.20
/// with its tax) takes back exactly that item's commission (320), whichever of the storefront's
/// refund and the payment provider's refund is known first; the gross share (306) applies only
/// to money the storefront has not explained.
#[test]
fn a_storefront_item_refund_takes_back_that_items_commission() {
    use domain::refund::ItemRefunds;
    let mut original = OriginalParts { gross: 11_300, commission: 800, processing_fee: 358, ..Default::default() };
    original.items.base = 10_000;
    // The provider's refund alone: shared by gross.
    assert_eq!(refund::clawback(&original, 4_320).expect("refund").refunded_commission, 306);
    // The storefront's refund of the item, before the money is refunded, takes nothing back
    // (no money has left yet)…
    original.items = ItemRefunds { base: 10_000, refunded_base: 4_000, refunded_amount: 4_320 };
    let storefront_first = refund::clawback(&original, 0).expect("items");
    assert_eq!(storefront_first.refunded_commission, 0);
    // …and after: the same item share, no second clawback of the same money.
    let both = refund::clawback(&original, 4_320).expect("both");
    assert_eq!((both.refunded_commission, both.commission), (320, 480));
    assert_eq!(both.net, 11_300 - 4_320 - 480 - 358);
    // A shipping refund of 5.00 the storefront explains takes no commission back.
    original.items = ItemRefunds { base: 10_000, refunded_base: 4_000, refunded_amount: 4_820 };
    assert_eq!(refund::clawback(&original, 4_820).expect("shipping").refunded_commission, 320);
    // A full refund takes everything back.
    assert_eq!(refund::clawback(&original, 11_300).expect("full").commission, 0);
    // The storefront says the provider's 43.20 refunded no item (shipping, a fee): nothing is
    // taken back, whichever was heard first (a 306 fee refund already sent is reversed).
    original.items = ItemRefunds { base: 10_000, refunded_base: 0, refunded_amount: 4_320 };
    let explained = refund::clawback(&original, 4_320).expect("explained");
    assert_eq!((explained.refunded_commission, explained.commission), (0, 800));
}
