//! `emc verify`: trusts a published EMC without retraining. Each checkpoint's model is
//! rebuilt from the configuration in its safetensors metadata, its weights loaded, the exact
//! training subset rebuilt (dataset, variants, seed, the first n of the seed's nested
//! order, the same normalisation as the search), and the training accuracy recomputed: it
//! must be 100% for every checkpoint recorded as a fit in `probes.csv`. The data must be the
//! data the manifest records (a data mismatch is named as such, not as a failed fit), and
//! each seed's EMC in `summary.csv` (derived data) must be what `probes.csv` gives.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use emc_data::{load, Dataset, DatasetId, LoadOptions, Normalization, Split, Variant};
use emc_models::{InputShape, ModelSpec};
use emc_search::{
    check_data, read_csv, MeasureConfig, MemoryEstimate, MemoryLimit, ProbeRow, SummaryRow,
};
use emc_train::{evaluate, load_checkpoint, read_checkpoint_metadata};

use crate::error::{HubError, Result};

/// Where the data comes from and where the models run.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// How the datasets named in the checkpoints are found.
    pub load: LoadOptions,
    /// Device for the forward passes.
    pub device: Device,
    /// The most memory one checkpoint's check may allocate (`None`: what is available):
    /// the model the metadata names and its data are estimated first.
    pub max_memory: Option<u64>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            load: LoadOptions::from_env(),
            device: Device::Cpu,
            max_memory: None,
        }
    }
}

/// The outcome for one checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointCheck {
    /// The checkpoint, relative to the directory verified.
    pub path: PathBuf,
    /// Config hash from the metadata.
    pub config_hash: String,
    /// Model spec.
    pub model: String,
    /// Dataset and variants, as `mnist [resize:7 random-labels]`.
    pub data: String,
    /// Seed.
    pub seed: u64,
    /// Training subset size.
    pub n: usize,
    /// Whether `probes.csv` records this (seed, n) as a fit (`None`: no such row).
    pub recorded_fit: Option<bool>,
    /// The seed's EMC in `summary.csv`, when recorded.
    pub summary_emc: Option<usize>,
    /// Training samples classified correctly now (`None`: the check stopped before the
    /// model was evaluated).
    pub correct: Option<usize>,
    /// What failed; `None` when the checkpoint passed.
    pub failure: Option<String>,
}

impl CheckpointCheck {
    /// Whether the checkpoint reproduces its recorded fit.
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }

    /// One line for the report.
    pub fn line(&self) -> String {
        let status = match &self.failure {
            None => "OK  ".to_string(),
            Some(_) => "FAIL".to_string(),
        };
        let recorded = match self.recorded_fit {
            Some(true) => "fit",
            Some(false) => "no fit",
            None => "absent",
        };
        let accuracy = match self.correct {
            Some(c) if self.n > 0 => format!("{c}/{} ({:.4})", self.n, c as f64 / self.n as f64),
            _ => "not evaluated".into(),
        };
        let mut s = format!(
            "{status} {}  {}  {}  seed {}  n {}  probes.csv: {recorded}  accuracy {accuracy}",
            self.path.display(),
            self.model,
            self.data,
            self.seed,
            self.n,
        );
        if let Some(emc) = self.summary_emc {
            let _ = write!(s, "  EMC {emc}");
        }
        if let Some(f) = &self.failure {
            let _ = write!(s, "\n     {f}");
        }
        s
    }
}

/// Every checkpoint of a directory, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyReport {
    /// The directory verified.
    pub dir: PathBuf,
    /// One entry per checkpoint, sorted by path.
    pub checks: Vec<CheckpointCheck>,
}

impl VerifyReport {
    /// Whether every checkpoint passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(CheckpointCheck::passed)
    }

    /// The report, one line per checkpoint and a total.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for c in &self.checks {
            let _ = writeln!(s, "{}", c.line());
        }
        let failed = self.checks.iter().filter(|c| !c.passed()).count();
        let _ = writeln!(
            s,
            "{} of {} checkpoint(s) reproduce their recorded fit (100% training accuracy){}",
            self.checks.len() - failed,
            self.checks.len(),
            if failed > 0 {
                format!("; {failed} FAILED")
            } else {
                String::new()
            }
        );
        s
    }

    /// `Ok` when every checkpoint passed, else [`HubError::VerifyFailed`] naming `shown`
    /// as the directory.
    ///
    /// # Errors
    /// [`HubError::VerifyFailed`] listing the failed checkpoints.
    pub fn ensure_passed(&self, shown: &Path) -> Result<()> {
        let failed: Vec<String> = self
            .checks
            .iter()
            .filter(|c| !c.passed())
            .map(|c| c.line())
            .collect();
        if failed.is_empty() {
            return Ok(());
        }
        Err(HubError::VerifyFailed {
            dir: shown.to_path_buf(),
            failed: failed.len(),
            total: self.checks.len(),
            details: failed.join("\n"),
        })
    }
}

/// The checkpoints below `dir` (`**/checkpoints/*.safetensors`), sorted.
fn find_checkpoints(dir: &Path) -> Result<Vec<PathBuf>> {
    fn walk(here: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        let entries = std::fs::read_dir(here).map_err(|e| HubError::io(here, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| HubError::io(here, e))?;
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                walk(&path, out)?;
            } else if path.extension().is_some_and(|e| e == "safetensors")
                && path
                    .parent()
                    .and_then(|p| p.file_name())
                    .is_some_and(|n| n == "checkpoints")
            {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = vec![];
    walk(dir, &mut out)?;
    out.sort();
    Ok(out)
}

/// The result files of one measurement directory, read once.
struct Records {
    probes: Vec<ProbeRow>,
    summary: Vec<SummaryRow>,
}

/// The training tensors of one (dataset, variants, seed): normalised images and labels in
/// the seed's nested order, as the search built them.
struct Prepared {
    images: Tensor,
    labels: Tensor,
    input: InputShape,
    classes: usize,
    order: Vec<u32>,
}

/// Loads each checkpoint below `dir`, rebuilds its model and training subset, and recomputes
/// its training accuracy. Problems with one checkpoint (metadata that disagrees with its
/// tensors or with the result files, a subset that is no longer fitted) are recorded in its
/// [`CheckpointCheck`]; the others are still checked.
///
/// # Errors
/// [`HubError::Input`] when `dir` is not a directory or holds no checkpoint;
/// [`HubError::Io`] when it cannot be read.
pub fn verify(dir: &Path, opts: &VerifyOptions) -> Result<VerifyReport> {
    if !dir.is_dir() {
        return Err(HubError::input(
            dir,
            "not a directory; expected a results directory with checkpoints/",
        ));
    }
    let checkpoints = find_checkpoints(dir)?;
    if checkpoints.is_empty() {
        return Err(HubError::input(
            dir,
            "no checkpoints/*.safetensors below it; nothing to verify",
        ));
    }
    let mut records: HashMap<PathBuf, Records> = HashMap::new();
    let mut bases: HashMap<String, Dataset> = HashMap::new();
    let mut prepared: HashMap<String, Prepared> = HashMap::new();
    let mut checks = vec![];
    for path in checkpoints {
        let rel = path.strip_prefix(dir).unwrap_or(&path).to_path_buf();
        let mut check = CheckpointCheck {
            path: rel,
            config_hash: String::new(),
            model: String::new(),
            data: String::new(),
            seed: 0,
            n: 0,
            recorded_fit: None,
            summary_emc: None,
            correct: None,
            failure: None,
        };
        if let Err(e) = check_one(
            &path,
            opts,
            &mut check,
            &mut records,
            &mut bases,
            &mut prepared,
        ) {
            check.failure = Some(e.to_string());
        }
        checks.push(check);
    }
    Ok(VerifyReport {
        dir: dir.to_path_buf(),
        checks,
    })
}

/// A metadata field of a checkpoint.
fn field<'a>(meta: &'a BTreeMap<String, String>, key: &str, path: &Path) -> Result<&'a str> {
    meta.get(key).map(String::as_str).ok_or_else(|| {
        HubError::checkpoint(
            path,
            format!(
                "metadata has no `{key}`; expected the keys emc-search writes (model, \
                 config_hash, config, seed, n, dataset, variants)"
            ),
        )
    })
}

fn check_one(
    path: &Path,
    opts: &VerifyOptions,
    check: &mut CheckpointCheck,
    records: &mut HashMap<PathBuf, Records>,
    bases: &mut HashMap<String, Dataset>,
    prepared: &mut HashMap<String, Prepared>,
) -> Result<()> {
    let err = |m: String| HubError::checkpoint(path, m);
    let meta = read_checkpoint_metadata(path).map_err(|e| err(e.to_string()))?;
    let cfg: MeasureConfig = serde_json::from_str(field(&meta, "config", path)?).map_err(|e| {
        err(format!(
            "metadata `config` is not a measurement config: {e}"
        ))
    })?;
    check.config_hash = cfg.config_hash();
    check.model = cfg.model.clone();
    check.data = if cfg.variants.is_empty() {
        cfg.data.clone()
    } else {
        format!("{} [{}]", cfg.data, cfg.variants.join(" "))
    };
    let seed: u64 = field(&meta, "seed", path)?
        .parse()
        .map_err(|e| err(format!("metadata `seed`: {e}; expected an integer")))?;
    let n: usize = field(&meta, "n", path)?
        .parse()
        .map_err(|e| err(format!("metadata `n`: {e}; expected an integer")))?;
    check.seed = seed;
    check.n = n;

    // The metadata must agree with itself: the summary fields with the full config.
    let disagree = |key: &str, found: &str, want: &str| {
        err(format!(
            "metadata `{key}` is `{found}` but its `config` says `{want}`; the checkpoint's \
             metadata is inconsistent"
        ))
    };
    for (key, want) in [
        ("model", cfg.model.clone()),
        ("dataset", cfg.data.clone()),
        ("variants", cfg.variants.join(" ")),
        ("config_hash", check.config_hash.clone()),
    ] {
        if let Some(found) = meta.get(key) {
            if *found != want {
                return Err(disagree(key, found, &want));
            }
        }
    }
    if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
        let want = format!("{}-seed{seed}", check.config_hash);
        if stem != want {
            return Err(err(format!(
                "file name says `{stem}` but the metadata gives config {} seed {seed} (expected \
                 {want}.safetensors)",
                check.config_hash
            )));
        }
    }

    // What the result files beside it record.
    let measurement_dir = path
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."))
        .to_path_buf();
    if !records.contains_key(&measurement_dir) {
        let read = |name: &str| -> Result<Option<PathBuf>> {
            let p = measurement_dir.join(name);
            Ok(p.is_file().then_some(p))
        };
        let probes = match read("probes.csv")? {
            Some(p) => read_csv(&p).map_err(|e| HubError::input(&p, e.to_string()))?,
            None => vec![],
        };
        let summary = match read("summary.csv")? {
            Some(p) => read_csv(&p).map_err(|e| HubError::input(&p, e.to_string()))?,
            None => vec![],
        };
        records.insert(measurement_dir.clone(), Records { probes, summary });
    }
    let rec = &records[&measurement_dir];
    // A checkpoint from a budget-convergence search names the probe (a multiple of the
    // configured budget) that produced it.
    let probe_hash = meta
        .get("probe_hash")
        .cloned()
        .unwrap_or_else(|| cfg.probe_hash());
    check.recorded_fit = rec
        .probes
        .iter()
        .filter(|r| r.config_hash == probe_hash && r.seed == seed && r.n == n)
        .map(|r| r.fitted)
        .reduce(|a, b| a || b);
    check.summary_emc = rec
        .summary
        .iter()
        .find(|r| r.config_hash == check.config_hash && r.seed == seed.to_string())
        .and_then(|r| r.emc);

    // Rebuild the data exactly as the search did.
    let (spec, data_id, variants) = parse_config(&cfg, path)?;
    let key = format!("{}|{}|{seed}", cfg.data, cfg.variants.join(" "));
    if !bases.contains_key(&cfg.data) {
        let base = load(&data_id, Split::Train, &opts.load)
            .map_err(|e| err(format!("loading the training data: {e}")))?;
        bases.insert(cfg.data.clone(), base);
    }
    // What the metadata asks for must fit before it is built (a forged checkpoint may
    // name a model of 10^9 units).
    let what = format!("checking `{}` on {}", cfg.model, check.data);
    MemoryEstimate::evaluation(
        what,
        &spec,
        &variants,
        &bases[&cfg.data],
        cfg.train.eval_batch,
    )
    .and_then(|e| match opts.device.is_cpu() {
        // On a GPU the model lives in device memory, which is not queried.
        true => e.check(MemoryLimit::new(opts.max_memory).as_ref()),
        false => Ok(()),
    })
    .map_err(|e| err(e.to_string()))?;
    if !prepared.contains_key(&key) {
        let ds = Variant::apply_all(&variants, bases[&cfg.data].clone(), seed)
            .map_err(|e| err(format!("applying the variants: {e}")))?;
        let shape = ds.shape();
        let norm = Normalization::from_dataset(&ds);
        let all = ds
            .to_tensors(&opts.device, &norm, false)
            .map_err(|e| err(format!("building the tensors: {e}")))?;
        let order = ds
            .nested_order(seed, false)
            .into_iter()
            .map(|i| i as u32)
            .collect();
        prepared.insert(
            key.clone(),
            Prepared {
                images: all.images,
                labels: all.labels,
                input: InputShape {
                    channels: shape.channels,
                    height: shape.height,
                    width: shape.width,
                },
                classes: ds.num_classes(),
                order,
            },
        );
    }
    // The data read now must be the data the results were measured on.
    check_data(
        &measurement_dir,
        &check.config_hash,
        &bases[&cfg.data].metadata().files,
    )
    .map_err(|e| err(format!("data mismatch, the fit was not checked: {e}")))?;
    let p = &prepared[&key];
    if n == 0 || n > p.order.len() {
        return Err(err(format!(
            "metadata `n` is {n}; expected 1..={} (the training split after its variants)",
            p.order.len()
        )));
    }
    let tensor_err = |e: candle_core::Error| err(format!("tensor operation failed: {e}"));
    let idx = Tensor::from_slice(&p.order[..n], n, &opts.device).map_err(tensor_err)?;
    let x = p.images.index_select(&idx, 0).map_err(tensor_err)?;
    let y = p.labels.index_select(&idx, 0).map_err(tensor_err)?;

    // The model from the metadata, the weights from the tensors: a disagreement between
    // the two is a shape, dtype or name mismatch here.
    let built = spec
        .build(p.input, p.classes, seed, DType::F32, &opts.device)
        .map_err(|e| err(format!("building model `{}`: {e}", cfg.model)))?;
    load_checkpoint(&built.varmap, path, &opts.device).map_err(|e| {
        err(format!(
            "the metadata (model `{}`, {} classes, input {}x{}x{}) disagrees with the tensors: {e}",
            cfg.model, p.classes, p.input.channels, p.input.height, p.input.width
        ))
    })?;
    // A reparameterised model (subspace, quantised) is judged on the weights its trained
    // variables determine from this build's seed, not on the stored copy of them.
    emc_models::sync(built.model.as_ref()).map_err(tensor_err)?;
    let eval = evaluate(built.model.as_ref(), &x, &y, cfg.train.eval_batch.max(1))
        .map_err(|e| err(format!("evaluating: {e}")))?;
    check.correct = Some(eval.correct);

    match check.recorded_fit {
        None => {
            return Err(err(format!(
                "probes.csv in {} has no probe for seed {seed} n {n} of this configuration \
                 (probe hash {probe_hash}); a checkpoint is written only for a recorded fit",
                measurement_dir.display()
            )))
        }
        Some(false) => {
            return Err(err(format!(
                "probes.csv records seed {seed} n {n} as no fit, but a checkpoint is written \
                 only for a fit"
            )))
        }
        Some(true) => {}
    }
    if !eval.all_correct() {
        return Err(err(format!(
            "recorded as a fit, but the model classifies {} of its {n} training samples \
             correctly ({:.4}); expected all of them",
            eval.correct,
            eval.accuracy()
        )));
    }
    summary_agrees(&cfg, seed, rec).map_err(err)
}

/// Whether `summary.csv`'s EMC of `cfg` at `seed` (derived data) is what `probes.csv` gives:
/// the largest fit among the seed's probes valid at its last budget level
/// (`emc_results::emc_disagreement`).
fn summary_agrees(
    cfg: &MeasureConfig,
    seed: u64,
    rec: &Records,
) -> std::result::Result<(), String> {
    let hash = cfg.config_hash();
    let Some(row) = rec
        .summary
        .iter()
        .find(|r| r.config_hash == hash && r.seed == seed.to_string())
    else {
        return Ok(());
    };
    let Some(emc) = row.emc else {
        return Err(format!("summary.csv has no EMC for seed {seed}"));
    };
    let top = row.budget_level().ok_or_else(|| {
        format!(
            "summary.csv seed {seed}: `budgets` is `{}`, not like `1x:540 2x:900`",
            row.budgets
        )
    })?;
    let hashes: Vec<String> = (0..=top.max(cfg.search.budget_doublings))
        .map(|l| cfg.with_budget_multiplier(1 << l).probe_hash())
        .collect();
    let levelled = rec
        .probes
        .iter()
        .filter(|p| p.seed == seed)
        .filter_map(|p| Some((hashes.iter().position(|h| *h == p.config_hash)?, p)));
    let valid = emc_results::probes_at_budget(levelled, top, cfg.longer_budget_replays());
    match emc_results::emc_disagreement(&valid, emc as u64, row.upper.map(|u| u as u64)) {
        None => Ok(()),
        Some(derived) => Err(format!(
            "summary.csv gives seed {seed} EMC {emc} but probes.csv gives {derived} (the \
             largest fitted n at its largest budget); summary.csv was edited or belongs to \
             other probes"
        )),
    }
}

fn parse_config(cfg: &MeasureConfig, path: &Path) -> Result<(ModelSpec, DatasetId, Vec<Variant>)> {
    let err = |field: &str, m: String| {
        HubError::checkpoint(path, format!("metadata `config.{field}`: {m}"))
    };
    let spec: ModelSpec = cfg
        .model
        .parse()
        .map_err(|e: emc_models::ModelError| err("model", e.to_string()))?;
    let data: DatasetId = cfg
        .data
        .parse()
        .map_err(|e: emc_data::DataError| err("data", e.to_string()))?;
    let variants = cfg
        .variants
        .iter()
        .map(|v| v.parse::<Variant>())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| err("variants", e.to_string()))?;
    Ok((spec, data, variants))
}
