//! Adaptive budget and seeds for the arms a verdict hinges on: after the grid, every arm
//! the analysis names in [`Verdict::extend`] (undecided comparisons whose arm behind is
//! budget-limited) is searched again at one more budget doubling (epochs, steps and plateau
//! patience; fits and certified failures carried over, exactly as budget convergence does),
//! every arm it names in [`Verdict::more_seeds`] (undecided comparisons whose interval
//! contains 1, nothing budget-limited behind) gets [`SEED_STEP`] more seeds, and the claim
//! is analysed again, until no comparison asks for more, or every arm asking has reached
//! its cap. Only those arms are extended: the rest of the grid keeps its budget and seeds.

use std::fmt::Write as _;

use crate::{Arm, ArmResult, Result, Verdict};

/// Default cap on an arm's budget doublings, in all (5: up to 32× the configured budget).
pub const DEFAULT_EXTENSION_CAP: usize = 5;

/// Default cap on an arm's seeds, in all, when its comparison's interval contains 1.
pub const DEFAULT_SEED_CAP: usize = 8;

/// New seeds an arm asking for more gets per round (the smallest seeds it lacks).
pub const SEED_STEP: usize = 2;

/// How far the runner may extend the arms a verdict hinges on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Budget doublings per arm, in all (at most the grid's: no budget extension).
    pub doublings: usize,
    /// Seeds per arm, in all (at most the grid's: no seeds added).
    pub seeds: usize,
}

/// One arm extended beyond the grid's budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Extension {
    /// The arm's label.
    pub label: String,
    /// Budget doublings in the grid.
    pub from: usize,
    /// Budget doublings after the extension.
    pub to: usize,
    /// Seeds in the grid.
    pub seeds_from: usize,
    /// Seeds after the extension.
    pub seeds_to: usize,
    /// Median EMC over seeds at each budget multiplier searched (1×, 2×, ...).
    pub medians: Vec<(usize, f64)>,
    /// Why the extension stopped.
    pub stopped: String,
    /// CPU-seconds of the probes recorded at each budget level searched, all seeds
    /// together, as `probes.csv` has them (empty until the runner records them).
    pub seconds: Vec<f64>,
}

/// Fills each extension's [`Extension::seconds`] from the probe log of the output
/// directory: at a budget level, the summed time of every probe of the arm's seeds.
pub(crate) fn record_costs(
    extensions: &mut [Extension],
    results: &[ArmResult],
    log: &emc_search::ProbeLog,
) {
    for e in extensions {
        let Some(r) = results.iter().find(|r| r.arm.label == e.label) else {
            continue;
        };
        let recorded = r.arm.measure.recorded();
        e.seconds = (0..e.medians.len())
            .map(|l| {
                let hash = recorded.probe_hash_at(l);
                r.arm
                    .measure
                    .seeds
                    .iter()
                    .flat_map(|&seed| log.rows(&hash, seed))
                    .map(|row| row.seconds)
                    .sum()
            })
            .collect();
    }
}

/// `1 -> 3`, or `3` when unchanged.
fn from_to(from: usize, to: usize) -> String {
    if to > from {
        format!("{from} -> {to}")
    } else {
        from.to_string()
    }
}

/// `1x: 12 s, 2x: 30 s ...` and, when the cap was reached, what the next doubling would
/// cost at the last one's rate of growth (at least twice the last).
fn costs(e: &Extension) -> String {
    if e.seconds.is_empty() {
        return String::new();
    }
    let per: Vec<String> = e
        .seconds
        .iter()
        .enumerate()
        .map(|(l, s)| format!("{}x: {:.0} s", 1usize << l, s))
        .collect();
    let mut s = per.join(", ");
    if e.stopped.starts_with("cap reached") {
        let last = e.seconds[e.seconds.len() - 1];
        let growth = match e.seconds.len() {
            n if n >= 2 && e.seconds[n - 2] > 0.0 => (last / e.seconds[n - 2]).max(2.0),
            _ => 2.0,
        };
        s += &format!(
            "; one more doubling ({}x): about {:.0} CPU-s",
            1usize << e.seconds.len(),
            last * growth
        );
    }
    s
}

/// Extends the arms the analysis asks for, one budget doubling or [`SEED_STEP`] seeds per
/// round, up to `caps` per arm, re-measuring with `measure` (the claim runner's pool; probes
/// already recorded are reused) and re-analysing with `analyse` after each round. `results`
/// is updated in place; returns one [`Extension`] per arm extended.
///
/// # Errors
/// The first error of `measure`.
pub fn extend_arms(
    results: &mut [ArmResult],
    analyse: fn(&[ArmResult]) -> Verdict,
    caps: Caps,
    measure: &mut dyn FnMut(&[Arm]) -> Result<Vec<ArmResult>>,
) -> Result<Vec<Extension>> {
    let grid: Vec<(usize, usize)> = results
        .iter()
        .map(|r| {
            (
                r.arm.measure.search.budget_doublings,
                r.arm.measure.seeds.len(),
            )
        })
        .collect();
    let mut verdict = analyse(results);
    loop {
        let (mut todo, mut arms) = (vec![], vec![]);
        for (i, r) in results.iter().enumerate() {
            let mut arm = r.arm.clone();
            let deeper = verdict.extend.contains(&arm.label)
                && arm.measure.search.budget_doublings < caps.doublings;
            if deeper {
                arm.measure.search.budget_doublings += 1;
            }
            let have = arm.measure.seeds.len();
            let wider = verdict.more_seeds.contains(&arm.label) && have < caps.seeds;
            if wider {
                add_seeds(&mut arm.measure.seeds, SEED_STEP.min(caps.seeds - have));
            }
            if deeper || wider {
                todo.push(i);
                arms.push(arm);
            }
        }
        if todo.is_empty() {
            break;
        }
        for (&i, r) in todo.iter().zip(measure(&arms)?) {
            let generalization = results[i].generalization.take();
            results[i] = ArmResult {
                generalization,
                ..r
            };
        }
        verdict = analyse(results);
    }
    Ok(results
        .iter()
        .zip(grid)
        .filter(|(r, (doublings, seeds))| {
            r.arm.measure.search.budget_doublings > *doublings || r.arm.measure.seeds.len() > *seeds
        })
        .map(|(r, from)| describe(r, from, caps, &verdict))
        .collect())
}

/// Appends the `k` smallest seeds not yet in `seeds`.
fn add_seeds(seeds: &mut Vec<u64>, k: usize) {
    let new: Vec<u64> = (0u64..).filter(|s| !seeds.contains(s)).take(k).collect();
    seeds.extend(new);
}

/// What became of one extended arm, `from` its grid's (doublings, seeds).
fn describe(r: &ArmResult, from: (usize, usize), caps: Caps, verdict: &Verdict) -> Extension {
    let to = r.arm.measure.search.budget_doublings;
    let seeds = r.arm.measure.seeds.len();
    let levels = r.budget_levels();
    let medians = (0..levels)
        .map(|l| {
            let mut e = r.emcs_at(l);
            e.sort_unstable();
            let m = match e.len() {
                0 => f64::NAN,
                n if n % 2 == 1 => e[n / 2] as f64,
                n => (e[n / 2 - 1] + e[n / 2]) as f64 / 2.0,
            };
            (1usize << l, m)
        })
        .collect();
    let label = &r.arm.label;
    let mut why = vec![];
    if to > from.0 {
        why.push(if !r.budget_limited() {
            format!(
                "budget-converged at {}x: every seed's EMC moved by at most the tolerance",
                1usize << (levels - 1)
            )
        } else if !verdict.extend.contains(label) {
            "still budget-limited, but no longer deciding a comparison (the verdict no longer \
             hinges on it)"
                .to_string()
        } else if to >= caps.doublings {
            format!(
                "cap reached: still budget-limited at {}x ({} doublings in all)",
                1usize << to,
                caps.doublings
            )
        } else {
            "stopped".to_string()
        });
    }
    if seeds > from.1 {
        why.push(if !verdict.more_seeds.contains(label) {
            format!(
                "{seeds} seeds: no comparison it is in is left undecided by an interval \
                 containing 1 alone"
            )
        } else if seeds >= caps.seeds {
            format!("seed cap reached: an interval it is in still contains 1 at {seeds} seeds")
        } else {
            "stopped".to_string()
        });
    }
    Extension {
        label: label.clone(),
        from: from.0,
        to,
        seeds_from: from.1,
        seeds_to: seeds,
        medians,
        stopped: why.join("; "),
        seconds: vec![],
    }
}

/// The `## Extensions` section of `verdict.md` (empty without extensions).
pub(crate) fn section(extensions: &[Extension], caps: Caps) -> String {
    if extensions.is_empty() {
        return String::new();
    }
    let mut s = format!(
        "\n## Extensions\n\nArms a comparison hinged on were extended, the rest of the grid \
         kept its budget and seeds: when the comparison was undecided and the arm behind \
         budget-limited, that arm was searched again at further budget doublings, one at a \
         time, up to {} doublings ({}x the configured budget) in all; when it was undecided \
         only because its 95% interval contained 1, both arms got {SEED_STEP} more seeds per \
         round, up to {} seeds in all.\n\n",
        caps.doublings,
        1usize << caps.doublings,
        caps.seeds
    );
    let mut t = crate::Table::new(&[
        ("arm", crate::Align::Left),
        ("doublings", crate::Align::Left),
        ("seeds", crate::Align::Left),
        ("median EMC by budget", crate::Align::Left),
        ("stopped", crate::Align::Left),
        ("CPU time by budget (all seeds)", crate::Align::Left),
    ]);
    for e in extensions {
        let medians: Vec<String> = e
            .medians
            .iter()
            .map(|(k, m)| format!("{k}x: {m}"))
            .collect();
        t.row(&[
            &e.label,
            &from_to(e.from, e.to),
            &from_to(e.seeds_from, e.seeds_to),
            &medians.join(", "),
            &e.stopped,
            &costs(e),
        ]);
    }
    s += &t.into_string();
    let _ = writeln!(s);
    s
}

#[cfg(test)]
mod tests {
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
            Ok(vec![build(arms[0].measure.search.budget_doublings + 1)])
        };
        let caps = Caps {
            doublings: cap,
            seeds: 0,
        };
        let ext = extend_arms(&mut results, analyse, caps, &mut measure).unwrap();
        (results, ext, rounds)
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
        let seeds: Vec<(&[usize], Option<bool>)> =
            one.iter().map(|e| (&e[..], Some(true))).collect();
        arm(label, &seeds)
    }

    /// Two converged arms whose seeds (in order) have the EMCs `a` and `b`, starting from
    /// two seeds each and given more seeds as the analysis asks, up to `cap`.
    fn widen(
        a: &'static [usize],
        b: &'static [usize],
        cap: usize,
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
        };
        let ext = extend_arms(&mut results, analyse, caps, &mut measure).unwrap();
        (results, ext)
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
}
