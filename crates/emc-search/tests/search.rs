//! The search logic against scripted probe oracles: exact EMC for monotone thresholds,
//! the tolerance rule, non-monotone runs flagged, saturation, the downward phase.

use emc_search::{default_n0, search, SearchConfig};

fn run(
    cfg: &SearchConfig,
    n0: usize,
    limit: usize,
    fits: impl Fn(usize) -> bool,
) -> emc_search::SearchOutcome {
    search::<()>(cfg, n0, limit, &[], |n| Ok(fits(n))).unwrap()
}

fn exact() -> SearchConfig {
    SearchConfig {
        abs_tol: 1,
        rel_tol: 0.0,
        ..SearchConfig::default()
    }
}

#[test]
fn monotone_thresholds_give_the_exact_emc() {
    for threshold in [1, 2, 7, 8, 9, 100, 127, 128, 129, 1000, 4095] {
        for n0 in [1, 16, 64, 5000] {
            let o = run(&exact(), n0, 10_000, |n| n <= threshold);
            assert_eq!(o.emc, threshold, "threshold {threshold}, n0 {n0}");
            assert_eq!(o.upper, Some(threshold + 1));
            assert!(!o.non_monotone && !o.saturated);
            let mut ns: Vec<usize> = o.probes.iter().map(|p| p.n).collect();
            ns.sort();
            ns.dedup();
            assert_eq!(ns.len(), o.probes.len(), "no n probed twice");
        }
    }
}

#[test]
fn tolerance_rule_stops_bisection_early() {
    let cfg = SearchConfig::default(); // abs 8, rel 2%
    let o = run(&cfg, 64, 100_000, |n| n <= 1000);
    let u = o.upper.unwrap();
    assert!(o.emc <= 1000 && u > 1000);
    assert!(u - o.emc <= 20, "2% of ~1000 is 20: {o:?}");
    assert!(u - o.emc > 8 || o.emc == 1000);
    let small = run(&cfg, 16, 100_000, |n| n <= 50);
    assert!(small.upper.unwrap() - small.emc <= 8 && small.emc <= 50 && small.emc >= 42);
    // Fewer probes than an exact search.
    assert!(o.probes.len() < run(&exact(), 64, 100_000, |n| n <= 1000).probes.len());
}

#[test]
fn non_monotone_runs_are_flagged_not_hidden() {
    use emc_search::ProbePoint;
    // Fits below 40, fails at 40..=49, fits again 50..=90 (a coin-flip band). A run from
    // n0 = 25 fits 25, 50, 75, 87, 90 and fails 100, 93, 91; a later run from n0 = 40
    // lands in the band and searches downwards.
    let fits = |n: usize| n < 40 || (50..=90).contains(&n);
    let first = run(&exact(), 25, 1000, fits);
    assert!(
        !first.non_monotone,
        "a bracketing search alone never probes above a failure"
    );
    let mut calls = 0;
    let second = search::<()>(&exact(), 40, 1000, &first.probes, |n| {
        calls += 1;
        Ok(fits(n))
    })
    .unwrap();
    assert!(second.non_monotone, "{second:?}");
    assert_eq!(second.emc, 39);
    assert_eq!(calls, second.probes.len(), "new sizes are trained");
    let mut retrained = 0;
    let again = search::<()>(&exact(), 25, 1000, &first.probes, |n| {
        retrained += 1;
        Ok(fits(n))
    })
    .unwrap();
    assert_eq!(
        (retrained, again.emc),
        (0, first.emc),
        "recorded probes are reused"
    );
    let monotone: Vec<ProbePoint> = run(&exact(), 25, 1000, |n| n < 40).probes;
    assert!(
        !search::<()>(&exact(), 32, 1000, &monotone, |n| Ok(n < 40))
            .unwrap()
            .non_monotone
    );
}

#[test]
fn the_whole_split_fitting_is_saturation() {
    let o = run(&exact(), 16, 300, |_| true);
    assert_eq!((o.emc, o.upper, o.saturated), (300, None, true));
    let capped = SearchConfig {
        max_n: Some(100),
        ..exact()
    };
    assert_eq!(run(&capped, 16, 300, |_| true).emc, 100);
}

#[test]
fn a_failing_first_probe_searches_downwards() {
    let o = run(&exact(), 512, 10_000, |n| n <= 20);
    assert_eq!(o.emc, 20);
    let none = run(&exact(), 64, 10_000, |_| false);
    assert_eq!((none.emc, none.upper), (0, Some(1)));
}

#[test]
fn default_first_probe() {
    assert_eq!(default_n0(669_706, 10), 8192); // 669706/64 = 10464 -> 2^13
    assert_eq!(default_n0(1930, 10), 40); // 30 -> 32, but at least 4 x 10
    assert_eq!(default_n0(10, 2), 8);
}

#[test]
fn errors_from_the_probe_stop_the_search() {
    let r = search(&exact(), 8, 100, &[], |n| {
        if n > 20 {
            Err("probe failed")
        } else {
            Ok(true)
        }
    });
    assert_eq!(r.unwrap_err(), "probe failed");
}
