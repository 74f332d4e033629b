//! What defines a measurement ([`MeasureConfig`]): model, data, variants, training and
//! search, and the hashes that key its results (through [`emc_results::RecordedConfig`],
//! which a report computes from a manifest alone).

use emc_data::{DatasetId, Variant};
use emc_models::ModelSpec;
use emc_optim::{OptimConfig, OptimKind};
use emc_results::RecordedConfig;
use emc_train::{Batching, TrainConfig};
use serde::{Deserialize, Serialize};

use crate::error::{Result, SearchError};
use crate::search::SearchConfig;

/// Everything that defines a measurement (the seeds excepted, they select repetitions).
///
/// Unknown fields are an error at every level (`deny_unknown_fields` here and in the
/// training, stop, optimizer and search settings), so a misspelt field in a config file or
/// a manifest is never silently replaced by its default.
///
/// # Defaults of `emc measure`
///
/// `emc measure` fills whatever its flags, or its `--config` file, leave out from one set
/// of defaults, [`MeasureConfig::measure_default`]:
///
/// | field                   | default                                                    |
/// |-------------------------|------------------------------------------------------------|
/// | `model`                 | `mlp:32:relu`                                              |
/// | `data`                  | `mnist`                                                    |
/// | `variants`              | none                                                       |
/// | `seeds`                 | `[0, 1, 2]`                                                |
/// | `train.optim`           | `sgd`: SGD, lr 0.01, momentum 0.9; `gd` (full batch): momentum 0; `adam`/`adamw`: lr 0.001, PyTorch's betas and eps; weight decay 0, constant schedule, no warm-up, no clipping |
/// | `train.batching`        | minibatches of 128 (`gd`: full batch in chunks of 4096)    |
/// | `train.stop`            | 2000 epochs, no step budget, plateau patience 100 epochs at a relative improvement of 1e-3, gradient tolerance 1e-5, no Hessian check (20 Lanczos iterations when on) |
/// | `train.eval_every`, `train.eval_batch` | 1, 1024                                     |
/// | `search`                | first size from the parameter count ([`crate::default_n0`]), `abs_tol` 8, `rel_tol` 0.02, no size cap, no budget doublings (`budget_tol` 0.05), no adaptive seeds (`seed_ci_width` 0.2), no band probes |
///
/// In a config file, a field left out of a table takes this default even when the table
/// itself is given (`[train.stop]` with only `max_epochs` keeps patience 100), and the
/// optimizer defaults follow the procedure the file names: a `kind` of `Adam` or `AdamW`
/// gets lr 0.001, full `batching` with SGD gets momentum 0, as `--optimizer` does.
///
/// The type's own [`Default`] (and those of [`TrainConfig`] and [`OptimConfig`]) are
/// building blocks for code, not these defaults: plain SGD without momentum, 200 epochs,
/// patience 25. Code that builds a measurement sets the procedure itself; committed
/// results are keyed by configurations built that way, so those `Default`s stay as they
/// are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
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
    /// Default model spec of `emc measure`.
    pub const DEFAULT_MODEL: &'static str = "mlp:32:relu";
    /// Default dataset of `emc measure`.
    pub const DEFAULT_DATA: &'static str = "mnist";
    /// Default number of seeds of `emc measure` (seeds `0..3`).
    pub const DEFAULT_SEEDS: u64 = 3;
    /// Default SGD momentum of `emc measure` (0 for full-batch `gd`).
    pub const DEFAULT_MOMENTUM: f64 = 0.9;
    /// Default minibatch size of `emc measure`.
    pub const DEFAULT_BATCH: usize = 128;
    /// Accumulation chunk of full-batch gradient descent (`gd`).
    pub const GD_CHUNK: usize = 4096;
    /// Default epoch budget of each probe of `emc measure`.
    pub const DEFAULT_MAX_EPOCHS: usize = 2000;
    /// Default plateau patience (epochs) of `emc measure`.
    pub const DEFAULT_PATIENCE: usize = 100;
    /// The procedures `emc measure --optimizer` names.
    pub const OPTIMIZERS: [&'static str; 5] = ["sgd", "gd", "adam", "adamw", "shampoo"];

    /// The measurement `emc measure` runs when nothing but the optimizer is chosen: the
    /// defaults in the [type docs](MeasureConfig), for `optimizer` `sgd`, `gd` (full-batch
    /// gradient descent), `adam`, `adamw` or `shampoo` (torch-optimizer's defaults: lr 0.1,
    /// no momentum). Both the flags and a config file start from it.
    pub fn measure_default(optimizer: &str) -> Result<MeasureConfig> {
        let sgd = |momentum| OptimKind::Sgd {
            momentum,
            dampening: 0.0,
            nesterov: false,
        };
        let mini = Batching::Mini(Self::DEFAULT_BATCH);
        let (kind, lr, batching) = match optimizer {
            "sgd" => (sgd(Self::DEFAULT_MOMENTUM), 0.01, mini),
            "gd" => (
                sgd(0.0),
                0.01,
                Batching::Full {
                    chunk: Self::GD_CHUNK,
                },
            ),
            "adam" => (OptimKind::ADAM, 1e-3, mini),
            "adamw" => (OptimKind::ADAMW, 1e-3, mini),
            "shampoo" => (OptimKind::SHAMPOO, 0.1, mini),
            other => {
                return Err(SearchError::Config {
                    field: "optimizer".into(),
                    message: format!("`{other}`; expected sgd, gd, adam, adamw or shampoo"),
                })
            }
        };
        let mut train = TrainConfig {
            optim: OptimConfig {
                kind,
                lr,
                weight_decay: 0.0,
                ..OptimConfig::default()
            },
            batching,
            ..TrainConfig::default()
        };
        train.stop.max_epochs = Self::DEFAULT_MAX_EPOCHS;
        train.stop.plateau_patience = Self::DEFAULT_PATIENCE;
        Ok(MeasureConfig {
            model: Self::DEFAULT_MODEL.into(),
            data: Self::DEFAULT_DATA.into(),
            variants: vec![],
            train,
            search: SearchConfig::default(),
            seeds: (0..Self::DEFAULT_SEEDS).collect(),
        })
    }

    /// Hash of what defines the measured quantity (everything but the seeds): 16 hex digits.
    pub fn config_hash(&self) -> String {
        self.recorded().config_hash()
    }

    /// Hash of what defines one probe's outcome (model, data, variants, training; not the
    /// search settings): the key of `probes.csv`, so a rerun with another tolerance or
    /// first size reuses the probes already trained.
    pub fn probe_hash(&self) -> String {
        self.recorded().probe_hash()
    }

    /// This configuration as a manifest records it: the owner of the hashes (emc-results),
    /// which a report computes from the manifest alone.
    pub fn recorded(&self) -> RecordedConfig {
        let value = serde_json::to_value(self).expect("a measurement config serialises to JSON");
        RecordedConfig::from_json(value).expect("a measurement config is a JSON object")
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
        let spec: ModelSpec = self
            .model
            .parse()
            .map_err(|e: emc_models::ModelError| bad("model")(&e))?;
        let data: DatasetId = self
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
        let mut seen = std::collections::BTreeSet::new();
        if let Some(twice) = self.seeds.iter().find(|s| !seen.insert(**s)) {
            return Err(SearchError::Config {
                field: "seeds".into(),
                message: format!(
                    "seed {twice} is listed twice in {:?}; expected distinct seeds (a seed \
                     repeated would count one search twice in every statistic)",
                    self.seeds
                ),
            });
        }
        self.search.validate()?;
        self.train.validate()?;
        if self.train.dropout > 0.0 && !spec.supports_dropout() {
            return Err(SearchError::Config {
                field: "train.dropout".into(),
                message: format!(
                    "{} with model `{}`, which has no dropout; expected 0, or a model with it \
                     (any family but softmax regression: mlp with a hidden layer, cnn, \
                     cnn-compound, resnet18, vit)",
                    self.train.dropout, self.model
                ),
            });
        }
        if !self.train.augment.is_none() && data.is_table() {
            return Err(SearchError::Config {
                field: "train.augment".into(),
                message: format!(
                    "{:?} with table `{}`; expected no augmentation (crops and flips are \
                     for images)",
                    self.train.augment, self.data
                ),
            });
        }
        Ok((spec, data, variants))
    }

    /// Batch size as written in result files.
    pub(crate) fn batch_text(&self) -> String {
        match self.train.batching {
            Batching::Mini(b) => b.to_string(),
            Batching::Full { .. } => "full".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `[config]` of `artifacts/params-vs-samples/cpu/manifest-1f94ea075077d347.toml`,
    /// committed with the results it keys.
    fn committed() -> MeasureConfig {
        let manifest: toml::Table =
            include_str!("../../../artifacts/params-vs-samples/cpu/manifest-1f94ea075077d347.toml")
                .parse()
                .unwrap();
        manifest["config"].clone().try_into().unwrap()
    }

    #[test]
    fn the_config_hash_of_a_committed_manifest_is_stable() {
        let cfg = committed();
        assert_eq!(cfg.config_hash(), "1f94ea075077d347");
        // Seeds select repetitions; they do not enter the hashes.
        let more = MeasureConfig {
            seeds: vec![7],
            ..cfg.clone()
        };
        assert_eq!(more.config_hash(), cfg.config_hash());
        assert_eq!(more.probe_hash(), cfg.probe_hash());
    }

    /// Every committed manifest's `[config]` reads back (strictly: no unknown field) as a
    /// `MeasureConfig` that hashes to the manifest's `config_hash`, and its probe hash is the
    /// one a report computes from the manifest alone.
    #[test]
    fn every_committed_manifest_reads_back_with_its_hash() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../artifacts");
        let mut dirs = vec![root];
        let mut read = 0;
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().to_string();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                if !(name.starts_with("manifest") && name.ends_with(".toml")) {
                    continue;
                }
                let manifest: toml::Table =
                    std::fs::read_to_string(&path).unwrap().parse().unwrap();
                let table = manifest["config"].as_table().unwrap();
                let cfg: MeasureConfig = toml::Value::Table(table.clone())
                    .try_into()
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let hash = manifest["config_hash"].as_str().unwrap();
                assert_eq!(cfg.config_hash(), hash, "{}", path.display());
                let recorded = RecordedConfig::from_toml(table);
                assert_eq!(
                    recorded.probe_hash(),
                    cfg.probe_hash(),
                    "{}",
                    path.display()
                );
                read += 1;
            }
        }
        assert!(read >= 100, "only {read} committed manifests found");
    }

    #[test]
    fn degenerate_settings_are_refused_by_name() {
        let refused = |edit: &dyn Fn(&mut MeasureConfig), field: &str, text: &str| {
            let mut cfg = MeasureConfig::default();
            edit(&mut cfg);
            let err = cfg.parsed().unwrap_err();
            let msg = err.to_string();
            assert!(
                matches!(&err, SearchError::Config { field: f, .. } if f == field),
                "{msg}"
            );
            assert!(msg.contains(text), "{msg}");
        };
        refused(
            &|c| c.seeds = vec![1, 1],
            "seeds",
            "seed 1 is listed twice in [1, 1]",
        );
        refused(
            &|c| c.seeds = vec![3, 7, 3],
            "seeds",
            "seed 3 is listed twice",
        );
        refused(
            &|c| c.search.n0 = Some(0),
            "search.n0",
            "0; expected a first probe",
        );
        refused(&|c| c.search.max_n = Some(0), "search.max_n", "0; expected");
        refused(&|c| c.search.rel_tol = f64::NAN, "search.rel_tol", "NaN");
        refused(&|c| c.search.budget_tol = -0.1, "search.budget_tol", "-0.1");
        refused(
            &|c| c.search.seed_ci_width = 0.0,
            "search.seed_ci_width",
            "> 0",
        );
        MeasureConfig::default().parsed().unwrap();
    }

    #[test]
    fn an_unknown_field_is_refused_at_every_level() {
        let text = toml::to_string(&MeasureConfig::default()).unwrap();
        for (table, typo) in [
            ("", "modle"),
            ("train", "batch"),
            ("train.stop", "max_epoch"),
            ("train.optim", "learning_rate"),
            ("search", "abs_tl"),
        ] {
            let mut value: toml::Table = text.parse().unwrap();
            let at = table
                .split('.')
                .filter(|k| !k.is_empty())
                .fold(&mut value, |t, k| t[k].as_table_mut().unwrap());
            at.insert(typo.into(), toml::Value::Integer(1));
            let err = toml::Value::Table(value)
                .try_into::<MeasureConfig>()
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("unknown field `{typo}`")), "{err}");
        }
    }

    /// Configurations with every optional field unset and set, and a budget-relative
    /// schedule: what the report computes from the manifest must be what the search keyed
    /// its results by.
    fn variety() -> Vec<MeasureConfig> {
        let base = committed();
        let mut all_set = base.clone();
        all_set.train.stop.max_steps = Some(5000);
        all_set.train.optim.clip_grad_norm = Some(1.0);
        all_set.search.n0 = Some(64);
        all_set.search.max_seeds = 9;
        all_set.train.batching = Batching::Full { chunk: 4096 };
        let mut cosine = MeasureConfig::default();
        cosine.train.optim = "adamw:lr=0.001,sched=cosine-budget".parse().unwrap();
        cosine.search.budget_doublings = 2;
        vec![base, all_set, cosine, MeasureConfig::default()]
    }

    #[test]
    fn a_manifest_read_back_gives_the_same_keys_at_every_budget() {
        for cfg in variety() {
            let text = toml::to_string_pretty(&cfg).unwrap();
            let recorded = RecordedConfig::from_toml(&text.parse().unwrap());
            assert_eq!(recorded.config_hash(), cfg.config_hash(), "{text}");
            assert_eq!(
                recorded.budget_doublings(),
                cfg.search.budget_doublings,
                "{text}"
            );
            assert_eq!(
                recorded.longer_budget_replays(),
                cfg.longer_budget_replays()
            );
            for level in 0..4 {
                let typed = cfg.with_budget_multiplier(1 << level);
                assert_eq!(recorded.probe_hash_at(level), typed.probe_hash(), "{text}");
            }
        }
    }

    #[test]
    fn more_budget_scales_epochs_steps_and_patience() {
        let cfg = &variety()[1];
        let k = cfg.with_budget_multiplier(4);
        assert_eq!(k.train.stop.max_epochs, 800);
        assert_eq!(k.train.stop.max_steps, Some(20000));
        assert_eq!(k.train.stop.plateau_patience, 160);
        assert_ne!(k.probe_hash(), cfg.probe_hash());
        assert!(!variety()[2].longer_budget_replays());
    }
}
