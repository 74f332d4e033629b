//! What the writable mode keeps: repositories with their branches and commits, each
//! commit's file list, and the uploaded bytes as blobs named by SHA-256 in a temporary
//! directory. Also the test's levers on it (truncated blobs, the xet offer).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use super::reply::{error_reply, sha256_hex, Reply};

/// A file of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// SHA-256 of the bytes (the blob's name in the store).
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Stored as an LFS file (served through the CDN redirect).
    pub lfs: bool,
}

/// One repository.
#[derive(Debug, Clone)]
pub(super) struct Repo {
    pub(super) private: bool,
    /// Branch → commit.
    pub(super) branches: BTreeMap<String, String>,
    pub(super) commits: BTreeSet<String>,
}

/// Everything but the blobs.
#[derive(Debug, Default)]
pub(super) struct State {
    /// (`models`|`datasets`, `owner/name`) → repository.
    pub(super) repos: BTreeMap<(String, String), Repo>,
    /// Commit id → files.
    pub(super) commits: BTreeMap<String, BTreeMap<String, StoredFile>>,
    /// Blobs served with only their first half.
    truncated: BTreeSet<String>,
    /// Answer the LFS batch with `xet`.
    pub(super) xet: bool,
    /// Commits made (to derive distinct ids).
    counter: u64,
}

impl State {
    /// Records a commit of `files` and returns its id (derived from a counter, `seed` and
    /// the file list).
    pub(super) fn new_commit(&mut self, files: BTreeMap<String, StoredFile>, seed: &str) -> String {
        self.counter += 1;
        let listing: String = files
            .iter()
            .map(|(p, f)| format!("{p}:{}\n", f.sha256))
            .collect();
        let id =
            sha256_hex(format!("{}|{seed}|{listing}", self.counter).as_bytes())[..40].to_string();
        self.commits.insert(id.clone(), files);
        id
    }

    /// The repository and the commit of `rev` (default `main`; a branch or a commit id),
    /// hiding a private repository from an unauthenticated request. `Err`: the reply to send.
    pub(super) fn lookup(
        &self,
        kind: &str,
        id: &str,
        rev: Option<&str>,
        authed: bool,
    ) -> Result<(Repo, String), Reply> {
        let repo = self
            .repos
            .get(&(kind.to_string(), id.to_string()))
            .filter(|r| !r.private || authed)
            .ok_or_else(|| error_reply(404, Some("RepoNotFound"), "Repository not found"))?;
        let rev = rev.unwrap_or("main");
        let commit = repo
            .branches
            .get(rev)
            .cloned()
            .or_else(|| repo.commits.contains(rev).then(|| rev.to_string()))
            .ok_or_else(|| {
                error_reply(
                    404,
                    Some("RevisionNotFound"),
                    &format!("Invalid rev id: {rev}"),
                )
            })?;
        Ok((repo.clone(), commit))
    }
}

/// The writable Hub's data.
pub(super) struct Store {
    /// The `Authorization` value writes need: `Bearer <token>`.
    pub(super) authorization: String,
    state: Mutex<State>,
    blobs: PathBuf,
    _dir: tempfile::TempDir,
}

impl Store {
    /// An empty store in a fresh temporary directory, accepting `token`.
    pub(super) fn new(token: &str) -> std::io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let blobs = dir.path().join("blobs");
        std::fs::create_dir_all(&blobs)?;
        Ok(Store {
            authorization: format!("Bearer {token}"),
            state: Mutex::new(State::default()),
            blobs,
            _dir: dir,
        })
    }

    /// The state, locked.
    pub(super) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("state")
    }

    /// Writes `bytes` as a blob and returns its SHA-256.
    pub(super) fn store_blob(&self, bytes: &[u8]) -> String {
        let sha = sha256_hex(bytes);
        let _ = std::fs::write(self.blobs.join(&sha), bytes);
        sha
    }

    /// Whether a blob with this SHA-256 was stored.
    pub(super) fn has_blob(&self, sha256: &str) -> bool {
        self.blobs.join(sha256).is_file()
    }

    /// The stored bytes of a blob.
    pub(super) fn blob(&self, sha256: &str) -> Option<Vec<u8>> {
        std::fs::read(self.blobs.join(sha256)).ok()
    }

    /// The bytes a download of the blob gets (cut in half once [`Store::truncate`]d).
    pub(super) fn bytes_served(&self, sha256: &str) -> Option<Vec<u8>> {
        let mut bytes = self.blob(sha256)?;
        if self
            .state
            .lock()
            .map(|s| s.truncated.contains(sha256))
            .unwrap_or(false)
        {
            bytes.truncate(bytes.len() / 2);
        }
        Some(bytes)
    }

    /// The files of `repo` at a branch or commit.
    pub(super) fn files(
        &self,
        kind: &str,
        repo: &str,
        revision: &str,
    ) -> Option<BTreeMap<String, StoredFile>> {
        let st = self.state.lock().ok()?;
        let r = st.repos.get(&(kind.to_string(), repo.to_string()))?;
        let commit = r
            .branches
            .get(revision)
            .cloned()
            .or_else(|| r.commits.contains(revision).then(|| revision.to_string()))?;
        st.commits.get(&commit).cloned()
    }

    /// Commits of `repo` (the creation commit included).
    pub(super) fn commit_count(&self, kind: &str, repo: &str) -> usize {
        self.state
            .lock()
            .ok()
            .and_then(|st| {
                st.repos
                    .get(&(kind.to_string(), repo.to_string()))
                    .map(|r| r.commits.len())
            })
            .unwrap_or(0)
    }

    /// Whether `repo` is private (`None`: no such repository).
    pub(super) fn is_private(&self, kind: &str, repo: &str) -> Option<bool> {
        let st = self.state.lock().ok()?;
        st.repos
            .get(&(kind.to_string(), repo.to_string()))
            .map(|r| r.private)
    }

    /// Serves the blob with only its first half from now on.
    pub(super) fn truncate(&self, sha256: &str) {
        if let Ok(mut st) = self.state.lock() {
            st.truncated.insert(sha256.to_string());
        }
    }

    /// Makes the LFS batch endpoint answer `xet` (or `basic` again).
    pub(super) fn offer_xet(&self, on: bool) {
        if let Ok(mut st) = self.state.lock() {
            st.xet = on;
        }
    }
}

/// Whether the Hub stores a file through LFS: a NUL byte in its first bytes, or a binary
/// extension.
pub(super) fn is_binary(path: &str, sample: &[u8]) -> bool {
    sample.contains(&0)
        || [".safetensors", ".png", ".parquet", ".bin"]
            .iter()
            .any(|e| path.ends_with(e))
}
