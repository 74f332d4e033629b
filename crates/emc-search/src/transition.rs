//! The transition from fitting to failing, over every probe of every seed: the classic
//! EMC (largest fitted `n` of a bracketing search) is one point of a band where fitting is
//! a coin flip. This module reports the band and `n₅₀`, where the fit probability crosses
//! 50%, from a logistic fit `P(fit | n) = σ(a + b·ln n)` by maximum likelihood over the
//! pooled probes (`b < 0` when larger sets fit less often).

use serde::{Deserialize, Serialize};

use crate::search::ProbePoint;

/// Where fitting turns into failing, across seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// Smallest `n` that failed in some seed.
    pub lowest_failure: Option<usize>,
    /// Largest `n` that fitted in some seed.
    pub highest_fit: Option<usize>,
    /// `n` where the fitted logistic curve gives 50%; for probes that separate perfectly
    /// (every fit below every failure) the geometric mean of the highest fit and the lowest
    /// failure. `None` without both a fit and a failure.
    pub n50: Option<f64>,
    /// Whether every fit lies below every failure (a sharp transition, no band).
    pub separable: bool,
    /// Probes pooled.
    pub probes: usize,
}

impl Transition {
    /// The band `[lowest failure, highest fit]` where both outcomes occur, when they overlap.
    pub fn band(&self) -> Option<(usize, usize)> {
        match (self.lowest_failure, self.highest_fit) {
            (Some(lo), Some(hi)) if lo <= hi => Some((lo, hi)),
            _ => None,
        }
    }
}

/// The transition of pooled probes (each `n` counted once per seed that probed it).
pub fn transition(probes: &[ProbePoint]) -> Transition {
    let lowest_failure = probes.iter().filter(|p| !p.fitted).map(|p| p.n).min();
    let highest_fit = probes.iter().filter(|p| p.fitted).map(|p| p.n).max();
    let separable = match (lowest_failure, highest_fit) {
        (Some(lo), Some(hi)) => hi < lo,
        _ => true,
    };
    let n50 = match (lowest_failure, highest_fit) {
        (Some(lo), Some(hi)) if separable => Some(((lo as f64) * (hi.max(1) as f64)).sqrt()),
        (Some(_), Some(_)) => logistic_n50(probes),
        _ => None,
    };
    Transition {
        lowest_failure,
        highest_fit,
        n50,
        separable,
        probes: probes.len(),
    }
}

/// Maximum-likelihood logistic regression of fit on ln n (Newton's method with step
/// halving); `n₅₀ = exp(−a/b)`. `None` when the slope is not negative.
fn logistic_n50(probes: &[ProbePoint]) -> Option<f64> {
    let data: Vec<(f64, f64)> = probes
        .iter()
        .map(|p| ((p.n.max(1) as f64).ln(), if p.fitted { 1.0 } else { 0.0 }))
        .collect();
    // Centre x for conditioning.
    let mean = data.iter().map(|d| d.0).sum::<f64>() / data.len() as f64;
    let loglik = |a: f64, b: f64| -> f64 {
        data.iter()
            .map(|&(x, y)| {
                let z = a + b * (x - mean);
                // log σ(z) = −ln(1 + e^−z), log(1 − σ(z)) = −ln(1 + e^z), computed stably.
                let log1pexp = |t: f64| {
                    if t > 0.0 {
                        t + (-t).exp().ln_1p()
                    } else {
                        t.exp().ln_1p()
                    }
                };
                -(y * log1pexp(-z) + (1.0 - y) * log1pexp(z))
            })
            .sum()
    };
    let (mut a, mut b) = (0.0f64, 0.0f64);
    let mut ll = loglik(a, b);
    for _ in 0..100 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for &(x, y) in &data {
            let xc = x - mean;
            let p = 1.0 / (1.0 + (-(a + b * xc)).exp());
            let w = p * (1.0 - p);
            ga += y - p;
            gb += (y - p) * xc;
            haa += w;
            hab += w * xc;
            hbb += w * xc * xc;
        }
        let det = haa * hbb - hab * hab;
        if det.abs() < 1e-12 {
            break;
        }
        let (da, db) = ((hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det);
        let mut step = 1.0;
        let mut improved = false;
        while step > 1e-6 {
            let (na, nb) = (a + step * da, b + step * db);
            let nll = loglik(na, nb);
            if nll >= ll - 1e-12 {
                (a, b, ll) = (na, nb, nll);
                improved = true;
                break;
            }
            step /= 2.0;
        }
        if !improved || (da.abs() + db.abs()) * step < 1e-10 {
            break;
        }
    }
    (b < 0.0).then(|| (mean - a / b).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: usize, fitted: bool) -> ProbePoint {
        ProbePoint { n, fitted }
    }

    #[test]
    fn a_sharp_boundary_has_no_band_and_n50_between_fit_and_failure() {
        let t = transition(&[p(100, true), p(200, false), p(150, true), p(160, false)]);
        assert!(t.separable && t.band().is_none());
        assert_eq!((t.highest_fit, t.lowest_failure), (Some(150), Some(160)));
        assert!((t.n50.unwrap() - (150.0f64 * 160.0).sqrt()).abs() < 1e-9);
    }

    #[test]
    fn coin_flips_in_a_band_give_n50_inside_it() {
        // Fit probability falls from 1 at n <= 100 to 0 at n >= 200, symmetric in ln n
        // around sqrt(100 * 200) ≈ 141: three seeds' worth of probes.
        let mut v = vec![];
        for (n, fits) in [
            (50, 3),
            (100, 3),
            (120, 2),
            (141, 2),
            (141, 1),
            (166, 1),
            (200, 0),
            (400, 0),
        ] {
            for k in 0..3 {
                if !(n == 141 && fits == 1 && k > 0) {
                    v.push(p(n, k < fits));
                }
            }
        }
        let t = transition(&v);
        assert!(!t.separable);
        assert_eq!(t.band(), Some((120, 166)));
        let n50 = t.n50.unwrap();
        assert!((125.0..160.0).contains(&n50), "{n50}");
    }

    #[test]
    fn all_fits_or_all_failures_have_no_n50() {
        assert_eq!(transition(&[p(10, true), p(20, true)]).n50, None);
        assert_eq!(transition(&[p(10, false)]).n50, None);
    }
}
