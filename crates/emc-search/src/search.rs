//! The one place EMC is decided: the search over nested subset sizes, given a probe that
//! says whether the model fits the first `n` samples.
//!
//! Protocol: start at `n0`; double while probes fit (capped at the number of samples
//! available); if the very first probe fails, halve until one fits. Then bisect between the
//! last fit `L` and the first failure `U` until `U − L ≤ max(abs_tol, rel_tol · L)`.
//! EMC = `L`. Every probe is kept; a fit at some `n` above a failure at a smaller `n` flags
//! the search as non-monotone (reported, never hidden).

use serde::{Deserialize, Serialize};

/// Knobs of the search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchConfig {
    /// First probe size; `None` means [`default_n0`].
    pub n0: Option<usize>,
    /// Stop bisecting when `U − L` is at most this many samples...
    pub abs_tol: usize,
    /// ...or at most this fraction of `L`, whichever is larger.
    pub rel_tol: f64,
    /// Largest `n` probed (defaults to the whole training split).
    pub max_n: Option<usize>,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            n0: None,
            abs_tol: 8,
            rel_tol: 0.02,
            max_n: None,
        }
    }
}

/// The default first probe: the power of two nearest `params / 64`, at least
/// `4 × classes`.
pub fn default_n0(params: usize, classes: usize) -> usize {
    let target = (params as f64 / 64.0).max(1.0);
    let pow = 2usize.pow(target.log2().round() as u32);
    pow.max(4 * classes)
}

/// One probe's outcome as the search sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbePoint {
    /// Subset size.
    pub n: usize,
    /// Whether the model fitted all `n` samples.
    pub fitted: bool,
}

/// The result of one search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchOutcome {
    /// EMC: the last fitted `n` of the bracketing (0 when not even one sample fits).
    pub emc: usize,
    /// The first failure above it (`None` when every probe up to the limit fitted).
    pub upper: Option<usize>,
    /// Every probe, in the order run.
    pub probes: Vec<ProbePoint>,
    /// Some `n` fitted although a smaller `n` failed.
    pub non_monotone: bool,
    /// The whole available split fitted: EMC is only a lower bound.
    pub saturated: bool,
}

/// Runs the search. `limit` is the number of samples available, `n0` the first probe,
/// `probe(n)` trains on the first `n` samples and says whether they were all fitted.
///
/// A bracketing search never probes above a failure, so by itself it cannot see
/// non-monotonicity; `prior` holds probes of the same model, procedure and seed recorded
/// earlier (e.g. by a run with another tolerance or first size): they are reused instead of
/// retrained, and count for the non-monotone flag.
pub fn search<E>(
    cfg: &SearchConfig,
    n0: usize,
    limit: usize,
    prior: &[ProbePoint],
    mut probe: impl FnMut(usize) -> Result<bool, E>,
) -> Result<SearchOutcome, E> {
    let limit = cfg.max_n.map_or(limit, |m| m.min(limit)).max(1);
    let mut probes = vec![];
    let mut run = |n: usize, probes: &mut Vec<ProbePoint>| -> Result<bool, E> {
        if let Some(p) = probes.iter().find(|p| p.n == n) {
            return Ok(p.fitted);
        }
        let fitted = match prior.iter().find(|p| p.n == n) {
            Some(p) => p.fitted,
            None => probe(n)?,
        };
        probes.push(ProbePoint { n, fitted });
        Ok(fitted)
    };
    let mut n = n0.clamp(1, limit);
    let (mut lo, mut hi): (usize, Option<usize>) = (0, None);
    // Grow while it fits.
    loop {
        if run(n, &mut probes)? {
            lo = n;
            if n >= limit {
                break;
            }
            n = (2 * n).min(limit);
        } else {
            hi = Some(n);
            break;
        }
    }
    // The very first probe failed: shrink until one fits.
    if lo == 0 {
        while let Some(u) = hi {
            let m = u / 2;
            if m == 0 {
                break;
            }
            if run(m, &mut probes)? {
                lo = m;
                break;
            }
            hi = Some(m);
        }
    }
    // Bisect the bracket [lo, hi].
    while let Some(u) = hi {
        let tol = cfg
            .abs_tol
            .max((cfg.rel_tol * lo as f64).floor() as usize)
            .max(1);
        if u - lo <= tol {
            break;
        }
        let mid = lo + (u - lo) / 2;
        if run(mid, &mut probes)? {
            lo = mid;
        } else {
            hi = Some(mid);
        }
    }
    let seen: Vec<&ProbePoint> = probes.iter().chain(prior).collect();
    let non_monotone = seen
        .iter()
        .any(|f| f.fitted && seen.iter().any(|u| !u.fitted && u.n < f.n));
    Ok(SearchOutcome {
        emc: lo,
        upper: hi,
        saturated: hi.is_none() && lo >= limit,
        probes,
        non_monotone,
    })
}
