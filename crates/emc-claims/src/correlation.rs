//! Correlations across configurations, with a bootstrap confidence interval.
//!
//! - Pearson's r: `Σ(x−x̄)(y−ȳ) / √(Σ(x−x̄)² · Σ(y−ȳ)²)`.
//! - Kendall's τ-b: over all pairs `i < j`, `C` concordant pairs (`(xᵢ−xⱼ)(yᵢ−yⱼ) > 0`), `D`
//!   discordant (`< 0`); `τ_b = (C − D) / √((n₀ − n₁)(n₀ − n₂))` with `n₀ = n(n−1)/2` and
//!   `n₁`, `n₂` the pairs tied in x and in y (scipy's `kendalltau` default).
//!
//! Both are `NaN` when undefined (fewer than two points, or no variation in x or y).
//! The 95% interval is the percentile interval over [`RESAMPLES`] bootstrap resamples of
//! the *points* (pairs kept together, drawn with replacement from ChaCha8 seeded by the
//! caller); resamples where the statistic is undefined (e.g. every draw the same point) are
//! left out and counted.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::effect::{interval95, RESAMPLES};
use crate::Outcome;

/// Pearson's product-moment correlation of `x` and `y` (equal lengths); `NaN` when
/// undefined.
///
/// ```
/// let r = emc_claims::pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.5]);
/// assert!(r > 0.99);
/// ```
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    assert_eq!(x.len(), y.len(), "pearson: x and y differ in length");
    let n = x.len();
    if n < 2 {
        return f64::NAN;
    }
    let mx = x.iter().sum::<f64>() / n as f64;
    let my = y.iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx <= 0.0 || syy <= 0.0 {
        return f64::NAN;
    }
    (sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0)
}

/// Kendall's τ-b of `x` and `y` (equal lengths), ties handled as in the module text; `NaN`
/// when undefined. Quadratic in the number of points (populations are small).
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> f64 {
    assert_eq!(x.len(), y.len(), "kendall_tau_b: x and y differ in length");
    let n = x.len();
    let (mut concordant, mut discordant) = (0i64, 0i64);
    // Pairs not tied in x (n₀ − n₁) and not tied in y (n₀ − n₂).
    let (mut untied_x, mut untied_y) = (0i64, 0i64);
    for i in 0..n {
        for j in i + 1..n {
            let sx = sign(x[i] - x[j]);
            let sy = sign(y[i] - y[j]);
            untied_x += i64::from(sx != 0);
            untied_y += i64::from(sy != 0);
            match sx * sy {
                1 => concordant += 1,
                -1 => discordant += 1,
                _ => {}
            }
        }
    }
    if untied_x == 0 || untied_y == 0 {
        return f64::NAN;
    }
    (concordant - discordant) as f64 / ((untied_x as f64) * (untied_y as f64)).sqrt()
}

fn sign(d: f64) -> i32 {
    if d > 0.0 {
        1
    } else if d < 0.0 {
        -1
    } else {
        0
    }
}

/// A correlation across points with its bootstrap interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Correlation {
    /// What is correlated, e.g. `Pearson r(ln EMC ratio, generalization gap)`.
    pub label: String,
    /// The statistic on all points.
    pub value: f64,
    /// 2.5th percentile over the bootstrap resamples where it is defined.
    pub lo: f64,
    /// 97.5th percentile.
    pub hi: f64,
    /// Number of points.
    pub n: usize,
    /// Resamples where the statistic was defined (of [`RESAMPLES`]).
    pub resamples: usize,
}

impl Correlation {
    /// HOLDS when the interval lies entirely on the expected side of 0 (`expect_negative`
    /// or positive), DOES NOT HOLD when entirely on the other side, INCONCLUSIVE otherwise
    /// (including an undefined statistic).
    pub fn outcome(&self, expect_negative: bool) -> Outcome {
        let (below, above) = (self.hi < 0.0, self.lo > 0.0);
        match (below, above, expect_negative) {
            (true, _, true) | (_, true, false) => Outcome::Holds,
            (true, _, false) | (_, true, true) => Outcome::DoesNotHold,
            _ => Outcome::Inconclusive,
        }
    }
}

/// `statistic` (e.g. [`pearson`] or [`kendall_tau_b`]) of the points `(x[i], y[i])` with a
/// 95% percentile bootstrap interval over [`RESAMPLES`] resamples of the points, drawn from
/// ChaCha8 seeded with `seed` (deterministic).
pub fn bootstrap_correlation(
    label: &str,
    x: &[f64],
    y: &[f64],
    statistic: fn(&[f64], &[f64]) -> f64,
    seed: u64,
) -> Correlation {
    assert_eq!(x.len(), y.len(), "bootstrap_correlation: x and y differ");
    let n = x.len();
    let value = statistic(x, y);
    let mut stats = vec![];
    if n >= 2 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (mut bx, mut by) = (vec![0.0; n], vec![0.0; n]);
        for _ in 0..RESAMPLES {
            for k in 0..n {
                let i = rng.random_range(0..n);
                bx[k] = x[i];
                by[k] = y[i];
            }
            let s = statistic(&bx, &by);
            if s.is_finite() {
                stats.push(s);
            }
        }
    }
    let resamples = stats.len();
    let (lo, hi) = interval95(stats);
    Correlation {
        label: label.into(),
        value,
        lo,
        hi,
        n,
        resamples,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn pearson_matches_hand_computation() {
        // x̄ = 3, ȳ = 4; Σdx·dy = 4 + 0 + 0 + 0 + 2 = 6, Σdx² = 10, Σdy² = 6:
        // r = 6 / √60 = 0.7745966692414834 (scipy.stats.pearsonr gives the same).
        let r = pearson(&[1., 2., 3., 4., 5.], &[2., 4., 5., 4., 5.]);
        assert!(close(r, 6.0 / 60f64.sqrt()), "{r}");
        assert!(close(r, 0.774_596_669_241_483_4));
        assert!(close(pearson(&[1., 2., 3.], &[3., 2., 1.]), -1.0));
        assert!(pearson(&[1., 1., 1.], &[1., 2., 3.]).is_nan());
        assert!(pearson(&[1.], &[1.]).is_nan());
    }

    #[test]
    fn kendall_tau_b_matches_hand_computation_with_ties() {
        // y ties (4, 4) and (5, 5); of the 10 pairs 7 are concordant, 1 discordant
        // ((3, 4): 5 > 4), 2 tied in y: τ_b = (7 − 1) / √(10 · 8) = 0.6708203932499369
        // (scipy.stats.kendalltau, variant 'b', gives the same).
        let t = kendall_tau_b(&[1., 2., 3., 4., 5.], &[2., 4., 5., 4., 5.]);
        assert!(close(t, 6.0 / 80f64.sqrt()), "{t}");
        assert!(close(t, 0.670_820_393_249_936_9));
        // Ties in both: pair (1, 2) tied in x, pair (2, 3) tied in y, the other 4
        // concordant: τ_b = 4 / √(5 · 5) = 0.8.
        let t = kendall_tau_b(&[1., 1., 2., 3.], &[1., 2., 2., 3.]);
        assert!(close(t, 0.8), "{t}");
        assert!(close(kendall_tau_b(&[1., 2., 3.], &[3., 2., 1.]), -1.0));
        assert!(kendall_tau_b(&[2., 2.], &[1., 3.]).is_nan());
    }

    #[test]
    fn bootstrap_interval_is_seeded_and_on_the_side_of_a_clear_trend() {
        // y falls with x, with a small zig-zag: every defined resample is negative.
        let x: Vec<f64> = (0..12).map(f64::from).collect();
        let y: Vec<f64> = x
            .iter()
            .map(|v| -v + if (*v as i32) % 2 == 0 { 0.3 } else { -0.3 })
            .collect();
        let c = bootstrap_correlation("r", &x, &y, pearson, 3);
        assert_eq!(c, bootstrap_correlation("r", &x, &y, pearson, 3));
        assert!(c.value < -0.95 && c.hi < 0.0 && c.lo <= c.value, "{c:?}");
        assert!(c.resamples > RESAMPLES - 10 && c.n == 12);
        assert_eq!(c.outcome(true), Outcome::Holds);
        assert_eq!(c.outcome(false), Outcome::DoesNotHold);
        let k = bootstrap_correlation("tau", &x, &y, kendall_tau_b, 3);
        assert!(k.hi < 0.0, "{k:?}");
    }

    #[test]
    fn bootstrap_interval_straddles_zero_without_a_trend() {
        let x = [1., 2., 3., 4., 5., 6.];
        let y = [3., 1., 4., 1., 5., 2.];
        let c = bootstrap_correlation("r", &x, &y, kendall_tau_b, 0);
        assert!(c.lo < 0.0 && c.hi > 0.0, "{c:?}");
        assert_eq!(c.outcome(true), Outcome::Inconclusive);
        let empty = bootstrap_correlation("r", &[], &[], pearson, 0);
        assert!(empty.value.is_nan() && empty.lo.is_nan() && empty.resamples == 0);
        assert_eq!(empty.outcome(true), Outcome::Inconclusive);
    }
}
