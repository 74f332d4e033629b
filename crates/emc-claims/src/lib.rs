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
//! measured here too, and a verdict may carry scatter plots ([`Scatter`]).
//!
//! A claim binary is then only `fn main() { emc_claims::main(&SPEC) }`.
//!
//! This crate knows nothing of a particular claim, and decides nothing about EMC itself:
//! that is `emc-search`'s job.

mod claim;
mod correlation;
mod effect;
mod error;
mod grid;
mod run;

pub use claim::{
    combine_outcomes, Arm, ArmResult, Claim, ClaimSpec, Expectation, Outcome, Scale, Section,
    Verdict,
};
pub use correlation::{bootstrap_correlation, kendall_tau_b, pearson, Correlation};
pub use effect::{
    best_per_procedure, bootstrap_log_ratio, budget_robust_effect, lower_bound_only,
    BudgetedEffect, Effect,
};
pub use emc_report::{Scatter, ScatterPoint};
pub use emc_search::GeneralizationConfig;
pub use error::{ClaimError, Result};
pub use grid::{Data, Protocol, Standard, COSINE_BUDGET};
pub use run::{dry_run, fetch_published, main, run_claim, ClaimArgs, ClaimReport, RunSettings};

/// Every claim binary links this crate, so it sets their allocator: candle allocates a
/// buffer per op, and mimalloc keeps them where glibc returns them to the OS (page faults
/// on every step); [`main`] turns its purging off. The `emc` binary does the same.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
