//! # emc-results
//!
//! The one owner of what an EMC measurement directory holds, for the crate that writes it
//! (`emc-search`) and the crates that read it (`emc-report`, the claims):
//!
//! - the rows of `probes.csv` ([`ProbeRow`]) and `summary.csv` ([`SummaryRow`]), whose
//!   column lists are derived from the row types ([`ProbeRow::columns`],
//!   [`SummaryRow::columns`]);
//! - the stop reasons a probe records ([`StopReason`]) and which of them stand when the
//!   budget grows ([`stands_with_more_budget`]);
//! - the budget carry-over rule: which probes of smaller budgets hold at a larger one
//!   ([`carries_over`], [`probes_at_budget`]);
//! - a seed's EMC as `probes.csv` gives it, to check `summary.csv` against
//!   ([`largest_fit`], [`emc_disagreement`]);
//! - the hashes that key a configuration and its probes, from a configuration as recorded
//!   in a manifest ([`RecordedConfig`]);
//! - how a result file is opened to be read: a regular file, bounded in size
//!   ([`open_result_file`]).
//!
//! It knows nothing of tensors, models, datasets or training: reading a results directory
//! needs no candle.

mod budget;
mod config;
mod emc;
mod file;
mod rows;
mod stop;

pub use budget::{carries_over, probes_at_budget, Recorded};
pub use config::{short_hash, RecordedConfig};
pub use emc::{emc_disagreement, largest_fit};
pub use file::{open_result_file, read_result_bytes, read_result_text, MAX_RESULT_FILE};
pub use rows::{ProbeRow, SummaryRow};
pub use stop::{stands_with_more_budget, StopReason};
