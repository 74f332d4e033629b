//! What a finished run says: the verdict table printed on the terminal and `verdict.md`
//! (the claim, the protocol spelled out from the arms, the measured EMC per arm, EMC per
//! budget, the effects, the claim's own sections and the verdict).

use std::fmt::Write as _;

use emc_train::Batching;

use crate::effect::RESAMPLES;
use crate::{first_seen, Align, ArmResult, ClaimSpec, RunSettings, Table, Verdict};
use crate::{Effect, Outcome, Phases, Totals, RUNS_CSV};

/// The verdict table: one row per arm, then the effects and the outcome.
pub(crate) fn verdict_table(results: &[ArmResult], v: &Verdict) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<34} {:>8} {:>6} {:>10} {:>15}  chosen",
        "arm", "params", "seeds", "median EMC", "min–max"
    );
    for r in results {
        let st = &r.measurement.stats;
        let _ = writeln!(
            s,
            "{:<34} {:>8} {:>6} {:>10.1} {:>15}  {}",
            r.arm.label,
            r.measurement.params,
            st.seeds,
            st.median,
            format!("{}–{}", st.min, st.max),
            chosen_mark(v, r)
        );
    }
    let limited: Vec<&str> = results
        .iter()
        .filter(|r| r.budget_limited())
        .map(|r| r.arm.label.as_str())
        .collect();
    if !limited.is_empty() {
        let _ = writeln!(
            s,
            "budget-limited (EMC still grew at the largest budget, some seed): {}",
            limited.join(", ")
        );
    }
    for e in &v.effects {
        let judged = e.judged.map(|o| format!(": {o}")).unwrap_or_default();
        let trend = e
            .trend
            .map(|t| format!("; trend {}", t.describe()))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "{}: ratio {:.3}, 95% CI [{:.3}, {:.3}]{trend}{judged}",
            e.label, e.ratio, e.lo, e.hi
        );
    }
    for sec in &v.sections {
        let _ = writeln!(s, "{}:\n{}", sec.title, sec.body.trim_end());
    }
    let _ = writeln!(s, "VERDICT: {} — {}", v.outcome, v.reason);
    s
}

/// `*` for an arm the analysis chose, else nothing.
fn chosen_mark(v: &Verdict, r: &ArmResult) -> &'static str {
    if v.chosen.contains(&r.arm.label) {
        "*"
    } else {
        ""
    }
}

/// The distinct values of `f` over the arms, in first-seen order, joined by `; `.
fn distinct(results: &[ArmResult], f: impl Fn(&ArmResult) -> String) -> String {
    first_seen(results.iter().map(f)).join("; ")
}

/// The protocol section: data, models, seeds, budget, search and procedures as the arms
/// have them, then how effects are computed (and generalization measured).
fn protocol(results: &[ArmResult]) -> String {
    let data = distinct(results, |r| {
        format!(
            "{} [{}]",
            r.arm.measure.data,
            r.arm.measure.variants.join(" ")
        )
    });
    let models = distinct(results, |r| {
        format!(
            "{} ({} parameters)",
            r.arm.measure.model, r.measurement.params
        )
    });
    let seeds = distinct(results, |r| format!("{:?}", r.arm.measure.seeds));
    let budget = distinct(results, |r| {
        let st = &r.arm.measure.train.stop;
        let steps = st
            .max_steps
            .map_or(String::new(), |m| format!(" and {m} steps"));
        format!(
            "at most {} epochs{steps}, plateau patience {} epochs, gradient-norm stop {}",
            st.max_epochs, st.plateau_patience, st.grad_tol
        )
    });
    let search = distinct(results, |r| {
        let c = &r.arm.measure.search;
        format!(
            "bisection to within max({}, {}·EMC){}",
            c.abs_tol,
            c.rel_tol,
            c.max_n
                .map_or(String::new(), |m| format!(", n capped at {m}"))
        )
    });
    // Every procedure with its learning rate and batching spelled out (the optimizer's text
    // form leaves out default values, the learning rate included).
    let procs = distinct(results, |r| {
        let train = &r.arm.measure.train;
        let batching = match train.batching {
            Batching::Mini(b) => format!("batch {b}"),
            Batching::Full { .. } => "full batch".into(),
        };
        format!(
            "{}: {} (lr {}, {batching})",
            r.arm.procedure, train.optim, train.optim.lr
        )
    });
    let adaptive = distinct(results, |r| {
        let c = &r.arm.measure.search;
        if c.max_seeds > 0 {
            format!(
                " Seeds were added (as many per round as there are workers) until the 95% \
                 bootstrap interval of the median EMC was within {:.0}% of the median, or {} \
                 seeds were searched; the seeds column says how many were needed.",
                100.0 * c.seed_ci_width,
                c.max_seeds
            )
        } else {
            String::new()
        }
    });
    // Arms sharing architecture and procedure differ only in optimizer settings (learning
    // rate, schedule): one is chosen.
    let grouped = results.iter().enumerate().any(|(i, a)| {
        results[..i].iter().any(|b| {
            (&a.arm.architecture, &a.arm.procedure) == (&b.arm.architecture, &b.arm.procedure)
        })
    });
    let choice = if grouped {
        " The learning-rate grid (and any schedule grid) runs as separate arms; per \
         architecture and procedure the setting with the best median EMC (ties: mean log EMC) \
         is chosen (marked *)."
    } else {
        ""
    };
    let mut s = format!(
        "Data: {data}. Models: {models}. For each seed ({seeds}) a fixed random order of the \
         training split defines nested subsets; EMC is the largest subset size the model fits \
         to 100% training accuracy, found by doubling from a first size then {search}. Every \
         probe trains a fresh initialisation with {budget}. Procedures: {procs}.{choice} \
         Effects are ratios of geometric-mean EMC with a 95% percentile bootstrap interval \
         ({RESAMPLES} ChaCha8 resamples of the per-seed EMCs).{adaptive}"
    );
    s += &generalization_protocol(results);
    s
}

/// How the arms that ask for it measure generalization; empty when none does.
fn generalization_protocol(results: &[ArmResult]) -> String {
    let gen = first_seen(
        results
            .iter()
            .filter_map(|r| r.arm.generalization.as_ref())
            .map(|g| {
                format!(
                    "{} training samples, {}",
                    g.train_size,
                    g.test_size
                        .map_or("the whole test split".into(), |t| format!(
                            "the first {t} test samples"
                        ))
                )
            }),
    )
    .join("; ");
    if gen.is_empty() {
        return String::new();
    }
    format!(
        " Generalization (arms that measure it): per seed, the same model and procedure \
         (same initialisation, minibatch order and stop rules) trained on the first n \
         samples of the seed's order — the probe the search would train at n — then \
         evaluated in eval mode on the test split (same input variants, the training \
         split's normalisation): {gen}; `generalization.csv` holds every seed."
    )
}

/// `verdict.md`: the claim, the protocol, the measured EMC, EMC per budget, the effects,
/// the claim's sections, the verdict and how to rerun it.
pub(crate) fn markdown(
    spec: &ClaimSpec,
    settings: &RunSettings,
    (results, extensions): (&[ArmResult], &str),
    v: &Verdict,
    (runs, seconds, phases): (Totals, f64, Phases),
) -> String {
    let c = &spec.claim;
    let mut s = String::new();
    let _ = writeln!(s, "# {} ({} scale): {}\n", c.id, settings.scale, v.outcome);
    let _ = writeln!(s, "> {}\n", c.statement);
    let _ = writeln!(
        s,
        "Where: {}. Expected: {} {}.\n",
        c.location, c.expectation.effect, c.expectation.direction
    );
    let _ = writeln!(s, "## Protocol\n\n{}\n", protocol(results));
    let _ = writeln!(
        s,
        "## Measured EMC\n\nPer seed, EMC is the largest fitted n of its search. Over every \
         seed's probes, n₅₀ is where a maximum-likelihood logistic fit of fit/fail against \
         ln n crosses 50%, and the band is where both fits and failures occur (sharp: every \
         fit lies below every failure).\n"
    );
    s += &measured_table(results, v).into_string();
    s += &budget_section(results);
    s += extensions;
    if !v.effects.is_empty() {
        let _ = writeln!(s, "\n## Effect\n");
        s += &effects_table(v.effects.iter()).into_string();
    }
    if v.outcome == Outcome::Mixed {
        s += &scope_section(v);
    }
    for sec in &v.sections {
        let _ = writeln!(s, "\n## {}\n\n{}", sec.title, sec.body.trim_end());
    }
    let _ = writeln!(s, "\n## Verdict\n\n**{}** — {}\n", v.outcome, v.reason);
    if settings.recorded_only {
        let _ = writeln!(
            s,
            "Analysed without training, from the probes recorded in this directory ({:.0} s); \
             their training times are the `seconds` column of `probes.csv`; {}. Run: `{}`. \
             Plots: `emc report` on this directory.",
            seconds,
            runs_text(&runs),
            settings.command(c.id)
        );
    } else {
        let _ = writeln!(
            s,
            "Run: `{}`; {:.0} s wall time in this invocation ({}; resumed probes cost \
             nothing); {}. Plots: `emc report` on this directory.",
            settings.command(c.id),
            seconds,
            phases.describe(),
            runs_text(&runs)
        );
    }
    s
}

/// What `runs.csv` records of the invocations that trained the directory's probes, and
/// what its shards' logs record.
fn runs_text(runs: &Totals) -> String {
    let shards = &runs.shards;
    let shard_text = if shards.invocations > 0 {
        format!(
            "; the logs of its {} shard{} (`shards/*/{RUNS_CSV}`) record {} invocation{} \
             training {} probes in {:.0} s of wall time summed over shards (which may have run \
             at once)",
            shards.shards,
            plural(shards.shards),
            shards.invocations,
            plural(shards.invocations),
            shards.trained,
            shards.wall_seconds
        )
    } else {
        String::new()
    };
    let logged = runs.trained + shards.trained;
    let here = match runs.invocations {
        0 if runs.recorded > logged => format!(
            "`{RUNS_CSV}` records no training invocation of this directory: {} of the {} \
             probes in `probes.csv` were trained before it was kept",
            runs.recorded - logged,
            runs.recorded
        ),
        0 => format!("`{RUNS_CSV}` records no training invocation of this directory"),
        k => format!(
            "`{RUNS_CSV}` records {k} training invocation{} of this directory: {:.0} s of wall \
             time, training {} of the {} probes in `probes.csv`{}",
            plural(k),
            runs.wall_seconds,
            runs.trained,
            runs.recorded,
            if runs.recorded > logged {
                " (the others by invocations from before it was kept)"
            } else {
                ""
            }
        ),
    };
    here + &shard_text
}

/// `s` for a count other than one.
fn plural(k: usize) -> &'static str {
    if k == 1 {
        ""
    } else {
        "s"
    }
}

/// The effects with their intervals, their trend across budgets (a column only when some
/// effect has one) and, where the analysis judged one on its own, its outcome.
fn effects_table<'e>(effects: impl Iterator<Item = &'e Effect>) -> Table {
    let effects: Vec<&Effect> = effects.collect();
    let trends = effects.iter().any(|e| e.trend.is_some());
    let mut columns = vec![
        ("comparison", Align::Left),
        ("ratio", Align::Right),
        ("95% CI", Align::Left),
    ];
    if trends {
        columns.push(("trend across budgets [95% CI]", Align::Left));
    }
    columns.push(("judged", Align::Left));
    let mut t = Table::new(&columns);
    for e in effects {
        let judged = e.judged.map(|o| o.to_string()).unwrap_or_default();
        let mut row = vec![
            e.label.clone(),
            format!("{:.3}", e.ratio),
            format!("[{:.3}, {:.3}]", e.lo, e.hi),
        ];
        if trends {
            row.push(e.trend.map(|t| t.describe()).unwrap_or_default());
        }
        row.push(judged);
        let cells: Vec<&dyn std::fmt::Display> =
            row.iter().map(|c| c as &dyn std::fmt::Display).collect();
        t.row(&cells);
    }
    t
}

/// For a MIXED verdict: the judged comparisons grouped by outcome, each with its interval,
/// so that the scope of the claim reads at a glance.
fn scope_section(v: &Verdict) -> String {
    let mut s = String::from("\n## Where it holds and where it does not\n");
    for (outcome, title) in [
        (Outcome::Holds, "Holds"),
        (Outcome::DoesNotHold, "Does not hold"),
        (
            Outcome::Inconclusive,
            "Undecided (interval contains 1, or a lower bound decides)",
        ),
    ] {
        let mut these = v
            .effects
            .iter()
            .filter(|e| e.judged == Some(outcome))
            .peekable();
        if these.peek().is_none() {
            continue;
        }
        let _ = writeln!(s, "\n{title}:\n");
        s += &effects_table(these).into_string();
    }
    s
}

/// The measured EMC per arm: seeds, median and range, per-seed values, n₅₀ and the
/// fit/fail band, and whether the analysis chose it.
fn measured_table(results: &[ArmResult], v: &Verdict) -> Table {
    let mut t = Table::new(&[
        ("arm", Align::Left),
        ("params", Align::Right),
        ("seeds", Align::Right),
        ("median EMC", Align::Right),
        ("min–max", Align::Right),
        ("per seed", Align::Left),
        ("n₅₀", Align::Right),
        ("fit/fail band", Align::Left),
        ("chosen", Align::Center),
    ]);
    for r in results {
        let st = &r.measurement.stats;
        let tr = &r.measurement.transition;
        let band = match (tr.band(), tr.highest_fit, tr.lowest_failure) {
            (Some((lo, hi)), _, _) => format!("{lo}–{hi}"),
            (None, Some(fit), Some(fail)) => format!("sharp ({fit} fits, {fail} fails)"),
            _ => "-".into(),
        };
        t.row(&[
            &r.arm.label,
            &r.measurement.params,
            &st.seeds,
            &format!("{:.1}", st.median),
            &format!("{}–{}", st.min, st.max),
            &format!("{:?}", r.emcs()),
            &tr.n50.map_or("-".into(), |n| format!("{n:.0}")),
            &band,
            &chosen_mark(v, r),
        ]);
    }
    t
}

/// `## EMC versus budget`: per arm and seed the EMC at each budget tried, and whether it
/// converged; empty when no arm checked budget convergence.
fn budget_section(results: &[ArmResult]) -> String {
    let checked = |r: &&ArmResult| {
        r.measurement
            .budgets
            .iter()
            .any(|(_, b)| b.converged.is_some())
    };
    if !results.iter().any(|r| checked(&r)) {
        return String::new();
    }
    let mut t = Table::new(&[
        ("arm", Align::Left),
        ("EMC per budget, per seed", Align::Left),
        ("converged seeds", Align::Right),
    ]);
    for r in results.iter().filter(checked) {
        let b = &r.measurement.budgets;
        let per = b
            .iter()
            .map(|(seed, o)| format!("seed {seed}: {}", o.describe()))
            .collect::<Vec<_>>()
            .join("; ");
        let ok = b.iter().filter(|(_, o)| o.converged == Some(true)).count();
        t.row(&[&r.arm.label, &per, &format!("{ok} of {}", b.len())]);
    }
    String::from(
        "\n## EMC versus budget\n\nEach seed's search was repeated at doubled budgets (epochs \
         and plateau patience) until EMC moved by at most the stated tolerance (*converged*) or \
         the doublings ran out (*budget-limited*: EMC still grows with the budget, and the \
         reported EMC, at the largest budget, is a lower bound). Fits, and failures certified \
         by a small full-data gradient or by divergence, were carried to the larger budget; \
         failures that ran out of epochs or of plateau patience were trained again.\n\n",
    ) + &t.into_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Trend;

    #[test]
    fn the_trend_column_appears_only_when_some_effect_has_a_trend() {
        let plain = crate::bootstrap_log_ratio("a / b", &[400, 420], &[100, 110], 0);
        let t = effects_table([&plain].into_iter()).into_string();
        assert!(!t.contains("trend"), "{t}");
        let trended = Effect {
            trend: Some(Trend {
                levels: 3,
                per_doubling: 0.5,
                lo: 0.4,
                hi: 0.6,
            }),
            ..plain.clone()
        };
        let t = effects_table([&plain, &trended].into_iter()).into_string();
        assert!(
            t.starts_with(
                "| comparison | ratio | 95% CI | trend across budgets [95% CI] | judged |"
            ),
            "{t}"
        );
        assert!(
            t.contains("| ×0.50 [0.40, 0.60] per doubling (1x–4x) |"),
            "{t}"
        );
        // A row without a trend keeps its column, empty.
        assert!(t.contains("|  |  |"), "{t}");
    }
}
