//! Building a claim's grid: what the arms of one scale share ([`Protocol`]) and the one
//! place an arm's [`MeasureConfig`] is assembled from it, so claim files state only what
//! differs between their arms.

use emc_optim::{OptimConfig, Schedule};
use emc_search::{MeasureConfig, SearchConfig};
use emc_train::{Batching, TrainConfig};

use crate::Arm;

/// What every arm of a claim at one scale shares unless the arm overrides it (fill with
/// struct-update syntax from [`Protocol::default`]).
#[derive(Debug, Clone)]
pub struct Protocol {
    /// Dataset name, e.g. `mnist`.
    pub data: String,
    /// Variants applied to the training split, e.g. `resize:14`, `random-labels`.
    pub variants: Vec<String>,
    /// Optimizer, learning rate included.
    pub optim: OptimConfig,
    /// Minibatches or full batch.
    pub batching: Batching,
    /// Epoch budget of each probe.
    pub max_epochs: usize,
    /// Plateau patience in epochs.
    pub patience: usize,
    /// Step budget of each probe on top of the epoch budget (`None`: epochs only); it
    /// doubles with the budget, like the epochs.
    pub max_steps: Option<usize>,
    /// Search tolerance, first size and cap.
    pub search: SearchConfig,
    /// Seeds `0..seeds`.
    pub seeds: u64,
}

impl Default for Protocol {
    fn default() -> Self {
        Protocol {
            data: "mnist".into(),
            variants: vec![],
            optim: OptimConfig::sgd(0.01, 0.9),
            batching: Batching::Mini(128),
            max_epochs: 300,
            patience: 50,
            max_steps: None,
            search: SearchConfig::default(),
            seeds: 3,
        }
    }
}

/// One dataset of a grid: name, variants (e.g. `resize:14`), and a cap on the subset size.
pub type Data = (&'static str, &'static [&'static str], Option<usize>);

/// The standard procedure most claims train with at one scale: SGD with momentum 0.9 at
/// one learning rate and batch size, the budget and stop rules, the search tolerance and
/// the seeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Standard {
    /// Learning rate.
    pub lr: f64,
    /// Minibatch size.
    pub batch: usize,
    /// Seeds `0..seeds`.
    pub seeds: u64,
    /// Epoch budget of each probe.
    pub max_epochs: usize,
    /// Plateau patience in epochs.
    pub patience: usize,
    /// Bisection tolerance relative to EMC.
    pub rel_tol: f64,
    /// Budget doublings for budget-converged EMC (0 = off).
    pub budget_doublings: usize,
    /// Transition-band probes on each side of the boundary (0 = off).
    pub band_probes: usize,
}

impl Standard {
    /// The smoke-scale procedure most claims share (seconds in the dev profile, compared
    /// with `artifacts/reference/` in CI): SGD lr 0.05 with momentum 0.9, batch 32, two
    /// seeds, 100 epochs with patience 25, bisection to 5%, no budget check. A claim
    /// overrides what its models need (`Standard { max_epochs: 60, ..Standard::SMOKE }`).
    pub const SMOKE: Standard = Standard {
        lr: 0.05,
        batch: 32,
        seeds: 2,
        max_epochs: 100,
        patience: 25,
        rel_tol: 0.05,
        budget_doublings: 0,
        band_probes: 0,
    };

    /// The cpu-scale procedure the Standard-based claims share (2 cores):
    /// SGD lr 0.02 with momentum 0.9, batch 32, three seeds, 200 epochs with patience 40,
    /// bisection to 5%, EMC checked for convergence at 2× the epochs, no band probes. A
    /// claim overrides what its cost demands (`Standard { seeds: 2, ..Standard::CPU }`).
    pub const CPU: Standard = Standard {
        lr: 0.02,
        batch: 32,
        seeds: 3,
        max_epochs: 200,
        patience: 40,
        rel_tol: 0.05,
        budget_doublings: 1,
        band_probes: 0,
    };

    /// The paper-scale procedure every claim shares (for a GPU): SGD lr 0.01, batch 128,
    /// five seeds, 1,000 epochs with patience 100, bisection to 2%, EMC checked for
    /// convergence at 2× and 4× the epochs, one transition-band probe on each side.
    pub const PAPER: Standard = Standard {
        lr: 0.01,
        batch: 128,
        seeds: 5,
        max_epochs: 1000,
        patience: 100,
        rel_tol: 0.02,
        budget_doublings: 2,
        band_probes: 1,
    };
}

/// The decayed schedule of the robustness axis: a cosine to 0 over each probe's whole step
/// budget (it stretches with `n` and with every budget doubling).
pub const COSINE_BUDGET: Schedule = Schedule::CosineBudget { min_lr: 0.0 };

/// The label suffix of a schedule in arm labels: nothing for the constant schedule (so
/// constant arms keep their labels and results when a claim adds a schedule axis), else
/// a space and the schedule's text form (` cosine-budget`).
fn schedule_suffix(schedule: &Schedule) -> String {
    match schedule {
        Schedule::Constant => String::new(),
        other => format!(" {other}"),
    }
}

impl Protocol {
    /// This protocol at each schedule of `schedules` and learning rate of `lrs` (schedules
    /// outer), each with the label suffix that names its setting: ` lr=0.01`, or
    /// ` lr=0.01 cosine-budget` (the schedule suffix). Only the optimizer's learning rate
    /// and schedule change.
    pub fn at_settings(&self, lrs: &[f64], schedules: &[Schedule]) -> Vec<(String, Protocol)> {
        let mut out = vec![];
        for schedule in schedules {
            for &lr in lrs {
                let optim = OptimConfig {
                    lr,
                    schedule: schedule.clone(),
                    ..self.optim.clone()
                };
                let suffix = format!(" lr={lr}{}", schedule_suffix(schedule));
                out.push((
                    suffix,
                    Protocol {
                        optim,
                        ..self.clone()
                    },
                ));
            }
        }
        out
    }

    /// `standard` training on `data` with real labels.
    pub fn standard(data: Data, standard: &Standard) -> Protocol {
        let (name, variants, cap) = data;
        Protocol {
            data: name.into(),
            variants: variants.iter().map(|v| v.to_string()).collect(),
            optim: OptimConfig::sgd(standard.lr, 0.9),
            batching: Batching::Mini(standard.batch),
            max_epochs: standard.max_epochs,
            patience: standard.patience,
            max_steps: None,
            search: SearchConfig {
                max_n: cap,
                rel_tol: standard.rel_tol,
                budget_doublings: standard.budget_doublings,
                band_probes: standard.band_probes,
                ..SearchConfig::default()
            },
            seeds: standard.seeds,
        }
    }

    /// This protocol with real labels and with random labels (`random-labels` appended),
    /// named `real` and `random`.
    pub fn labellings(&self) -> [(&'static str, Protocol); 2] {
        [
            ("real", self.clone()),
            ("random", self.with_variant("random-labels")),
        ]
    }

    /// The same protocol on the images resized to `side` × `side` first (`resize:S` put
    /// before every other variant).
    pub fn resized(&self, side: usize) -> Protocol {
        let mut p = self.clone();
        p.variants.insert(0, format!("resize:{side}"));
        p
    }

    /// The same protocol with one more variant appended (e.g. `random-labels`).
    pub fn with_variant(&self, variant: &str) -> Protocol {
        let mut p = self.clone();
        p.variants.push(variant.to_string());
        p
    }

    /// The measurement of `model` under this protocol.
    pub fn measure(&self, model: &str) -> MeasureConfig {
        let mut train = TrainConfig {
            optim: self.optim.clone(),
            batching: self.batching,
            ..TrainConfig::default()
        };
        train.stop.max_epochs = self.max_epochs;
        train.stop.plateau_patience = self.patience;
        train.stop.max_steps = self.max_steps;
        MeasureConfig {
            model: model.to_string(),
            data: self.data.clone(),
            variants: self.variants.clone(),
            train,
            search: self.search.clone(),
            seeds: (0..self.seeds).collect(),
        }
    }

    /// An arm measuring `model` under this protocol. `architecture` and `procedure` are
    /// the analysis' grouping keys (see [`Arm`]).
    pub fn arm(
        &self,
        label: impl Into<String>,
        architecture: impl Into<String>,
        procedure: impl Into<String>,
        model: &str,
    ) -> Arm {
        Arm {
            label: label.into(),
            architecture: architecture.into(),
            procedure: procedure.into(),
            measure: self.measure(model),
            generalization: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arms_carry_the_protocol() {
        let p = Protocol {
            max_epochs: 17,
            patience: 5,
            seeds: 2,
            ..Protocol::default()
        }
        .with_variant("random-labels");
        let a = p.arm("mlp relu", "mlp", "relu", "mlp:8:relu");
        assert_eq!(a.measure.model, "mlp:8:relu");
        assert_eq!(a.measure.variants, ["random-labels"]);
        assert_eq!(a.measure.seeds, [0, 1]);
        assert_eq!(a.measure.train.stop.max_epochs, 17);
        assert_eq!(a.measure.train.stop.plateau_patience, 5);
        assert_eq!(a.measure.train.stop.max_steps, None);
        assert_eq!(a.procedure, "relu");
    }
}
