//! The replies both modes send: JSON and Hub-style errors, and the answer to a download
//! (`resolve`) request.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tiny_http::{Header, Response};

/// A reply with an in-memory body.
pub(super) type Reply = Response<std::io::Cursor<Vec<u8>>>;

/// Lower-case hex SHA-256 of `bytes`.
pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A response header.
pub(super) fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("valid header")
}

/// `value` as a JSON body with `status`.
pub(super) fn json_reply(status: u16, v: &Value) -> Reply {
    Response::from_data(v.to_string().into_bytes())
        .with_status_code(status)
        .with_header(header("Content-Type", "application/json"))
}

/// A Hub error: `{"error": message}`, `X-Error-Message` and, if given, `X-Error-Code` (which
/// hf-hub turns into `RepoNotFound`, `EntryNotFound`, ...).
pub(super) fn error_reply(status: u16, code: Option<&str>, message: &str) -> Reply {
    let mut r = json_reply(status, &json!({ "error": message }));
    if let Some(code) = code {
        r.add_header(header("X-Error-Code", code));
    }
    r.add_header(header("X-Error-Message", message));
    r
}

/// The ETag the Hub announces for a file: an LFS file's SHA-256, or for a plain file a
/// 40-hex id like git's blob ids (its exact value does not matter).
pub(super) fn etag_of(sha256: &str, lfs: bool) -> String {
    if lfs {
        sha256.to_string()
    } else {
        sha256[..40].to_string()
    }
}

/// One file at one commit, as a download request finds it.
pub(super) struct Download<'a> {
    /// The commit announced in `X-Repo-Commit`.
    pub(super) commit: &'a str,
    /// SHA-256 of the bytes (the CDN path of an LFS file).
    pub(super) sha256: &'a str,
    /// The ETag announced.
    pub(super) etag: String,
    /// Size in bytes.
    pub(super) size: u64,
    /// Served through the CDN redirect.
    pub(super) lfs: bool,
}

/// The answer to `HEAD|GET …/resolve/{rev}/{path}`: `304` when `If-None-Match` holds the
/// ETag; an LFS file's `302` to `{base}/cdn/{sha256}` with `X-Linked-Etag` and
/// `X-Linked-Size`; a plain file's `200` with its bytes (from `body`; `500` if missing).
pub(super) fn download_reply(
    d: &Download,
    if_none_match: Option<&str>,
    base: &str,
    body: impl FnOnce() -> Option<Vec<u8>>,
) -> Reply {
    let common = [
        header("X-Repo-Commit", d.commit),
        header("Content-Type", "application/octet-stream"),
    ];
    let mut r = if if_none_match == Some(d.etag.as_str()) {
        let mut r = Response::from_data(vec![]).with_status_code(304);
        r.add_header(header("ETag", &format!("\"{}\"", d.etag)));
        r
    } else if d.lfs {
        let mut r = Response::from_data(b"Found. Redirecting".to_vec()).with_status_code(302);
        r.add_header(header("Location", &format!("{base}/cdn/{}", d.sha256)));
        r.add_header(header("X-Linked-Etag", &format!("\"{}\"", d.etag)));
        r.add_header(header("X-Linked-Size", &d.size.to_string()));
        // The git pointer's id, as the Hub sends beside X-Linked-Etag.
        r.add_header(header("ETag", "\"pointer-file-oid\""));
        r
    } else {
        let Some(bytes) = body() else {
            return error_reply(500, None, "blob missing from the store");
        };
        let mut r = Response::from_data(bytes);
        r.add_header(header("ETag", &format!("\"{}\"", d.etag)));
        r
    };
    for h in common {
        r.add_header(h);
    }
    r
}
