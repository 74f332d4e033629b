//! # emc-search
//!
//! The Effective Model Complexity search: for each seed, a fixed permutation of the
//! training split (after its variants) whose first `n` samples form the probe set; a probe
//! trains a fresh model on them with [`emc_train::fit`]; [`search`] brackets the largest
//! fitted `n` by doubling then bisection. [`measure`] runs the seeds in parallel, logs
//! every probe to `probes.csv` (append-only, resumable), and writes `summary.csv`,
//! `manifest.toml` and a checkpoint at the largest fitted `n` of each seed.
//! [`generalize_many`] trains the same model and procedure on a fixed-size training set and
//! evaluates it on the test split (`generalization.csv`, resumable).
//!
//! Layout: [`MeasureConfig`] and its hashes (`config`); the datasets and one seed's data
//! (`data`); the worker pool over (configuration, seed) tasks (`pool`); one seed's search
//! as a `SeedSearch` (`seed`) over the pure [`search`] (`search`); the result files'
//! writers (`results`) and the append-only probe log (`probe_log`), whose rows, columns and keys belong to `emc-results`.
//!
//! This crate knows nothing of specific datasets or model families: it takes their names
//! and hands them to `emc-data` and `emc-models`.

mod config;
mod data;
mod error;
mod generalization;
mod lockstep;
mod measure;
mod memory;
mod pool;
mod probe_log;
mod results;
mod search;
mod seed;
mod shards;
mod stats;
mod transition;

pub use config::MeasureConfig;
pub use error::{Result, SearchError};
pub use generalization::{
    generalization_key, generalize_many, Generalization, GeneralizationConfig, GeneralizationRow,
    GENERALIZATION_FILE,
};
// The rows of the result files are emc-results' (re-exported for the crates that write
// through this one).
pub use emc_results::{ProbeRow, SummaryRow};
pub use measure::{measure, measure_many, Event, Measurement, RunOptions, DEFAULT_LOCKSTEP};
pub use memory::{parse_memory_size, MemoryEstimate, MemoryLimit};
pub use probe_log::ProbeLog;
pub use results::{check_data, read_csv, write_atomic};
pub use search::{
    default_n0, search, search_budgets, BudgetLevel, BudgetOutcome, BudgetProbe, ProbePoint,
    SearchConfig, SearchOutcome, DEFAULT_BUDGET_TOL, DEFAULT_SEED_CI_WIDTH,
};
pub use shards::{merge_probe_logs, shard_count, Shard, MARKER, SHARDS_DIR};
pub use stats::{median_ci_width, EmcStats, MEDIAN_CI_RESAMPLES};
pub use transition::{transition, Transition};
