//! Largest-remainder allocation (R-MONEY-3): split a whole into parts by weight so the parts
//! always sum exactly to the whole and the result does not depend on the order of the parties.

use rust_decimal::Decimal;

use crate::money::MoneyError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocationError {
    #[error("no parties to allocate to")]
    NoParties,
    #[error("weights must be non-negative and not all zero")]
    InvalidWeights,
    #[error("total must not be negative")]
    NegativeTotal,
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// Allocates `total` minor units among `parties` (key, weight). Each party first gets the floor
/// of its exact share; the cents left over go one each to the largest fractional remainders,
/// ties broken by key (never by position), so permuting the input permutes the output.
pub fn allocate<K: Ord + Clone>(total: i64, parties: &[(K, Decimal)]) -> Result<Vec<(K, i64)>, AllocationError> {
    if parties.is_empty() {
        return Err(AllocationError::NoParties);
    }
    if total < 0 {
        return Err(AllocationError::NegativeTotal);
    }
    if parties.iter().any(|(_, w)| w.is_sign_negative() && !w.is_zero()) {
        return Err(AllocationError::InvalidWeights);
    }
    let weight_sum =
        parties.iter().try_fold(Decimal::ZERO, |acc, (_, w)| acc.checked_add(*w)).ok_or(MoneyError::Overflow)?;
    if weight_sum.is_zero() {
        return Err(AllocationError::InvalidWeights);
    }
    let total_d = Decimal::from(total);
    let mut rows: Vec<(usize, i64, Decimal)> = Vec::with_capacity(parties.len());
    let mut allocated: i64 = 0;
    for (i, (_, w)) in parties.iter().enumerate() {
        let exact = total_d.checked_mul(*w).and_then(|x| x.checked_div(weight_sum)).ok_or(MoneyError::Overflow)?;
        let floor = exact.floor();
        let floor_i = i64::try_from(floor).map_err(|_| MoneyError::Overflow)?;
        allocated = allocated.checked_add(floor_i).ok_or(MoneyError::Overflow)?;
        rows.push((i, floor_i, exact - floor));
    }
    let mut leftover = total - allocated;
    // Largest remainder first; ties by key so the outcome is order independent.
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| rows[b].2.cmp(&rows[a].2).then_with(|| parties[a].0.cmp(&parties[b].0)));
    for idx in order {
        if leftover <= 0 {
            break;
        }
        rows[idx].1 += 1;
        leftover -= 1;
    }
    Ok(rows.into_iter().map(|(i, amount, _)| (parties[i].0.clone(), amount)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn thirds_sum_to_whole() {
        let out = allocate(100, &[("a", dec!(1)), ("b", dec!(1)), ("c", dec!(1))]).expect("alloc");
        assert_eq!(out, vec![("a", 34), ("b", 33), ("c", 33)]);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(allocate::<&str>(1, &[]), Err(AllocationError::NoParties));
        assert_eq!(allocate(1, &[("a", dec!(0))]), Err(AllocationError::InvalidWeights));
        assert_eq!(allocate(1, &[("a", dec!(-1)), ("b", dec!(2))]), Err(AllocationError::InvalidWeights));
        assert_eq!(allocate(-1, &[("a", dec!(1))]), Err(AllocationError::NegativeTotal));
    }
}
