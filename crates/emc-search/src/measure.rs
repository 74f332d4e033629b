//! A measurement: one model, one dataset variant and one training procedure, searched over
//! several seeds (in parallel), with every probe logged, a summary, a manifest and a
//! checkpoint of the model at its largest fitted `n` per seed. Rerunning the same
//! measurement into the same directory resumes: recorded probes are not trained again.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use candle_core::Device;
use emc_data::{LoadOptions, Split};
use emc_results::{ProbeRow, StopReason};
use emc_train::can_lockstep;
use serde::{Deserialize, Serialize};

use crate::config::MeasureConfig;
use crate::data::Loaded;
use crate::error::{Result, SearchError};
use crate::lockstep::ProbeTrainer;
use crate::memory::{MemoryEstimate, MemoryLimit, Sizes};
use crate::pool::run_pool;
use crate::probe_log::ProbeLog;
use crate::results::{check_data, files_lock, write_manifest, write_summary};
use crate::search::{BudgetOutcome, ProbePoint, SearchOutcome};
use crate::seed::{Prepared, SeedSearch, Shared};
use crate::stats::{median_ci_width, EmcStats};
use crate::transition::{transition, Transition};

/// Probes per lockstep group by default ([`RunOptions::lockstep`]).
pub const DEFAULT_LOCKSTEP: usize = 4;

/// The most memory that the searches run concurrently for lockstep groups (beyond one per
/// job) may hold in their copies of the training data.
const LOCKSTEP_MEMORY: usize = 1 << 30;

/// Where and how a measurement runs (none of it changes the result).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Output directory.
    pub out: PathBuf,
    /// Probes trained concurrently: one single-threaded training (or lockstep group) per
    /// core is fastest on CPU.
    pub jobs: usize,
    /// Up to this many probes of different seeds train together in one lockstep group
    /// (stacked MLPs, bit-identical to training each alone; see `emc_train::fit_lockstep`);
    /// 1 trains every probe alone. With more than 1, `jobs × lockstep` seeds are searched
    /// concurrently for the configurations that can go in lockstep.
    pub lockstep: usize,
    /// Device.
    pub device: Device,
    /// Where the dataset is found.
    pub load: LoadOptions,
    /// The most memory the measurement may allocate (bytes); `None`: the memory available
    /// to the process. Checked against an estimate before anything sized by the
    /// configuration is allocated ([`crate::MemoryEstimate`]).
    pub max_memory: Option<u64>,
    /// Never train: every probe the search asks for must already be in `probes.csv`
    /// (results fetched from elsewhere are analysed, not extended), and a missing
    /// checkpoint is not trained again.
    pub recorded_only: bool,
    /// Write `summary.csv` and the manifests when the measurement ends; off, the directory
    /// is only read (with [`RunOptions::recorded_only`]: results fetched from the Hub are
    /// analysed without touching them).
    pub write_summary: bool,
}

/// What a measurement reports as it goes.
#[derive(Debug, Clone)]
pub enum Event {
    /// A probe is training: sent after each evaluation of the training accuracy.
    Epoch {
        /// Seed.
        seed: u64,
        /// Subset size.
        n: usize,
        /// Epochs done.
        epoch: usize,
        /// The epoch budget.
        max_epochs: usize,
        /// Exact training accuracy.
        train_accuracy: f64,
    },
    /// A probe finished (or was found in the log).
    Probe {
        /// Seed.
        seed: u64,
        /// The row recorded.
        row: Box<ProbeRow>,
        /// Whether it came from an earlier run.
        resumed: bool,
    },
    /// A seed's search finished.
    SeedDone {
        /// Seed.
        seed: u64,
        /// Its outcome.
        outcome: SearchOutcome,
    },
}

/// The result of a measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Config hash.
    pub config_hash: String,
    /// Trainable parameters of the model.
    pub params: usize,
    /// Per-seed outcomes, in seed order.
    pub per_seed: Vec<(u64, SearchOutcome)>,
    /// Statistics across seeds.
    pub stats: EmcStats,
    /// Probes trained in this invocation (not taken from the log).
    pub probes_trained: usize,
    /// Per seed, the searches at each budget tried (one level when budget convergence is
    /// off); `per_seed` holds the last level's outcome.
    pub budgets: Vec<(u64, BudgetOutcome)>,
    /// The fit/fail transition over every seed's probes (at the largest budget).
    pub transition: Transition,
    /// The probes of this measurement in `probes.csv` that did not fit (every seed and
    /// budget level, earlier runs' included), counted by stop reason (text form).
    #[serde(default)]
    pub failures: BTreeMap<String, usize>,
    /// The seeds whose first failure above the EMC, at the largest budget searched, was not
    /// certified (it ran out of epochs or steps, or plateaued with a gradient that was not
    /// small): more budget may fit it, so their EMC is a lower bound. `(seed, n, stop)`.
    #[serde(default)]
    pub uncertified: Vec<(u64, usize, String)>,
}

impl Measurement {
    /// Whether every probe that did not fit diverged: the EMC then marks where training
    /// blows up (the learning rate), not what the model can fit (`emc measure` exits with
    /// an error unless told to accept it).
    pub fn failures_all_diverged(&self) -> bool {
        !self.failures.is_empty()
            && self
                .failures
                .keys()
                .all(|s| s == StopReason::Diverged.as_str())
    }

    /// Failed probes in all.
    pub fn probes_failed(&self) -> usize {
        self.failures.values().sum()
    }
}

pub(crate) fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Runs (or resumes) a measurement, writing `probes.csv`, `summary.csv`, `manifest.toml`
/// and `checkpoints/` into `opts.out`.
pub fn measure(
    cfg: &MeasureConfig,
    opts: &RunOptions,
    on_event: &(dyn Fn(&Event) + Sync),
) -> Result<Measurement> {
    match measure_many(std::slice::from_ref(cfg), opts, &|_, e| on_event(e)) {
        Ok(mut all) => Ok(all.remove(0)),
        Err(SearchError::InConfig { source, .. }) => Err(*source),
        Err(e) => Err(e),
    }
}

/// Runs (or resumes) several measurements into one directory, as one pool of `opts.jobs`
/// workers over every (configuration, seed) pair, so that short configurations do not leave
/// a core idle while a long one finishes. `on_event` receives the configuration's index.
/// Returns the measurements in the order of `cfgs`; the first error stops every worker.
pub fn measure_many(
    cfgs: &[MeasureConfig],
    opts: &RunOptions,
    on_event: &(dyn Fn(usize, &Event) + Sync),
) -> Result<Vec<Measurement>> {
    let started = now_secs();
    let prepared = prepare(cfgs, &opts.load)?;
    let searchers = concurrent_searches(cfgs, &prepared, opts);
    // Before anything sized by the configurations is allocated, or anything is trained or
    // rewritten: the memory it needs is there, and the results in the directory were
    // measured on the data read now.
    check_memory(cfgs, &prepared, opts, searchers)?;
    for p in &prepared {
        check_data(&opts.out, &p.hash, &p.base.metadata().files)?;
    }
    let created = !opts.out.exists();
    let log = ProbeLog::open(&opts.out)?;
    let outcome = measure_logged(cfgs, &prepared, opts, on_event, &log, (started, searchers));
    if outcome.is_err() && created && log.is_empty() {
        // Nothing was measured: leave no directory holding only a header line behind.
        let _ = std::fs::remove_dir_all(&opts.out);
    }
    outcome
}

/// [`measure_many`] once its configurations are prepared and checked and its probe log is
/// open: the searches, then each configuration's summary and manifest.
fn measure_logged(
    cfgs: &[MeasureConfig],
    prepared: &[Prepared],
    opts: &RunOptions,
    on_event: &(dyn Fn(usize, &Event) + Sync),
    log: &ProbeLog,
    (started, searchers): (f64, usize),
) -> Result<Vec<Measurement>> {
    let run_id = format!("{:x}-{:x}", started as u64, std::process::id());
    let trained: Vec<AtomicUsize> = cfgs.iter().map(|_| AtomicUsize::new(0)).collect();
    let trainer = ProbeTrainer::new(opts.jobs, opts.lockstep.max(1), cfgs.len());
    let shared = Shared {
        cfgs,
        prepared,
        opts,
        log,
        run_id: &run_id,
        trainer: &trainer,
        trained: &trained,
        on_event,
    };
    let results = search_seeds(&shared, searchers)?;
    let mut out = vec![];
    for (i, cfg) in cfgs.iter().enumerate() {
        let per: Vec<&SeedResult> = results.iter().filter(|r| r.config == i).collect();
        let probes_trained = trained[i].load(Ordering::Relaxed);
        let mut measurement = summarise(&prepared[i].hash, &per, probes_trained)?;
        (measurement.failures, measurement.uncertified) = failures(log, &prepared[i], &per);
        let files = files_lock();
        if opts.write_summary {
            write_summary(&opts.out, cfg, &measurement)?;
            let lockstep = (opts.lockstep, trainer.grouped(i));
            let finished = now_secs();
            write_manifest(
                &opts.out,
                cfg,
                opts,
                lockstep,
                &measurement,
                (started, finished),
                &prepared[i].base.metadata().files,
            )?;
        }
        drop(files);
        out.push(measurement);
    }
    Ok(out)
}

/// Parses and checks every configuration and loads its training split (each dataset once).
fn prepare(cfgs: &[MeasureConfig], load: &LoadOptions) -> Result<Vec<Prepared>> {
    let mut loaded = Loaded::default();
    let mut prepared = vec![];
    for cfg in cfgs {
        let (spec, data_id, variants) = cfg.parsed()?;
        let base = loaded.get(&data_id, Split::Train, load)?;
        prepared.push(Prepared::new(cfg, spec, variants, base)?);
    }
    Ok(prepared)
}

/// Refuses a measurement whose largest configuration would need more memory than the limit
/// ([`RunOptions::max_memory`], else the memory available): `searchers` seed searches at
/// once, and `jobs` probes (times `lockstep` for a configuration that trains in lockstep).
/// On a GPU the tensors live in device memory, which is not queried: nothing is checked.
fn check_memory(
    cfgs: &[MeasureConfig],
    prepared: &[Prepared],
    opts: &RunOptions,
    searchers: usize,
) -> Result<()> {
    if !opts.device.is_cpu() {
        return Ok(());
    }
    let limit = MemoryLimit::new(opts.max_memory);
    for (cfg, p) in cfgs.iter().zip(prepared) {
        let sizes = Sizes::new(&p.spec, &p.variants, &p.base)?;
        let lockstep = opts.device.is_cpu() && can_lockstep(&p.spec, &cfg.train);
        let probes = opts.jobs.max(1) * if lockstep { opts.lockstep.max(1) } else { 1 };
        let what = format!(
            "the measurement of {} on {} [{}]",
            cfg.model,
            cfg.data,
            cfg.variants.join(" ")
        );
        MemoryEstimate::measurement(what, &sizes, &cfg.train, searchers, probes)
            .check(limit.as_ref())?;
    }
    Ok(())
}

/// How many seed searches run at once: one per job, or, when some configuration can train
/// in lockstep, `lockstep` per job (so that their probes meet in the trainer) while their
/// copies of the training split stay within [`LOCKSTEP_MEMORY`].
fn concurrent_searches(cfgs: &[MeasureConfig], prepared: &[Prepared], opts: &RunOptions) -> usize {
    let width = opts.lockstep.max(1);
    let stackable = width > 1
        && opts.device.is_cpu()
        && cfgs
            .iter()
            .zip(prepared)
            .any(|(c, p)| can_lockstep(&p.spec, &c.train));
    let seed_bytes = prepared
        .iter()
        .map(|p| {
            let s = p.base.shape();
            p.base.len() * s.channels * s.height * s.width * std::mem::size_of::<f32>()
        })
        .max()
        .unwrap_or(1)
        .max(1);
    let jobs = opts.jobs.max(1);
    if stackable {
        (jobs * width).min(jobs.max(LOCKSTEP_MEMORY / seed_bytes))
    } else {
        jobs
    }
}

/// One seed's finished search.
struct SeedResult {
    config: usize,
    seed: u64,
    budget: BudgetOutcome,
    params: usize,
}

/// Searches every configured seed of every configuration on `searchers` workers, then
/// rounds of adaptive seeds while some configuration asks for more ([`more_seeds`]).
fn search_seeds(shared: &Shared<'_, '_>, searchers: usize) -> Result<Vec<SeedResult>> {
    let cfgs = shared.cfgs;
    let describe = |i: usize| {
        let c = &cfgs[i];
        format!("{} on {} [{}]", c.model, c.data, c.variants.join(" "))
    };
    let run_seed = |i: usize, seed: u64| SeedSearch::run(shared, i, seed);
    let run = |tasks: &[(usize, u64)]| -> Result<Vec<SeedResult>> {
        Ok(run_pool(tasks, searchers, &run_seed, &describe)?
            .into_iter()
            .map(|(config, seed, (budget, params))| SeedResult {
                config,
                seed,
                budget,
                params,
            })
            .collect())
    };
    let tasks: Vec<(usize, u64)> = cfgs
        .iter()
        .enumerate()
        .flat_map(|(i, c)| c.seeds.iter().map(move |&s| (i, s)))
        .collect();
    let mut results = run(&tasks)?;
    loop {
        let more = more_seeds(cfgs, &results, shared.opts.jobs);
        if more.is_empty() {
            return Ok(results);
        }
        results.extend(run(&more)?);
    }
}

/// Adaptive seeds: the next round of new seeds (as many per configuration as there are
/// workers, `jobs`) for the configurations whose median EMC is still uncertain.
fn more_seeds(cfgs: &[MeasureConfig], results: &[SeedResult], jobs: usize) -> Vec<(usize, u64)> {
    let mut more: Vec<(usize, u64)> = vec![];
    for (i, cfg) in cfgs.iter().enumerate() {
        let s = &cfg.search;
        let done: Vec<&SeedResult> = results.iter().filter(|r| r.config == i).collect();
        if done.len() >= s.max_seeds {
            continue;
        }
        let emcs: Vec<usize> = done.iter().map(|r| r.budget.last().emc).collect();
        if median_ci_width(&emcs) <= s.seed_ci_width {
            continue;
        }
        let used: Vec<u64> = done.iter().map(|r| r.seed).collect();
        let add = jobs.max(1).min(s.max_seeds - done.len());
        more.extend(
            (0u64..)
                .filter(|x| !used.contains(x))
                .take(add)
                .map(|seed| (i, seed)),
        );
    }
    more
}

/// One configuration's failures: the failed probes of its searched seeds at every budget
/// level, counted by stop reason, and the seeds whose first failure above the EMC (the
/// search's `upper`, at its largest budget) was not certified. A failure carried over from
/// a smaller budget is certified by the carry-over rule; one logged at the largest budget
/// is certified when more budget cannot change it ([`StopReason::more_budget_may_fit`]).
#[allow(clippy::type_complexity)]
fn failures(
    log: &ProbeLog,
    prepared: &Prepared,
    per: &[&SeedResult],
) -> (BTreeMap<String, usize>, Vec<(u64, usize, String)>) {
    let mut counts = BTreeMap::new();
    let mut uncertified = vec![];
    for r in per {
        for (_, hash) in &prepared.levels {
            for o in log.outcomes(hash, r.seed).into_iter().filter(|o| !o.fitted) {
                *counts.entry(o.stop).or_insert(0) += 1;
            }
        }
        let last = r.budget.levels.len() - 1;
        let Some(upper) = r.budget.last().upper else {
            continue;
        };
        let at_last = log.outcomes(&prepared.levels[last].1, r.seed);
        if let Some(o) = at_last.into_iter().find(|o| o.n == upper && !o.fitted) {
            let may_fit = o
                .stop
                .parse::<StopReason>()
                .map_or(true, StopReason::more_budget_may_fit);
            if may_fit {
                uncertified.push((r.seed, upper, o.stop));
            }
        }
    }
    (counts, uncertified)
}

/// The measurement of one configuration (config hash `hash`) from its seeds' searches.
fn summarise(hash: &str, per: &[&SeedResult], probes_trained: usize) -> Result<Measurement> {
    let params = per.first().map(|r| r.params).unwrap_or(0);
    let emcs: Vec<usize> = per.iter().map(|r| r.budget.last().emc).collect();
    let stats = EmcStats::new(&emcs, params).ok_or_else(|| SearchError::Config {
        field: "seeds".into(),
        message: "no seed finished".into(),
    })?;
    let per_seed: Vec<(u64, SearchOutcome)> = per
        .iter()
        .map(|r| (r.seed, r.budget.last().clone()))
        .collect();
    let budgets: Vec<(u64, BudgetOutcome)> =
        per.iter().map(|r| (r.seed, r.budget.clone())).collect();
    let pooled: Vec<ProbePoint> = per_seed
        .iter()
        .flat_map(|(_, o)| o.probes.iter().copied())
        .collect();
    Ok(Measurement {
        config_hash: hash.to_string(),
        params,
        per_seed,
        stats,
        probes_trained,
        budgets,
        transition: transition(&pooled),
        failures: BTreeMap::new(),
        uncertified: vec![],
    })
}
