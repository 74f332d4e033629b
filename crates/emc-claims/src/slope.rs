//! How EMC moves along a grid axis (input resolution, class count...): the least-squares
//! slope of mean log EMC against the axis value, as a factor per unit, with a bootstrap
//! interval over each arm's seeds. Exploratory claims report it as the measured direction.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::effect::{interval95, RESAMPLES};
use crate::Effect;

/// One arm on the axis: where it stands, what its EMC is divided by (its parameter count
/// for EMC per parameter, 1 for EMC), and its per-seed EMCs.
#[derive(Debug, Clone, PartialEq)]
pub struct SlopePoint {
    /// The axis value, e.g. log2 of the resolution.
    pub x: f64,
    /// The EMC is divided by this before the logarithm (1 for EMC itself).
    pub divisor: f64,
    /// Per-seed EMCs.
    pub emcs: Vec<usize>,
}

/// The least-squares slope of mean ln(EMC / divisor) against `x` over `points`, as
/// `exp(slope)` (the factor per unit of `x`: per doubling when `x` is a log2), with a 95%
/// percentile interval over [`RESAMPLES`] resamples of each point's seeds (drawn
/// independently per point from ChaCha8 seeded with `seed`). The [`Effect`]'s `ratio`, `lo`
/// and `hi` hold the factor and its interval; `judged` is left to the caller. NaN with
/// fewer than two distinct `x` or a point without seeds.
///
/// ```
/// use emc_claims::{bootstrap_slope, SlopePoint};
/// let p = |x: f64, e: usize| SlopePoint { x, divisor: 1.0, emcs: vec![e, e + e / 10] };
/// let s = bootstrap_slope("EMC per doubling", &[p(0.0, 100), p(1.0, 200), p(2.0, 400)], 0);
/// assert!((s.ratio - 2.0).abs() < 0.01 && s.lo > 1.5);
/// ```
pub fn bootstrap_slope(label: &str, points: &[SlopePoint], seed: u64) -> Effect {
    let nan = Effect {
        label: label.into(),
        ratio: f64::NAN,
        lo: f64::NAN,
        hi: f64::NAN,
        judged: None,
        trend: None,
    };
    let xm = points.iter().map(|p| p.x).sum::<f64>() / points.len().max(1) as f64;
    let sxx: f64 = points.iter().map(|p| (p.x - xm).powi(2)).sum();
    if points.len() < 2 || sxx < 1e-12 || points.iter().any(|p| p.emcs.is_empty()) {
        return nan;
    }
    let logs: Vec<Vec<f64>> = points
        .iter()
        .map(|p| {
            p.emcs
                .iter()
                .map(|&e| (e.max(1) as f64 / p.divisor).ln())
                .collect()
        })
        .collect();
    // The slope of the per-point means of the chosen seeds.
    let slope = |means: &[f64]| -> f64 {
        let ym = means.iter().sum::<f64>() / means.len() as f64;
        let sxy: f64 = points
            .iter()
            .zip(means)
            .map(|(p, y)| (p.x - xm) * (y - ym))
            .sum();
        sxy / sxx
    };
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let point = slope(&logs.iter().map(|l| mean(l)).collect::<Vec<_>>()).exp();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let stats: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let means: Vec<f64> = logs
                .iter()
                .map(|l| {
                    (0..l.len())
                        .map(|_| l[rng.random_range(0..l.len())])
                        .sum::<f64>()
                })
                .zip(&logs)
                .map(|(s, l)| s / l.len() as f64)
                .collect();
            slope(&means).exp()
        })
        .collect();
    let (lo, hi) = interval95(stats);
    Effect {
        ratio: point,
        lo,
        hi,
        ..nan
    }
}

/// The direction a slope's interval shows, in words: `rises`, `falls`, or `no direction
/// excluded` (the interval contains 1).
pub fn direction(e: &Effect) -> &'static str {
    if e.lo > 1.0 {
        "rises"
    } else if e.hi < 1.0 {
        "falls"
    } else {
        "no direction excluded"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(x: f64, divisor: f64, emcs: &[usize]) -> SlopePoint {
        SlopePoint {
            x,
            divisor,
            emcs: emcs.to_vec(),
        }
    }

    #[test]
    fn an_exact_power_law_gives_its_factor_and_a_degenerate_interval() {
        // EMC = 50 · 3^x at every seed: ×3 per unit, no spread to resample.
        let pts: Vec<SlopePoint> = (0..4)
            .map(|x| point(x as f64, 1.0, &[50 * 3usize.pow(x); 3]))
            .collect();
        let s = bootstrap_slope("s", &pts, 1);
        assert!((s.ratio - 3.0).abs() < 1e-9, "{s:?}");
        assert!((s.lo - 3.0).abs() < 1e-9 && (s.hi - 3.0).abs() < 1e-9);
        assert_eq!(direction(&s), "rises");
        // Divided by a count that grows 4× per unit: the per-count factor is 3/4.
        let per: Vec<SlopePoint> = pts
            .iter()
            .map(|p| point(p.x, 4f64.powf(p.x), &p.emcs))
            .collect();
        let s = bootstrap_slope("s", &per, 1);
        assert!((s.ratio - 0.75).abs() < 1e-9);
        assert_eq!(direction(&s), "falls");
    }

    #[test]
    fn noise_without_a_trend_excludes_no_direction_and_degenerate_axes_are_nan() {
        let pts = [
            point(0.0, 1.0, &[100, 300]),
            point(1.0, 1.0, &[300, 100]),
            point(2.0, 1.0, &[100, 300]),
        ];
        let s = bootstrap_slope("s", &pts, 2);
        assert!(s.lo < 1.0 && s.hi > 1.0, "{s:?}");
        assert_eq!(direction(&s), "no direction excluded");
        assert!(bootstrap_slope("s", &pts[..1], 0).ratio.is_nan());
        let same_x = [point(1.0, 1.0, &[5]), point(1.0, 1.0, &[7])];
        assert!(bootstrap_slope("s", &same_x, 0).ratio.is_nan());
        assert!(
            bootstrap_slope("s", &[point(0.0, 1.0, &[]), pts[1].clone()], 0)
                .ratio
                .is_nan()
        );
    }
}
