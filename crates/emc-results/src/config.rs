//! A measurement's configuration as recorded (the `[config]` table of a manifest), and the
//! hashes that key it: the config hash (`summary.csv`, manifests, checkpoints) and the
//! probe hash of each budget level (`probes.csv`).
//!
//! The configuration is kept as the JSON value of its serde form (`emc_search::MeasureConfig`
//! serialised), untyped below its top-level fields, so that reading a results directory
//! needs neither the training nor the search crate. `emc_search::MeasureConfig` hashes
//! itself through this type, so the writer and the readers share one definition of the keys.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The `Option` fields of the configuration, which its serde form writes as `null` and a
/// TOML manifest leaves out: restored as `null` when a manifest is read, so that a recorded
/// configuration hashes as the configuration that wrote it.
const OPTIONAL_FIELDS: [&[&str]; 4] = [
    &["train", "optim", "clip_grad_norm"],
    &["train", "stop", "max_steps"],
    &["search", "n0"],
    &["search", "max_n"],
];

/// The budget fields [`RecordedConfig::with_budget_multiplier`] scales, under `train.stop`.
const BUDGET_FIELDS: [&str; 3] = ["max_epochs", "max_steps", "plateau_patience"];

/// 16 hex digits of the SHA-256 of `v`'s compact JSON text (keys sorted).
pub fn short_hash(v: &Value) -> String {
    let digest = Sha256::digest(v.to_string().as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// A measurement's configuration as recorded: model, data, variants, training and search.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedConfig(Map<String, Value>);

impl RecordedConfig {
    /// From the serde form of a configuration (`serde_json::to_value` of
    /// `emc_search::MeasureConfig`); `None` when it is not an object.
    pub fn from_json(value: Value) -> Option<Self> {
        match value {
            Value::Object(map) => Some(RecordedConfig(map)),
            _ => None,
        }
    }

    /// From the `[config]` table of a manifest (TOML leaves out the fields that are unset;
    /// they are restored as `null`, as the configuration serialises them).
    pub fn from_toml(table: &toml::Table) -> Self {
        let mut map = match toml_to_json(&toml::Value::Table(table.clone())) {
            Value::Object(map) => map,
            _ => unreachable!("a TOML table converts to a JSON object"),
        };
        for path in OPTIONAL_FIELDS {
            let (key, parents) = path.split_last().expect("a field path is not empty");
            let mut at = Some(&mut map);
            for p in parents {
                at = at
                    .and_then(|m| m.get_mut(*p))
                    .and_then(Value::as_object_mut);
            }
            if let Some(m) = at {
                m.entry(*key).or_insert(Value::Null);
            }
        }
        RecordedConfig(map)
    }

    fn pick(&self, keys: &[&str]) -> Value {
        let picked: Map<String, Value> = keys
            .iter()
            .map(|k| {
                (
                    k.to_string(),
                    self.0.get(*k).cloned().unwrap_or(Value::Null),
                )
            })
            .collect();
        Value::Object(picked)
    }

    fn get(&self, path: &[&str]) -> Option<&Value> {
        let (first, rest) = path.split_first()?;
        rest.iter().try_fold(self.0.get(*first)?, |v, k| v.get(k))
    }

    /// Hash of what defines the measured quantity (everything but the seeds): 16 hex
    /// digits, the `config_hash` of `summary.csv` and of the manifests.
    pub fn config_hash(&self) -> String {
        short_hash(&self.pick(&["model", "data", "variants", "train", "search"]))
    }

    /// Hash of what defines one probe's outcome (model, data, variants, training; not the
    /// search settings): the key of `probes.csv`, so a rerun with another tolerance or
    /// first size reuses the probes already trained.
    pub fn probe_hash(&self) -> String {
        short_hash(&self.pick(&["model", "data", "variants", "train"]))
    }

    /// The same configuration with `k` times the budget: the epoch budget, the step budget
    /// (when set) and the plateau patience (as `emc_search::MeasureConfig` scales them).
    pub fn with_budget_multiplier(&self, k: u64) -> RecordedConfig {
        let mut c = self.clone();
        let train = c.0.get_mut("train");
        let stop = train.and_then(|t| t.get_mut("stop"));
        if let Some(stop) = stop.and_then(Value::as_object_mut) {
            for field in BUDGET_FIELDS {
                if let Some(v) = stop.get_mut(field) {
                    if let Some(x) = v.as_u64() {
                        *v = Value::from(x * k);
                    }
                }
            }
        }
        c
    }

    /// The probe hash of budget level `level` (`2^level` times the configured budget).
    pub fn probe_hash_at(&self, level: usize) -> String {
        self.with_budget_multiplier(1 << level).probe_hash()
    }

    /// Doublings of the budget the search was configured to try (0 when unset).
    pub fn budget_doublings(&self) -> usize {
        self.get(&["search", "budget_doublings"])
            .and_then(Value::as_u64)
            .map_or(0, |d| d as usize)
    }

    /// Whether a run at a larger budget replays a run at this one step for step: true
    /// unless the learning-rate schedule stretches with the budget (`CosineBudget`).
    pub fn longer_budget_replays(&self) -> bool {
        self.get(&["train", "optim", "schedule"])
            .is_none_or(|s| s.get("CosineBudget").is_none())
    }
}

/// A TOML value as the JSON value serde gives the same data (a non-finite float, which JSON
/// cannot hold, becomes `null` as `serde_json::to_value` makes it).
fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::from(s.as_str()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        toml::Value::Boolean(b) => Value::from(*b),
        toml::Value::Datetime(d) => Value::from(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `artifacts/params-vs-samples/cpu/manifest-1f94ea075077d347.toml`, committed with
    /// the results it keys (written by `emc measure` at commit 79f9478).
    const MANIFEST: &str =
        include_str!("../../../artifacts/params-vs-samples/cpu/manifest-1f94ea075077d347.toml");

    /// The manifest's `[config]` table, with `edit` applied to the manifest's text first.
    fn committed_table(edit: impl Fn(&str) -> String) -> toml::Table {
        let manifest: toml::Table = edit(MANIFEST).parse().unwrap();
        manifest["config"].as_table().unwrap().clone()
    }

    fn committed() -> RecordedConfig {
        RecordedConfig::from_toml(&committed_table(str::to_string))
    }

    #[test]
    fn a_committed_manifest_hashes_to_its_recorded_keys() {
        let c = committed();
        assert_eq!(c.config_hash(), "1f94ea075077d347");
        // The keys of its probes in that directory's probes.csv, at 1x and 2x the budget.
        assert_eq!(c.probe_hash_at(0), "f786527b45daec53");
        assert_eq!(c.probe_hash_at(1), "d3d3797eaffdf136");
        assert_eq!(c.budget_doublings(), 1);
        assert!(c.longer_budget_replays());
    }

    #[test]
    fn the_budget_multiplier_scales_the_budget_fields_only() {
        let c = committed().with_budget_multiplier(4);
        let stop = c.get(&["train", "stop"]).unwrap();
        assert_eq!(stop["max_epochs"], 800);
        assert_eq!(stop["plateau_patience"], 160);
        assert_eq!(stop["max_steps"], Value::Null);
        assert_eq!(stop["grad_tol"], 0.00001);
        // The config hash moves with the budget; the search settings do not enter the
        // probe hash.
        assert_ne!(c.config_hash(), committed().config_hash());
        let mut other_search = committed();
        other_search.0["search"]["abs_tol"] = Value::from(16);
        assert_eq!(other_search.probe_hash(), committed().probe_hash());
        assert_ne!(other_search.config_hash(), committed().config_hash());
    }

    #[test]
    fn a_budget_relative_schedule_does_not_replay() {
        let c = RecordedConfig::from_toml(&committed_table(|text| {
            text.replace(
                r#"schedule = "Constant""#,
                "schedule = { CosineBudget = { min_lr = 0.0 } }",
            )
        }));
        assert!(!c.longer_budget_replays());
    }
}
