//! A writable Hugging Face Hub stand-in on `127.0.0.1` for the publish tests: it answers
//! every request hf-hub 1.x makes to create a repository, commit files and download them
//! back, the way huggingface.co does, and stores uploaded files in a temporary directory.
//!
//! Endpoints (`{t}` is `models` or `datasets`, `{p}` the URL prefix: empty or `datasets/`):
//!
//! - `POST /api/repos/create` (`{name, organization, private, type}`): `200 {url}`, `409`
//!   when it exists. A new repository has one commit holding `.gitattributes`.
//! - `GET /api/{t}/{owner}/{name}[/revision/{rev}]`: repository info (`id`, `sha`,
//!   `private`, `siblings`); `404` with `X-Error-Code: RepoNotFound` / `RevisionNotFound`.
//! - `POST /api/{t}/{owner}/{name}/branch/{branch}`: creates a branch at `main`.
//! - `POST /api/{t}/{owner}/{name}/preupload/{rev}`: classifies each file `lfs` (binary:
//!   a NUL byte in the sample, or `.safetensors`, `.png`, `.parquet`) or `regular`.
//! - `POST /{p}{owner}/{name}.git/info/lfs/objects/batch`: answers `transfer: basic` (hf-hub
//!   then sends the bytes inline in the commit), or `xet` after [`HubStore::offer_xet`].
//! - `GET /api/{t}/{owner}/{name}/xet-write-token/{rev}`: `501`: xet storage (content-defined
//!   chunks, xorbs and shards on a CAS server) is not implemented here.
//! - `POST /api/{t}/{owner}/{name}/commit/{rev}`: the NDJSON commit (`header`, `file` with
//!   base64 content, `lfsFile` referring to stored bytes, `deletedFile`), applied all or
//!   nothing; `200 {commitOid, commitUrl}`.
//! - `HEAD|GET /{p}{owner}/{name}/resolve/{rev}/{path}`: an LFS file is a `302` to
//!   `/cdn/{sha256}` with `X-Linked-Etag`, `X-Linked-Size` and `X-Repo-Commit`; a regular
//!   file a `200` with `ETag` and `X-Repo-Commit`; `If-None-Match` gives `304`.
//! - `HEAD|GET /cdn/{sha256}`: the stored bytes.
//!
//! Writes need `Authorization: Bearer <token>` with the token given to [`HubStore::start`]
//! (`401` otherwise); reads of a private repository too. The server stops when dropped (or
//! after [`MAX_LIFETIME`]) and listens on the loopback interface only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tiny_http::{Header, Method, Request, Response, Server};

/// The server shuts down by itself after this long, even if never dropped.
pub const MAX_LIFETIME: Duration = Duration::from_secs(300);

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

#[derive(Debug, Clone)]
struct Repo {
    private: bool,
    branches: BTreeMap<String, String>,
    commits: BTreeSet<String>,
}

#[derive(Debug, Default)]
struct State {
    /// (`models`|`datasets`, `owner/name`) → repository.
    repos: BTreeMap<(String, String), Repo>,
    /// Commit id → files.
    commits: BTreeMap<String, BTreeMap<String, StoredFile>>,
    /// Blobs served with only their first half.
    truncated: BTreeSet<String>,
    /// Answer the LFS batch with `xet`.
    xet: bool,
    /// Commits made (to derive distinct ids).
    counter: u64,
}

/// A running writable stand-in Hub; stops when dropped.
pub struct HubStore {
    url: String,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<String>>>,
    state: Arc<Mutex<State>>,
    blobs: PathBuf,
    thread: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("valid header")
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let digits = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(digits, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl HubStore {
    /// Starts an empty Hub on an ephemeral port of 127.0.0.1 that accepts writes with
    /// `token`.
    pub fn start(token: &str) -> std::io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let blobs = dir.path().join("blobs");
        std::fs::create_dir_all(&blobs)?;
        let server = Server::http("127.0.0.1:0").map_err(std::io::Error::other)?;
        let port = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| std::io::Error::other("server has no IP address"))?
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(vec![]));
        let state = Arc::new(Mutex::new(State::default()));
        let thread = {
            let ctx = Ctx {
                base: url.clone(),
                token: format!("Bearer {token}"),
                blobs: blobs.clone(),
                state: state.clone(),
            };
            let (stop, log) = (stop.clone(), log.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + MAX_LIFETIME;
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    match server.recv_timeout(Duration::from_millis(20)) {
                        Ok(Some(request)) => {
                            let line = format!("{} {}", request.method(), request.url());
                            if let Ok(mut l) = log.lock() {
                                l.push(line);
                            }
                            ctx.respond(request);
                        }
                        Ok(None) => {}
                        Err(_) => break,
                    }
                }
            })
        };
        Ok(HubStore {
            url,
            stop,
            log,
            state,
            blobs,
            thread: Some(thread),
            _dir: dir,
        })
    }

    /// The base address, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Requests served so far, as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The files of `repo` (`models` or `datasets`, `owner/name`) at a branch or commit.
    pub fn files(
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
    pub fn commit_count(&self, kind: &str, repo: &str) -> usize {
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
    pub fn is_private(&self, kind: &str, repo: &str) -> Option<bool> {
        let st = self.state.lock().ok()?;
        st.repos
            .get(&(kind.to_string(), repo.to_string()))
            .map(|r| r.private)
    }

    /// The stored bytes of a blob.
    pub fn blob(&self, sha256: &str) -> Option<Vec<u8>> {
        std::fs::read(self.blobs.join(sha256)).ok()
    }

    /// From now on the blob with this SHA-256 is served with only its first half, as a
    /// transfer cut short by a proxy would be (headers still announce the full size).
    pub fn truncate(&self, sha256: &str) {
        if let Ok(mut st) = self.state.lock() {
            st.truncated.insert(sha256.to_string());
        }
    }

    /// Whether the LFS batch endpoint answers `xet` (as huggingface.co does) instead of
    /// `basic`.
    pub fn offer_xet(&self, on: bool) {
        if let Ok(mut st) = self.state.lock() {
            st.xet = on;
        }
    }

    /// Stops the server and waits for its thread; the port refuses connections afterwards.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for HubStore {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// What the request handler needs.
struct Ctx {
    base: String,
    token: String,
    blobs: PathBuf,
    state: Arc<Mutex<State>>,
}

type Reply = Response<std::io::Cursor<Vec<u8>>>;

fn json_reply(status: u16, v: &Value) -> Reply {
    Response::from_data(v.to_string().into_bytes())
        .with_status_code(status)
        .with_header(header("Content-Type", "application/json"))
}

fn error_reply(status: u16, code: Option<&str>, message: &str) -> Reply {
    let mut r = json_reply(status, &json!({ "error": message }));
    if let Some(code) = code {
        r.add_header(header("X-Error-Code", code));
    }
    r.add_header(header("X-Error-Message", message));
    r
}

fn is_binary(path: &str, sample: &[u8]) -> bool {
    sample.contains(&0)
        || [".safetensors", ".png", ".parquet", ".bin"]
            .iter()
            .any(|e| path.ends_with(e))
}

impl Ctx {
    fn respond(&self, mut request: Request) {
        let url = request.url().to_string();
        let path = url.split('?').next().unwrap_or("").to_string();
        let segs: Vec<String> = path
            .trim_start_matches('/')
            .split('/')
            .map(percent_decode)
            .collect();
        let authed = request
            .headers()
            .iter()
            .any(|h| h.field.equiv("Authorization") && h.value.as_str() == self.token);
        let has_auth = request
            .headers()
            .iter()
            .any(|h| h.field.equiv("Authorization"));
        let if_none_match = request
            .headers()
            .iter()
            .find(|h| h.field.equiv("If-None-Match"))
            .map(|h| h.value.as_str().trim_matches('"').to_string());
        let method = request.method().clone();
        let mut body = vec![];
        if method == Method::Post {
            let _ = request.as_reader().read_to_end(&mut body);
        }
        let s: Vec<&str> = segs.iter().map(String::as_str).collect();
        let reply = match (&method, s.as_slice()) {
            (Method::Post, ["api", "repos", "create"]) => {
                if !authed {
                    unauthorized(has_auth)
                } else {
                    self.create_repo(&body)
                }
            }
            (Method::Get, ["api", t, owner, name]) => {
                self.info(t, &format!("{owner}/{name}"), None, authed)
            }
            (Method::Get, ["api", t, owner, name, "revision", rev]) => {
                self.info(t, &format!("{owner}/{name}"), Some(rev), authed)
            }
            (Method::Post, ["api", t, owner, name, "branch", branch]) => {
                if !authed {
                    unauthorized(has_auth)
                } else {
                    self.create_branch(t, &format!("{owner}/{name}"), branch)
                }
            }
            (Method::Post, ["api", t, owner, name, "preupload", _rev]) => {
                if !authed {
                    unauthorized(has_auth)
                } else {
                    self.preupload(t, &format!("{owner}/{name}"), &body)
                }
            }
            (Method::Get, ["api", _t, _owner, _name, "xet-write-token", _rev]) => error_reply(
                501,
                None,
                "xet storage is not implemented by this test server (a CAS server storing \
                 content-defined chunks in xorbs and shards)",
            ),
            (Method::Post, ["api", t, owner, name, "commit", rev]) => {
                if !authed {
                    unauthorized(has_auth)
                } else {
                    self.commit(t, &format!("{owner}/{name}"), rev, &body)
                }
            }
            (Method::Head | Method::Get, ["cdn", sha]) => self.cdn(sha),
            (Method::Post, _) if path.ends_with(".git/info/lfs/objects/batch") => {
                if !authed {
                    unauthorized(has_auth)
                } else {
                    self.lfs_batch(&body)
                }
            }
            (Method::Head | Method::Get, ["datasets", owner, name, "resolve", rev, file @ ..]) => {
                self.resolve(
                    "datasets",
                    &format!("{owner}/{name}"),
                    rev,
                    &file.join("/"),
                    if_none_match,
                    authed,
                )
            }
            (Method::Head | Method::Get, [owner, name, "resolve", rev, file @ ..]) => self.resolve(
                "models",
                &format!("{owner}/{name}"),
                rev,
                &file.join("/"),
                if_none_match,
                authed,
            ),
            _ => error_reply(404, None, &format!("no route for {method} {path}")),
        };
        let _ = request.respond(reply);
    }

    fn new_commit(st: &mut State, files: BTreeMap<String, StoredFile>, seed: &str) -> String {
        st.counter += 1;
        let listing: String = files
            .iter()
            .map(|(p, f)| format!("{p}:{}\n", f.sha256))
            .collect();
        let id =
            sha256_hex(format!("{}|{seed}|{listing}", st.counter).as_bytes())[..40].to_string();
        st.commits.insert(id.clone(), files);
        id
    }

    fn store_blob(&self, bytes: &[u8]) -> String {
        let sha = sha256_hex(bytes);
        let _ = std::fs::write(self.blobs.join(&sha), bytes);
        sha
    }

    fn create_repo(&self, body: &[u8]) -> Reply {
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
        let repo_url = format!("{}/{prefix}{id}", self.base);
        let mut st = self.state.lock().expect("state");
        if st.repos.contains_key(&(kind.clone(), id.clone())) {
            return json_reply(
                409,
                &json!({"error": "You already created this repo", "url": repo_url}),
            );
        }
        let attrs = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.png filter=lfs diff=lfs merge=lfs -text\n";
        let sha = self.store_blob(attrs);
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
        let commit = Self::new_commit(&mut st, files, &id);
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

    /// The repository and the commit of `rev` (`Err`: the reply to send).
    fn lookup(
        st: &State,
        kind: &str,
        id: &str,
        rev: Option<&str>,
        authed: bool,
    ) -> Result<(Repo, String), Reply> {
        let repo = st
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

    fn info(&self, kind: &str, id: &str, rev: Option<&str>, authed: bool) -> Reply {
        let st = self.state.lock().expect("state");
        match Self::lookup(&st, kind, id, rev, authed) {
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

    fn create_branch(&self, kind: &str, id: &str, branch: &str) -> Reply {
        let mut st = self.state.lock().expect("state");
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

    fn preupload(&self, kind: &str, id: &str, body: &[u8]) -> Reply {
        {
            let st = self.state.lock().expect("state");
            if let Err(r) = Self::lookup(&st, kind, id, None, true) {
                return r;
            }
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

    fn lfs_batch(&self, body: &[u8]) -> Reply {
        let xet = self.state.lock().map(|s| s.xet).unwrap_or(false);
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

    fn commit(&self, kind: &str, id: &str, rev: &str, body: &[u8]) -> Reply {
        let text = String::from_utf8_lossy(body);
        let mut summary = String::new();
        let mut adds: Vec<(String, Vec<u8>)> = vec![];
        let mut lfs_adds: Vec<(String, String, u64)> = vec![];
        let mut deletes: Vec<String> = vec![];
        for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                return error_reply(400, None, &format!("line {}: not JSON", i + 1));
            };
            let value = &v["value"];
            match v["key"].as_str() {
                Some("header") => summary = value["summary"].as_str().unwrap_or("").into(),
                Some("file") => {
                    let (Some(path), Some(content)) =
                        (value["path"].as_str(), value["content"].as_str())
                    else {
                        return error_reply(400, None, "file entry without path or content");
                    };
                    if value["encoding"].as_str() != Some("base64") {
                        return error_reply(400, None, "expected base64 encoding");
                    }
                    match base64::engine::general_purpose::STANDARD.decode(content) {
                        Ok(bytes) => adds.push((path.to_string(), bytes)),
                        Err(e) => {
                            return error_reply(400, None, &format!("{path}: bad base64: {e}"))
                        }
                    }
                }
                Some("lfsFile") => {
                    let (Some(path), Some(oid)) = (value["path"].as_str(), value["oid"].as_str())
                    else {
                        return error_reply(400, None, "lfsFile entry without path or oid");
                    };
                    lfs_adds.push((
                        path.to_string(),
                        oid.to_string(),
                        value["size"].as_u64().unwrap_or(0),
                    ));
                }
                Some("deletedFile") => {
                    deletes.push(value["path"].as_str().unwrap_or("").to_string())
                }
                other => return error_reply(400, None, &format!("unknown key {other:?}")),
            }
        }
        if summary.is_empty() {
            return error_reply(400, None, "commit without a summary");
        }
        let mut st = self.state.lock().expect("state");
        let (_, parent) = match Self::lookup(&st, kind, id, Some(rev), true) {
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
        for (path, oid, size) in lfs_adds {
            if !self.blobs.join(&oid).is_file() {
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
        for (path, bytes) in adds {
            let sha = self.store_blob(&bytes);
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
        for path in deletes {
            files.remove(&path);
        }
        let commit = Self::new_commit(&mut st, files, &summary);
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
                "commitMessage": summary,
                "commitUrl": format!("{}/{prefix}{id}/commit/{commit}", self.base),
            }),
        )
    }

    fn bytes_served(&self, sha: &str) -> Option<Vec<u8>> {
        let mut bytes = std::fs::read(self.blobs.join(sha)).ok()?;
        if self
            .state
            .lock()
            .map(|s| s.truncated.contains(sha))
            .unwrap_or(false)
        {
            bytes.truncate(bytes.len() / 2);
        }
        Some(bytes)
    }

    fn cdn(&self, sha: &str) -> Reply {
        match self.bytes_served(sha) {
            Some(b) => Response::from_data(b),
            None => error_reply(404, None, "no such object"),
        }
    }

    fn resolve(
        &self,
        kind: &str,
        id: &str,
        rev: &str,
        file: &str,
        if_none_match: Option<String>,
        authed: bool,
    ) -> Reply {
        let st = self.state.lock().expect("state");
        let (_, commit) = match Self::lookup(&st, kind, id, Some(rev), authed) {
            Ok(x) => x,
            Err(r) => return r,
        };
        let Some(f) = st.commits[&commit].get(file).cloned() else {
            let mut r = error_reply(404, Some("EntryNotFound"), "Entry not found");
            r.add_header(header("X-Repo-Commit", &commit));
            return r;
        };
        drop(st);
        let etag = if f.lfs {
            f.sha256.clone()
        } else {
            // A 40-hex id like git's blob ids (its exact value does not matter).
            f.sha256[..40].to_string()
        };
        let common = [
            header("X-Repo-Commit", &commit),
            header("Content-Type", "application/octet-stream"),
        ];
        if if_none_match.as_deref() == Some(etag.as_str()) {
            let mut r = Response::from_data(vec![]).with_status_code(304);
            for h in common {
                r.add_header(h);
            }
            r.add_header(header("ETag", &format!("\"{etag}\"")));
            return r;
        }
        if f.lfs {
            let mut r = Response::from_data(b"Found. Redirecting".to_vec()).with_status_code(302);
            for h in common {
                r.add_header(h);
            }
            r.add_header(header(
                "Location",
                &format!("{}/cdn/{}", self.base, f.sha256),
            ));
            r.add_header(header("X-Linked-Etag", &format!("\"{etag}\"")));
            r.add_header(header("X-Linked-Size", &f.size.to_string()));
            r.add_header(header("ETag", "\"pointer-file-oid\""));
            r
        } else {
            let Some(bytes) = self.bytes_served(&f.sha256) else {
                return error_reply(500, None, "blob missing from the store");
            };
            let mut r = Response::from_data(bytes);
            for h in common {
                r.add_header(h);
            }
            r.add_header(header("ETag", &format!("\"{etag}\"")));
            r
        }
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
