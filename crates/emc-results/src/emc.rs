//! A seed's EMC as `probes.csv` records it, to check `summary.csv` (derived data) against:
//! the largest fitted `n` among the seed's probes valid at its last budget level (see
//! [`probes_at_budget`](crate::probes_at_budget)).

use crate::budget::Recorded;

/// The largest fitted `n` among `valid` (the probes of one seed valid at its last budget
/// level), 0 when none fitted.
pub fn largest_fit<P: Recorded>(valid: &[&P]) -> u64 {
    valid
        .iter()
        .filter(|p| p.fitted())
        .map(|p| p.n())
        .max()
        .unwrap_or(0)
}

/// `None` when a seed's recorded EMC `emc` (and first failure above it, `upper`) agrees with
/// its probes `valid` at its last budget level; else the EMC the probes give
/// ([`largest_fit`]).
///
/// They agree when `emc` is the largest fit, or, when the probes hold fits above the
/// search's bracket (a non-monotone seed, or probes recorded by a search with finer
/// settings), when `emc` is a recorded fit and `upper` a recorded failure above it: the
/// bracket the search ended on.
pub fn emc_disagreement<P: Recorded>(valid: &[&P], emc: u64, upper: Option<u64>) -> Option<u64> {
    let largest = largest_fit(valid);
    if emc == largest {
        return None;
    }
    let recorded = |n: u64, fitted: bool| valid.iter().any(|p| p.n() == n && p.fitted() == fitted);
    let bracketed =
        emc > 0 && recorded(emc, true) && upper.is_some_and(|u| u > emc && recorded(u, false));
    (!bracketed).then_some(largest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::ProbeRow;

    fn probe(n: usize, fitted: bool) -> ProbeRow {
        ProbeRow {
            n,
            fitted,
            stop: if fitted { "fitted" } else { "max-epochs" }.into(),
            ..ProbeRow::default()
        }
    }

    #[test]
    fn the_recorded_emc_must_be_what_the_probes_give() {
        let rows = [
            probe(100, true),
            probe(200, true),
            probe(400, false),
            probe(300, true),
        ];
        let valid: Vec<&ProbeRow> = rows.iter().collect();
        assert_eq!(largest_fit(&valid), 300);
        assert_eq!(emc_disagreement(&valid, 300, Some(400)), None);
        // An edited summary.
        assert_eq!(emc_disagreement(&valid, 999, Some(400)), Some(300));
        assert_eq!(emc_disagreement(&valid, 200, None), Some(300));
        // A fit that is not the bracket's: no recorded failure above it as its upper.
        assert_eq!(emc_disagreement(&valid, 200, Some(250)), Some(300));
        assert_eq!(largest_fit::<ProbeRow>(&[]), 0);
        assert_eq!(emc_disagreement::<ProbeRow>(&[], 0, None), None);
    }

    #[test]
    fn a_fit_above_the_bracket_is_not_a_disagreement() {
        // Non-monotone: the search ended on [200, 250]; 300 fitted in a band probe.
        let rows = [probe(200, true), probe(250, false), probe(300, true)];
        let valid: Vec<&ProbeRow> = rows.iter().collect();
        assert_eq!(emc_disagreement(&valid, 200, Some(250)), None);
        assert_eq!(emc_disagreement(&valid, 300, None), None);
    }
}
