//! Adaptive budget and seeds for the arms a verdict hinges on: after the grid, every arm
//! the analysis names in [`Verdict::extend`] (undecided comparisons whose arm behind is
//! budget-limited) is searched again at one more budget doubling (epochs, steps and plateau
//! patience; fits and certified failures carried over, exactly as budget convergence does),
//! every arm it names in [`Verdict::more_seeds`] (undecided comparisons whose interval
//! contains 1, nothing budget-limited behind) gets [`SEED_STEP`] more seeds, and the claim
//! is analysed again, until no comparison asks for more, or every arm asking has reached
//! its cap. Only those arms are extended: the rest of the grid keeps its budget and seeds.
//!
//! A claim may also bound the rounds' training *work* ([`Caps::work`], in
//! parameter-sample-epochs: params × n × epochs summed over the probes trained). Work is a
//! count, not a clock, so a run makes the same choices on any machine and when resumed: a
//! request whose estimated work would exceed what is left is refused, and says so.

use std::fmt::Write as _;

use crate::{Arm, ArmResult, Result, Verdict};

/// Default cap on an arm's budget doublings, in all (5: up to 32× the configured budget).
pub const DEFAULT_EXTENSION_CAP: usize = 5;

/// Default cap on an arm's seeds, in all, when its comparison's interval contains 1.
pub const DEFAULT_SEED_CAP: usize = 8;

/// New seeds an arm asking for more gets per round (the smallest seeds it lacks).
pub const SEED_STEP: usize = 2;

/// How far the runner may extend the arms a verdict hinges on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Caps {
    /// Budget doublings per arm, in all (at most the grid's: no budget extension).
    pub doublings: usize,
    /// Seeds per arm, in all (at most the grid's: no seeds added).
    pub seeds: usize,
    /// Training work all adaptive rounds together may spend, in parameter-sample-epochs
    /// (`None`: no bound beyond the caps above).
    pub work: Option<f64>,
}

/// Training work of one arm's probes, in parameter-sample-epochs: per seed (in the arm's
/// seed order), per budget level searched, params × n × epochs summed over the probes
/// trained at that level (carried-over probes cost nothing).
pub type Work = Vec<Vec<f64>>;

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
    /// Training work spent on the arm beyond the grid, in parameter-sample-epochs.
    pub work: f64,
}

/// What one more budget doubling costs, from the cost of each level so far: the last
/// level's times its growth over the one before, at least twice.
fn next_doubling(per_level: &[f64]) -> f64 {
    let Some(&last) = per_level.last() else {
        return 0.0;
    };
    let growth = match per_level.len() {
        n if n >= 2 && per_level[n - 2] > 0.0 => (last / per_level[n - 2]).max(2.0),
        _ => 2.0,
    };
    last * growth
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
    if e.stopped.contains("cap reached: still budget-limited")
        || e.stopped.contains("next doubling")
    {
        s += &format!(
            "; one more doubling ({}x): about {:.0} CPU-s",
            1usize << e.seconds.len(),
            next_doubling(&e.seconds)
        );
    }
    s
}

/// The work spent on `r` beyond the grid's `(doublings, seeds)`: every level of a seed the
/// grid lacks, the levels above the grid's of the others.
fn work_beyond(work: &Work, from: (usize, usize)) -> f64 {
    work.iter()
        .enumerate()
        .map(|(s, levels)| {
            let skip = if s < from.1 { from.0 + 1 } else { 0 };
            levels.iter().skip(skip).sum::<f64>()
        })
        .sum()
}

/// The estimated work of searching `r`'s budget-limited seeds at one more doubling.
fn deeper_work(r: &ArmResult, work: &Work) -> f64 {
    let levels = r.budget_levels();
    let per_level: Vec<f64> = (0..levels)
        .map(|l| {
            r.measurement
                .budgets
                .iter()
                .zip(work)
                .filter(|((_, b), _)| b.converged == Some(false))
                .filter_map(|(_, w)| w.get(l))
                .sum()
        })
        .collect();
    next_doubling(&per_level)
}

/// The estimated work of `k` more seeds of `r`: `k` times the mean work of a seed so far.
fn wider_work(work: &Work, k: usize) -> f64 {
    let per_seed: Vec<f64> = work.iter().map(|l| l.iter().sum()).collect();
    k as f64 * per_seed.iter().sum::<f64>() / per_seed.len().max(1) as f64
}

/// `1.2e12`.
fn amount(w: f64) -> String {
    format!("{w:.2e}")
}

/// Extends the arms the analysis asks for, one budget doubling or [`SEED_STEP`] seeds per
/// round, up to `caps` per arm, re-measuring with `measure` (the claim runner's pool; probes
/// already recorded are reused) and re-analysing with `analyse` after each round. With a
/// work bound, `work` says what an arm's probes cost; each round admits its requests
/// cheapest first while their estimated work fits what is left. `results` is updated in place; returns one
/// [`Extension`] per arm extended or refused for lack of work budget.
///
/// # Errors
/// The first error of `measure` or `work`.
pub fn extend_arms(
    results: &mut [ArmResult],
    analyse: fn(&[ArmResult]) -> Verdict,
    caps: Caps,
    measure: &mut dyn FnMut(&[Arm]) -> Result<Vec<ArmResult>>,
    work: &mut dyn FnMut(&ArmResult) -> Result<Work>,
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
    // Per arm, the last request refused for lack of work budget.
    let mut refused: Vec<Option<Refusal>> = vec![None; results.len()];
    loop {
        let mut left = match caps.work {
            Some(budget) => {
                let mut spent = 0.0;
                for (r, &from) in results.iter().zip(&grid) {
                    spent += work_beyond(&work(r)?, from);
                }
                budget - spent
            }
            None => f64::INFINITY,
        };
        // Every request of this round with its estimated work (0 without a bound).
        let mut requests: Vec<(f64, usize, Request)> = vec![];
        for (i, r) in results.iter().enumerate() {
            let cost = match caps.work {
                Some(_) => Some(work(r)?),
                None => None,
            };
            let estimate = |f: &dyn Fn(&Work) -> f64| cost.as_ref().map_or(0.0, f);
            if verdict.extend.contains(&r.arm.label)
                && r.arm.measure.search.budget_doublings < caps.doublings
            {
                let need = estimate(&|w| deeper_work(r, w));
                requests.push((need, i, Request::Deeper));
            }
            let have = r.arm.measure.seeds.len();
            if verdict.more_seeds.contains(&r.arm.label) && have < caps.seeds {
                let k = SEED_STEP.min(caps.seeds - have);
                requests.push((estimate(&|w| wider_work(w, k)), i, Request::Wider(k)));
            }
        }
        // The cheapest first: what is left goes to as many requests as it pays for.
        requests.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut next: Vec<Option<Arm>> = vec![None; results.len()];
        for (need, i, request) in requests {
            if need > left {
                refused[i] = Some(Refusal {
                    what: request.what(),
                    need,
                    left,
                });
                continue;
            }
            left -= need;
            let arm = next[i].get_or_insert_with(|| results[i].arm.clone());
            match request {
                Request::Deeper => arm.measure.search.budget_doublings += 1,
                Request::Wider(k) => add_seeds(&mut arm.measure.seeds, k),
            }
        }
        let (todo, arms): (Vec<usize>, Vec<Arm>) = next
            .into_iter()
            .enumerate()
            .filter_map(|(i, a)| a.map(|a| (i, a)))
            .unzip();
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
    let mut out = vec![];
    for ((r, from), refusal) in results.iter().zip(grid).zip(refused) {
        let extended =
            r.arm.measure.search.budget_doublings > from.0 || r.arm.measure.seeds.len() > from.1;
        // A refusal the verdict no longer asks about is history, not a reason.
        let refusal = refusal.filter(|_| {
            verdict.extend.contains(&r.arm.label) || verdict.more_seeds.contains(&r.arm.label)
        });
        if extended || refusal.is_some() {
            let mut e = describe(r, from, caps, &verdict, refusal);
            if caps.work.is_some() {
                e.work = work_beyond(&work(r)?, from);
            }
            out.push(e);
        }
    }
    Ok(out)
}

/// What an arm asks of a round.
#[derive(Debug, Clone, Copy)]
enum Request {
    /// One more budget doubling.
    Deeper,
    /// This many more seeds.
    Wider(usize),
}

impl Request {
    /// How a refusal names it.
    fn what(self) -> &'static str {
        match self {
            Request::Deeper => "its next doubling",
            Request::Wider(_) => "its next seeds",
        }
    }
}

/// A request refused because its estimated work exceeded what was left of the bound.
#[derive(Debug, Clone, Copy)]
struct Refusal {
    /// `its next doubling` or `its next seeds`.
    what: &'static str,
    /// Its estimated work.
    need: f64,
    /// The work left when it was refused.
    left: f64,
}

/// Appends the `k` smallest seeds not yet in `seeds`.
fn add_seeds(seeds: &mut Vec<u64>, k: usize) {
    let new: Vec<u64> = (0u64..).filter(|s| !seeds.contains(s)).take(k).collect();
    seeds.extend(new);
}

/// What became of one extended arm, `from` its grid's (doublings, seeds).
fn describe(
    r: &ArmResult,
    from: (usize, usize),
    caps: Caps,
    verdict: &Verdict,
    refusal: Option<Refusal>,
) -> Extension {
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
    if let Some(x) = refusal {
        why.push(format!(
            "work budget spent: {} would take about {} parameter-sample-epochs, {} were left \
             of {}",
            x.what,
            amount(x.need),
            amount(x.left.max(0.0)),
            amount(caps.work.unwrap_or(f64::INFINITY))
        ));
    }
    if to > from.0 && refusal.is_none_or(|x| x.what != "its next doubling") {
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
    if seeds > from.1 && refusal.is_none_or(|x| x.what != "its next seeds") {
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
        work: 0.0,
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
    if let Some(budget) = caps.work {
        let spent: f64 = extensions.iter().map(|e| e.work).sum();
        s.insert_str(
            s.len() - 2,
            &format!(
                " The rounds together could spend {} parameter-sample-epochs of training \
                 (params × n × epochs over the probes they trained: a count, not a clock, so \
                 the same run makes the same choices on any machine); a request whose \
                 estimate (a seed: the mean of the arm's seeds so far; a doubling: the last \
                 level's work times its growth, at least 2) exceeded what was left was \
                 refused, the cheapest requests of a round admitted first. Spent: {}.",
                amount(budget),
                amount(spent)
            ),
        );
    }
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
            Ok(vec![build(arms[0].measure.search.budget_doublings + 1)])
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
}
