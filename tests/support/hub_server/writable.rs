//! The writable mode's endpoints, as hf-hub 1.x uses them to create a repository, commit
//! files and download them back (`{t}` is `models` or `datasets`, `{p}` the URL prefix:
//! empty or `datasets/`):
//!
//! - `POST /api/repos/create` (`{name, organization, private, type}`): `200 {url}`, `409`
//!   when it exists. A new repository has one commit holding `.gitattributes`.
//! - `GET /api/{t}/{owner}/{name}[/revision/{rev}]`: repository info (`id`, `sha`,
//!   `private`, `siblings`); `404` with `X-Error-Code: RepoNotFound` / `RevisionNotFound`.
//! - `POST /api/{t}/{owner}/{name}/branch/{branch}`: creates a branch at `main`.
//! - `POST /api/{t}/{owner}/{name}/preupload/{rev}`: classifies each file `lfs` (binary:
//!   a NUL byte in the sample, or `.safetensors`, `.png`, `.parquet`) or `regular`.
//! - `POST /{p}{owner}/{name}.git/info/lfs/objects/batch`: answers `transfer: basic` (hf-hub
//!   then sends the bytes inline in the commit), or `xet` after `offer_xet`.
//! - `GET /api/{t}/{owner}/{name}/xet-write-token/{rev}`: `501`: xet storage (content-defined
//!   chunks, xorbs and shards on a CAS server) is not implemented here.
//! - `POST /api/{t}/{owner}/{name}/commit/{rev}`: the NDJSON commit ([`super::commit`]).
//! - `HEAD|GET /{p}{owner}/{name}/resolve/{rev}/{path}`: the download reply of the module
//!   doc; a missing file is a `404` with `X-Error-Code: EntryNotFound`.
//! - `HEAD|GET /cdn/{sha256}`: the stored bytes.
//!
//! Writes need the store's `Authorization: Bearer <token>` (`401` otherwise); reads of a
//! private repository too.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{json, Value};
use tiny_http::{Method, Response};

use super::commit::commit;
use super::reply::{download_reply, error_reply, etag_of, header, json_reply, Download, Reply};
use super::request::Incoming;
use super::store::{is_binary, Repo, Store, StoredFile};

/// Answers `req` from `store`; `base` is the server's address.
pub(super) fn respond(store: &Store, req: &Incoming, base: &str) -> Reply {
    let authed = req.authorization.as_deref() == Some(store.authorization.as_str());
    let write = |reply: &dyn Fn() -> Reply| {
        if authed {
            reply()
        } else {
            unauthorized(req.authorization.is_some())
        }
    };
    let body = req.body.as_slice();
    let if_none_match = req.if_none_match.as_deref();
    match (&req.method, req.segments().as_slice()) {
        (Method::Post, ["api", "repos", "create"]) => write(&|| create_repo(store, base, body)),
        (Method::Get, ["api", t, owner, name]) => {
            info(store, t, &format!("{owner}/{name}"), None, authed)
        }
        (Method::Get, ["api", t, owner, name, "revision", rev]) => {
            info(store, t, &format!("{owner}/{name}"), Some(rev), authed)
        }
        (Method::Post, ["api", t, owner, name, "branch", branch]) => {
            write(&|| create_branch(store, t, &format!("{owner}/{name}"), branch))
        }
        (Method::Post, ["api", t, owner, name, "preupload", _rev]) => {
            write(&|| preupload(store, t, &format!("{owner}/{name}"), body))
        }
        (Method::Get, ["api", _t, _owner, _name, "xet-write-token", _rev]) => error_reply(
            501,
            None,
            "xet storage is not implemented by this test server (a CAS server storing \
             content-defined chunks in xorbs and shards)",
        ),
        (Method::Post, ["api", t, owner, name, "commit", rev]) => {
            write(&|| commit(store, base, t, &format!("{owner}/{name}"), rev, body))
        }
        (Method::Head | Method::Get, ["cdn", sha]) => match store.bytes_served(sha) {
            Some(b) => Response::from_data(b),
            None => error_reply(404, None, "no such object"),
        },
        (Method::Post, _) if req.path.ends_with(".git/info/lfs/objects/batch") => {
            write(&|| lfs_batch(store, body))
        }
        (Method::Head | Method::Get, ["datasets", owner, name, "resolve", rev, file @ ..]) => {
            let id = format!("{owner}/{name}");
            let at = Resolve::new("datasets", &id, rev, file);
            resolve(store, base, &at, if_none_match, authed)
        }
        (Method::Head | Method::Get, [owner, name, "resolve", rev, file @ ..]) => {
            let id = format!("{owner}/{name}");
            let at = Resolve::new("models", &id, rev, file);
            resolve(store, base, &at, if_none_match, authed)
        }
        _ => error_reply(
            404,
            None,
            &format!("no route for {} {}", req.method, req.path),
        ),
    }
}

fn unauthorized(has_auth: bool) -> Reply {
    error_reply(
        401,
        None,
        if has_auth {
            "Invalid credentials in Authorization header"
        } else {
            "Authorization header is required"
        },
    )
}

fn create_repo(store: &Store, base: &str, body: &[u8]) -> Reply {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return error_reply(400, None, "body is not JSON");
    };
    let (Some(name), Some(org)) = (v["name"].as_str(), v["organization"].as_str()) else {
        return error_reply(400, None, "expected name and organization");
    };
    let kind = format!("{}s", v["type"].as_str().unwrap_or("model"));
    if kind != "models" && kind != "datasets" {
        return error_reply(400, None, &format!("unsupported type {kind}"));
    }
    let id = format!("{org}/{name}");
    let prefix = if kind == "datasets" { "datasets/" } else { "" };
    let repo_url = format!("{base}/{prefix}{id}");
    let mut st = store.state();
    if st.repos.contains_key(&(kind.clone(), id.clone())) {
        return json_reply(
            409,
            &json!({"error": "You already created this repo", "url": repo_url}),
        );
    }
    let attrs = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.png filter=lfs diff=lfs merge=lfs -text\n";
    let sha = store.store_blob(attrs);
    let files: BTreeMap<String, StoredFile> = [(
        ".gitattributes".to_string(),
        StoredFile {
            sha256: sha,
            size: attrs.len() as u64,
            lfs: false,
        },
    )]
    .into_iter()
    .collect();
    let commit = st.new_commit(files, &id);
    st.repos.insert(
        (kind, id.clone()),
        Repo {
            private: v["private"].as_bool().unwrap_or(false),
            branches: [("main".to_string(), commit.clone())].into_iter().collect(),
            commits: [commit].into_iter().collect(),
        },
    );
    json_reply(200, &json!({"url": repo_url, "name": id}))
}

fn info(store: &Store, kind: &str, id: &str, rev: Option<&str>, authed: bool) -> Reply {
    let st = store.state();
    match st.lookup(kind, id, rev, authed) {
        Ok((repo, commit)) => {
            let siblings: Vec<Value> = st.commits[&commit]
                .keys()
                .map(|p| json!({"rfilename": p}))
                .collect();
            json_reply(
                200,
                &json!({"id": id, "sha": commit, "private": repo.private, "siblings": siblings}),
            )
        }
        Err(r) => r,
    }
}

fn create_branch(store: &Store, kind: &str, id: &str, branch: &str) -> Reply {
    let mut st = store.state();
    let key = (kind.to_string(), id.to_string());
    let Some(repo) = st.repos.get_mut(&key) else {
        return error_reply(404, Some("RepoNotFound"), "Repository not found");
    };
    if repo.branches.contains_key(branch) {
        return error_reply(409, None, "Reference already exists");
    }
    let main = repo.branches["main"].clone();
    repo.branches.insert(branch.to_string(), main);
    json_reply(200, &json!({}))
}

fn preupload(store: &Store, kind: &str, id: &str, body: &[u8]) -> Reply {
    if let Err(r) = store.state().lookup(kind, id, None, true) {
        return r;
    }
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return error_reply(400, None, "body is not JSON");
    };
    let files: Vec<Value> = v["files"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|f| {
            let path = f["path"].as_str().unwrap_or("");
            let sample = base64::engine::general_purpose::STANDARD
                .decode(f["sample"].as_str().unwrap_or(""))
                .unwrap_or_default();
            let mode = if is_binary(path, &sample) {
                "lfs"
            } else {
                "regular"
            };
            json!({"path": path, "uploadMode": mode, "shouldIgnore": false})
        })
        .collect();
    json_reply(200, &json!({"files": files}))
}

fn lfs_batch(store: &Store, body: &[u8]) -> Reply {
    let xet = store.state().xet;
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return error_reply(400, None, "body is not JSON");
    };
    let objects: Vec<Value> = v["objects"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|o| json!({"oid": o["oid"], "size": o["size"], "authenticated": true}))
        .collect();
    let mut r = json_reply(
        200,
        &json!({"transfer": if xet { "xet" } else { "basic" }, "objects": objects}),
    );
    r.add_header(header("Content-Type", "application/vnd.git-lfs+json"));
    r
}

/// A download request: which file of which repository at which revision.
struct Resolve<'a> {
    kind: &'a str,
    id: &'a str,
    rev: &'a str,
    file: String,
}

impl<'a> Resolve<'a> {
    fn new(kind: &'a str, id: &'a str, rev: &'a str, file: &[&str]) -> Self {
        Resolve {
            kind,
            id,
            rev,
            file: file.join("/"),
        }
    }
}

fn resolve(
    store: &Store,
    base: &str,
    at: &Resolve,
    if_none_match: Option<&str>,
    authed: bool,
) -> Reply {
    let st = store.state();
    let (_, commit) = match st.lookup(at.kind, at.id, Some(at.rev), authed) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(f) = st.commits[&commit].get(&at.file).cloned() else {
        let mut r = error_reply(404, Some("EntryNotFound"), "Entry not found");
        r.add_header(header("X-Repo-Commit", &commit));
        return r;
    };
    drop(st);
    let download = Download {
        commit: &commit,
        sha256: &f.sha256,
        etag: etag_of(&f.sha256, f.lfs),
        size: f.size,
        lfs: f.lfs,
    };
    download_reply(&download, if_none_match, base, || {
        store.bytes_served(&f.sha256)
    })
}
