//! What defines a measurement ([`MeasureConfig`]): model, data, variants, training and
//! search, and the hashes that key its results (through [`emc_results::RecordedConfig`],
//! which a report computes from a manifest alone).

use emc_data::{DatasetId, Variant};
use emc_models::ModelSpec;
use emc_results::RecordedConfig;
use emc_train::{Batching, TrainConfig};
use serde::{Deserialize, Serialize};

use crate::error::{Result, SearchError};
use crate::search::SearchConfig;

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
