//! Effect sizes with a bootstrap confidence interval.
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
    /// How the analysis judged this comparison on its own (robust to the budget, see
    /// [`crate::budget_robust_effect`]), when it did: shown beside the interval, and how a MIXED
    /// verdict says where the claim holds and where it does not.
    pub judged: Option<Outcome>,
    /// How the ratio moves with the budget, when the arms were searched at several.
    pub trend: Option<Trend>,
}

/// How an effect moves across budget doublings: the least-squares slope of the log ratio
/// against log2 of the budget, as a factor per doubling, with a 95% percentile bootstrap
/// interval over resampled seeds (each seed's EMCs at every budget kept together).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    /// Budget levels the slope is fitted over (1×, 2×, ... 2^(levels-1)×).
    pub levels: usize,
    /// exp(slope): the factor the ratio is multiplied by per budget doubling.
    pub per_doubling: f64,
    /// 2.5th percentile of the bootstrap factors.
    pub lo: f64,
    /// 97.5th percentile of the bootstrap factors.
    pub hi: f64,
}

impl Trend {
    /// `×0.71 [0.60, 0.85] per doubling (1x-16x)`.
    pub fn describe(&self) -> String {
        format!(
            "×{:.2} [{:.2}, {:.2}] per doubling (1x–{}x)",
            self.per_doubling,
            self.lo,
            self.hi,
            1usize << (self.levels - 1)
        )
    }

    /// Further doublings after which a ratio of `ratio` reaches 1 if it kept moving at
    /// this rate (a straight-line extrapolation in log–log): `None` when it moves away
    /// from 1 or not at all.
    pub fn doublings_to_one(&self, ratio: f64) -> Option<f64> {
        let (gap, slope) = (ratio.ln(), self.per_doubling.ln());
        (gap * slope < 0.0 && slope.abs() > 1e-12).then(|| -gap / slope)
    }
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

/// The 2.5th and 97.5th percentiles of bootstrap statistics (NaN for none): the 95%
/// percentile interval every bootstrap of this crate reports.
pub(crate) fn interval95(mut stats: Vec<f64>) -> (f64, f64) {
    stats.sort_by(f64::total_cmp);
    let at = |q: f64| match stats.len() {
        0 => f64::NAN,
        m => stats[((q * (m - 1) as f64).round() as usize).min(m - 1)],
    };
    (at(0.025), at(0.975))
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
    bootstrap_log_contrast(label, &[(a, 1.0), (b, -1.0)], seed)
}

/// `exp(Σ cᵢ · mean ln EMCᵢ)` over `terms` (per-seed EMCs, coefficient) with a 95%
/// percentile bootstrap interval, each term's seeds resampled independently ([`RESAMPLES`]
/// resamples, ChaCha8 seeded with `seed`, terms drawn in order). `[(a, 1), (b, -1)]` is
/// [`bootstrap_log_ratio`]; `[(a, 1), (b, -1), (c, -1), (d, 1)]` is the ratio of ratios
/// `(a/b) / (c/d)`, an interaction: how much more `a` differs from `b` than `c` from `d`.
///
/// ```
/// let e = emc_claims::bootstrap_log_contrast(
///     "(a/b)/(c/d)",
///     &[(&[100, 110, 90], 1.0), (&[400, 420, 380], -1.0), (&[800, 820, 790], -1.0),
///       (&[800, 810, 780], 1.0)],
///     0,
/// );
/// assert!(e.hi < 1.0 && (e.ratio - 0.25).abs() < 0.05);
/// ```
pub fn bootstrap_log_contrast(label: &str, terms: &[(&[usize], f64)], seed: u64) -> Effect {
    let ratio = terms
        .iter()
        .map(|(v, c)| c * mean_log(v))
        .sum::<f64>()
        .exp();
    if terms.is_empty() || terms.iter().any(|(v, _)| v.is_empty()) {
        return Effect {
            label: label.into(),
            ratio: f64::NAN,
            lo: f64::NAN,
            hi: f64::NAN,
            judged: None,
            trend: None,
        };
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut draw = |v: &[usize]| -> f64 {
        let s: Vec<usize> = (0..v.len())
            .map(|_| v[rng.random_range(0..v.len())])
            .collect();
        mean_log(&s)
    };
    let stats: Vec<f64> = (0..RESAMPLES)
        .map(|_| terms.iter().map(|(v, c)| c * draw(v)).sum::<f64>().exp())
        .collect();
    let (lo, hi) = interval95(stats);
    Effect {
        label: label.into(),
        ratio,
        lo,
        hi,
        judged: None,
        trend: None,
    }
}

/// The [`Trend`] of `ln(EMC_a / EMC_b)` over `levels` budget levels (`None` below 2
/// levels or without seeds), bootstrapped over [`RESAMPLES`] resamples of each arm's seeds
/// from ChaCha8 seeded with `seed`.
pub fn budget_trend(a: &ArmResult, b: &ArmResult, levels: usize, seed: u64) -> Option<Trend> {
    // Per seed, ln EMC at each level (a seed that converged early keeps its last EMC).
    let paths = |r: &ArmResult| -> Vec<Vec<f64>> {
        let per_level: Vec<Vec<usize>> = (0..levels).map(|l| r.emcs_at(l)).collect();
        (0..per_level[0].len())
            .map(|s| {
                per_level
                    .iter()
                    .map(|e| (e[s].max(1) as f64).ln())
                    .collect()
            })
            .collect()
    };
    let (pa, pb) = (paths(a), paths(b));
    if levels < 2 || pa.is_empty() || pb.is_empty() {
        return None;
    }
    // Least-squares slope of the mean-log difference against the level index.
    let slope = |ia: &[usize], ib: &[usize]| -> f64 {
        let mean = |p: &[Vec<f64>], idx: &[usize], l: usize| {
            idx.iter().map(|&i| p[i][l]).sum::<f64>() / idx.len() as f64
        };
        let y: Vec<f64> = (0..levels)
            .map(|l| mean(&pa, ia, l) - mean(&pb, ib, l))
            .collect();
        let xm = (levels - 1) as f64 / 2.0;
        let ym = y.iter().sum::<f64>() / levels as f64;
        let (mut sxy, mut sxx) = (0.0, 0.0);
        for (l, v) in y.iter().enumerate() {
            sxy += (l as f64 - xm) * (v - ym);
            sxx += (l as f64 - xm).powi(2);
        }
        sxy / sxx
    };
    let all = |n: usize| (0..n).collect::<Vec<_>>();
    let point = slope(&all(pa.len()), &all(pb.len())).exp();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut draw = |n: usize| -> Vec<usize> { (0..n).map(|_| rng.random_range(0..n)).collect() };
    let stats: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let (ia, ib) = (draw(pa.len()), draw(pb.len()));
            slope(&ia, &ib).exp()
        })
        .collect();
    let (lo, hi) = interval95(stats);
    Some(Trend {
        levels,
        per_doubling: point,
        lo,
        hi,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget_robust_effect;
    use crate::testing::arm;

    /// The two-term contrast is the ratio, bit for bit (its resamples too); a ratio of
    /// ratios without interaction straddles 1, one with a clear interaction excludes it.
    #[test]
    fn a_contrast_generalises_the_ratio() {
        let (a, b) = ([100, 200, 300], [150, 250, 120]);
        let r = bootstrap_log_ratio("x", &a, &b, 7);
        let c = bootstrap_log_contrast("x", &[(&a, 1.0), (&b, -1.0)], 7);
        assert_eq!(r, c);
        let same = bootstrap_log_contrast(
            "none",
            &[
                (&[50, 60, 55], 1.0),
                (&[100, 120, 110], -1.0),
                (&[500, 600, 550], -1.0),
                (&[1000, 1200, 1100], 1.0),
            ],
            1,
        );
        assert!(
            same.lo < 1.0 && same.hi > 1.0 && (same.ratio - 1.0).abs() < 1e-9,
            "{same:?}"
        );
        let empty = bootstrap_log_contrast("e", &[(&[1], 1.0), (&[], -1.0)], 0);
        assert!(empty.ratio.is_nan() && empty.lo.is_nan());
    }

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
    fn the_trend_is_the_slope_of_the_log_ratio_per_doubling() {
        // SGD flat at 400; GD doubles its EMC with every doubling of the budget: the ratio
        // halves per doubling, exactly, whichever seeds are resampled.
        let sgd = arm(
            "sgd",
            &[
                (&[400, 400, 400], Some(true)),
                (&[400, 400, 400], Some(true)),
            ],
        );
        let gd = arm(
            "gd",
            &[
                (&[50, 100, 200], Some(false)),
                (&[25, 50, 100], Some(false)),
            ],
        );
        let t = budget_trend(&sgd, &gd, 3, 0).unwrap();
        assert!((t.per_doubling - 0.5).abs() < 1e-12, "{t:?}");
        assert!(
            (t.lo - 0.5).abs() < 1e-12 && (t.hi - 0.5).abs() < 1e-12,
            "{t:?}"
        );
        // The ratio is 2√2 at 4x (sqrt(200 * 100) = 141.4): one and a half doublings more.
        let e = budget_robust_effect("x", &sgd, &gd, 0, true);
        assert_eq!(e.effect.trend, Some(t));
        assert_eq!(e.outcome, Outcome::Inconclusive);
        assert!(
            e.note.ends_with(
                "the ratio moves ×0.50 [0.50, 0.50] per doubling (1x–4x): at that rate it \
                 would reach 1 after about 1.5 more doublings"
            ),
            "{}",
            e.note
        );
        // Seeds that disagree give an interval; a gap that widens moves away from 1.
        let gd = arm(
            "gd",
            &[
                (&[100, 90, 80], Some(false)),
                (&[100, 100, 70], Some(false)),
            ],
        );
        let t = budget_trend(&sgd, &gd, 3, 0).unwrap();
        assert!(t.lo < t.per_doubling && t.per_doubling < t.hi, "{t:?}");
        assert!(t.per_doubling > 1.0 && t.doublings_to_one(4.5).is_none());
        // One level has no trend.
        assert_eq!(budget_trend(&sgd, &gd, 1, 0), None);
    }

    #[test]
    fn clear_effects_hold_or_not_by_direction() {
        let e = bootstrap_log_ratio("x", &[50, 60], &[400, 410], 1);
        assert!(e.hi < 1.0);
        assert_eq!(e.outcome(true), Outcome::DoesNotHold);
        assert_eq!(e.outcome(false), Outcome::Holds);
    }
}
