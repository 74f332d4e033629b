//! Tests of the adaptive rounds over scripted arms: budget extension until convergence,
//! a flipped ordering, the doubling cap, seeds added where an interval contains 1, and the
//! work bound's admissions and refusals.

use super::*;
use crate::testing::arm;
use crate::{budget_robust_effect, Outcome};

/// SGD against GD as the claim compares them: the GD arm is extended when it is behind,
/// budget-limited, and the comparison undecided.
fn analyse(results: &[ArmResult]) -> Verdict {
    let e = budget_robust_effect("sgd / gd", &results[0], &results[1], 0, true);
    Verdict {
        outcome: e.outcome,
        reason: e.note.clone(),
        extend: e.extend.into_iter().collect(),
        more_seeds: e.more_seeds,
        ..Verdict::default()
    }
}

/// SGD converged at 400 and 410 (two levels); GD's two seeds at each level are
/// `gd(levels)`, budget-limited unless `converged(levels)`.
fn run(
    gd: fn(usize) -> Vec<[usize; 2]>,
    converged: fn(usize) -> bool,
    cap: usize,
) -> (Vec<ArmResult>, Vec<Extension>, usize) {
    run_bounded(gd, converged, cap, None)
}

/// [`run`] with a work bound; every seed's probes at level l cost 10 · 2^l.
fn run_bounded(
    gd: fn(usize) -> Vec<[usize; 2]>,
    converged: fn(usize) -> bool,
    cap: usize,
    work: Option<f64>,
) -> (Vec<ArmResult>, Vec<Extension>, usize) {
    let build = |levels: usize| {
        let per = gd(levels);
        let seed = |s: usize| per.iter().map(|l| l[s]).collect::<Vec<_>>();
        let (a, b) = (seed(0), seed(1));
        let c = Some(converged(levels));
        arm("gd", &[(&a, c), (&b, c)])
    };
    let sgd = arm(
        "sgd",
        &[(&[400, 405], Some(true)), (&[410, 415], Some(true))],
    );
    let mut results = vec![sgd, build(2)];
    let mut rounds = 0;
    let mut measure = |arms: &[Arm]| -> Result<Vec<ArmResult>> {
        rounds += 1;
        assert_eq!(arms.len(), 1, "only the deciding arm is extended");
        assert_eq!(arms[0].label, "gd");
        // Every seed is searched at the new budget, not only those still growing.
        let search = &arms[0].measure.search;
        assert_eq!(search.min_doublings, search.budget_doublings);
        Ok(vec![build(search.budget_doublings + 1)])
    };
    let caps = Caps {
        doublings: cap,
        seeds: 0,
        work,
    };
    let mut cost = |r: &ArmResult| -> Result<Work> {
        let levels = r.budget_levels();
        let per_seed = (0..levels).map(|l| 10.0 * (1 << l) as f64).collect();
        Ok(vec![per_seed; r.arm.measure.seeds.len()])
    };
    let ext = extend_arms(&mut results, analyse, caps, &mut measure, &mut cost).unwrap();
    (results, ext, rounds)
}

#[test]
fn a_work_bound_refuses_the_doubling_it_cannot_pay_for_and_says_so() {
    // GD keeps growing below SGD. Its two seeds cost 20 at 1x and 40 at 2x, so the
    // first doubling is estimated at 80: paid from a bound of 100, leaving 20 for the
    // next, estimated at 160: refused, and the verdict stays open.
    let grows = |k: usize| [[100, 110], [150, 160], [200, 210], [250, 260]][..k].to_vec();
    let (results, ext, rounds) = run_bounded(grows, |_| false, 5, Some(100.0));
    assert_eq!(rounds, 1);
    assert_eq!(analyse(&results).outcome, Outcome::Inconclusive);
    assert_eq!((ext[0].from, ext[0].to, ext[0].work), (1, 2, 80.0));
    assert_eq!(
        ext[0].stopped,
        "work budget spent: its next doubling would take about 1.60e2 \
         parameter-sample-epochs, 2.00e1 were left of 1.00e2"
    );
    let caps = Caps {
        doublings: 5,
        seeds: 0,
        work: Some(100.0),
    };
    let mut e = ext[0].clone();
    e.seconds = vec![1.0, 2.0, 4.0];
    let md = section(&[e], caps);
    assert!(md.contains("Spent: 8.00e1."), "{md}");
    assert!(
        md.contains("one more doubling (8x): about 8 CPU-s |"),
        "{md}"
    );
    // A bound below the first estimate extends nothing, and the arm says why.
    let (_, ext, rounds) = run_bounded(grows, |_| false, 5, Some(50.0));
    assert_eq!((rounds, ext.len()), (0, 1));
    assert_eq!((ext[0].from, ext[0].to, ext[0].work), (1, 1, 0.0));
    assert!(
        ext[0].stopped.starts_with(
            "work budget spent: its next doubling would take about 8.00e1 \
             parameter-sample-epochs, 5.00e1 were left"
        ),
        "{:?}",
        ext[0]
    );
    // A bound that covers every doubling changes nothing.
    let (_, unbounded, _) = run(grows, |_| false, 3);
    let (_, bounded, _) = run_bounded(grows, |_| false, 3, Some(1e9));
    assert_eq!(unbounded[0].stopped, bounded[0].stopped);
    assert_eq!(bounded[0].work, 80.0 + 160.0);
}

#[test]
fn an_arm_is_extended_until_its_emc_converges() {
    // GD: 100 -> 200 (limited), then 210 at 4x: converged, and SGD's lead stands.
    let (results, ext, rounds) = run(
        |k| [[100, 110], [200, 210], [210, 220]][..k].to_vec(),
        |k| k >= 3,
        5,
    );
    assert_eq!(rounds, 1);
    assert_eq!(analyse(&results).outcome, Outcome::Holds);
    assert_eq!(ext.len(), 1);
    assert_eq!((ext[0].from, ext[0].to), (1, 2));
    assert_eq!(ext[0].medians, vec![(1, 105.0), (2, 205.0), (4, 215.0)]);
    assert!(
        ext[0].stopped.starts_with("budget-converged at 4x"),
        "{ext:?}"
    );
}

#[test]
fn an_extension_that_flips_the_ordering_is_reported() {
    // GD overtakes SGD at 4x and is still growing: the ordering flipped, and SGD (now
    // behind, converged) has nothing to extend: the flip decides, and says so.
    let (results, ext, rounds) = run(
        |k| [[100, 110], [200, 210], [600, 650]][..k].to_vec(),
        |_| false,
        5,
    );
    assert_eq!(rounds, 1);
    let v = analyse(&results);
    assert_eq!(v.outcome, Outcome::DoesNotHold);
    assert!(
        v.reason
            .starts_with("the ordering flipped with the budget (3.86 at 1x, 2.00 at 2x;"),
        "{}",
        v.reason
    );
    assert!(v.extend.is_empty());
    assert!(
        ext[0].stopped.contains("no longer deciding"),
        "{:?}",
        ext[0]
    );
    let md = section(
        &ext,
        Caps {
            doublings: 5,
            seeds: 0,
            work: None,
        },
    );
    assert!(
        md.contains("| gd | 1 -> 2 | 2 | 1x: 105, 2x: 205, 4x: 625 |"),
        "{md}"
    );
}

#[test]
fn a_cap_reached_leaves_the_verdict_inconclusive_and_says_so() {
    // GD keeps growing below SGD: extended to the cap of 3 doublings (8x).
    let (results, ext, rounds) = run(
        |k| [[100, 110], [150, 160], [200, 210], [250, 260]][..k].to_vec(),
        |_| false,
        3,
    );
    assert_eq!(rounds, 2);
    let v = analyse(&results);
    assert_eq!(v.outcome, Outcome::Inconclusive);
    assert_eq!(v.extend, vec!["gd".to_string()]);
    assert_eq!((ext[0].from, ext[0].to), (1, 3));
    assert_eq!(
        ext[0].stopped,
        "cap reached: still budget-limited at 8x (3 doublings in all)"
    );
    // The section states what the levels cost and what one more doubling would.
    let mut e = ext[0].clone();
    e.seconds = vec![10.0, 30.0, 60.0, 200.0];
    let md = section(
        &[e],
        Caps {
            doublings: 3,
            seeds: 0,
            work: None,
        },
    );
    assert!(
        md.contains(
            "| 1x: 10 s, 2x: 30 s, 4x: 60 s, 8x: 200 s; one more doubling (16x): about \
             667 CPU-s |"
        ),
        "{md}"
    );
    // A cap at the grid's own budget extends nothing.
    let (_, ext, rounds) = run(|k| [[100, 110], [150, 160]][..k].to_vec(), |_| false, 1);
    assert_eq!((ext.len(), rounds), (0, 0));
}

/// An arm whose seeds (one budget level, converged) have these EMCs.
fn seeded(label: &str, emcs: &[usize]) -> ArmResult {
    let one: Vec<[usize; 1]> = emcs.iter().map(|&e| [e]).collect();
    let seeds: Vec<(&[usize], Option<bool>)> = one.iter().map(|e| (&e[..], Some(true))).collect();
    arm(label, &seeds)
}

/// Two converged arms whose seeds (in order) have the EMCs `a` and `b`, starting from
/// two seeds each and given more seeds as the analysis asks, up to `cap`.
fn widen(a: &'static [usize], b: &'static [usize], cap: usize) -> (Vec<ArmResult>, Vec<Extension>) {
    widen_bounded(a, b, cap, None)
}

/// [`widen`] with a work bound: a seed of `sgd` costs 100, one of `gd` 1.
fn widen_bounded(
    a: &'static [usize],
    b: &'static [usize],
    cap: usize,
    work: Option<f64>,
) -> (Vec<ArmResult>, Vec<Extension>) {
    let mut results = vec![seeded("sgd", &a[..2]), seeded("gd", &b[..2])];
    let mut measure = |arms: &[Arm]| -> Result<Vec<ArmResult>> {
        Ok(arms
            .iter()
            .map(|x| {
                let n = x.measure.seeds.len();
                assert_eq!(x.measure.seeds, (0..n as u64).collect::<Vec<_>>());
                assert_eq!(x.measure.search.budget_doublings, 0, "no budget asked");
                seeded(&x.label, if x.label == "sgd" { &a[..n] } else { &b[..n] })
            })
            .collect())
    };
    let caps = Caps {
        doublings: 5,
        seeds: cap,
        work,
    };
    let mut cost = |r: &ArmResult| -> Result<Work> {
        let per_seed = if r.arm.label == "sgd" { 100.0 } else { 1.0 };
        Ok(vec![vec![per_seed]; r.arm.measure.seeds.len()])
    };
    let ext = extend_arms(&mut results, analyse, caps, &mut measure, &mut cost).unwrap();
    (results, ext)
}

#[test]
fn a_work_bound_pays_for_the_cheapest_requests_of_a_round_first() {
    // Both arms ask for seeds; sgd's (2 x 100) come first in grid order, gd's (2 x 1)
    // are cheaper: a bound of 10 pays for gd's until the seed cap, never for sgd's.
    let (results, ext) = widen_bounded(
        &[300, 500, 300, 500, 300],
        &[350, 450, 350, 450, 350],
        5,
        Some(10.0),
    );
    assert_eq!(analyse(&results).outcome, Outcome::Inconclusive);
    let (sgd, gd) = (&ext[0], &ext[1]);
    assert_eq!((sgd.seeds_to, gd.seeds_to), (2, 5));
    assert_eq!(gd.work, 3.0);
    assert!(
        sgd.stopped
            .starts_with("work budget spent: its next seeds would take about 2.00e2"),
        "{sgd:?}"
    );
    assert!(gd.stopped.starts_with("seed cap reached"), "{gd:?}");
}

#[test]
fn an_interval_containing_one_gets_more_seeds_until_it_decides_or_the_cap() {
    // Two seeds overlap; with four the interval lies above 1: both arms widened once.
    let (results, ext) = widen(&[300, 500, 420, 410, 400], &[350, 250, 200, 210, 205], 8);
    assert_eq!(analyse(&results).outcome, Outcome::Holds);
    assert_eq!(ext.len(), 2);
    for e in &ext {
        assert_eq!(
            (e.from, e.to, e.seeds_from, e.seeds_to),
            (0, 0, 2, 4),
            "{e:?}"
        );
        assert!(e.stopped.starts_with("4 seeds: no comparison"), "{e:?}");
    }
    // Seeds that keep overlapping stop at the cap, and say so.
    let (results, ext) = widen(&[300, 500, 300, 500, 300], &[350, 450, 350, 450, 350], 5);
    let v = analyse(&results);
    assert_eq!(v.outcome, Outcome::Inconclusive);
    assert_eq!(v.more_seeds, vec!["sgd".to_string(), "gd".to_string()]);
    assert_eq!(ext[0].seeds_to, 5);
    assert_eq!(
        ext[0].stopped,
        "seed cap reached: an interval it is in still contains 1 at 5 seeds"
    );
    let md = section(
        &ext,
        Caps {
            doublings: 5,
            seeds: 5,
            work: None,
        },
    );
    assert!(md.contains("| sgd | 0 | 2 -> 5 |"), "{md}");
    // A budget-limited arm behind is extended in budget, not given seeds.
    let sgd = arm(
        "sgd",
        &[(&[400, 405], Some(true)), (&[410, 415], Some(true))],
    );
    let gd = arm(
        "gd",
        &[(&[300, 350], Some(false)), (&[350, 390], Some(false))],
    );
    let v = analyse(&[sgd, gd]);
    assert!(
        v.more_seeds.is_empty() && v.extend == vec!["gd".to_string()],
        "{v:?}"
    );
}

/// A seed that stopped at a smaller budget than another (converged over one doubling) makes
/// its arm budget-limited: the round searches it up to the arm's largest budget before any
/// further doubling, even at the cap, and the comparison is decided only then.
#[test]
fn seeds_that_stopped_at_a_smaller_budget_are_searched_up_to_the_largest_first() {
    let sgd = arm(
        "sgd",
        &[(&[400, 405], Some(true)), (&[410, 415], Some(true))],
    );
    // GD seed 0 stalled from 1x to 2x; seed 1 grew to 4x and converged there.
    let mut gd = arm(
        "gd",
        &[(&[100, 102], Some(true)), (&[100, 200, 205], Some(true))],
    );
    gd.arm.measure.search.budget_doublings = 2;
    let mut results = vec![sgd, gd];
    let before = analyse(&results);
    assert_eq!(before.outcome, Outcome::Inconclusive);
    assert!(
        before.reason.contains("searched only at a smaller budget"),
        "{}",
        before.reason
    );
    assert_eq!(before.extend, ["gd"]);
    let mut seen = vec![];
    let mut measure = |arms: &[Arm]| -> Result<Vec<ArmResult>> {
        let search = &arms[0].measure.search;
        seen.push((search.budget_doublings, search.min_doublings));
        // Seed 0 at 4x grows again (stalls are not convergence), then holds.
        let mut gd = arm(
            "gd",
            &[
                (&[100, 102, 190], Some(false)),
                (&[100, 200, 205], Some(true)),
            ],
        );
        if search.budget_doublings == 3 {
            gd = arm(
                "gd",
                &[
                    (&[100, 102, 190, 195], Some(true)),
                    (&[100, 200, 205, 207], Some(true)),
                ],
            );
        }
        gd.arm.measure.search = search.clone();
        Ok(vec![gd])
    };
    let caps = Caps {
        doublings: 3,
        seeds: 0,
        work: None,
    };
    let ext = extend_arms(&mut results, analyse, caps, &mut measure, &mut |_| {
        Ok(vec![])
    })
    .unwrap();
    // First the lagging seed up to 4x (no new doubling), then one doubling for every seed.
    assert_eq!(seen, [(2, 2), (3, 3)]);
    assert_eq!(analyse(&results).outcome, Outcome::Holds);
    assert_eq!((ext[0].from, ext[0].to), (2, 3));
    assert!(
        ext[0]
            .stopped
            .starts_with("budget-converged at 8x: every seed, searched there"),
        "{ext:?}"
    );
    // With the cap at the grid's doublings (no budget extension) the lagging seed stays
    // where it stopped; with one doubling allowed it is searched up, and that decides.
    let lagging = || {
        let mut gd = arm(
            "gd",
            &[(&[100, 102], Some(true)), (&[100, 200, 205], Some(true))],
        );
        gd.arm.measure.search.budget_doublings = 2;
        let sgd = arm(
            "sgd",
            &[(&[400, 405], Some(true)), (&[410, 415], Some(true))],
        );
        vec![sgd, gd]
    };
    for (cap, rounds) in [(2, 0), (3, 1)] {
        let mut results = lagging();
        let mut n = 0;
        let caps = Caps {
            doublings: cap,
            seeds: 0,
            work: None,
        };
        let mut count = |arms: &[Arm]| -> Result<Vec<ArmResult>> {
            n += 1;
            measure_again(arms)
        };
        extend_arms(&mut results, analyse, caps, &mut count, &mut |_| Ok(vec![])).unwrap();
        assert_eq!(n, rounds, "cap {cap}");
    }
}

/// `arms[0]` with every seed at its `budget_doublings`, converged there.
fn measure_again(arms: &[Arm]) -> Result<Vec<ArmResult>> {
    let k = arms[0].measure.search.budget_doublings + 1;
    let seed = |base: usize| (0..k).map(|l| base + l).collect::<Vec<_>>();
    let (a, b) = (seed(100), seed(200));
    let mut gd = arm("gd", &[(&a, Some(true)), (&b, Some(true))]);
    gd.arm.measure.search = arms[0].measure.search.clone();
    Ok(vec![gd])
}
