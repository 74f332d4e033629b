//! Running a claim: every arm measured (and, where asked, its generalization) into one
//! directory, the analysis, `verdict.md` and the plots written there; or one shard of its
//! searches, and the merge of the shards before the analysis.

use std::path::PathBuf;
use std::time::Instant;

use emc_data::LoadOptions;
use emc_search::{generalize_many, measure_many, Event, GeneralizationRow, RunOptions};

use crate::extend::{self, extend_arms, Caps, Extension};
use crate::invocations::{self, Log, Phases};
use crate::render::{markdown, verdict_table};
use crate::shard::{merge_shards, part_arms, partition, Shard, ShardMarker, SHARDS_DIR};
use crate::{Arm, ArmResult, ClaimError, ClaimSpec, Result, Scale, Verdict};

/// Where and how a claim runs (none of it changes the result).
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// The scale.
    pub scale: Scale,
    /// Seeds 0..N instead of the scale's seeds.
    pub seeds: Option<u64>,
    /// Output directory.
    pub out: PathBuf,
    /// Probes trained concurrently.
    pub jobs: usize,
    /// Probes per lockstep group (1: off).
    pub lockstep: usize,
    /// Device.
    pub device: candle_core::Device,
    /// Where the data is found.
    pub load: LoadOptions,
    /// Print a line per probe to stderr.
    pub progress: bool,
    /// The most memory a measurement may allocate (`None`: what is available).
    pub max_memory: Option<u64>,
    /// The most budget doublings an arm the verdict hinges on may be extended to, in all
    /// (`None`: the claim's default at the scale, [`crate::WorkBound::doublings_at`]).
    pub extension_cap: Option<usize>,
    /// The most seeds an arm of a comparison whose interval contains 1 may be given, in
    /// all (`None`: the scale's default, [`Scale::seed_cap`]).
    pub seed_cap: Option<usize>,
    /// The training work all adaptive rounds together may spend, in parameter-sample-epochs
    /// (`None`: the claim's default, [`ClaimSpec::adaptive_work`]; infinite: no bound).
    pub work_cap: Option<f64>,
    /// Analyse the probes recorded in `out` without training any (published results):
    /// a probe the grid needs and the records lack is an error.
    pub recorded_only: bool,
    /// Train nothing: give a verdict over the arms recorded whole at the grid's budgets
    /// (saying which are missing), also in a sharded directory with unfinished shards.
    pub partial: bool,
}

impl RunSettings {
    /// The command that reproduces this run's result for claim `id`: the scale and every
    /// option that changes what is measured or decided (not `--out`, `--jobs` or the
    /// device, which change only where and how fast).
    pub fn command(&self, id: &str) -> String {
        let mut cmd = format!(
            "cargo run --release -p claim-{id} -- --scale {}",
            self.scale
        );
        if let Some(n) = self.seeds {
            cmd += &format!(" --seeds {n}");
        }
        if let Some(k) = self.extension_cap {
            cmd += &format!(" --extend-up-to {k}");
        }
        if let Some(k) = self.seed_cap {
            cmd += &format!(" --max-seeds {k}");
        }
        if let Some(w) = self.work_cap {
            cmd += &format!(" --adaptive-work {w:e}");
        }
        cmd
    }

    /// The search options of a run into `out`: `recorded_only` trains nothing, and
    /// `summary.csv` and the manifests are written unless the directory is only analysed
    /// ([`RunSettings::recorded_only`]).
    fn options(&self, out: PathBuf, recorded_only: bool) -> RunOptions {
        RunOptions {
            out,
            jobs: self.jobs.max(1),
            lockstep: self.lockstep.max(1),
            device: self.device.clone(),
            load: self.load.clone(),
            max_memory: self.max_memory,
            recorded_only,
            write_summary: !self.recorded_only,
        }
    }
}

/// The training work of `r`'s probes as `probes.csv` in `out` records them, per seed and
/// budget level: params × n × epochs summed over the probes trained there.
fn arm_work(r: &ArmResult, out: &std::path::Path) -> Result<extend::Work> {
    let log = emc_search::ProbeLog::open(out).map_err(|source| ClaimError::Measure {
        arm: format!("{}: the probes' training work", r.arm.label),
        source: Box::new(source),
    })?;
    let recorded = r.arm.measure.recorded();
    let levels = r.budget_levels();
    Ok(r.arm
        .measure
        .seeds
        .iter()
        .map(|&seed| {
            (0..levels)
                .map(|l| {
                    log.rows(&recorded.probe_hash_at(l), seed)
                        .iter()
                        .map(|row| (row.params * row.n * row.epochs) as f64)
                        .sum()
                })
                .collect()
        })
        .collect())
}

/// A finished claim run.
#[derive(Debug, Clone)]
pub struct ClaimReport {
    /// Every arm with its measurement, in grid order.
    pub results: Vec<ArmResult>,
    /// The analysis' verdict.
    pub verdict: Verdict,
    /// The arms extended beyond the grid's budget because the verdict hinged on them.
    pub extensions: Vec<Extension>,
    /// The text written to `verdict.md`.
    pub markdown: String,
    /// The verdict table as printed on the terminal.
    pub table: String,
}

/// Runs (or resumes) every arm of the claim, analyses, and writes `verdict.md`. In a
/// sharded directory (`out/shards/`, see [`run_shard`]) every finished shard is merged into
/// `out` first; an unfinished one is an error naming it and its arms, unless
/// [`RunSettings::partial`] asks for a verdict over the complete arms (of any directory:
/// the arms recorded whole, nothing trained).
pub fn run_claim(spec: &ClaimSpec, settings: &RunSettings) -> Result<ClaimReport> {
    let started = Instant::now();
    let mut arms = spec.arms(settings.scale, settings.seeds);
    std::fs::create_dir_all(&settings.out).map_err(|source| ClaimError::Io {
        path: settings.out.clone(),
        source,
    })?;
    let mut caps = Caps {
        doublings: settings
            .extension_cap
            .unwrap_or_else(|| spec.adaptive_work.doublings_at(settings.scale)),
        seeds: settings
            .seed_cap
            .unwrap_or_else(|| settings.scale.seed_cap()),
        work: settings
            .work_cap
            .or_else(|| spec.adaptive_work.at(settings.scale))
            .filter(|w| w.is_finite()),
    };
    // Only an invocation that may train is logged (`--analyse` and `--partial` train nothing).
    let log = if settings.recorded_only || settings.partial {
        None
    } else {
        Some(Log::begin(&settings.out, settings)?)
    };
    let cost = |a: &Arm| crate::plan::search_cost(&a.measure);
    let mut missing = vec![];
    if let Some(merge) = merge_shards(spec, settings.scale, settings.seeds, &settings.out, cost)? {
        if settings.progress {
            eprintln!(
                "merged {} of {} shards from {}: {} probe rows added to probes.csv",
                merge.finished.len(),
                merge.count,
                settings.out.join(SHARDS_DIR).display(),
                merge.imported
            );
        }
        if !merge.missing_arms.is_empty() {
            if !settings.partial {
                return Err(ClaimError::Shards {
                    dir: settings.out.join(SHARDS_DIR),
                    message: format!(
                        "{}. Run them (`--shard I/N` resumes), or pass --partial for a verdict \
                         over the complete arms",
                        merge.describe_missing()
                    ),
                });
            }
            arms.retain(|a| !merge.missing_arms.contains(&a.label));
            missing.push(merge.describe_missing());
        }
    }
    let (mut partial, mut recorded) = (None, None);
    if settings.partial {
        // Only the arms recorded whole at the grid's budgets: nothing trains, no adaptive
        // rounds and no generalization runs (those need every arm).
        let (mut results, unrecorded) = recorded_arms(&arms, settings)?;
        for r in &mut results {
            r.arm.generalization = None;
        }
        if !unrecorded.is_empty() {
            missing.push(format!(
                "{} arm{} not recorded whole in probes.csv: {}",
                unrecorded.len(),
                if unrecorded.len() == 1 { "" } else { "s" },
                unrecorded.join("; ")
            ));
        }
        if results.is_empty() {
            return Err(ClaimError::Config {
                field: "--partial".into(),
                message: format!(
                    "no arm of {} is recorded whole in {}; nothing to analyse",
                    spec.claim.id,
                    settings.out.display()
                ),
            });
        }
        caps = Caps {
            doublings: 0,
            seeds: 0,
            work: None,
        };
        partial = Some(format!(
            "**Partial verdict** (`--partial`, nothing trained): {}. This verdict covers the {} \
             arms recorded whole, at the grid's budgets, without adaptive rounds or \
             generalization runs.",
            if missing.is_empty() {
                "every arm is recorded".to_string()
            } else {
                missing.join("; ")
            },
            results.len()
        ));
        recorded = Some(results);
    }
    let opts = settings.options(settings.out.clone(), settings.recorded_only);
    let mut phases = Phases::default();
    let clock = Instant::now();
    let mut results = match recorded {
        Some(results) => results,
        None => measure_arms(&arms, &opts, settings.progress, log.as_ref())?,
    };
    phases.grid = clock.elapsed().as_secs_f64();
    let mut extensions = extend_arms(
        &mut results,
        spec.analyse,
        caps,
        &mut |arms| {
            let clock = Instant::now();
            let measured = measure_arms(arms, &opts, settings.progress, log.as_ref());
            phases.rounds += 1;
            phases.rounds_seconds += clock.elapsed().as_secs_f64();
            measured
        },
        &mut |r| arm_work(r, &settings.out),
    )?;
    if !extensions.is_empty() {
        let log =
            emc_search::ProbeLog::open(&settings.out).map_err(|source| ClaimError::Measure {
                arm: "the extended arms' probe times".into(),
                source: Box::new(source),
            })?;
        extend::record_costs(&mut extensions, &results, &log);
    }
    let clock = Instant::now();
    generalize_arms(&mut results, &opts, settings.progress)?;
    phases.generalization = clock.elapsed().as_secs_f64();
    let verdict = (spec.analyse)(&results);
    let mut table = verdict_table(&results, &verdict);
    let (runs, seconds) = match log {
        Some(log) => log.finish()?,
        None => (
            invocations::read(&settings.out)?,
            started.elapsed().as_secs_f64(),
        ),
    };
    let timing = (invocations::totals(&settings.out, &runs)?, seconds, phases);
    let mut markdown = markdown(
        spec,
        settings,
        (&results, &extend::section(&extensions, caps)),
        &verdict,
        timing,
    );
    if let Some(note) = partial {
        // Under the title, where no reader misses it.
        let at = markdown.find('\n').map_or(markdown.len(), |i| i + 1);
        markdown.insert_str(at, &format!("\n> {note}\n"));
        table = format!("{note}\n{table}");
    }
    write_verdict(settings, &markdown)?;
    write_plots(settings, &results, &verdict)?;
    Ok(ClaimReport {
        results,
        verdict,
        extensions,
        markdown,
        table,
    })
}

/// Splits `arms` into those whose every probe at the grid's budget levels is recorded in
/// `settings.out` (each searched with training off), as their results, and the labels of
/// the others.
fn recorded_arms(arms: &[Arm], settings: &RunSettings) -> Result<(Vec<ArmResult>, Vec<String>)> {
    let opts = settings.options(settings.out.clone(), true);
    let (mut results, mut missing) = (vec![], vec![]);
    for arm in arms {
        match measure_arms(std::slice::from_ref(arm), &opts, false, None) {
            Ok(measured) => results.extend(measured),
            Err(ClaimError::Measure { source, .. }) if source.is_not_recorded() => {
                missing.push(arm.label.clone())
            }
            Err(e) => return Err(e),
        }
    }
    Ok((results, missing))
}

/// A finished shard of a claim run.
#[derive(Debug, Clone)]
pub struct ShardReport {
    /// Which shard.
    pub shard: Shard,
    /// Its directory, `out/shards/<I>-of-<N>`.
    pub dir: PathBuf,
    /// Its (arm, seed) searches.
    pub searches: usize,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Runs (or resumes) one shard of the claim: its part of the (arm, seed) searches
/// ([`crate::partition`], balanced by the dry run's cost bound) at the grid's budget levels,
/// into `out/shards/<I>-of-<N>/`, then marks it finished (`shard.toml`). Nothing is
/// analysed: [`run_claim`] on `out` merges the shards and gives the verdict once every one
/// has finished.
pub fn run_shard(spec: &ClaimSpec, settings: &RunSettings, shard: Shard) -> Result<ShardReport> {
    let started = Instant::now();
    let arms = spec.arms(settings.scale, settings.seeds);
    let parts = partition(&arms, shard.count, |a| crate::plan::search_cost(&a.measure));
    let part = &parts[shard.index];
    let dir = shard.dir(&settings.out);
    let marker = ShardMarker::new(spec, settings.scale, settings.seeds, shard, &arms, part);
    // A finished shard reruns as a resume (nothing to train); another one is refused.
    marker.check_recorded(&dir)?;
    let mine = part_arms(&arms, part);
    if settings.progress {
        eprintln!(
            "shard {shard}: {} of the {} searches, into {}",
            part.len(),
            parts.iter().map(Vec::len).sum::<usize>(),
            dir.display()
        );
    }
    std::fs::create_dir_all(&dir).map_err(|source| ClaimError::Io {
        path: dir.clone(),
        source,
    })?;
    let log = Log::begin(&dir, settings)?;
    measure_arms(
        &mine,
        &settings.options(dir.clone(), false),
        settings.progress,
        Some(&log),
    )?;
    log.finish()?;
    marker.write(&dir)?;
    Ok(ShardReport {
        shard,
        dir,
        searches: part.len(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Measures every arm, every (arm, seed) search in one pool so no core idles while one arm
/// finishes; with `progress`, a line per probe and per finished seed on stderr; each probe
/// counted in `log`, when given.
fn measure_arms(
    arms: &[Arm],
    opts: &RunOptions,
    progress: bool,
    log: Option<&Log>,
) -> Result<Vec<ArmResult>> {
    if progress {
        let seeds: usize = arms.iter().map(|a| a.measure.seeds.len()).sum();
        eprintln!(
            "{} arms, {seeds} searches, {} at a time; already recorded probes are reused",
            arms.len(),
            opts.jobs
        );
    }
    let on_event = |i: usize, e: &Event| {
        if let (Some(log), Event::Probe { resumed, .. }) = (log, e) {
            log.probe(*resumed);
        }
        if !progress {
            return;
        }
        let label = arms[i].label.as_str();
        match e {
            Event::Probe { seed, row, resumed } => eprintln!(
                "  {label}  seed {seed:<2} {}{}",
                row.describe(),
                if *resumed { " (resumed)" } else { "" }
            ),
            Event::SeedDone { seed, outcome } => {
                eprintln!("  {label}  seed {seed}: EMC {}", outcome.emc)
            }
            Event::Epoch { .. } => {}
        }
    };
    let configs: Vec<_> = arms.iter().map(|a| a.measure.clone()).collect();
    let measurements =
        measure_many(&configs, opts, &on_event).map_err(|source| ClaimError::Measure {
            arm: format!("the {} arms", arms.len()),
            source: Box::new(source),
        })?;
    Ok(arms
        .iter()
        .zip(measurements)
        .map(|(arm, measurement)| ArmResult {
            arm: arm.clone(),
            measurement,
            generalization: None,
        })
        .collect())
}

/// Measures the generalization of the arms that ask for it, every (arm, seed) in one pool,
/// into their results; with `progress`, a line per seed on stderr.
fn generalize_arms(results: &mut [ArmResult], opts: &RunOptions, progress: bool) -> Result<()> {
    let asking: Vec<usize> = (0..results.len())
        .filter(|&i| results[i].arm.generalization.is_some())
        .collect();
    let pairs: Vec<_> = asking
        .iter()
        .filter_map(|&i| {
            let arm = &results[i].arm;
            Some((arm.measure.clone(), arm.generalization.clone()?))
        })
        .collect();
    let on_row = |k: usize, row: &GeneralizationRow, resumed: bool| {
        if progress {
            eprintln!(
                "  {}  seed {:<2} generalization: n={} {} train acc {:.4} test acc {:.4}{}",
                results[asking[k]].arm.label,
                row.seed,
                row.train_size,
                if row.fitted { "FIT" } else { "no fit" },
                row.train_accuracy,
                row.test_accuracy,
                if resumed { " (resumed)" } else { "" }
            );
        }
    };
    let generalizations =
        generalize_many(&pairs, opts, &on_row).map_err(|source| ClaimError::Measure {
            arm: format!("the generalization of {} arms", pairs.len()),
            source: Box::new(source),
        })?;
    for (&i, g) in asking.iter().zip(generalizations) {
        results[i].generalization = Some(g);
    }
    Ok(())
}

/// Writes `verdict.md` into the output directory (through a temporary file, so a reader
/// never sees half of it).
fn write_verdict(settings: &RunSettings, markdown: &str) -> Result<()> {
    let path = settings.out.join("verdict.md");
    let tmp = settings.out.join("verdict.md.tmp");
    std::fs::write(&tmp, markdown).map_err(|source| ClaimError::Io {
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, &path).map_err(|source| ClaimError::Io { path, source })
}

/// EMC against parameters and the fit/no-fit map of every probe, as SVG and PNG, each
/// configuration named by its arm's label; then the verdict's own scatter plots.
fn write_plots(settings: &RunSettings, results: &[ArmResult], verdict: &Verdict) -> Result<()> {
    let names = results
        .iter()
        .map(|r| (r.arm.measure.config_hash(), r.arm.label.clone()))
        .collect();
    emc_report::report_named(&settings.out, true, &names).map_err(|source| ClaimError::Report {
        dir: settings.out.clone(),
        source,
    })?;
    for plot in &verdict.plots {
        emc_report::write_scatter(&settings.out, plot).map_err(|source| ClaimError::Report {
            dir: settings.out.clone(),
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> RunSettings {
        RunSettings {
            scale: Scale::Cpu,
            seeds: None,
            out: PathBuf::from("somewhere/else"),
            jobs: 2,
            lockstep: 1,
            device: candle_core::Device::Cpu,
            load: LoadOptions::from_env(),
            progress: false,
            max_memory: None,
            extension_cap: None,
            seed_cap: None,
            work_cap: None,
            recorded_only: false,
            partial: false,
        }
    }

    #[test]
    fn the_command_names_every_option_that_changes_the_result() {
        assert_eq!(
            settings().command("optimizers"),
            "cargo run --release -p claim-optimizers -- --scale cpu"
        );
        let all = RunSettings {
            seeds: Some(3),
            extension_cap: Some(4),
            seed_cap: Some(6),
            work_cap: Some(1.5e11),
            ..settings()
        };
        assert_eq!(
            all.command("regularization"),
            "cargo run --release -p claim-regularization -- --scale cpu --seeds 3 \
             --extend-up-to 4 --max-seeds 6 --adaptive-work 1.5e11"
        );
        let unbounded = RunSettings {
            work_cap: Some(f64::INFINITY),
            ..settings()
        };
        assert!(unbounded.command("x").ends_with("--adaptive-work inf"));
    }
}
