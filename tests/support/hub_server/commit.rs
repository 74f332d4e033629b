//! The writable mode's commit endpoint, `POST /api/{t}/{owner}/{name}/commit/{rev}`: an
//! NDJSON body of `header` (the summary), `file` (base64 content), `lfsFile` (a blob
//! uploaded before, by SHA-256) and `deletedFile` lines, applied to the branch all or
//! nothing; `200 {commitOid, commitUrl}`.

use base64::Engine;
use serde_json::{json, Value};

use super::reply::{error_reply, json_reply, Reply};
use super::store::{is_binary, Store, StoredFile};

/// The parsed body of a commit.
#[derive(Default)]
struct Changes {
    summary: String,
    adds: Vec<(String, Vec<u8>)>,
    /// (path, SHA-256, size).
    lfs_adds: Vec<(String, String, u64)>,
    deletes: Vec<String>,
}

/// Applies the commit in `body` to branch `rev` of `id`; `base` is the server's address.
pub(super) fn commit(
    store: &Store,
    base: &str,
    kind: &str,
    id: &str,
    rev: &str,
    body: &[u8],
) -> Reply {
    let changes = match parse(body) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut st = store.state();
    let (_, parent) = match st.lookup(kind, id, Some(rev), true) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !st.repos[&(kind.to_string(), id.to_string())]
        .branches
        .contains_key(rev)
    {
        return error_reply(400, None, &format!("{rev} is not a branch"));
    }
    let mut files = st.commits[&parent].clone();
    for (path, oid, size) in changes.lfs_adds {
        if !store.has_blob(&oid) {
            return error_reply(
                422,
                None,
                &format!("{path}: LFS object {oid} was never uploaded"),
            );
        }
        files.insert(
            path,
            StoredFile {
                sha256: oid,
                size,
                lfs: true,
            },
        );
    }
    for (path, bytes) in changes.adds {
        let sha = store.store_blob(&bytes);
        let lfs = is_binary(&path, &bytes[..bytes.len().min(512)]);
        files.insert(
            path,
            StoredFile {
                sha256: sha,
                size: bytes.len() as u64,
                lfs,
            },
        );
    }
    for path in changes.deletes {
        files.remove(&path);
    }
    let commit = st.new_commit(files, &changes.summary);
    let repo = st
        .repos
        .get_mut(&(kind.to_string(), id.to_string()))
        .expect("looked up");
    repo.branches.insert(rev.to_string(), commit.clone());
    repo.commits.insert(commit.clone());
    let prefix = if kind == "datasets" { "datasets/" } else { "" };
    json_reply(
        200,
        &json!({
            "success": true,
            "commitOid": commit,
            "commitMessage": changes.summary,
            "commitUrl": format!("{base}/{prefix}{id}/commit/{commit}"),
        }),
    )
}

/// Reads the NDJSON lines (`Err`: the `400` to send).
fn parse(body: &[u8]) -> Result<Changes, Reply> {
    let text = String::from_utf8_lossy(body);
    let mut c = Changes::default();
    for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            return Err(error_reply(400, None, &format!("line {}: not JSON", i + 1)));
        };
        let value = &v["value"];
        match v["key"].as_str() {
            Some("header") => c.summary = value["summary"].as_str().unwrap_or("").into(),
            Some("file") => {
                let (Some(path), Some(content)) =
                    (value["path"].as_str(), value["content"].as_str())
                else {
                    return Err(error_reply(400, None, "file entry without path or content"));
                };
                if value["encoding"].as_str() != Some("base64") {
                    return Err(error_reply(400, None, "expected base64 encoding"));
                }
                match base64::engine::general_purpose::STANDARD.decode(content) {
                    Ok(bytes) => c.adds.push((path.to_string(), bytes)),
                    Err(e) => {
                        return Err(error_reply(400, None, &format!("{path}: bad base64: {e}")))
                    }
                }
            }
            Some("lfsFile") => {
                let (Some(path), Some(oid)) = (value["path"].as_str(), value["oid"].as_str())
                else {
                    return Err(error_reply(400, None, "lfsFile entry without path or oid"));
                };
                c.lfs_adds.push((
                    path.to_string(),
                    oid.to_string(),
                    value["size"].as_u64().unwrap_or(0),
                ));
            }
            Some("deletedFile") => c
                .deletes
                .push(value["path"].as_str().unwrap_or("").to_string()),
            other => return Err(error_reply(400, None, &format!("unknown key {other:?}"))),
        }
    }
    if c.summary.is_empty() {
        return Err(error_reply(400, None, "commit without a summary"));
    }
    Ok(c)
}
