//! Budget convergence against scripted probe oracles: a fit that appears only at twice the
//! budget, certified failures that are never trained again, recorded probes reused per
//! budget, a budget-dependent schedule that carries nothing over, and EMC that keeps
//! growing with the budget reported as budget-limited.

use std::cell::RefCell;

use emc_search::{search_budgets, BudgetProbe, SearchConfig};

fn cfg(doublings: usize) -> SearchConfig {
    SearchConfig {
        abs_tol: 1,
        rel_tol: 0.0,
        budget_doublings: doublings,
        ..SearchConfig::default()
    }
}

/// An oracle where `n` samples fit at budget multiplier `m` iff `n <= threshold(m)`, and a
/// failure is budget-limited (not carried over) iff `limited(n)`; records every (level, n)
/// trained.
fn oracle<'a>(
    threshold: impl Fn(usize) -> usize + 'a,
    limited: impl Fn(usize) -> bool + 'a,
    calls: &'a RefCell<Vec<(usize, usize)>>,
) -> impl FnMut(usize, usize) -> Result<BudgetProbe, ()> + 'a {
    move |level, n| {
        calls.borrow_mut().push((level, n));
        let fitted = n <= threshold(1 << level);
        Ok(BudgetProbe {
            n,
            fitted,
            carries_over: fitted || !limited(n),
        })
    }
}

#[test]
fn a_fit_that_appears_only_at_twice_the_budget_is_found_and_then_converges() {
    // EMC 100 at the configured budget, 150 at 2x and 4x: converged after two doublings.
    let calls = RefCell::new(vec![]);
    let threshold = |m: usize| if m == 1 { 100 } else { 150 };
    let o = search_budgets(
        &cfg(3),
        64,
        10_000,
        &|_| vec![],
        oracle(threshold, |_| true, &calls),
    )
    .unwrap();
    let emcs: Vec<usize> = o.levels.iter().map(|l| l.outcome.emc).collect();
    assert_eq!(emcs, [100, 150, 150]);
    assert_eq!(o.converged, Some(true));
    assert_eq!(o.last().emc, 150);
    // Fits are carried: nothing at or below 100 is trained again at 2x.
    let calls = calls.into_inner();
    assert!(calls.iter().all(|&(l, n)| l == 0 || n > 100), "{calls:?}");
    assert_eq!(
        o.levels[0].trained + o.levels[1].trained + o.levels[2].trained,
        calls.len()
    );
}

#[test]
fn certified_failures_are_not_rerun_and_converge_at_once() {
    // Every failure is certified (a small gradient): a larger budget cannot change anything.
    let calls = RefCell::new(vec![]);
    let o = search_budgets(
        &cfg(2),
        64,
        10_000,
        &|_| vec![],
        oracle(|_| 300, |_| false, &calls),
    )
    .unwrap();
    assert_eq!(o.levels.len(), 2);
    assert_eq!(o.levels[1].trained, 0, "the 2x search reuses every probe");
    assert_eq!(o.converged, Some(true));
    assert!(calls.into_inner().iter().all(|&(l, _)| l == 0));
}

#[test]
fn emc_growing_with_every_budget_is_budget_limited() {
    let calls = RefCell::new(vec![]);
    let o = search_budgets(
        &cfg(2),
        64,
        10_000,
        &|_| vec![],
        oracle(|m| 100 * m, |_| true, &calls),
    )
    .unwrap();
    let emcs: Vec<usize> = o.levels.iter().map(|l| l.outcome.emc).collect();
    assert_eq!(emcs, [100, 200, 400]);
    assert_eq!(o.converged, Some(false));
}

#[test]
fn without_doublings_nothing_is_checked() {
    let calls = RefCell::new(vec![]);
    let o = search_budgets(
        &cfg(0),
        64,
        10_000,
        &|_| vec![],
        oracle(|m| 100 * m, |_| true, &calls),
    )
    .unwrap();
    assert_eq!(o.levels.len(), 1);
    assert_eq!(o.converged, None);
}

#[test]
fn recorded_probes_are_reused_at_their_own_budget_only() {
    // Level 0 entirely recorded (EMC 100, failure at 101 budget-limited); at level 1 the
    // recorded failure at 101 must not be taken as a failure: it is trained again.
    let recorded = |level: usize| -> Vec<BudgetProbe> {
        if level > 0 {
            return vec![];
        }
        let mut v: Vec<BudgetProbe> = [64, 128, 96, 112, 104, 100, 102, 101]
            .iter()
            .map(|&n| BudgetProbe {
                n,
                fitted: n <= 100,
                carries_over: n <= 100,
            })
            .collect();
        v.sort_by_key(|p| p.n);
        v
    };
    let calls = RefCell::new(vec![]);
    let threshold = |m: usize| if m == 1 { 100 } else { 120 };
    let o = search_budgets(
        &cfg(1),
        64,
        10_000,
        &recorded,
        oracle(threshold, |_| true, &calls),
    )
    .unwrap();
    assert_eq!(
        o.levels[0].trained, 0,
        "the configured budget is entirely recorded"
    );
    assert_eq!(o.levels[0].outcome.emc, 100);
    assert_eq!(o.levels[1].outcome.emc, 120);
    let calls = calls.into_inner();
    assert!(
        calls.contains(&(1, 101)) || calls.contains(&(1, 128)),
        "{calls:?}"
    );
    assert!(calls.iter().all(|&(l, n)| l == 1 && n > 100), "{calls:?}");
}

#[test]
fn band_probes_straddle_the_boundary_and_reveal_what_bisection_missed() {
    // Bisection from 64 (rel_tol 0.1) brackets EMC 96 / first failure 104. The band probes
    // then sit one and two tolerance steps away: 86 and 76 below, 115 and 126 above. This
    // oracle fails at 86 and fits at 115, which the search alone never sees.
    let calls = RefCell::new(vec![]);
    let cfg = SearchConfig {
        rel_tol: 0.1,
        band_probes: 2,
        ..cfg(0)
    };
    let fits = |n: usize| (n <= 100 && n != 86) || n == 115;
    let o = search_budgets(
        &cfg,
        64,
        10_000,
        &|_| vec![],
        |_, n| -> Result<BudgetProbe, ()> {
            calls.borrow_mut().push(n);
            Ok(BudgetProbe {
                n,
                fitted: fits(n),
                carries_over: true,
            })
        },
    )
    .unwrap();
    let last = o.last();
    assert_eq!(
        (last.emc, last.upper),
        (96, Some(104)),
        "EMC stays the search's"
    );
    let ns: Vec<usize> = last.probes.iter().map(|p| p.n).collect();
    assert_eq!(&ns[ns.len() - 4..], [86, 115, 76, 126]);
    assert!(last.non_monotone);
    assert_eq!(o.levels[0].trained, calls.borrow().len());
    let t = emc_search::transition(&last.probes);
    assert_eq!(t.band(), Some((86, 115)));
}

#[test]
fn without_band_probes_nothing_extra_is_trained() {
    let calls = RefCell::new(vec![]);
    let o = search_budgets(
        &cfg(0),
        64,
        10_000,
        &|_| vec![],
        oracle(|_| 100, |_| false, &calls),
    )
    .unwrap();
    assert_eq!(o.last().probes.len(), calls.borrow().len());
    assert!(calls.borrow().iter().all(|&(_, n)| n != 90));
}

#[test]
fn a_schedule_that_depends_on_the_budget_carries_nothing_over() {
    // With a budget-relative schedule a 2x run is a different run: its fits are trained
    // again too, and here one of them (n = 100) no longer fits.
    let calls = RefCell::new(vec![]);
    let threshold = |m: usize| if m == 1 { 100 } else { 90 };
    let o = search_budgets(
        &cfg(1),
        64,
        10_000,
        &|_| vec![],
        |level, n| -> Result<BudgetProbe, ()> {
            calls.borrow_mut().push((level, n));
            Ok(BudgetProbe {
                n,
                fitted: n <= threshold(1 << level),
                carries_over: false,
            })
        },
    )
    .unwrap();
    let emcs: Vec<usize> = o.levels.iter().map(|l| l.outcome.emc).collect();
    assert_eq!(emcs, [100, 90]);
    let calls = calls.into_inner();
    assert!(
        calls.contains(&(1, 64)),
        "the first fit is trained again: {calls:?}"
    );
    assert_eq!(o.converged, Some(false));
}

/// EMC stalls for one doubling and then grows again (measured: an MLP seed at 1,200 → 1,240
/// from 4x to 8x, 2,480 at 64x): with `min_doublings` the search goes on to that budget and
/// judges convergence at the last doubling, not the first.
#[test]
fn a_stall_counts_as_converged_only_at_the_last_of_min_doublings() {
    let threshold = |m: usize| match m {
        1 => 100,
        2 => 102,
        _ => 200,
    };
    let run = |min, doublings| {
        let calls = RefCell::new(vec![]);
        let o = search_budgets(
            &SearchConfig {
                min_doublings: min,
                ..cfg(doublings)
            },
            64,
            10_000,
            &|_| vec![],
            oracle(threshold, |_| true, &calls),
        )
        .unwrap();
        let emcs: Vec<usize> = o.levels.iter().map(|l| l.outcome.emc).collect();
        (emcs, o.converged)
    };
    // Without it the stall from 1x to 2x ends the search.
    assert_eq!(run(0, 3), (vec![100, 102], Some(true)));
    // Required to reach 4x, the last doubling allowed: the jump is found, not converged.
    assert_eq!(run(2, 2), (vec![100, 102, 200], Some(false)));
    // With one more doubling allowed it converges from 4x to 8x.
    assert_eq!(run(2, 3), (vec![100, 102, 200, 200], Some(true)));
    // More than the doublings allowed is refused by the configuration check.
    let bad = SearchConfig {
        min_doublings: 4,
        ..cfg(3)
    };
    let err = bad.validate().unwrap_err().to_string();
    assert!(
        err.contains("search.min_doublings") && err.contains("at most budget_doublings (3)"),
        "{err}"
    );
}
