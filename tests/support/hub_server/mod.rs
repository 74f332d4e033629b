//! A Hugging Face Hub stand-in on `127.0.0.1` for the hub tests: it answers hf-hub's real
//! client the way huggingface.co does. One server type with two modes, which share the
//! listener, the request parsing and the download replies:
//!
//! - **read-only** ([`HubServer::start`]): a fixed list of dataset files ([`HubFile`]) at
//!   revision `main` or [`COMMIT`], for the data-loading tests (see its `files` module for what it
//!   answers);
//! - **writable** ([`HubServer::writable`]): an empty Hub that creates repositories, takes
//!   commits and serves them back, storing uploads in a temporary directory, for the
//!   publish tests (see its `writable` and `commit` modules for its endpoints, `store` for what it
//!   keeps, and the inspection methods below).
//!
//! Downloads look the same in both modes: `HEAD|GET …/resolve/{rev}/{path}` answers an LFS
//! file with a `302` to `/cdn/{sha256}` carrying `X-Repo-Commit`, `X-Linked-Etag` (the
//! SHA-256) and `X-Linked-Size`, a plain file with a `200`, `ETag` and `X-Repo-Commit`, and
//! `If-None-Match` with the current ETag with a `304`; `HEAD|GET /cdn/{sha256}` gives the
//! bytes. The server stops when dropped (or after [`MAX_LIFETIME`]) and never listens
//! beyond the loopback interface.

mod commit;
mod files;
mod listener;
mod reply;
mod request;
mod store;
mod writable;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub use files::{HubFile, COMMIT};
pub use store::StoredFile;

use listener::Listener;
use store::Store;

/// The server shuts down by itself after this long, even if never dropped.
pub const MAX_LIFETIME: Duration = Duration::from_secs(300);

/// A running stand-in Hub; stops when dropped.
pub struct HubServer {
    // Declared first, so that the serving thread stops before the store goes.
    listener: Listener,
    /// The repositories of a writable server (`None`: read-only).
    store: Option<Arc<Store>>,
}

impl HubServer {
    /// Starts a read-only Hub serving `files` on an ephemeral port of 127.0.0.1.
    pub fn start(files: Vec<HubFile>) -> std::io::Result<Self> {
        let listener = Listener::spawn(move |req, base| files::respond(&files, req, base))?;
        Ok(HubServer {
            listener,
            store: None,
        })
    }

    /// Starts an empty writable Hub on an ephemeral port of 127.0.0.1 that accepts writes
    /// (and reads of private repositories) with `Authorization: Bearer <token>`.
    pub fn writable(token: &str) -> std::io::Result<Self> {
        let store = Arc::new(Store::new(token)?);
        let served = store.clone();
        let listener = Listener::spawn(move |req, base| writable::respond(&served, req, base))?;
        Ok(HubServer {
            listener,
            store: Some(store),
        })
    }

    /// The base address, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        self.listener.url()
    }

    /// Requests served so far, as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.listener.requests()
    }

    /// Stops the server and waits for its thread; the port refuses connections afterwards.
    pub fn stop(mut self) {
        self.listener.shutdown();
    }

    /// The files of `repo` (`models` or `datasets`, `owner/name`) at a branch or commit.
    pub fn files(
        &self,
        kind: &str,
        repo: &str,
        revision: &str,
    ) -> Option<BTreeMap<String, StoredFile>> {
        self.store().files(kind, repo, revision)
    }

    /// Commits of `repo` (the creation commit included).
    pub fn commit_count(&self, kind: &str, repo: &str) -> usize {
        self.store().commit_count(kind, repo)
    }

    /// Whether `repo` is private (`None`: no such repository).
    pub fn is_private(&self, kind: &str, repo: &str) -> Option<bool> {
        self.store().is_private(kind, repo)
    }

    /// The stored bytes of a blob.
    pub fn blob(&self, sha256: &str) -> Option<Vec<u8>> {
        self.store().blob(sha256)
    }

    /// From now on the blob with this SHA-256 is served with only its first half, as a
    /// transfer cut short by a proxy would be (headers still announce the full size).
    pub fn truncate(&self, sha256: &str) {
        self.store().truncate(sha256)
    }

    /// Whether the LFS batch endpoint answers `xet` (as huggingface.co does) instead of
    /// `basic`.
    pub fn offer_xet(&self, on: bool) {
        self.store().offer_xet(on)
    }

    fn store(&self) -> &Store {
        self.store
            .as_deref()
            .expect("only a writable stand-in Hub (HubServer::writable) keeps repositories")
    }
}
