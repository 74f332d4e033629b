//! One seed's search of one configuration within a measurement ([`SeedSearch`]): its data,
//! the probes recorded earlier (reused), the probes trained (logged and reported), and the
//! checkpoint of its largest fit.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use emc_data::{Dataset, Variant};
use emc_models::{Built, ModelSpec};
use emc_results::{carries_over, ProbeRow};
use emc_train::{read_checkpoint_metadata, save_checkpoint, FitReport, Progress, ProgressFn};

use crate::config::MeasureConfig;
use crate::data::{check_training_split, SeedData};
use crate::error::{Result, SearchError};
use crate::lockstep::ProbeTrainer;
use crate::measure::{Event, RunOptions};
use crate::probe_log::ProbeLog;
use crate::results::probe_row;
use crate::search::{default_n0, search_budgets, BudgetOutcome, BudgetProbe};

/// One configuration of a measurement, ready to search.
pub(crate) struct Prepared {
    pub(crate) spec: ModelSpec,
    pub(crate) variants: Vec<Variant>,
    pub(crate) base: Arc<Dataset>,
    pub(crate) hash: String,
    /// Per budget level (`2^level` × the configured budget): the config and its probe hash.
    pub(crate) levels: Vec<(MeasureConfig, String)>,
}

impl Prepared {
    /// `cfg` parsed and checked, its training split taken from `base`.
    ///
    /// # Errors
    /// A training split that cannot start a search ([`check_training_split`]).
    pub(crate) fn new(
        cfg: &MeasureConfig,
        spec: ModelSpec,
        variants: Vec<Variant>,
        base: Arc<Dataset>,
    ) -> Result<Self> {
        check_training_split(cfg, &variants, &base)?;
        Ok(Prepared {
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
        })
    }
}

/// What every seed search of a measurement shares (`'a`: the probes' progress callbacks).
pub(crate) struct Shared<'s, 'a> {
    pub(crate) cfgs: &'s [MeasureConfig],
    pub(crate) prepared: &'s [Prepared],
    pub(crate) opts: &'s RunOptions,
    pub(crate) log: &'s ProbeLog,
    /// Identifies this invocation in `probes.csv`.
    pub(crate) run_id: &'s str,
    pub(crate) trainer: &'s ProbeTrainer<'a>,
    /// Per configuration: probes trained in this invocation.
    pub(crate) trained: &'s [AtomicUsize],
    pub(crate) on_event: &'a (dyn Fn(usize, &Event) + Sync),
}

/// The search of configuration `i` at one seed.
pub(crate) struct SeedSearch<'s, 'a> {
    shared: &'s Shared<'s, 'a>,
    i: usize,
    seed: u64,
    data: SeedData,
    /// Where the weights of the largest fit so far are kept.
    ckpt: PathBuf,
    /// The `n` of those weights.
    best_fit: Cell<usize>,
}

impl<'s, 'a> SeedSearch<'s, 'a> {
    /// Runs (or resumes) the search of configuration `i` at `seed`: its outcome at each
    /// budget tried, and the model's trainable parameters.
    pub(crate) fn run(
        shared: &'s Shared<'s, 'a>,
        i: usize,
        seed: u64,
    ) -> Result<(BudgetOutcome, usize)> {
        let _searcher = shared.trainer.searcher();
        let prep = &shared.prepared[i];
        let data = SeedData::new(
            &prep.spec,
            &prep.variants,
            &prep.base,
            seed,
            &shared.opts.device,
        )?;
        let ckpt = shared
            .opts
            .out
            .join("checkpoints")
            .join(format!("{}-seed{seed}.safetensors", prep.hash));
        let search = SeedSearch {
            best_fit: Cell::new(saved_n(&ckpt)),
            shared,
            i,
            seed,
            data,
            ckpt,
        };
        let budget = search.search()?;
        let outcome = budget.last().clone();
        if !shared.opts.recorded_only && outcome.emc > 0 && saved_n(&search.ckpt) != outcome.emc {
            search.restore_checkpoint(outcome.emc)?;
        }
        search.event(&Event::SeedDone { seed, outcome });
        Ok((budget, search.data.params))
    }

    fn cfg(&self) -> &'s MeasureConfig {
        &self.shared.cfgs[self.i]
    }

    fn prep(&self) -> &'s Prepared {
        &self.shared.prepared[self.i]
    }

    fn event(&self, e: &Event) {
        (self.shared.on_event)(self.i, e)
    }

    /// The search over every budget level, reusing recorded probes.
    fn search(&self) -> Result<BudgetOutcome> {
        let cfg = self.cfg();
        let (params, classes) = (self.data.params, self.data.classes);
        let n0 = cfg.search.n0.unwrap_or_else(|| default_n0(params, classes));
        search_budgets(
            &cfg.search,
            n0,
            self.data.len,
            &|level| self.recorded(level),
            |level, n| self.probe(level, n),
        )
    }

    /// The probes recorded earlier for this model, procedure, budget level and seed
    /// (reported as resumed).
    fn recorded(&self, level: usize) -> Vec<BudgetProbe> {
        let replays = self.cfg().longer_budget_replays();
        let rows = self
            .shared
            .log
            .rows(&self.prep().levels[level].1, self.seed);
        for row in &rows {
            self.event(&Event::Probe {
                seed: self.seed,
                row: Box::new((*row).clone()),
                resumed: true,
            });
        }
        rows.iter()
            .map(|r| BudgetProbe {
                n: r.n,
                fitted: r.fitted,
                carries_over: carries_over(replays, r.fitted, &r.stop),
            })
            .collect()
    }

    /// A probe the log does not hold: trained at budget level `level` on the first `n`
    /// samples, logged, reported, and checkpointed when it is the largest fit so far.
    fn probe(&self, level: usize, n: usize) -> Result<BudgetProbe> {
        let (level_cfg, level_hash) = &self.prep().levels[level];
        if self.shared.opts.recorded_only {
            return Err(self.not_recorded(level, n));
        }
        let (report, built) = self.train_at(level, n)?;
        let (params, replays) = (self.data.params, self.cfg().longer_budget_replays());
        let row = probe_row(
            level_cfg,
            level_hash,
            self.shared.run_id,
            params,
            self.seed,
            &report,
        );
        self.shared.log.append(&row)?;
        self.shared.trained[self.i].fetch_add(1, Ordering::Relaxed);
        if report.fitted && n > self.best_fit.get() {
            self.best_fit.set(n);
            self.save_at(level, n, &built)?;
        }
        self.event(&Event::Probe {
            seed: self.seed,
            row: Box::new(row),
            resumed: false,
        });
        Ok(BudgetProbe {
            n,
            fitted: report.fitted,
            // The rule recorded probes follow (a fit's stop reason is `fitted`).
            carries_over: carries_over(replays, report.fitted, report.stop.as_str()),
        })
    }

    /// Why a probe cannot be had when training is off.
    fn not_recorded(&self, level: usize, n: usize) -> SearchError {
        let cfg = self.cfg();
        SearchError::NotRecorded {
            path: self.shared.opts.out.join("probes.csv"),
            message: format!(
                "no recorded probe of `{}` on {} [{}] at seed {}, n = {n}{}, and \
                 training is off (recorded results only): the results are incomplete \
                 or were made with another configuration",
                cfg.model,
                cfg.data,
                cfg.variants.join(" "),
                self.seed,
                if level > 0 {
                    format!(", {}x budget", 1 << level)
                } else {
                    String::new()
                }
            ),
        }
    }

    /// Trains a fresh model on the first `n` samples at budget level `level`.
    fn train_at(&self, level: usize, n: usize) -> Result<(FitReport, Built)> {
        let train = &self.prep().levels[level].0.train;
        let (i, seed, max_epochs) = (self.i, self.seed, train.stop.max_epochs);
        let on_event = self.shared.on_event;
        let progress: ProgressFn = Box::new(move |p: &Progress| {
            on_event(
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
        let mut probe = self
            .data
            .probe(&self.prep().spec, n, train, seed, Some(progress))?;
        probe.config = i;
        let (built, report) = self.shared.trainer.train(probe)?;
        Ok((report, built))
    }

    /// Saves `built`, trained at budget level `level` on `n` samples, as the checkpoint of
    /// the largest fit.
    fn save_at(&self, level: usize, n: usize, built: &Built) -> Result<()> {
        let (cfg, prep) = (self.cfg(), self.prep());
        let meta: BTreeMap<String, String> = [
            ("model", cfg.model.clone()),
            ("config_hash", prep.hash.clone()),
            ("config", serde_json::to_string(cfg).unwrap_or_default()),
            ("seed", self.seed.to_string()),
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
        save_checkpoint(&built.varmap, &self.ckpt, &meta)?;
        Ok(())
    }

    /// A resumed search may have found its largest fit `emc` in an earlier run whose
    /// checkpoint is gone (or another run's): replays that probe (training is
    /// deterministic) for it.
    fn restore_checkpoint(&self, emc: usize) -> Result<()> {
        let prep = self.prep();
        let level = (0..prep.levels.len()).find(|&l| {
            self.shared
                .log
                .get(&prep.levels[l].1, self.seed, emc)
                .is_some_and(|r: &ProbeRow| r.fitted)
        });
        let Some(level) = level else {
            return Ok(());
        };
        let (report, built) = self.train_at(level, emc)?;
        if !report.fitted {
            return Err(SearchError::Results {
                path: self.shared.opts.out.join("probes.csv"),
                message: format!(
                    "seed {}: n = {emc} is recorded as a fit but did not fit when \
                     replayed for its checkpoint (training is not reproducible here)",
                    self.seed
                ),
            });
        }
        self.save_at(level, emc, &built)
    }
}

/// The `n` of the checkpoint at `path` (0 when there is none or it says nothing).
fn saved_n(path: &Path) -> usize {
    read_checkpoint_metadata(path)
        .ok()
        .and_then(|m| m.get("n").and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}
