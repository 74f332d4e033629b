//! Effect sizes with a bootstrap confidence interval, and the learning-rate choice.
//!
//! The effect of A over B is the ratio of geometric means, `exp(mean ln EMC_A − mean ln
//! EMC_B)` (the paper averages log EMC). Its 95% interval is the percentile interval of the
//! same statistic over seeded (ChaCha8) resamples of the per-seed EMCs of each arm, drawn
//! independently. An interval that contains 1 means no effect can be excluded.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{ArmResult, Outcome};

/// Bootstrap resamples per effect.
pub const RESAMPLES: usize = 10_000;

/// A ratio of EMCs with its bootstrap interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Effect {
    /// What is compared, e.g. `mlp: EMC(sgd b=32 lr=0.1) / EMC(gd lr=0.5)`.
    pub label: String,
    /// Ratio of geometric means of the per-seed EMCs.
    pub ratio: f64,
    /// 2.5th percentile of the bootstrap ratios.
    pub lo: f64,
    /// 97.5th percentile of the bootstrap ratios.
    pub hi: f64,
}

impl Effect {
    /// The outcome for a claim that expects a ratio above 1 (`expect_above_one`) or below.
    pub fn outcome(&self, expect_above_one: bool) -> Outcome {
        let (above, below) = (self.lo > 1.0, self.hi < 1.0);
        match (above, below, expect_above_one) {
            (true, _, true) | (_, true, false) => Outcome::Holds,
            (true, _, false) | (_, true, true) => Outcome::DoesNotHold,
            _ => Outcome::Inconclusive,
        }
    }
}

fn mean_log(v: &[usize]) -> f64 {
    // EMC 0 (nothing fitted) counts as 1 so the logarithm stays finite.
    v.iter().map(|&e| (e.max(1) as f64).ln()).sum::<f64>() / v.len() as f64
}

/// The effect of `a` over `b` (per-seed EMCs) with a 95% percentile bootstrap interval over
/// [`RESAMPLES`] resamples drawn from ChaCha8 seeded with `seed` (deterministic).
///
/// ```
/// let e = emc_claims::bootstrap_log_ratio("a/b", &[400, 420, 440], &[100, 110, 90], 0);
/// assert!(e.lo > 1.0 && (e.ratio - 4.0).abs() < 0.5);
/// ```
pub fn bootstrap_log_ratio(label: &str, a: &[usize], b: &[usize], seed: u64) -> Effect {
    let ratio = (mean_log(a) - mean_log(b)).exp();
    if a.is_empty() || b.is_empty() {
        return Effect {
            label: label.into(),
            ratio: f64::NAN,
            lo: f64::NAN,
            hi: f64::NAN,
        };
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut draw = |v: &[usize]| -> f64 {
        let s: Vec<usize> = (0..v.len())
            .map(|_| v[rng.random_range(0..v.len())])
            .collect();
        mean_log(&s)
    };
    let mut stats: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let la = draw(a);
            (la - draw(b)).exp()
        })
        .collect();
    stats.sort_by(f64::total_cmp);
    let at = |q: f64| stats[((q * (RESAMPLES - 1) as f64).round() as usize).min(RESAMPLES - 1)];
    Effect {
        label: label.into(),
        ratio,
        lo: at(0.025),
        hi: at(0.975),
    }
}

/// The best arm (highest median EMC, then highest mean log EMC, then first in the grid) of
/// each `(architecture, procedure)`: the learning rate chosen from the grid by best EMC.
/// In grid order of first appearance.
pub fn best_per_procedure(results: &[ArmResult]) -> Vec<&ArmResult> {
    let mut best: Vec<&ArmResult> = vec![];
    for r in results {
        let key = |x: &ArmResult| (x.arm.architecture.clone(), x.arm.procedure.clone());
        match best.iter_mut().find(|b| key(b) == key(r)) {
            Some(b) => {
                let (s, t) = (&r.measurement.stats, &b.measurement.stats);
                if (s.median, s.mean_log_emc) > (t.median, t.mean_log_emc) {
                    *b = r;
                }
            }
            None => best.push(r),
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_straddles_one_for_overlapping_samples() {
        let e = bootstrap_log_ratio("x", &[100, 200, 300], &[150, 250, 120], 7);
        assert!(e.lo < 1.0 && e.hi > 1.0, "{e:?}");
        assert_eq!(e.outcome(true), Outcome::Inconclusive);
        assert_eq!(
            e,
            bootstrap_log_ratio("x", &[100, 200, 300], &[150, 250, 120], 7)
        );
    }

    #[test]
    fn clear_effects_hold_or_not_by_direction() {
        let e = bootstrap_log_ratio("x", &[50, 60], &[400, 410], 1);
        assert!(e.hi < 1.0);
        assert_eq!(e.outcome(true), Outcome::DoesNotHold);
        assert_eq!(e.outcome(false), Outcome::Holds);
    }
}
