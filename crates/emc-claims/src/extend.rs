//! Adaptive budget and seeds for the arms a verdict hinges on: after the grid, every arm
//! the analysis names in [`Verdict::extend`] (undecided comparisons whose arm behind is
//! budget-limited) is searched again at one more budget doubling (epochs, steps and plateau
//! patience; fits and certified failures carried over, exactly as budget convergence does),
//! every seed of it at that budget (`min_doublings`: a seed that converged earlier is
//! searched on, since EMC can stall for a doubling and grow again); an arm whose seeds
//! stopped at different budgets first has the lagging ones searched up to the largest,
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

/// The estimated work of searching every seed of `r` at one more doubling.
fn deeper_work(r: &ArmResult, work: &Work) -> f64 {
    let per_level: Vec<f64> = (0..r.budget_levels())
        .map(|l| work.iter().filter_map(|w| w.get(l)).sum())
        .collect();
    next_doubling(&per_level)
}

/// The estimated work of searching `r`'s lagging seeds up to its largest budget: at each
/// level a seed lacks, the mean work of the seeds searched there.
fn level_work(r: &ArmResult, work: &Work) -> f64 {
    (0..r.budget_levels())
        .map(|l| {
            let there: Vec<f64> = work.iter().filter_map(|w| w.get(l).copied()).collect();
            let lacking = work.len() - there.len();
            lacking as f64 * there.iter().sum::<f64>() / there.len().max(1) as f64
        })
        .sum()
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
/// work bound, `work` says what an arm's probes cost (asked once per arm and round); each
/// round admits its requests cheapest first while their estimated work fits what is left.
/// `results` is updated in place; returns one [`Extension`] per arm extended or refused for
/// lack of work budget.
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
    let grid_min: Vec<usize> = results
        .iter()
        .map(|r| r.arm.measure.search.min_doublings)
        .collect();
    let mut verdict = analyse(results);
    // Per arm, the last request refused for lack of work budget.
    let mut refused: Vec<Option<Refusal>> = vec![None; results.len()];
    loop {
        // What each arm's probes cost so far (read once a round, only with a bound).
        let costs: Vec<Option<Work>> = match caps.work {
            Some(_) => results
                .iter()
                .map(|r| work(r).map(Some))
                .collect::<Result<_>>()?,
            None => vec![None; results.len()],
        };
        let mut left = match caps.work {
            Some(budget) => {
                let spent: f64 = (costs.iter().zip(&grid))
                    .filter_map(|(w, &from)| w.as_ref().map(|w| work_beyond(w, from)))
                    .sum();
                budget - spent
            }
            None => f64::INFINITY,
        };
        // Every request of this round with its estimated work (0 without a bound).
        let mut requests: Vec<(f64, usize, Request)> = vec![];
        for (i, r) in results.iter().enumerate() {
            let cost = &costs[i];
            let estimate = |f: &dyn Fn(&Work) -> f64| cost.as_ref().map_or(0.0, f);
            let search = &r.arm.measure.search;
            if verdict.extend.contains(&r.arm.label) && caps.doublings > grid[i].0 {
                if r.lagging_seeds() {
                    let need = estimate(&|w| level_work(r, w));
                    requests.push((need, i, Request::Level));
                } else if search.budget_doublings < caps.doublings {
                    let need = estimate(&|w| deeper_work(r, w));
                    requests.push((need, i, Request::Deeper));
                }
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
            let search = &mut arm.measure.search;
            match request {
                Request::Level => search.min_doublings = results[i].budget_levels() - 1,
                Request::Deeper => {
                    search.budget_doublings += 1;
                    search.min_doublings = search.budget_doublings;
                }
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
    for (((r, from), min_from), refusal) in results.iter().zip(grid).zip(grid_min).zip(refused) {
        let search = &r.arm.measure.search;
        let extended = search.budget_doublings > from.0
            || search.min_doublings > min_from
            || r.arm.measure.seeds.len() > from.1;
        // A refusal the verdict no longer asks about is history, not a reason.
        let refusal = refusal.filter(|_| {
            verdict.extend.contains(&r.arm.label) || verdict.more_seeds.contains(&r.arm.label)
        });
        if extended || refusal.is_some() {
            let mut e = describe(r, (from, min_from), caps, &verdict, refusal);
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
    /// Its seeds that stopped at a smaller budget searched up to its largest.
    Level,
    /// One more budget doubling, every seed.
    Deeper,
    /// This many more seeds.
    Wider(usize),
}

impl Request {
    /// How a refusal names it.
    fn what(self) -> &'static str {
        match self {
            Request::Level => "its lagging seeds' larger budgets",
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

/// What became of one extended arm, `from` its grid's (doublings, seeds) and `min_from` its
/// grid's `min_doublings`.
fn describe(
    r: &ArmResult,
    (from, min_from): ((usize, usize), usize),
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
    let deeper = to > from.0 || r.arm.measure.search.min_doublings > min_from;
    if deeper && refusal.is_none_or(|x| x.what == "its next seeds") {
        why.push(if !r.budget_limited() {
            format!(
                "budget-converged at {}x: every seed, searched there, moved by at most the \
                 tolerance over its last doubling",
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
         time and every seed at each (seeds that had stopped at a smaller budget than \
         another were first searched up to it), up to {} doublings ({}x the configured \
         budget) in all; when it was undecided only because its 95% interval contained 1, \
         both arms got {SEED_STEP} more seeds per round, up to {} seeds in all.\n\n",
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
mod tests;
