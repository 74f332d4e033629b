//! Result files of a measurement directory, append-only and atomic:
//! `probes.csv` gets one complete line per probe (a single write, then fsync), so `kill -9`
//! loses at most the probes in flight; a torn last line left by a crash is cut off when the
//! file is reopened. `summary.csv` and `manifest.toml` are rewritten through a temporary
//! file and a rename.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::error::{Result, SearchError};

/// One row of `probes.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeRow {
    /// Identifies the invocation that ran the probe.
    pub run_id: String,
    /// Hash of what defines the probe (model, data, variants, training; see
    /// `MeasureConfig::probe_hash`).
    pub config_hash: String,
    /// Model spec.
    pub model: String,
    /// Trainable parameters.
    pub params: usize,
    /// Dataset name.
    pub dataset: String,
    /// Variants, space-separated text forms.
    pub variants: String,
    /// Optimizer in its text form.
    pub optimizer: String,
    /// Base learning rate.
    pub lr: f64,
    /// Batch size, or `full`.
    pub batch: String,
    /// Seed.
    pub seed: u64,
    /// Subset size.
    pub n: usize,
    /// Whether all `n` samples were fitted.
    pub fitted: bool,
    /// Stop reason.
    pub stop: String,
    /// Epochs run.
    pub epochs: usize,
    /// Optimizer steps.
    pub steps: usize,
    /// Final exact training accuracy.
    pub train_accuracy: f64,
    /// Final training loss.
    pub train_loss: f64,
    /// Gradient norm (full-data at failures).
    pub grad_norm: f64,
    /// Wall time of the probe.
    pub seconds: f64,
}

impl ProbeRow {
    /// Whether the result stands when the budget grows (a longer run of a schedule that
    /// does not depend on the budget replays this one): a fit, or a failure certified by a
    /// small gradient or divergence. A failure that ran out of epochs, steps or plateau
    /// patience does not, nor does a stop reason this version does not know.
    pub fn stands_with_more_budget(&self) -> bool {
        emc_train::stands_with_more_budget(self.fitted, &self.stop)
    }

    /// One line for progress output: `n=…  FIT|no fit  stop  epochs  acc  seconds`.
    pub fn describe(&self) -> String {
        format!(
            "n={:<7} {:<6} {:<14} epochs {:<5} acc {:.4}  {:.1}s",
            self.n,
            if self.fitted { "FIT" } else { "no fit" },
            self.stop,
            self.epochs,
            self.train_accuracy,
            self.seconds
        )
    }
}

/// One row of `summary.csv`: per seed (`seed` = the seed) or aggregate (`seed` = `all`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    /// Config hash.
    pub config_hash: String,
    /// Model spec.
    pub model: String,
    /// Trainable parameters.
    pub params: usize,
    /// Dataset.
    pub dataset: String,
    /// Variants.
    pub variants: String,
    /// Optimizer.
    pub optimizer: String,
    /// The seed, or `all`.
    pub seed: String,
    /// Per-seed EMC (empty on the aggregate row).
    pub emc: Option<usize>,
    /// Smallest failed n above the EMC (per seed).
    pub upper: Option<usize>,
    /// Probes run (total on the aggregate row).
    pub probes: usize,
    /// Non-monotone search (any seed on the aggregate row).
    pub non_monotone: bool,
    /// Whole split fitted (any seed on the aggregate row).
    pub saturated: bool,
    /// Median EMC across seeds.
    pub median: Option<f64>,
    /// Mean EMC.
    pub mean: Option<f64>,
    /// Sample standard deviation.
    pub std: Option<f64>,
    /// Minimum.
    pub min: Option<usize>,
    /// Maximum.
    pub max: Option<usize>,
    /// Mean of ln EMC.
    pub mean_log_emc: Option<f64>,
    /// Median EMC / parameters.
    pub efficiency: Option<f64>,
    /// EMC at each budget tried, e.g. `1x:540 2x:900 4x:1440` (per seed; empty when budget
    /// convergence is off).
    #[serde(default)]
    pub budgets: String,
    /// Budget-converged (per seed), or every seed converged (aggregate row); empty when not
    /// checked.
    #[serde(default)]
    pub budget_converged: Option<bool>,
    /// Where the pooled fit probability crosses 50% (aggregate row; see
    /// [`crate::Transition`]).
    #[serde(default)]
    pub n50: Option<f64>,
    /// `lo-hi` where fits and failures overlap across seeds, or `sharp fit|failure`
    /// (aggregate row).
    #[serde(default)]
    pub band: String,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> SearchError {
    SearchError::Results {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Serialises every read-modify-write of the shared result files (`probes.csv` opening and
/// appends, `summary.csv`, `manifest.toml`) within the process, so that measurements of
/// several configurations may run concurrently into one directory.
static FILES: Mutex<()> = Mutex::new(());

/// Holds the result-files lock; a poisoned lock is still usable (it guards no data).
pub(crate) fn files_lock() -> std::sync::MutexGuard<'static, ()> {
    FILES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes `bytes` to `path` atomically (temporary file in the same folder, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    let mut f = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
    f.write_all(bytes).map_err(|e| io_err(&tmp, e))?;
    f.sync_all().map_err(|e| io_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))
}

/// Serialises rows to CSV text with a header.
pub fn to_csv<T: Serialize>(rows: &[T], path: &Path) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(vec![]);
    for r in rows {
        w.serialize(r).map_err(|e| io_err(path, e))?;
    }
    w.into_inner().map_err(|e| io_err(path, e))
}

/// Reads every row of a CSV file, naming the line of a malformed row.
pub fn read_csv<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>> {
    let mut r = csv::Reader::from_path(path).map_err(|e| io_err(path, e))?;
    let mut out = vec![];
    for (i, row) in r.deserialize().enumerate() {
        out.push(row.map_err(|e| io_err(path, format!("line {}: {e}", i + 2)))?);
    }
    Ok(out)
}

/// The append-only probe log of a directory, with the probes already recorded.
pub struct ProbeLog {
    path: PathBuf,
    file: Mutex<File>,
    done: HashMap<(String, u64, usize), ProbeRow>,
}

impl ProbeLog {
    /// Opens (or creates) `dir/probes.csv`, repairing a torn last line.
    pub fn open(dir: &Path) -> Result<Self> {
        let _files = files_lock();
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let path = dir.join("probes.csv");
        let mut done = HashMap::new();
        if path.exists() {
            let text = std::fs::read(&path).map_err(|e| io_err(&path, e))?;
            if !text.is_empty() && !text.ends_with(b"\n") {
                // A crash mid-write: keep the complete lines only.
                let keep = text.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| io_err(&path, e))?;
                f.set_len(keep as u64).map_err(|e| io_err(&path, e))?;
                f.sync_all().map_err(|e| io_err(&path, e))?;
            }
            if std::fs::metadata(&path)
                .map_err(|e| io_err(&path, e))?
                .len()
                > 0
            {
                for row in read_csv::<ProbeRow>(&path)? {
                    done.insert((row.config_hash.clone(), row.seed, row.n), row);
                }
            }
        }
        let fresh = !path.exists()
            || std::fs::metadata(&path)
                .map(|m| m.len() == 0)
                .unwrap_or(true);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        if fresh {
            file.write_all(PROBES_HEADER.as_bytes())
                .map_err(|e| io_err(&path, e))?;
            file.sync_data().map_err(|e| io_err(&path, e))?;
        }
        Ok(ProbeLog {
            path,
            file: Mutex::new(file),
            done,
        })
    }

    /// The recorded probe for `(config_hash, seed, n)`, if any.
    pub fn get(&self, config_hash: &str, seed: u64, n: usize) -> Option<&ProbeRow> {
        self.done.get(&(config_hash.to_string(), seed, n))
    }

    /// Every recorded probe of `(probe_hash, seed)`, smallest `n` first.
    pub fn rows(&self, probe_hash: &str, seed: u64) -> Vec<&ProbeRow> {
        let mut v: Vec<&ProbeRow> = self
            .done
            .values()
            .filter(|r| r.config_hash == probe_hash && r.seed == seed)
            .collect();
        v.sort_by_key(|r| r.n);
        v
    }

    /// Every recorded probe of `(probe_hash, seed)`, as search points.
    pub fn points(&self, probe_hash: &str, seed: u64) -> Vec<crate::search::ProbePoint> {
        let mut v: Vec<_> = self
            .done
            .values()
            .filter(|r| r.config_hash == probe_hash && r.seed == seed)
            .map(|r| crate::search::ProbePoint {
                n: r.n,
                fitted: r.fitted,
            })
            .collect();
        v.sort_by_key(|p| p.n);
        v
    }

    /// Appends one row as a single write followed by fsync.
    pub fn append(&self, row: &ProbeRow) -> Result<()> {
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(vec![]);
        w.serialize(row).map_err(|e| io_err(&self.path, e))?;
        let line = w.into_inner().map_err(|e| io_err(&self.path, e))?;
        let _files = files_lock();
        let mut f = self
            .file
            .lock()
            .map_err(|_| io_err(&self.path, "log lock poisoned"))?;
        f.write_all(&line).map_err(|e| io_err(&self.path, e))?;
        f.sync_data().map_err(|e| io_err(&self.path, e))
    }

    /// Where the log lives.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The header line of `probes.csv` (the csv crate writes a header only with a first row;
/// a test checks this equals the one it derives from [`ProbeRow`]).
pub const PROBES_HEADER: &str = "run_id,config_hash,model,params,dataset,variants,optimizer,lr,batch,seed,n,fitted,stop,epochs,steps,train_accuracy,train_loss,grad_norm,seconds\n";
