//! The read-only mode: a fixed list of dataset files, answering the requests hf-hub's
//! `download_file` makes.
//!
//! - `HEAD|GET /datasets/{repo}/resolve/{revision}/{file}`, the revision `main` or
//!   [`COMMIT`]: the download reply of the module doc, `X-Repo-Commit` always [`COMMIT`].
//! - `HEAD|GET /cdn/{sha256}`: an LFS file's bytes.
//! - Anything else: `404` with `X-Error-Code: EntryNotFound`.

use tiny_http::{Method, Response};

use super::reply::{download_reply, error_reply, etag_of, sha256_hex, Download, Reply};
use super::request::Incoming;

/// The commit every file is served at.
pub const COMMIT: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567";

/// One file of a dataset repository.
#[derive(Debug, Clone)]
pub struct HubFile {
    /// `owner/name` of the dataset repository.
    pub repo: String,
    /// Path inside the repository.
    pub path: String,
    /// The bytes served.
    pub bytes: Vec<u8>,
    /// Served like an LFS file (redirect to a CDN path, SHA-256 ETag), as parquet files are.
    pub lfs: bool,
    /// An ETag to announce instead of the true one (to simulate a bad transfer).
    pub etag_override: Option<String>,
}

impl HubFile {
    /// An LFS file announced with its true SHA-256.
    pub fn lfs(repo: &str, path: &str, bytes: Vec<u8>) -> Self {
        HubFile {
            repo: repo.into(),
            path: path.into(),
            bytes,
            lfs: true,
            etag_override: None,
        }
    }

    /// A plain (non-LFS) file with a git-style ETag.
    pub fn plain(repo: &str, path: &str, bytes: Vec<u8>) -> Self {
        HubFile {
            lfs: false,
            ..HubFile::lfs(repo, path, bytes)
        }
    }

    fn sha256(&self) -> String {
        sha256_hex(&self.bytes)
    }
}

/// Answers `req` from `files`; `base` is the server's address.
pub(super) fn respond(files: &[HubFile], req: &Incoming, base: &str) -> Reply {
    if !matches!(req.method, Method::Get | Method::Head) {
        return not_found();
    }
    let resolved = files.iter().find(|f| {
        ["main", COMMIT]
            .iter()
            .any(|rev| req.path == format!("/datasets/{}/resolve/{rev}/{}", f.repo, f.path))
    });
    if let Some(f) = resolved {
        let sha256 = f.sha256();
        let download = Download {
            commit: COMMIT,
            etag: f
                .etag_override
                .clone()
                .unwrap_or_else(|| etag_of(&sha256, f.lfs)),
            sha256: &sha256,
            size: f.bytes.len() as u64,
            lfs: f.lfs,
        };
        let if_none_match = req.if_none_match.as_deref();
        return download_reply(&download, if_none_match, base, || Some(f.bytes.clone()));
    }
    match files
        .iter()
        .find(|f| f.lfs && req.path == format!("/cdn/{}", f.sha256()))
    {
        Some(f) => Response::from_data(f.bytes.clone()),
        None => not_found(),
    }
}

fn not_found() -> Reply {
    error_reply(404, Some("EntryNotFound"), "Entry not found")
}
