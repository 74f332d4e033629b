//! A claim as data: its text, its grid of arms per scale, and its analysis.

use std::fmt;

use emc_search::{Generalization, GeneralizationConfig, MeasureConfig, Measurement};

use crate::{Verdict, WorkBound};

/// A claim of the paper, quoted.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    /// Short identifier, also the output folder (`artifacts/<id>/<scale>/`).
    pub id: &'static str,
    /// The paper's statement.
    pub statement: &'static str,
    /// Where it stands in the paper.
    pub location: &'static str,
    /// The direction the paper claims, in words.
    pub expectation: Expectation,
}

/// The direction a claim expects, for the verdict text.
#[derive(Debug, Clone, Copy)]
pub struct Expectation {
    /// What is compared, e.g. `EMC(best SGD) / EMC(GD)`.
    pub effect: &'static str,
    /// The paper's direction, e.g. `> 1`.
    pub direction: &'static str,
}

/// How big a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scale {
    /// Seconds; deterministic; used by CI.
    Smoke,
    /// Real data on a 2-core machine: a grid sized for about an hour, plus the adaptive
    /// rounds its verdict asks for (hours for some claims; `--dry-run` bounds the grid).
    Cpu,
    /// The paper-sized setting, for a GPU.
    Paper,
}

impl Scale {
    /// The scale's name as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scale::Smoke => "smoke",
            Scale::Cpu => "cpu",
            Scale::Paper => "paper",
        }
    }

    /// How many budget doublings in all an arm a verdict hinges on may be extended to by
    /// default ([`crate::extend_arms`]): none at smoke scale (CI compares its numbers to a
    /// reference), 5 (32×) otherwise.
    pub fn extension_cap(self) -> usize {
        match self {
            Scale::Smoke => 0,
            Scale::Cpu | Scale::Paper => crate::extend::DEFAULT_EXTENSION_CAP,
        }
    }

    /// How many seeds in all an arm of a comparison whose interval contains 1 may be given
    /// by default ([`crate::extend_arms`]): none beyond the grid's at smoke scale, 8
    /// otherwise.
    pub fn seed_cap(self) -> usize {
        match self {
            Scale::Smoke => 0,
            Scale::Cpu | Scale::Paper => crate::extend::DEFAULT_SEED_CAP,
        }
    }

    /// The hardware the scale is meant for.
    pub fn hardware(self) -> &'static str {
        match self {
            Scale::Smoke => "any CPU, seconds (CI)",
            Scale::Cpu => "a 2-core CPU: a grid sized for about an hour, plus adaptive rounds",
            Scale::Paper => "one GPU (e.g. an H100), hours",
        }
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One configuration of the grid.
#[derive(Debug, Clone)]
pub struct Arm {
    /// Unique label, e.g. `mlp sgd b=32 lr=0.05`.
    pub label: String,
    /// The architecture label the analysis groups by, e.g. `mlp`.
    pub architecture: String,
    /// The training procedure without its learning rate, e.g. `sgd b=32`: arms that differ
    /// only in learning rate share it, and [`crate::best_per_procedure`] picks among them.
    pub procedure: String,
    /// The measurement.
    pub measure: MeasureConfig,
    /// Also measure generalization: the same model and procedure trained on a fixed-size
    /// training set, evaluated on the test split, per seed (see
    /// [`emc_search::generalize_many`]). `None` for EMC only.
    pub generalization: Option<GeneralizationConfig>,
}

impl Arm {
    /// The same arm, also measuring generalization.
    pub fn with_generalization(mut self, g: GeneralizationConfig) -> Arm {
        self.generalization = Some(g);
        self
    }

    /// The side its images are resized to first ([`crate::Protocol::resized`]), if they are.
    pub fn resized_side(&self) -> Option<usize> {
        self.measure
            .variants
            .first()?
            .strip_prefix("resize:")?
            .parse()
            .ok()
    }
}

/// An arm and its measurement.
#[derive(Debug, Clone)]
pub struct ArmResult {
    /// The arm.
    pub arm: Arm,
    /// What `emc_search::measure` returned.
    pub measurement: Measurement,
    /// The generalization measurement, when the arm asked for one.
    pub generalization: Option<Generalization>,
}

impl ArmResult {
    /// Orders two arms by EMC: median over seeds, ties broken by mean log EMC. Every
    /// "best arm" choice (learning rate, procedure, activation) uses this one ordering.
    pub fn cmp_emc(&self, other: &ArmResult) -> std::cmp::Ordering {
        let (s, t) = (&self.measurement.stats, &other.measurement.stats);
        s.median
            .total_cmp(&t.median)
            .then(s.mean_log_emc.total_cmp(&t.mean_log_emc))
    }

    /// Per-seed EMC values, in seed order.
    pub fn emcs(&self) -> Vec<usize> {
        self.measurement
            .per_seed
            .iter()
            .map(|(_, o)| o.emc)
            .collect()
    }

    /// Budget levels searched (1 when budget convergence was off): the most of any seed.
    pub fn budget_levels(&self) -> usize {
        self.measurement
            .budgets
            .iter()
            .map(|(_, b)| b.levels.len())
            .max()
            .unwrap_or(1)
    }

    /// Per-seed EMC at budget level `level` (2^level × the configured budget); a seed that
    /// converged earlier keeps its last EMC.
    pub fn emcs_at(&self, level: usize) -> Vec<usize> {
        if self.measurement.budgets.is_empty() {
            return self.emcs();
        }
        self.measurement
            .budgets
            .iter()
            .map(|(_, b)| b.levels[level.min(b.levels.len() - 1)].outcome.emc)
            .collect()
    }

    /// Whether some seed fitted every sample up to the search's cap: its EMC is then only a
    /// lower bound.
    pub fn saturated(&self) -> bool {
        self.measurement.per_seed.iter().any(|(_, o)| o.saturated)
    }

    /// What to write after the median EMC when it is only a lower bound:
    /// ` (≥, fitted every sample up to the cap)`, ` (≥, budget-limited)`, or nothing.
    pub fn bound_note(&self) -> &'static str {
        match (self.saturated(), self.budget_limited()) {
            (true, _) => " (≥, fitted every sample up to the cap)",
            (false, true) => " (≥, budget-limited)",
            _ => "",
        }
    }

    /// Whether the arm's EMC may still grow with the budget: some seed's EMC still grew at
    /// the largest budget it was searched at, or some seed stopped (converged) at a smaller
    /// budget than another seed reached. A seed's convergence is one doubling within the
    /// tolerance, and EMC can stall for a doubling and then jump, so an arm counts as
    /// converged only when every seed converged at the arm's largest budget.
    pub fn budget_limited(&self) -> bool {
        self.lagging_seeds()
            || self
                .measurement
                .budgets
                .iter()
                .any(|(_, b)| b.converged == Some(false))
    }

    /// Whether some seed stopped (converged) at a smaller budget than another seed reached.
    pub fn lagging_seeds(&self) -> bool {
        let top = self.budget_levels();
        self.measurement
            .budgets
            .iter()
            .any(|(_, b)| b.levels.len() < top)
    }
}

/// A whole claim: text, grid and analysis.
pub struct ClaimSpec {
    /// The claim.
    pub claim: Claim,
    /// The grid of arms at a scale (`--seeds` replaces their seeds afterwards).
    pub grid: fn(Scale) -> Vec<Arm>,
    /// Turns the measured arms into a verdict.
    pub analyse: fn(&[ArmResult]) -> Verdict,
    /// The training work the adaptive rounds may spend, by scale.
    pub adaptive_work: WorkBound,
}

impl ClaimSpec {
    /// The arms at `scale`, with `seeds` (0..N) replacing theirs when given.
    pub(crate) fn arms(&self, scale: Scale, seeds: Option<u64>) -> Vec<Arm> {
        let mut arms = (self.grid)(scale);
        if let Some(n) = seeds {
            for a in &mut arms {
                a.measure.seeds = (0..n.max(1)).collect();
            }
        }
        arms
    }
}
