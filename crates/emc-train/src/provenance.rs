//! Provenance written beside every checkpoint and result: crate version and git commit.

use serde::{Deserialize, Serialize};

/// Where a result came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// Version of the emc crates.
    pub crate_version: String,
    /// Git commit the binary was built from (`-dirty` when the tree had local changes).
    pub git_commit: String,
}

impl Provenance {
    /// The provenance of this build.
    pub fn current() -> Self {
        Provenance {
            crate_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: env!("EMC_GIT_COMMIT").to_string(),
        }
    }
}
