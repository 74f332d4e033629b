//! Generalization of a measured configuration: the same model, trained by the same procedure
//! (the same seeded initialisation, minibatch order and stop rules as an EMC probe), on a
//! fixed-size training set — the first `train_size` samples of the seed's nested order, i.e.
//! exactly the probe the search would train at `n = train_size` — then evaluated on the test
//! split with the training split's normalisation.
//!
//! Results go to `generalization.csv` in the output directory, one row per (key, seed),
//! rewritten atomically after each training; a row already there is reused, so a rerun
//! trains nothing. The key hashes what defines the result (model, data, variants, training,
//! training-set size, test samples).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use emc_data::{DatasetId, Split, Variant};
use emc_models::ModelSpec;
use emc_results::short_hash;
use emc_train::{evaluate, Provenance};
use serde::{Deserialize, Serialize};

use crate::data::{Loaded, SeedData};
use crate::error::{Result, SearchError};
use crate::measure::now_secs;
use crate::pool::run_pool;
use crate::results::{files_lock, read_csv, to_csv, write_atomic};
use crate::{MeasureConfig, RunOptions};

/// The results file of generalization probes, in the output directory.
pub const GENERALIZATION_FILE: &str = "generalization.csv";

/// How the generalization of a configuration is measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneralizationConfig {
    /// Training samples: the first `train_size` of each seed's nested order.
    pub train_size: usize,
    /// Test samples: the first `test_size` of the test split in file order (all if `None`).
    pub test_size: Option<usize>,
}

/// One row of `generalization.csv`: one seed's generalization probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneralizationRow {
    /// Hash of what defines the result (see [`generalization_key`]).
    pub key: String,
    /// Model spec.
    pub model: String,
    /// Trainable parameters.
    pub params: usize,
    /// Dataset.
    pub dataset: String,
    /// Variants (of both splits), space-separated.
    pub variants: String,
    /// Optimizer in its text form.
    pub optimizer: String,
    /// Seed: initialisation, minibatch order and training-set order.
    pub seed: u64,
    /// Training samples.
    pub train_size: usize,
    /// Test samples evaluated.
    pub test_size: usize,
    /// Whether every training sample was fitted.
    pub fitted: bool,
    /// Why training stopped.
    pub stop: String,
    /// Epochs run.
    pub epochs: usize,
    /// Exact training accuracy (eval mode).
    pub train_accuracy: f64,
    /// Test accuracy (eval mode).
    pub test_accuracy: f64,
    /// Mean test cross-entropy.
    pub test_loss: f64,
    /// `train_accuracy − test_accuracy`.
    pub gap: f64,
    /// Wall time of training and evaluation.
    pub seconds: f64,
    /// The invocation that trained it.
    pub run_id: String,
    /// Version of the emc crates that trained it.
    pub crate_version: String,
    /// Git commit they were built from.
    pub git_commit: String,
}

/// A configuration's generalization over its seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generalization {
    /// Hash of what defines the result.
    pub key: String,
    /// One row per seed, in seed order.
    pub per_seed: Vec<GeneralizationRow>,
    /// Models trained in this invocation (not taken from `generalization.csv`).
    pub trained: usize,
}

impl Generalization {
    /// Mean test accuracy over seeds.
    pub fn mean_test_accuracy(&self) -> f64 {
        mean(self.per_seed.iter().map(|r| r.test_accuracy))
    }

    /// Mean training accuracy over seeds.
    pub fn mean_train_accuracy(&self) -> f64 {
        mean(self.per_seed.iter().map(|r| r.train_accuracy))
    }

    /// Mean generalization gap (training − test accuracy) over seeds.
    pub fn mean_gap(&self) -> f64 {
        mean(self.per_seed.iter().map(|r| r.gap))
    }
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        f64::NAN
    } else {
        s / n as f64
    }
}

/// The key of a configuration's generalization rows: 16 hex digits over model, data,
/// variants, training procedure and `gen` (not the seeds, nor the search settings).
pub fn generalization_key(cfg: &MeasureConfig, gen: &GeneralizationConfig) -> String {
    short_hash(&serde_json::json!({
        "model": cfg.model, "data": cfg.data, "variants": cfg.variants,
        "train": cfg.train, "generalization": gen,
    }))
}

/// The variants of a generalization measurement, which apply to the test split as they do
/// to the training split: deterministic input transforms and class selections only. A
/// variant that draws labels or inputs has no test-split counterpart.
fn test_variants(cfg: &MeasureConfig, variants: &[Variant]) -> Result<Vec<Variant>> {
    for v in variants {
        if !matches!(
            v,
            Variant::Resize { .. } | Variant::Grayscale | Variant::Classes(_)
        ) {
            return Err(SearchError::Config {
                field: "variants".into(),
                message: format!(
                    "generalization of `{}` on {}: variant `{v}` draws labels or inputs and \
                     has no test-split counterpart; expected only resize, grayscale or classes",
                    cfg.model, cfg.data
                ),
            });
        }
    }
    Ok(variants.to_vec())
}

fn read_rows(path: &Path) -> Result<Vec<GeneralizationRow>> {
    if path.exists() {
        read_csv(path)
    } else {
        Ok(vec![])
    }
}

/// One configuration, ready to train.
struct Prepared {
    spec: ModelSpec,
    variants: Vec<Variant>,
    train: std::sync::Arc<emc_data::Dataset>,
    test: std::sync::Arc<emc_data::Dataset>,
    key: String,
}

/// Measures (or takes from `generalization.csv`) the generalization of every `(config,
/// generalization)` pair for each of the config's seeds, on one pool of `opts.jobs` workers
/// over every (pair, seed). `on_row` receives the pair's index, each row and whether it was
/// recorded before. With `opts.recorded_only`, a missing row is an error.
pub fn generalize_many(
    cfgs: &[(MeasureConfig, GeneralizationConfig)],
    opts: &RunOptions,
    on_row: &(dyn Fn(usize, &GeneralizationRow, bool) + Sync),
) -> Result<Vec<Generalization>> {
    if cfgs.is_empty() {
        return Ok(vec![]);
    }
    let prepared = prepare(cfgs, opts)?;
    let path: PathBuf = opts.out.join(GENERALIZATION_FILE);
    let rows = Mutex::new({
        let _files = files_lock();
        read_rows(&path)?
    });
    let trained: Vec<AtomicUsize> = cfgs.iter().map(|_| AtomicUsize::new(0)).collect();
    let run = Run {
        cfgs,
        prepared: &prepared,
        opts,
        path: &path,
        rows: &rows,
        run_id: format!("{:x}-{:x}", now_secs() as u64, std::process::id()),
        prov: Provenance::current(),
        trained: &trained,
        on_row,
    };
    let tasks: Vec<(usize, u64)> = cfgs
        .iter()
        .enumerate()
        .flat_map(|(i, (c, _))| c.seeds.iter().map(move |&s| (i, s)))
        .collect();
    let describe = |i: usize| {
        let c = &cfgs[i].0;
        format!(
            "generalization of {} on {} [{}]",
            c.model,
            c.data,
            c.variants.join(" ")
        )
    };
    let done = run_pool(&tasks, opts.jobs, &|i, seed| run.seed(i, seed), &describe)?;
    Ok(prepared
        .iter()
        .enumerate()
        .map(|(i, p)| Generalization {
            key: p.key.clone(),
            per_seed: done
                .iter()
                .filter(|d| d.0 == i)
                .map(|d| d.2.clone())
                .collect(),
            trained: trained[i].load(Ordering::Relaxed),
        })
        .collect())
}

/// Parses and checks every pair and loads its training and test splits (each once).
fn prepare(
    cfgs: &[(MeasureConfig, GeneralizationConfig)],
    opts: &RunOptions,
) -> Result<Vec<Prepared>> {
    let mut loaded = Loaded::default();
    let mut prepared = vec![];
    for (cfg, gen) in cfgs {
        let (spec, data_id, variants) = cfg.parsed()?;
        let variants = test_variants(cfg, &variants)?;
        let id: &DatasetId = &data_id;
        prepared.push(Prepared {
            spec,
            variants,
            train: loaded.get(id, Split::Train, &opts.load)?,
            test: loaded.get(id, Split::Test, &opts.load)?,
            key: generalization_key(cfg, gen),
        });
    }
    Ok(prepared)
}

/// What every seed of [`generalize_many`] shares.
struct Run<'a> {
    cfgs: &'a [(MeasureConfig, GeneralizationConfig)],
    prepared: &'a [Prepared],
    opts: &'a RunOptions,
    /// `generalization.csv`.
    path: &'a Path,
    /// Its rows, recorded and new.
    rows: &'a Mutex<Vec<GeneralizationRow>>,
    run_id: String,
    prov: Provenance,
    /// Per pair: seeds trained in this invocation.
    trained: &'a [AtomicUsize],
    on_row: &'a (dyn Fn(usize, &GeneralizationRow, bool) + Sync),
}

impl Run<'_> {
    /// The row of pair `i` at `seed`: recorded, or trained, evaluated and recorded.
    fn seed(&self, i: usize, seed: u64) -> Result<GeneralizationRow> {
        let (cfg, prep) = (&self.cfgs[i].0, &self.prepared[i]);
        let recorded = self
            .rows
            .lock()
            .expect("rows lock")
            .iter()
            .find(|r| r.key == prep.key && r.seed == seed)
            .cloned();
        if let Some(row) = recorded {
            (self.on_row)(i, &row, true);
            return Ok(row);
        }
        if self.opts.recorded_only {
            return Err(SearchError::Results {
                path: self.path.to_path_buf(),
                message: format!(
                    "no recorded generalization of `{}` on {} [{}] at seed {seed}, and \
                     training is off (recorded results only)",
                    cfg.model,
                    cfg.data,
                    cfg.variants.join(" ")
                ),
            });
        }
        let row = self.train(i, seed)?;
        {
            let _files = files_lock();
            let mut all = self.rows.lock().expect("rows lock");
            all.retain(|r| !(r.key == row.key && r.seed == seed));
            all.push(row.clone());
            write_atomic(self.path, &to_csv(&all, self.path)?)?;
        }
        self.trained[i].fetch_add(1, Ordering::Relaxed);
        (self.on_row)(i, &row, false);
        Ok(row)
    }

    /// Trains pair `i`'s model on its training set at `seed` and evaluates it on the test
    /// split.
    fn train(&self, i: usize, seed: u64) -> Result<GeneralizationRow> {
        let ((cfg, gen), prep) = (&self.cfgs[i], &self.prepared[i]);
        let device = &self.opts.device;
        let started = std::time::Instant::now();
        let data = SeedData::new(&prep.spec, &prep.variants, &prep.train, seed, device)?;
        if gen.train_size == 0 || gen.train_size > data.len {
            return Err(SearchError::Config {
                field: "generalization.train_size".into(),
                message: format!(
                    "{} training samples asked for, the training split holds {}",
                    gen.train_size, data.len
                ),
            });
        }
        let test = Variant::apply_all(&prep.variants, (*prep.test).clone(), seed)?;
        let test_size = gen.test_size.map_or(test.len(), |m| m.min(test.len()));
        let test = test.select(&(0..test_size).collect::<Vec<_>>())?;
        let test = test.to_tensors(device, &data.norm, false)?;
        let (built, report) = data.train_probe(&prep.spec, gen.train_size, &cfg.train, seed)?;
        let eval = evaluate(
            built.model.as_ref(),
            &test.images,
            &test.labels,
            cfg.train.eval_batch,
        )?;
        Ok(GeneralizationRow {
            key: prep.key.clone(),
            model: cfg.model.clone(),
            params: data.params,
            dataset: cfg.data.clone(),
            variants: cfg.variants.join(" "),
            optimizer: cfg.train.optim.to_string(),
            seed,
            train_size: gen.train_size,
            test_size,
            fitted: report.fitted,
            stop: report.stop.to_string(),
            epochs: report.epochs,
            train_accuracy: report.train_accuracy,
            test_accuracy: eval.accuracy(),
            test_loss: eval.loss,
            gap: report.train_accuracy - eval.accuracy(),
            seconds: started.elapsed().as_secs_f64(),
            run_id: self.run_id.clone(),
            crate_version: self.prov.crate_version.clone(),
            git_commit: self.prov.git_commit.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_variants_have_no_test_counterpart_and_nothing_is_loaded() {
        let cfg = MeasureConfig {
            variants: vec!["resize:7".into(), "random-labels".into()],
            ..MeasureConfig::default()
        };
        let gen = GeneralizationConfig {
            train_size: 10,
            test_size: None,
        };
        let dir = tempfile::tempdir().unwrap();
        let opts = RunOptions {
            out: dir.path().to_path_buf(),
            jobs: 1,
            lockstep: 1,
            device: candle_core::Device::Cpu,
            // Nowhere to load from: the error must come before any loading.
            load: emc_data::LoadOptions::from_env().with_data_dir(Some(dir.path().into())),
            max_memory: None,
            recorded_only: false,
            write_summary: true,
        };
        let err = generalize_many(&[(cfg.clone(), gen.clone())], &opts, &|_, _, _| {})
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("random-labels") && err.contains("no test-split"),
            "{err}"
        );
        assert!(!dir.path().join(GENERALIZATION_FILE).exists());
        // The key ignores the seeds and the search settings, not the training set size.
        let mut other = cfg.clone();
        other.seeds = vec![7];
        other.search.rel_tol = 0.5;
        assert_eq!(
            generalization_key(&cfg, &gen),
            generalization_key(&other, &gen)
        );
        let bigger = GeneralizationConfig {
            train_size: 11,
            ..gen.clone()
        };
        assert_ne!(
            generalization_key(&cfg, &gen),
            generalization_key(&cfg, &bigger)
        );
    }
}
