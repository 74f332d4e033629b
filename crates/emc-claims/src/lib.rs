//! # emc-claims
//!
//! The claim framework: one paper claim is *data* — its text and place in the paper
//! ([`Claim`]), a grid of named arms per [`Scale`] (each an [`emc_search::MeasureConfig`]),
//! and an analysis turning the measured arms into a [`Verdict`]. Everything else is done
//! here once for every claim: the command-line flags ([`ClaimArgs`]), running every arm
//! with [`emc_search::measure`] into one output directory (so reruns resume per probe),
//! progress lines, the `--dry-run` plan and cost estimate, the bootstrap effect size
//! ([`bootstrap_log_ratio`]), correlations across configurations ([`bootstrap_correlation`])
//! and `verdict.md` with the verdict table. An arm may also ask for its generalization
//! ([`Arm::with_generalization`]: test accuracy after training on a fixed-size set), which is
//! measured here too, and a verdict may carry scatter plots ([`Scatter`]). Analyses share
//! [`architectures`] (their groups in grid order) and [`Table`] (their markdown tables).
//!
//! A claim binary is then only `fn main() { emc_claims::main(&SPEC) }` and its global
//! allocator (mimalloc, whose purging [`main`] turns off): a library sets no allocator.
//!
//! This crate knows nothing of a particular claim, and decides nothing about EMC itself:
//! that is `emc-search`'s job.

mod budgeted;
mod claim;
mod cli;
mod correlation;
mod effect;
mod error;
mod extend;
mod grid;
mod group;
mod invocations;
mod judgements;
mod plan;
mod render;
mod run;
mod shard;
mod slope;
mod table;
pub mod testing;
mod verdict;
mod work_bound;

pub use budgeted::{
    budget_robust_effect, lower_bound_only, per_param_ratio, per_size_ratio, BudgetedEffect,
};
pub use claim::{Arm, ArmResult, Claim, ClaimSpec, Expectation, Scale};
pub use cli::{fetch_published, main, ClaimArgs};
pub use correlation::{bootstrap_correlation, kendall_tau_b, pearson, Correlation};
pub use effect::{
    bootstrap_log_contrast, bootstrap_log_ratio, budget_trend, Effect, Trend, RESAMPLES,
};
pub use emc_report::{Scatter, ScatterPoint};
pub use emc_search::GeneralizationConfig;
pub use error::{ClaimError, Result};
pub use extend::{
    extend_arms, Caps, Extension, Work, DEFAULT_EXTENSION_CAP, DEFAULT_SEED_CAP, SEED_STEP,
};
pub use grid::{Data, Protocol, Standard, COSINE_BUDGET};
pub use group::{architectures, best_per_procedure, by_architecture, first_seen};
pub use invocations::{Invocation, Phases, ShardTotals, Totals, RUNS_CSV};
pub use judgements::{Judged, Judgements};
pub use plan::dry_run;
pub use run::{run_claim, run_shard, ClaimReport, RunSettings, ShardReport};
pub use shard::{
    merge_shards, part_arms, partition, Merge, Shard, ShardMarker, MARKER, SHARDS_DIR,
};
pub use slope::{bootstrap_slope, direction, SlopePoint};
pub use table::{Align, Table};
pub use verdict::{combine_outcomes, Outcome, PartOutcomes, Section, Verdict};
pub use work_bound::WorkBound;
