//! Property tests for the money invariants (R-MONEY-2, R-MONEY-3, R-REF-1).

use domain::allocation::allocate;
use domain::commission::{self, AffiliateFunding, CommissionConfig, OrderAmounts, RuleOverrides, Tier};
use domain::money::{Currency, Money, MoneyError};
use domain::rate::Rate;
use domain::refund::{self, OriginalParts};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn rate(max_bp: u32) -> impl Strategy<Value = Rate> {
    (0..=max_bp).prop_map(|bp| Rate::new(Decimal::new(i64::from(bp), 4)).expect("in range"))
}

fn tier() -> impl Strategy<Value = Tier> {
    prop_oneof![Just(Tier::Starter), Just(Tier::Pro), Just(Tier::Enterprise)]
}

prop_compose! {
    fn order()(subtotal in 1i64..=50_000_000, discount_pct in 0i64..=100, tax in 0i64..=5_000_000,
               shipping in 0i64..=1_000_000, affiliate in any::<bool>()) -> OrderAmounts {
        let discount = subtotal * discount_pct.min(99) / 100;
        let gross = subtotal - discount + tax + shipping;
        OrderAmounts::new(Currency::USD, gross, Some(subtotal), discount, tax, shipping, affiliate).expect("valid order")
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn breakdown_identity_holds(order in order(), tier in tier(), commission_rate in rate(3000),
                                affiliate_rate in rate(3000), reserve_rate in rate(2000),
                                seller_funded in any::<bool>(), margin in rate(10_000)) {
        let text = commission::SHIPPED_CONFIG.replace("platform_margin_rate = \"0\"", &format!("platform_margin_rate = \"{margin}\""));
        let config = CommissionConfig::from_toml_str(&text).expect("config");
        let overrides = RuleOverrides {
            commission_rate: Some(commission_rate),
            affiliate_rate: Some(affiliate_rate),
            affiliate_funding: Some(if seller_funded { AffiliateFunding::Seller } else { AffiliateFunding::Platform }),
        };
        let rule = config.rule_for(tier, &overrides).expect("rule");
        match commission::compute(&order, &rule, reserve_rate, None) {
            Ok(b) => {
                prop_assert_eq!(b.gross, b.commission + b.processing_fee + b.reserve + b.affiliate + b.net);
                prop_assert_eq!(b.application_fee_amount, b.gross - b.net);
                for part in [b.commission, b.processing_fee, b.reserve, b.affiliate, b.net, b.platform_absorbed_fee] {
                    prop_assert!(part >= 0, "negative part in {:?}", b);
                }
                prop_assert!(b.commissionable_base <= b.gross);
            }
            Err(commission::CommissionError::AffiliateExceedsCommission { .. }) => prop_assert!(!seller_funded),
            Err(commission::CommissionError::DeductionsExceedGross { .. }) => {}
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }

    #[test]
    fn partial_refunds_converge_to_one_full_refund(gross in 1i64..=100_000_000, c_bp in 0u32..=3000,
                                                  fee in 0i64..=1000, r_bp in 0u32..=2000, a_bp in 0u32..=500,
                                                  cuts in proptest::collection::vec(1u32..=1000, 1..12)) {
        let commission = gross * i64::from(c_bp) / 10_000;
        let reserve = gross * i64::from(r_bp) / 10_000;
        let affiliate = gross * i64::from(a_bp) / 10_000;
        let original = OriginalParts { gross, commission, processing_fee: fee.min(gross), reserve, affiliate, ..Default::default() };
        // Split the gross into random positive pieces that sum to it.
        let total_w: u64 = cuts.iter().map(|c| u64::from(*c)).sum();
        let mut pieces: Vec<i64> = cuts.iter().map(|c| ((gross as u128 * u128::from(*c)) / u128::from(total_w)) as i64).collect();
        let short = gross - pieces.iter().sum::<i64>();
        if let Some(last) = pieces.last_mut() { *last += short; }
        let mut refunded = 0;
        let mut state = refund::clawback(&original, 0).expect("zero");
        for piece in pieces.into_iter().filter(|p| *p > 0) {
            state = refund::refund(&original, refunded, piece).expect("within gross");
            refunded += piece;
            prop_assert_eq!(gross - state.refunded_amount,
                state.commission + state.processing_fee + state.reserve + state.affiliate + state.net);
            prop_assert!(state.commission >= 0 && state.reserve >= 0 && state.affiliate >= 0);
        }
        let once = refund::clawback(&original, gross).expect("full");
        prop_assert_eq!(state, once);
        prop_assert!(refund::refund(&original, gross, 1).is_err());
    }

    #[test]
    fn allocation_sums_to_whole_and_ignores_party_order(total in 0i64..=1_000_000_000,
                                                        weights in proptest::collection::vec(0u32..=10_000, 1..8),
                                                        seed in any::<u64>()) {
        prop_assume!(weights.iter().any(|w| *w > 0));
        let parties: Vec<(usize, Decimal)> = weights.iter().enumerate().map(|(i, w)| (i, Decimal::from(*w))).collect();
        let out = allocate(total, &parties).expect("allocate");
        prop_assert_eq!(out.iter().map(|(_, a)| *a).sum::<i64>(), total);
        for (_, a) in &out { prop_assert!(*a >= 0); }
        // Rotate the parties: every party gets the same amount.
        let k = (seed as usize) % parties.len();
        let mut rotated = parties.clone();
        rotated.rotate_left(k);
        let mut again = allocate(total, &rotated).expect("allocate");
        again.sort();
        let mut sorted = out.clone();
        sorted.sort();
        prop_assert_eq!(sorted, again);
    }

    #[test]
    fn money_arithmetic_never_wraps(a in any::<i64>(), b in any::<i64>()) {
        let (x, y) = (Money::new(a, Currency::USD), Money::new(b, Currency::USD));
        match a.checked_add(b) {
            Some(s) => prop_assert_eq!(x.checked_add(y).map(|m| m.minor()), Ok(s)),
            None => prop_assert_eq!(x.checked_add(y), Err(MoneyError::Overflow)),
        }
        match a.checked_sub(b) {
            Some(s) => prop_assert_eq!(x.checked_sub(y).map(|m| m.minor()), Ok(s)),
            None => prop_assert_eq!(x.checked_sub(y), Err(MoneyError::Overflow)),
        }
        let mismatch = x.checked_add(Money::new(b, Currency::EUR));
        prop_assert!(matches!(mismatch, Err(MoneyError::CurrencyMismatch { .. })), "currency mismatch must be an error");
    }

    #[test]
    fn huge_amounts_error_instead_of_panicking(gross in (i64::MAX / 2)..=i64::MAX) {
        let config = CommissionConfig::shipped().expect("config");
        let rule = config.rule_for(Tier::Starter, &RuleOverrides::default()).expect("rule");
        if let Ok(order) = OrderAmounts::simple(Currency::USD, gross) {
            // Either a correct breakdown or a typed error; never a panic.
            if let Ok(b) = commission::compute(&order, &rule, Rate::ZERO, None) {
                prop_assert_eq!(b.gross, b.commission + b.processing_fee + b.reserve + b.affiliate + b.net);
            }
        }
    }
}

mod fee_refund_steps {
    use domain::refund::{OriginalParts, clawback, fee_refund_step};
    use proptest::prelude::*;

    proptest! {
        /// However a refund is split into steps, the fee refunds sent plus the uncollected parts add
        /// up to the clawback of the whole (reserve held throughout), and what is sent never
        /// exceeds the fee the provider held.
        #[test]
        fn steps_add_up_to_the_cumulative_clawback(
            gross in 1_000_i64..10_000_000,
            commission_pct in 0_i64..30,
            cuts in proptest::collection::vec(1_i64..1_000, 1..8),
            fee_cut in 0_i64..100,
        ) {
            let commission = gross * commission_pct / 100;
            let reserve = (gross - commission) / 10;
            let original = OriginalParts { gross, commission, processing_fee: 0, reserve, affiliate: 0, ..Default::default() };
            let fee_held = (commission + reserve) * fee_cut / 100;
            let total: i64 = cuts.iter().sum();
            let mut cumulative = 0;
            let mut before = clawback(&original, 0).expect("zero");
            let (mut sent, mut uncollected) = (0, 0);
            for cut in &cuts {
                cumulative += gross * cut / total.max(1);
                let cumulative_now = cumulative.min(gross);
                let after = clawback(&original, cumulative_now).expect("clawback");
                let step = fee_refund_step(&before, &after, true, fee_held - sent).expect("step");
                prop_assert!(step.send >= 0 && step.uncollected >= 0);
                sent += step.send;
                uncollected += step.uncollected;
                before = after;
            }
            let whole = clawback(&original, before.refunded_amount).expect("whole");
            prop_assert_eq!(sent + uncollected, whole.refunded_commission + whole.refunded_reserve);
            prop_assert!(sent <= fee_held);
        }
    }
}

mod carts {
    use super::*;
    use domain::ids::MaletId;
    use domain::orders::{Cart, CartItem};

    prop_compose! {
        fn cart()(items in prop::collection::vec((0usize..5, 1i64..=2_000_000, 0i64..=100, 0i64..=200_000), 1..=10),
                  shipping in 0i64..=500_000, coupon_pct in 0i64..=100) -> Cart {
            let items: Vec<CartItem> = items.into_iter().map(|(seller, amount, discount_pct, tax)| CartItem {
                malet_id: MaletId::parse(&format!("malet-{seller}")).expect("id"),
                amount,
                discount: amount * discount_pct.min(50) / 100,
                tax,
            }).collect();
            let after: i64 = items.iter().map(|i| i.amount - i.discount).sum();
            Cart { currency: Currency::USD, items, shipping, discount: after * coupon_pct.min(90) / 100 }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Issue 13: for random carts (1–10 items, 1–5 sellers, discounts, shipping, tax) the
        /// parts sum exactly to the charge, do not depend on the order of the items, and every
        /// seller's entry keeps the R-MONEY-2 identity under its own tier's rule.
        #[test]
        fn cart_split_sums_exactly_ignores_item_order_and_keeps_each_identity(
            cart in cart(), seed in any::<u64>(), tiers in prop::collection::vec(tier(), 5), reserve in rate(2000)
        ) {
            let config = CommissionConfig::shipped().expect("config");
            let gross = cart.gross().expect("gross");
            let fee = config.processing_fee.estimate(gross).expect("fee");
            let parts = cart.split(fee).expect("split");
            prop_assert_eq!(parts.iter().map(|p| p.amounts.gross).sum::<i64>(), gross);
            prop_assert_eq!(parts.iter().map(|p| p.processing_fee_estimate).sum::<i64>(), fee);
            prop_assert_eq!(parts.iter().map(|p| p.amounts.shipping).sum::<i64>(), cart.shipping);
            let discounts: i64 = cart.items.iter().map(|i| i.discount).sum::<i64>() + cart.discount;
            prop_assert_eq!(parts.iter().map(|p| p.amounts.discount).sum::<i64>(), discounts);
            // Another order of the same items gives the same parts.
            let mut shuffled = cart.clone();
            let n = shuffled.items.len();
            for i in (1..n).rev() {
                let j = usize::try_from((seed >> (i % 32)) % (i as u64 + 1)).expect("index");
                shuffled.items.swap(i, j);
            }
            prop_assert_eq!(&shuffled.split(fee).expect("split"), &parts);
            for (i, part) in parts.iter().enumerate() {
                let rule = config.rule_for(tiers[i % tiers.len()], &RuleOverrides::default()).expect("rule");
                let b = commission::compute_with_fee(&part.amounts, &rule, reserve, None, Some(part.processing_fee_estimate));
                let Ok(b) = b else { continue }; // a tiny part whose fee exceeds it is refused, never negative
                prop_assert_eq!(b.commission + b.processing_fee + b.reserve + b.affiliate + b.net, part.amounts.gross);
                prop_assert_eq!(b.application_fee_amount, part.amounts.gross - b.net);
                prop_assert!(b.net >= 0);
            }
        }
    }
}

proptest! {
    /// Issue 14: with a storefront's item refunds, the entry's identity holds, the clawback never
    /// exceeds the part, never goes down as either source's cumulative total grows, and a full
    /// refund takes back everything.
    #[test]
    fn item_refunds_keep_the_identity_and_only_grow(base in 1i64..=10_000_000, extra in 0i64..=1_000_000,
                                                    c_bp in 0u32..=3000, a_bp in 0u32..=500,
                                                    rb in 0u32..=1000, ra in 0u32..=1000, m in 0u32..=1000) {
        let gross = base + extra;
        let commission = base * i64::from(c_bp) / 10_000;
        let affiliate = base * i64::from(a_bp) / 10_000;
        let scaled = |total: i64, per_mille: u32| total * i64::from(per_mille) / 1000;
        let mut original = OriginalParts { gross, commission, affiliate, ..Default::default() };
        original.items = refund::ItemRefunds { base, refunded_base: scaled(base, rb), refunded_amount: scaled(gross, ra) };
        let money = scaled(gross, m);
        let parts = refund::clawback(&original, money).expect("within gross");
        prop_assert!(parts.refunded_commission >= 0 && parts.refunded_commission <= commission);
        prop_assert!(parts.refunded_affiliate >= 0 && parts.refunded_affiliate <= affiliate);
        prop_assert_eq!(gross - money, parts.commission + parts.processing_fee + parts.reserve + parts.affiliate + parts.net);
        let more_money = refund::clawback(&original, (money + 1).min(gross)).expect("more");
        prop_assert!(more_money.refunded_commission >= parts.refunded_commission);
        let mut more_items = original;
        more_items.items.refunded_base = (more_items.items.refunded_base + 1).min(base);
        prop_assert!(refund::clawback(&more_items, money).expect("items").refunded_commission >= parts.refunded_commission);
        prop_assert_eq!(refund::clawback(&original, gross).expect("full").commission, 0);
    }

    /// Issue 14: through any sequence of the provider's refunds and the storefront's
    /// explanations (a state is a function of their cumulative totals, so the order of arrival
    /// does not matter), every state keeps the identity and never takes back more than a part.
    #[test]
    fn any_sequence_of_money_and_explanations_keeps_the_identity(base in 1i64..=10_000_000, extra in 0i64..=1_000_000,
                                            c_bp in 0u32..=3000, a_bp in 0u32..=500, fee in 0i64..=10_000,
                                            steps in prop::collection::vec((any::<bool>(), 0u32..=1000, 0u32..=1000), 1..12)) {
        let gross = base + extra + fee;
        let commission = base * i64::from(c_bp) / 10_000;
        let affiliate = base * i64::from(a_bp) / 10_000;
        let scaled = |total: i64, per_mille: u32| total * i64::from(per_mille) / 1000;
        let mut original = OriginalParts { gross, commission, affiliate, processing_fee: fee, ..Default::default() };
        original.items.base = base;
        let (mut money, mut items) = (0i64, original.items);
        for &(is_money, x, y) in &steps {
            if is_money {
                money = money.max(scaled(gross, x));
            } else {
                items.refunded_base = items.refunded_base.max(scaled(base, x));
                items.refunded_amount = items.refunded_amount.max(scaled(gross, y));
            }
            let mut at = original;
            at.items = items;
            let state = refund::clawback(&at, money).expect("within gross");
            prop_assert!(state.refunded_commission <= commission && state.refunded_affiliate <= affiliate);
            prop_assert_eq!(gross - money, state.commission + state.processing_fee + state.reserve + state.affiliate + state.net);
        }
    }
}
