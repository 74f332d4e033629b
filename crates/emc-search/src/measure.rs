//! A measurement: one model, one dataset variant and one training procedure, searched over
//! several seeds (in parallel), with every probe logged, a summary, a manifest and a
//! checkpoint of the model at its largest fitted `n` per seed. Rerunning the same
//! measurement into the same directory resumes: recorded probes are not trained again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use candle_core::{DType, Device, Tensor};
use emc_data::{load, Dataset, DatasetId, LoadOptions, Normalization, Split, TensorData, Variant};
use emc_models::{Built, InputShape, ModelSpec};
use emc_train::{
    can_lockstep, read_checkpoint_metadata, save_checkpoint, Batching, FitReport, Member,
    ProgressFn, Provenance, TrainConfig,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Result, SearchError};
use crate::lockstep::{Probe, ProbeTrainer};
use crate::results::{read_csv, to_csv, write_atomic, ProbeLog, ProbeRow, SummaryRow};
use crate::search::{
    default_n0, search_budgets, BudgetOutcome, BudgetProbe, ProbePoint, SearchConfig, SearchOutcome,
};
use crate::stats::{median_ci_width, EmcStats};
use crate::transition::{transition, Transition};

/// Everything that defines a measurement (the seeds excepted, they select repetitions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MeasureConfig {
    /// Model spec, e.g. `mlp:32:relu`.
    pub model: String,
    /// Dataset name, e.g. `mnist`.
    pub data: String,
    /// Variants applied to the whole training split for each seed, before the nested
    /// subsets are taken (so a sample keeps its random label in every subset).
    pub variants: Vec<String>,
    /// How each probe is trained.
    pub train: TrainConfig,
    /// The search protocol.
    pub search: SearchConfig,
    /// Seeds; each gives its own permutation, variant draws and initialisation.
    pub seeds: Vec<u64>,
}

impl Default for MeasureConfig {
    fn default() -> Self {
        MeasureConfig {
            model: "mlp:32:relu".into(),
            data: "mnist".into(),
            variants: vec![],
            train: TrainConfig::default(),
            search: SearchConfig::default(),
            seeds: vec![0, 1, 2],
        }
    }
}

impl MeasureConfig {
    /// Hash of what defines the measured quantity (everything but the seeds): 16 hex digits.
    pub fn config_hash(&self) -> String {
        short_hash(&serde_json::json!({
            "model": self.model, "data": self.data, "variants": self.variants,
            "train": self.train, "search": self.search,
        }))
    }

    /// Hash of what defines one probe's outcome (model, data, variants, training; not the
    /// search settings): the key of `probes.csv`, so a rerun with another tolerance or
    /// first size reuses the probes already trained.
    pub fn probe_hash(&self) -> String {
        short_hash(&serde_json::json!({
            "model": self.model, "data": self.data, "variants": self.variants,
            "train": self.train,
        }))
    }

    /// The same measurement with `k` times the budget: the epoch budget, the step budget
    /// (when set) and the plateau patience, so that a loss plateau is given `k` times as
    /// long to resume improving before the run counts as stalled.
    pub fn with_budget_multiplier(&self, k: usize) -> MeasureConfig {
        let mut c = self.clone();
        c.train.stop.max_epochs *= k;
        c.train.stop.max_steps = c.train.stop.max_steps.map(|s| s * k);
        c.train.stop.plateau_patience *= k;
        c
    }

    /// Whether a run at a larger budget replays a run at this one step for step and goes
    /// on (so a fit and a certified failure stand at every larger budget): true unless the
    /// learning-rate schedule stretches with the budget (`cosine-budget`).
    pub fn longer_budget_replays(&self) -> bool {
        !self.train.optim.depends_on_budget()
    }

    pub(crate) fn parsed(&self) -> Result<(ModelSpec, DatasetId, Vec<Variant>)> {
        let bad = |field: &str| {
            let field = field.to_string();
            move |e: &dyn std::fmt::Display| SearchError::Config {
                field,
                message: e.to_string(),
            }
        };
        let spec = self
            .model
            .parse()
            .map_err(|e: emc_models::ModelError| bad("model")(&e))?;
        let data = self
            .data
            .parse()
            .map_err(|e: emc_data::DataError| bad("data")(&e))?;
        let variants = self
            .variants
            .iter()
            .map(|v| v.parse::<Variant>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| bad("variants")(&e))?;
        if variants.iter().any(|v| matches!(v, Variant::Subset { .. })) {
            return Err(SearchError::Config {
                field: "variants".into(),
                message: "subsets are the search's job; remove `subset:`".into(),
            });
        }
        if self.seeds.is_empty() {
            return Err(SearchError::Config {
                field: "seeds".into(),
                message: "no seed; expected at least one".into(),
            });
        }
        self.train.validate()?;
        Ok((spec, data, variants))
    }

    /// Batch size as written in result files.
    fn batch_text(&self) -> String {
        match self.train.batching {
            Batching::Mini(b) => b.to_string(),
            Batching::Full { .. } => "full".into(),
        }
    }
}

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
    /// Never train: every probe the search asks for must already be in `probes.csv`
    /// (results fetched from elsewhere are analysed, not extended), and `summary.csv` and
    /// `manifest.toml` are left as they were.
    pub recorded_only: bool,
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
}

pub(crate) fn short_hash(v: &serde_json::Value) -> String {
    let digest = Sha256::digest(v.to_string().as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
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

/// One configuration of [`measure_many`], ready to search.
struct Prepared {
    spec: ModelSpec,
    variants: Vec<Variant>,
    base: Arc<Dataset>,
    hash: String,
    /// Per budget level (`2^level` × the configured budget): the config and its probe hash.
    levels: Vec<(MeasureConfig, String)>,
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
    // Each dataset is loaded once and shared by the configurations that use it.
    let mut loaded = Loaded::default();
    let mut prepared = vec![];
    for cfg in cfgs {
        let (spec, data_id, variants) = cfg.parsed()?;
        let base = loaded.get(&data_id, Split::Train, &opts.load)?;
        prepared.push(Prepared {
            spec,
            variants,
            base,
            hash: cfg.config_hash(),
            levels: (0..=cfg.search.budget_doublings)
                .map(|level| {
                    let c = cfg.with_budget_multiplier(1 << level);
                    let h = c.probe_hash();
                    (c, h)
                })
                .collect(),
        });
    }
    let log = ProbeLog::open(&opts.out)?;
    let run_id = format!("{:x}-{:x}", started as u64, std::process::id());
    let trained: Vec<AtomicUsize> = cfgs.iter().map(|_| AtomicUsize::new(0)).collect();
    let tasks: Vec<(usize, u64)> = cfgs
        .iter()
        .enumerate()
        .flat_map(|(i, c)| c.seeds.iter().map(move |&s| (i, s)))
        .collect();

    // Seeds of configurations that can train in lockstep are searched `lockstep` at a time
    // per job, so that their probes meet in the trainer.
    let width = opts.lockstep.max(1);
    let stackable = width > 1
        && opts.device.is_cpu()
        && cfgs
            .iter()
            .zip(&prepared)
            .any(|(c, p)| can_lockstep(&p.spec, &c.train));
    // Each search holds its seed's copy of the training split: extra searches only while
    // their copies stay within LOCKSTEP_MEMORY.
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
    let searchers = if stackable {
        (jobs * width).min(jobs.max(LOCKSTEP_MEMORY / seed_bytes))
    } else {
        jobs
    };
    let trainer = ProbeTrainer::new(opts.jobs, width, cfgs.len());
    let report_event = on_event;
    let run_seed = |i: usize, seed: u64| -> Result<(BudgetOutcome, usize)> {
        let _searcher = trainer.searcher();
        let (cfg, prep) = (&cfgs[i], &prepared[i]);
        let (spec, hash) = (&prep.spec, &prep.hash);
        let on_event = |e: &Event| on_event(i, e);
        let data = SeedData::new(spec, &prep.variants, &prep.base, seed, &opts.device)?;
        let (params, classes) = (data.params, data.classes);
        let n0 = cfg.search.n0.unwrap_or_else(|| default_n0(params, classes));
        let replays = cfg.longer_budget_replays();
        // Probes recorded earlier for this model, procedure, budget and seed are reused.
        let recorded = |level: usize| -> Vec<BudgetProbe> {
            let rows = log.rows(&prep.levels[level].1, seed);
            for row in &rows {
                on_event(&Event::Probe {
                    seed,
                    row: Box::new((*row).clone()),
                    resumed: true,
                });
            }
            rows.iter()
                .map(|r| BudgetProbe {
                    n: r.n,
                    fitted: r.fitted,
                    carries_over: replays && r.stands_with_more_budget(),
                })
                .collect()
        };
        // Trains a fresh model on the first `n` samples at budget level `level`.
        let train_at = |level: usize, n: usize| -> Result<(FitReport, emc_models::Built)> {
            let train = &prep.levels[level].0.train;
            let max_epochs = train.stop.max_epochs;
            let progress: ProgressFn = Box::new(move |p: &emc_train::Progress| {
                report_event(
                    i,
                    &Event::Epoch {
                        seed,
                        n,
                        epoch: p.epoch,
                        max_epochs,
                        train_accuracy: p.train_accuracy,
                    },
                )
            });
            let mut probe = data.probe(spec, n, train, seed, Some(progress))?;
            probe.config = i;
            let (built, report) = trainer.train(probe)?;
            Ok((report, built))
        };
        let ckpt = opts
            .out
            .join("checkpoints")
            .join(format!("{hash}-seed{seed}.safetensors"));
        // The checkpoint holds the weights of the largest fit so far.
        let save_at = |level: usize, n: usize, built: &emc_models::Built| -> Result<()> {
            let meta: BTreeMap<String, String> = [
                ("model", cfg.model.clone()),
                ("config_hash", hash.clone()),
                ("config", serde_json::to_string(cfg).unwrap_or_default()),
                ("seed", seed.to_string()),
                ("n", n.to_string()),
                ("dataset", cfg.data.clone()),
                ("variants", cfg.variants.join(" ")),
                // The probe that produced these weights (its budget may be a multiple of the
                // configured one).
                ("probe_hash", prep.levels[level].1.clone()),
                ("budget_multiplier", (1usize << level).to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            save_checkpoint(&built.varmap, &ckpt, &meta)?;
            Ok(())
        };
        let saved_n = |path: &Path| -> usize {
            read_checkpoint_metadata(path)
                .ok()
                .and_then(|m| m.get("n").and_then(|n| n.parse().ok()))
                .unwrap_or(0)
        };
        let mut best_fit = saved_n(&ckpt);
        let budget = search_budgets(&cfg.search, n0, data.len, &recorded, |level, n| {
            let (level_cfg, level_hash) = &prep.levels[level];
            if opts.recorded_only {
                return Err(SearchError::Results {
                    path: opts.out.join("probes.csv"),
                    message: format!(
                        "no recorded probe of `{}` on {} [{}] at seed {seed}, n = {n}{}, and \
                         training is off (recorded results only): the results are incomplete \
                         or were made with another configuration",
                        cfg.model,
                        cfg.data,
                        cfg.variants.join(" "),
                        if level > 0 {
                            format!(", {}x budget", 1 << level)
                        } else {
                            String::new()
                        }
                    ),
                });
            }
            let (report, built) = train_at(level, n)?;
            let row = probe_row(level_cfg, level_hash, &run_id, params, seed, &report);
            log.append(&row)?;
            trained[i].fetch_add(1, Ordering::Relaxed);
            if report.fitted && n > best_fit {
                best_fit = n;
                save_at(level, n, &built)?;
            }
            on_event(&Event::Probe {
                seed,
                row: Box::new(row),
                resumed: false,
            });
            Ok(BudgetProbe {
                n,
                fitted: report.fitted,
                // A fit's stop reason (`Fitted`) is not one more budget may change either.
                carries_over: replays && !report.stop.more_budget_may_fit(),
            })
        })?;
        let outcome = budget.last().clone();
        // A resumed search may have found its largest fit in an earlier run whose checkpoint
        // is gone (or another run's): replay that probe (training is deterministic) for it.
        if !opts.recorded_only && outcome.emc > 0 && saved_n(&ckpt) != outcome.emc {
            let level = (0..prep.levels.len()).find(|&l| {
                log.get(&prep.levels[l].1, seed, outcome.emc)
                    .is_some_and(|r| r.fitted)
            });
            if let Some(level) = level {
                let (report, built) = train_at(level, outcome.emc)?;
                if !report.fitted {
                    return Err(SearchError::Results {
                        path: opts.out.join("probes.csv"),
                        message: format!(
                            "seed {seed}: n = {} is recorded as a fit but did not fit when \
                             replayed for its checkpoint (training is not reproducible here)",
                            outcome.emc
                        ),
                    });
                }
                save_at(level, outcome.emc, &built)?;
            }
        }
        on_event(&Event::SeedDone {
            seed,
            outcome: outcome.clone(),
        });
        Ok((budget, params))
    };

    let describe = |i: usize| {
        let c = &cfgs[i];
        format!("{} on {} [{}]", c.model, c.data, c.variants.join(" "))
    };
    let run = |tasks: &[(usize, u64)]| -> Result<Vec<(usize, u64, BudgetOutcome, usize)>> {
        Ok(run_pool(tasks, searchers, &run_seed, &describe)?
            .into_iter()
            .map(|(i, seed, (o, p))| (i, seed, o, p))
            .collect())
    };
    let mut results = run(&tasks)?;
    // Adaptive seeds: rounds of new seeds (as many per configuration as there are workers)
    // while a configuration's median EMC is still uncertain.
    loop {
        let mut more: Vec<(usize, u64)> = vec![];
        for (i, cfg) in cfgs.iter().enumerate() {
            let s = &cfg.search;
            let done: Vec<&(usize, u64, BudgetOutcome, usize)> =
                results.iter().filter(|r| r.0 == i).collect();
            if done.len() >= s.max_seeds {
                continue;
            }
            let emcs: Vec<usize> = done.iter().map(|r| r.2.last().emc).collect();
            if median_ci_width(&emcs) <= s.seed_ci_width {
                continue;
            }
            let used: Vec<u64> = done.iter().map(|r| r.1).collect();
            let add = opts.jobs.max(1).min(s.max_seeds - done.len());
            more.extend(
                (0u64..)
                    .filter(|x| !used.contains(x))
                    .take(add)
                    .map(|seed| (i, seed)),
            );
        }
        if more.is_empty() {
            break;
        }
        results.extend(run(&more)?);
    }
    let mut out = vec![];
    for (i, cfg) in cfgs.iter().enumerate() {
        let per: Vec<&(usize, u64, BudgetOutcome, usize)> =
            results.iter().filter(|r| r.0 == i).collect();
        let params = per.first().map(|r| r.3).unwrap_or(0);
        let emcs: Vec<usize> = per.iter().map(|r| r.2.last().emc).collect();
        let stats = EmcStats::new(&emcs, params).ok_or_else(|| SearchError::Config {
            field: "seeds".into(),
            message: "no seed finished".into(),
        })?;
        let per_seed: Vec<(u64, SearchOutcome)> =
            per.iter().map(|r| (r.1, r.2.last().clone())).collect();
        let budgets: Vec<(u64, BudgetOutcome)> = per.iter().map(|r| (r.1, r.2.clone())).collect();
        let pooled: Vec<ProbePoint> = per_seed
            .iter()
            .flat_map(|(_, o)| o.probes.iter().copied())
            .collect();
        let transition = transition(&pooled);
        let hash = prepared[i].hash.clone();
        let files = crate::results::files_lock();
        let measurement = Measurement {
            config_hash: hash,
            params,
            per_seed,
            stats,
            probes_trained: trained[i].load(Ordering::Relaxed),
            budgets,
            transition,
        };
        if !opts.recorded_only {
            write_summary(&opts.out, cfg, &measurement)?;
        }
        if !opts.recorded_only {
            let lockstep = (opts.lockstep, trainer.grouped(i));
            write_manifest(
                &opts.out,
                cfg,
                opts,
                lockstep,
                &measurement,
                started,
                now_secs(),
            )?;
        }
        drop(files);
        out.push(measurement);
    }
    Ok(out)
}

/// Datasets loaded once per (dataset, split) and shared.
#[derive(Default)]
pub(crate) struct Loaded(Vec<(DatasetId, Split, Arc<Dataset>)>);

impl Loaded {
    pub(crate) fn get(
        &mut self,
        id: &DatasetId,
        split: Split,
        opts: &LoadOptions,
    ) -> Result<Arc<Dataset>> {
        if let Some((_, _, d)) = self.0.iter().find(|(i, s, _)| i == id && *s == split) {
            return Ok(d.clone());
        }
        let d = Arc::new(load(id, split, opts)?);
        self.0.push((id.clone(), split, d.clone()));
        Ok(d)
    }
}

/// One seed's training data for a configuration: the variants drawn with the seed over the
/// whole training split, normalised by that split's per-channel statistics, as tensors, and
/// the seeded order whose prefixes are the training sets.
pub(crate) struct SeedData {
    pub(crate) input: InputShape,
    pub(crate) classes: usize,
    pub(crate) params: usize,
    /// The normalisation every input of this configuration gets (test inputs included).
    pub(crate) norm: Normalization,
    all: TensorData,
    order: Vec<u32>,
    /// Training samples after the variants.
    pub(crate) len: usize,
}

impl SeedData {
    pub(crate) fn new(
        spec: &ModelSpec,
        variants: &[Variant],
        base: &Dataset,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        let ds = Variant::apply_all(variants, base.clone(), seed)?;
        let shape = ds.shape();
        let input = InputShape {
            channels: shape.channels,
            height: shape.height,
            width: shape.width,
        };
        let classes = ds.num_classes();
        let params = spec.num_params(input, classes)?;
        let norm = Normalization::from_dataset(&ds);
        let all = ds.to_tensors(device, &norm, false)?;
        let order: Vec<u32> = ds
            .nested_order(seed, false)
            .into_iter()
            .map(|i| i as u32)
            .collect();
        Ok(SeedData {
            input,
            classes,
            params,
            norm,
            all,
            order,
            len: ds.len(),
        })
    }

    /// Trains a fresh model (initialised with `seed`) on the first `n` samples of the
    /// order, alone (the generalization probe); the search's probes go through a
    /// [`ProbeTrainer`], which trains them alone or in lockstep by the same rules.
    pub(crate) fn train_probe(
        &self,
        spec: &ModelSpec,
        n: usize,
        train: &TrainConfig,
        seed: u64,
    ) -> Result<(Built, FitReport)> {
        self.probe(spec, n, train, seed, None)?.fit_alone()
    }

    /// A probe on the first `n` samples of the order: a fresh model initialised with
    /// `seed`, to be trained by a [`ProbeTrainer`].
    pub(crate) fn probe<'a>(
        &self,
        spec: &ModelSpec,
        n: usize,
        train: &TrainConfig,
        seed: u64,
        on_progress: Option<ProgressFn<'a>>,
    ) -> Result<Probe<'a>> {
        let device = self.all.images.device();
        let idx = Tensor::from_slice(&self.order[..n], n, device)?;
        Ok(Probe {
            config: 0,
            spec: spec.clone(),
            input: self.input,
            train: train.clone(),
            member: Member {
                built: spec.build(self.input, self.classes, seed, DType::F32, device)?,
                images: self.all.images.index_select(&idx, 0)?,
                labels: self.all.labels.index_select(&idx, 0)?,
                seed,
                on_progress,
            },
        })
    }
}

/// Runs `work(config, seed)` for every task on `jobs` worker threads (tasks taken in
/// order), returning the results sorted by (config, seed). The first error stops every
/// worker and is returned, naming the configuration through `describe`.
pub(crate) fn run_pool<R: Send>(
    tasks: &[(usize, u64)],
    jobs: usize,
    work: &(dyn Fn(usize, u64) -> Result<R> + Sync),
    describe: &(dyn Fn(usize) -> String + Sync),
) -> Result<Vec<(usize, u64, R)>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, u64, R)>> = Mutex::new(vec![]);
    let first_error: Mutex<Option<SearchError>> = Mutex::new(None);
    let jobs = jobs.clamp(1, tasks.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(i, seed)) = tasks.get(k) else {
                    break;
                };
                if first_error.lock().map(|e| e.is_some()).unwrap_or(true) {
                    break;
                }
                match work(i, seed) {
                    Ok(r) => results.lock().expect("results lock").push((i, seed, r)),
                    Err(e) => {
                        let e = SearchError::InConfig {
                            config: describe(i),
                            source: Box::new(e),
                        };
                        let mut slot = first_error.lock().expect("error lock");
                        slot.get_or_insert(e);
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|r| (r.0, r.1));
    Ok(results)
}

fn probe_row(
    cfg: &MeasureConfig,
    hash: &str,
    run_id: &str,
    params: usize,
    seed: u64,
    r: &FitReport,
) -> ProbeRow {
    ProbeRow {
        run_id: run_id.to_string(),
        config_hash: hash.to_string(),
        model: cfg.model.clone(),
        params,
        dataset: cfg.data.clone(),
        variants: cfg.variants.join(" "),
        optimizer: cfg.train.optim.to_string(),
        lr: cfg.train.optim.lr,
        batch: cfg.batch_text(),
        seed,
        n: r.n,
        fitted: r.fitted,
        stop: r.stop.to_string(),
        epochs: r.epochs,
        steps: r.steps,
        train_accuracy: r.train_accuracy,
        train_loss: r.train_loss,
        grad_norm: r.grad_norm,
        seconds: r.seconds,
    }
}

/// Rewrites `summary.csv`: this config's rows replaced, other configs' rows kept.
fn write_summary(out: &Path, cfg: &MeasureConfig, m: &Measurement) -> Result<()> {
    let (hash, params, stats) = (m.config_hash.as_str(), m.params, &m.stats);
    let (per_seed, budgets, transition) = (&m.per_seed, &m.budgets, &m.transition);
    let path = out.join("summary.csv");
    let budget_of = |seed: u64| budgets.iter().find(|(s, _)| *s == seed).map(|(_, b)| b);
    let mut rows: Vec<SummaryRow> = if path.exists() {
        read_csv::<SummaryRow>(&path)?
            .into_iter()
            .filter(|r| r.config_hash != hash)
            .collect()
    } else {
        vec![]
    };
    let base = SummaryRow {
        config_hash: hash.to_string(),
        model: cfg.model.clone(),
        params,
        dataset: cfg.data.clone(),
        variants: cfg.variants.join(" "),
        optimizer: cfg.train.optim.to_string(),
        seed: String::new(),
        emc: None,
        upper: None,
        probes: 0,
        non_monotone: false,
        saturated: false,
        median: None,
        mean: None,
        std: None,
        min: None,
        max: None,
        mean_log_emc: None,
        efficiency: None,
        budgets: String::new(),
        budget_converged: None,
        n50: None,
        band: String::new(),
    };
    for (seed, o) in per_seed {
        let b = budget_of(*seed);
        rows.push(SummaryRow {
            seed: seed.to_string(),
            budgets: b.map(|b| b.describe()).unwrap_or_default(),
            budget_converged: b.and_then(|b| b.converged),
            emc: Some(o.emc),
            upper: o.upper,
            probes: o.probes.len(),
            non_monotone: o.non_monotone,
            saturated: o.saturated,
            ..base.clone()
        });
    }
    rows.push(SummaryRow {
        seed: "all".into(),
        probes: per_seed.iter().map(|(_, o)| o.probes.len()).sum(),
        non_monotone: per_seed.iter().any(|(_, o)| o.non_monotone),
        saturated: per_seed.iter().any(|(_, o)| o.saturated),
        median: Some(stats.median),
        mean: Some(stats.mean),
        std: Some(stats.std),
        min: Some(stats.min),
        max: Some(stats.max),
        mean_log_emc: Some(stats.mean_log_emc),
        efficiency: Some(stats.efficiency),
        budget_converged: budgets
            .iter()
            .map(|(_, b)| b.converged)
            .try_fold(true, |all, c| c.map(|c| all && c)),
        n50: transition.n50,
        band: match (
            transition.band(),
            transition.highest_fit,
            transition.lowest_failure,
        ) {
            (Some((lo, hi)), _, _) => format!("{lo}-{hi}"),
            (None, Some(fit), Some(fail)) => format!("sharp {fit}|{fail}"),
            _ => String::new(),
        },
        ..base
    });
    write_atomic(&path, &to_csv(&rows, &path)?)
}

#[derive(Serialize)]
struct Manifest<'a> {
    config_hash: &'a str,
    crate_version: String,
    git_commit: String,
    jobs: usize,
    threads_per_job: String,
    /// Probes per lockstep group at most.
    lockstep: usize,
    /// Probes of this configuration trained in lockstep groups of two or more in this
    /// invocation.
    probes_in_lockstep_groups: usize,
    device: String,
    started_unix: f64,
    finished_unix: f64,
    probes_trained: usize,
    params: usize,
    median_emc: f64,
    machine: Machine,
    config: &'a MeasureConfig,
}

#[derive(Serialize)]
struct Machine {
    os: &'static str,
    arch: &'static str,
    cpus: usize,
    hostname: String,
}

/// Writes `manifest.toml` (one per directory, for the latest measurement; older
/// manifests of other configs are kept as `manifest-<hash>.toml`).
fn write_manifest(
    out: &Path,
    cfg: &MeasureConfig,
    opts: &RunOptions,
    (lockstep, probes_in_lockstep_groups): (usize, usize),
    m: &Measurement,
    started: f64,
    finished: f64,
) -> Result<()> {
    let prov = Provenance::current();
    let manifest = Manifest {
        config_hash: &m.config_hash,
        crate_version: prov.crate_version,
        git_commit: prov.git_commit,
        machine: Machine {
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            hostname: std::fs::read_to_string("/etc/hostname")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
        },
        jobs: opts.jobs,
        threads_per_job: std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "default".into()),
        lockstep,
        probes_in_lockstep_groups,
        device: format!("{:?}", opts.device.location()),
        started_unix: started,
        finished_unix: finished,
        probes_trained: m.probes_trained,
        params: m.params,
        median_emc: m.stats.median,
        config: cfg,
    };
    let text = toml::to_string_pretty(&manifest).map_err(|e| SearchError::Results {
        path: out.join("manifest.toml"),
        message: e.to_string(),
    })?;
    write_atomic(
        &out.join(format!("manifest-{}.toml", m.config_hash)),
        text.as_bytes(),
    )?;
    write_atomic(&out.join("manifest.toml"), text.as_bytes())
}
