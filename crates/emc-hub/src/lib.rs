//! # emc-hub
//!
//! Publishes EMC results on the Hugging Face Hub and fetches them back, checked, so that
//! anyone can trust a published EMC without retraining:
//!
//! - [`push`]: a results directory (a measurement's or a claim's: CSVs, manifests, verdict,
//!   plots, safetensors checkpoints) becomes a Hub repository in **one commit**, through
//!   hf-hub's commit API, with a generated `README.md` card (YAML metadata, what was
//!   measured, protocol, verdict, how to verify and reproduce, citation) and
//!   `hub_manifest.toml`, the size and SHA-256 of every file.
//! - [`pull`]: downloads through the standard hub cache (offline from the cache once pulled),
//!   checks every file against `hub_manifest.toml`, fails loudly on a mismatch, and writes
//!   the output directory only when everything matched.
//! - [`verify`]: rebuilds each checkpoint's model and exact training subset and recomputes
//!   its training accuracy, which must be 100% for every checkpoint recorded as a fit.
//! - [`pull_and_verify`]: both, for claims that start from published results.
//!
//! The token is read where the Hugging Face tools read it ([`HubConfig::from_env`]) and is
//! never printed or written. This crate knows the result files of `emc-search` and the
//! checkpoints of `emc-train`; it knows nothing of specific claims.
//!
//! ```no_run
//! use emc_hub::{pull, push, verify, HubConfig, PushOptions, RepoId, RepoKind, VerifyOptions};
//! # fn main() -> emc_hub::Result<()> {
//! let cfg = HubConfig::from_env();
//! let repo = RepoId::parse("me/emc-sgd-vs-gd-smoke", RepoKind::Model)?;
//! let report = push("artifacts/sgd-vs-gd/smoke".as_ref(), &repo, &PushOptions::default(), &cfg)?;
//! println!("{} files at {}", report.files.len(), report.url);
//! let pulled = pull(&repo, None, "pulled".as_ref(), &cfg)?;
//! let checked = verify(&pulled.dir, &VerifyOptions::default())?;
//! print!("{}", checked.text());
//! # Ok(()) }
//! ```

mod card;
mod client;
mod error;
mod manifest;
mod pull;
mod push;
mod verify;

pub use card::ARXIV;
pub use client::{HubConfig, RepoId, RepoKind, DEFAULT_ENDPOINT};
pub use error::{FileMismatch, HubError, Result};
pub use manifest::{FileEntry, HubManifest, FORMAT, HUB_MANIFEST};
pub use pull::{pull, pull_and_verify, pull_and_verify_report, PullVerifyOptions, Pulled};
pub use push::{prepare, push, PushOptions, PushPlan, PushReport};
pub use verify::{verify, CheckpointCheck, VerifyOptions, VerifyReport};
