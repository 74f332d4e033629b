//! The rows of `probes.csv` and `summary.csv`: the file formats, whose column lists are
//! derived from the row types (their serde field names, in order).

use serde::{Deserialize, Serialize};

use crate::stop::stands_with_more_budget;

/// One row of `probes.csv`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbeRow {
    /// Identifies the invocation that ran the probe.
    pub run_id: String,
    /// Hash of what defines the probe (model, data, variants, training; see
    /// [`crate::RecordedConfig::probe_hash`]).
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
    /// Stop reason (the text form of a [`crate::StopReason`]).
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
    /// The columns of `probes.csv`, in the order they are written.
    pub fn columns() -> Vec<String> {
        columns_of(&ProbeRow::default())
    }

    /// The header line of `probes.csv` (the csv crate writes a header only with a first
    /// row; an empty log gets this one).
    pub fn header() -> String {
        Self::columns().join(",") + "\n"
    }

    /// Whether the result stands when the budget grows (a longer run of a schedule that
    /// does not depend on the budget replays this one): a fit, or a failure certified by a
    /// small gradient or divergence. A failure that ran out of epochs, steps or plateau
    /// patience does not, nor does a stop reason this version does not know.
    pub fn stands_with_more_budget(&self) -> bool {
        stands_with_more_budget(self.fitted, &self.stop)
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    /// `emc_search::Transition`).
    #[serde(default)]
    pub n50: Option<f64>,
    /// `lo-hi` where fits and failures overlap across seeds, or `sharp fit|failure`
    /// (aggregate row).
    #[serde(default)]
    pub band: String,
}

impl SummaryRow {
    /// The columns added with budget convergence and the transition band: files written
    /// before them lack them and still read.
    pub const OPTIONAL_COLUMNS: [&'static str; 4] = ["budgets", "budget_converged", "n50", "band"];

    /// The columns of `summary.csv`, in the order they are written.
    pub fn columns() -> Vec<String> {
        columns_of(&SummaryRow::default())
    }

    /// The budget level (`log2` of the multiplier) of a seed row's EMC: that of the last
    /// entry of `budgets`, 0 when it is empty; `None` when `budgets` is malformed.
    pub fn budget_level(&self) -> Option<usize> {
        let Some(last) = self.budgets.split_whitespace().last() else {
            return Some(0);
        };
        let (m, _) = last.split_once("x:")?;
        let m: u64 = m.parse().ok()?;
        m.is_power_of_two().then_some(m.trailing_zeros() as usize)
    }

    /// The columns every `summary.csv` has: all but [`SummaryRow::OPTIONAL_COLUMNS`].
    pub fn required_columns() -> Vec<String> {
        Self::columns()
            .into_iter()
            .filter(|c| !Self::OPTIONAL_COLUMNS.contains(&c.as_str()))
            .collect()
    }
}

/// The CSV header the csv crate writes for `row`'s type: its serde field names, in order.
fn columns_of<T: Serialize>(row: &T) -> Vec<String> {
    let mut w = csv::Writer::from_writer(vec![]);
    w.serialize(row).expect("a row of plain fields serialises");
    let bytes = w.into_inner().expect("writing to memory cannot fail");
    let mut r = csv::Reader::from_reader(bytes.as_slice());
    let header = r.headers().expect("the header just written reads back");
    header.iter().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file formats themselves: renaming or reordering a field would make every
    /// results directory written so far unreadable (or misread).
    #[test]
    fn columns_are_the_file_formats() {
        assert_eq!(
            ProbeRow::header(),
            "run_id,config_hash,model,params,dataset,variants,optimizer,lr,batch,seed,n,\
             fitted,stop,epochs,steps,train_accuracy,train_loss,grad_norm,seconds\n"
        );
        assert_eq!(
            SummaryRow::columns().join(","),
            "config_hash,model,params,dataset,variants,optimizer,seed,emc,upper,probes,\
             non_monotone,saturated,median,mean,std,min,max,mean_log_emc,efficiency,\
             budgets,budget_converged,n50,band"
        );
        let required = SummaryRow::required_columns();
        assert_eq!(required.len(), 19);
        assert_eq!(required.last().map(String::as_str), Some("efficiency"));
    }

    #[test]
    fn the_budget_level_is_the_last_multipliers() {
        let level = |b: &str| {
            SummaryRow {
                budgets: b.into(),
                ..SummaryRow::default()
            }
            .budget_level()
        };
        assert_eq!(level(""), Some(0));
        assert_eq!(level("1x:540 2x:900 4x:1440"), Some(2));
        assert_eq!(level("1x:540 3x:900"), None);
        assert_eq!(level("garbage"), None);
    }

    #[test]
    fn a_summary_written_before_the_optional_columns_still_reads() {
        let old = format!(
            "{}\n0123456789abcdef,mlp:8,490,mnist,,sgd,0,64,72,5,false,false,,,,,,,\n",
            SummaryRow::required_columns().join(",")
        );
        let row: SummaryRow = csv::Reader::from_reader(old.as_bytes())
            .deserialize()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!((row.emc, row.upper, row.probes), (Some(64), Some(72), 5));
        assert_eq!((row.budgets.as_str(), row.n50), ("", None));
    }
}
