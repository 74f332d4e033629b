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
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    /// First probe size; `None` means [`default_n0`].
    pub n0: Option<usize>,
    /// Stop bisecting when `U − L` is at most this many samples...
    pub abs_tol: usize,
    /// ...or at most this fraction of `L`, whichever is larger.
    pub rel_tol: f64,
    /// Largest `n` probed (defaults to the whole training split).
    pub max_n: Option<usize>,
    /// Budget convergence: after the search at the configured budget, search again at up
    /// to this many doublings of the epoch (and step) budget, stopping once EMC changes by
    /// at most [`SearchConfig::budget_tol`]; 0 turns it off (see [`search_budgets`]).
    #[serde(skip_serializing_if = "is_zero")]
    pub budget_doublings: usize,
    /// Search at least this many doublings even when EMC converged at a smaller budget (at
    /// most [`SearchConfig::budget_doublings`]), so that every seed of a measurement reaches
    /// the same budget: EMC can stall for one doubling and grow again. 0: stop at the first
    /// converged doubling.
    #[serde(skip_serializing_if = "is_zero")]
    pub min_doublings: usize,
    /// Largest relative change of EMC between successive budgets that counts as converged
    /// (never finer than the search's own `abs_tol`).
    #[serde(skip_serializing_if = "is_default_budget_tol")]
    pub budget_tol: f64,
    /// Adaptive seeds: add seeds (beyond the configured ones) until the 95% bootstrap
    /// interval of the median EMC is at most [`SearchConfig::seed_ci_width`] of the median,
    /// or this many seeds were searched; 0 keeps the configured seeds.
    #[serde(skip_serializing_if = "is_zero")]
    pub max_seeds: usize,
    /// Target relative width of the median's interval for adaptive seeds.
    #[serde(skip_serializing_if = "is_default_seed_ci_width")]
    pub seed_ci_width: f64,
    /// Transition band: after the search (at the largest budget) probe this many tolerance
    /// steps below the EMC and above the first failure, so that n₅₀ and the band rest on
    /// probes on both sides of the boundary; EMC stays the bracketing search's. 0 = off.
    #[serde(skip_serializing_if = "is_zero")]
    pub band_probes: usize,
}

/// Default of [`SearchConfig::seed_ci_width`].
pub const DEFAULT_SEED_CI_WIDTH: f64 = 0.2;

fn is_default_seed_ci_width(x: &f64) -> bool {
    *x == DEFAULT_SEED_CI_WIDTH
}

/// Default of [`SearchConfig::budget_tol`].
pub const DEFAULT_BUDGET_TOL: f64 = 0.05;

fn is_zero(x: &usize) -> bool {
    *x == 0
}

fn is_default_budget_tol(x: &f64) -> bool {
    *x == DEFAULT_BUDGET_TOL
}

impl SearchConfig {
    /// Refuses settings the search cannot run with: a first probe or size cap of 0,
    /// tolerances that are negative or not finite, a seed interval width that is not
    /// positive.
    ///
    /// # Errors
    /// [`SearchError::Config`](crate::SearchError::Config) naming the field
    /// (`search.n0`, ...), the value and what is expected.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |field: &str, value: String, expected: &str| {
            Err(crate::SearchError::Config {
                field: format!("search.{field}"),
                message: format!("{value}; expected {expected}"),
            })
        };
        if self.n0 == Some(0) {
            return bad("n0", "0".into(), "a first probe of at least 1 sample");
        }
        if self.max_n == Some(0) {
            return bad("max_n", "0".into(), "a size cap of at least 1 sample");
        }
        for (field, value) in [("rel_tol", self.rel_tol), ("budget_tol", self.budget_tol)] {
            if !(value.is_finite() && value >= 0.0) {
                return bad(field, value.to_string(), "a finite number >= 0");
            }
        }
        if self.min_doublings > self.budget_doublings {
            return bad(
                "min_doublings",
                self.min_doublings.to_string(),
                &format!("at most budget_doublings ({})", self.budget_doublings),
            );
        }
        if !(self.seed_ci_width.is_finite() && self.seed_ci_width > 0.0) {
            return bad(
                "seed_ci_width",
                self.seed_ci_width.to_string(),
                "a finite number > 0",
            );
        }
        Ok(())
    }
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            n0: None,
            abs_tol: 8,
            rel_tol: 0.02,
            max_n: None,
            budget_doublings: 0,
            min_doublings: 0,
            budget_tol: DEFAULT_BUDGET_TOL,
            max_seeds: 0,
            seed_ci_width: DEFAULT_SEED_CI_WIDTH,
            band_probes: 0,
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

/// The extra sizes probed around a search's boundary: `k = 1..=band_probes` tolerance steps
/// below the EMC and above the first failure (capped at the available samples), skipping
/// sizes the search already probed.
fn band_sizes(cfg: &SearchConfig, outcome: &SearchOutcome, limit: usize) -> Vec<usize> {
    let limit = cfg.max_n.map_or(limit, |m| m.min(limit));
    let step = |x: usize| {
        cfg.abs_tol
            .max((cfg.rel_tol * x as f64).ceil() as usize)
            .max(1)
    };
    let mut ns = vec![];
    for k in 1..=cfg.band_probes {
        let below = outcome.emc.checked_sub(k * step(outcome.emc));
        let above = outcome
            .upper
            .map(|u| u + k * step(u))
            .filter(|&n| n <= limit);
        for n in [below, above].into_iter().flatten() {
            if n > 0 && !ns.contains(&n) && !outcome.probes.iter().any(|p| p.n == n) {
                ns.push(n);
            }
        }
    }
    ns
}

/// A probe's result as budget convergence needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetProbe {
    /// Subset size.
    pub n: usize,
    /// Whether every sample was fitted.
    pub fitted: bool,
    /// The result stands at every larger budget, so it is carried over untrained: a fit or
    /// a certified failure (small gradient, divergence) when a longer run replays the
    /// shorter one. `false` for a failure that ran out of budget (epochs, steps, or plateau
    /// patience with a gradient that is not small), and for every probe of a schedule that
    /// depends on the budget (a longer budget is a different run).
    pub carries_over: bool,
}

/// The search at one budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetLevel {
    /// The budget as a multiple of the configured one (1, 2, 4, ...).
    pub multiplier: usize,
    /// The search at that budget.
    pub outcome: SearchOutcome,
    /// Probes trained at this budget (the others were carried over or recorded earlier).
    pub trained: usize,
}

/// The searches at successive budgets and whether EMC stopped moving.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetOutcome {
    /// One search per budget tried, smallest first.
    pub levels: Vec<BudgetLevel>,
    /// `Some(true)`: the last doubling changed EMC by at most the tolerance (*budget-
    /// converged*); `Some(false)`: every doubling tried moved it more (*budget-limited*);
    /// `None`: not checked (no doubling configured).
    pub converged: Option<bool>,
}

impl BudgetOutcome {
    /// EMC per budget, e.g. `1x:540 2x:900 4x:1440`.
    pub fn describe(&self) -> String {
        self.levels
            .iter()
            .map(|l| format!("{}x:{}", l.multiplier, l.outcome.emc))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The search at the largest budget tried (the EMC reported).
    pub fn last(&self) -> &SearchOutcome {
        &self
            .levels
            .last()
            .expect("at least one budget level")
            .outcome
    }
}

/// [`search`] at the configured budget and then at doubled budgets until EMC converges or
/// `cfg.budget_doublings` doublings were tried (but never before `cfg.min_doublings`
/// doublings: the convergence that counts is the last one). `recorded(level)` gives the
/// probes recorded earlier at budget `2^level`; `probe(level, n)` trains at that budget.
///
/// A probe that [carries over](BudgetProbe::carries_over) (a fit, or a failure certified by
/// a small gradient or divergence, when a longer run replays the shorter one) is taken to
/// the next budget without training; the others (failures that ran out of epochs, steps or
/// plateau patience) are probed again, and the search continues from there. EMC has
/// converged when a doubling moves it by at most `max(budget_tol · EMC, abs_tol)`.
pub fn search_budgets<E>(
    cfg: &SearchConfig,
    n0: usize,
    limit: usize,
    recorded: &dyn Fn(usize) -> Vec<BudgetProbe>,
    mut probe: impl FnMut(usize, usize) -> Result<BudgetProbe, E>,
) -> Result<BudgetOutcome, E> {
    let mut levels: Vec<BudgetLevel> = vec![];
    // Results valid at the current budget: carried from the smaller one, and recorded.
    let mut known: Vec<BudgetProbe> = vec![];
    let mut converged = None;
    for level in 0..=cfg.budget_doublings {
        for r in recorded(level) {
            if !known.iter().any(|k| k.n == r.n) {
                known.push(r);
            }
        }
        let prior: Vec<ProbePoint> = known
            .iter()
            .map(|k| ProbePoint {
                n: k.n,
                fitted: k.fitted,
            })
            .collect();
        let mut fresh: Vec<BudgetProbe> = vec![];
        let outcome = search(cfg, n0, limit, &prior, |n| {
            let r = probe(level, n)?;
            fresh.push(r);
            Ok(r.fitted)
        })?;
        let mut trained = fresh.len();
        known.extend(fresh);
        let mut outcome = outcome;
        if let Some(prev) = levels.last() {
            let (a, b) = (prev.outcome.emc as f64, outcome.emc as f64);
            let tol = (cfg.budget_tol * a).max(cfg.abs_tol as f64);
            converged = Some((b - a).abs() <= tol);
        }
        let last = (converged == Some(true) && level >= cfg.min_doublings)
            || level == cfg.budget_doublings;
        if last {
            // The largest budget: probe the transition band around the boundary.
            for n in band_sizes(cfg, &outcome, limit) {
                let fitted = match known.iter().find(|k| k.n == n) {
                    Some(k) => k.fitted,
                    None => {
                        let r = probe(level, n)?;
                        trained += 1;
                        known.push(r);
                        r.fitted
                    }
                };
                outcome.probes.push(ProbePoint { n, fitted });
                outcome.non_monotone |= (fitted && outcome.upper.is_some_and(|u| n > u))
                    || (!fitted && n < outcome.emc);
            }
        }
        levels.push(BudgetLevel {
            multiplier: 1 << level,
            outcome,
            trained,
        });
        if last {
            break;
        }
        // Only what more budget cannot change is carried to the next budget.
        known.retain(|k| k.carries_over);
    }
    Ok(BudgetOutcome { levels, converged })
}
