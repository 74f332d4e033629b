//! A small Hugging Face Hub stand-in on `127.0.0.1` for the hub tests: it answers the
//! requests hf-hub's `download_file` makes, the way huggingface.co does.
//!
//! - `HEAD|GET /datasets/{repo}/resolve/{revision}/{file}`: for an LFS file a `302` to
//!   `/cdn/{sha256}` carrying `X-Repo-Commit`, `X-Linked-Etag` (the SHA-256) and
//!   `X-Linked-Size`; for a plain file a `200` with `ETag`, `X-Repo-Commit` and the body.
//!   `If-None-Match` with the current ETag gives `304`. Unknown files give `404` with
//!   `X-Error-Code: EntryNotFound`.
//! - `HEAD|GET /cdn/{sha256}`: the LFS file's bytes.
//!
//! The revision may be `main` or [`COMMIT`]. The server stops when dropped (or after
//! [`MAX_LIFETIME`]), and never listens beyond the loopback interface.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tiny_http::{Header, Method, Request, Response, Server};

/// The commit every file is served at.
pub const COMMIT: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567";

/// The server shuts down by itself after this long, even if never dropped.
pub const MAX_LIFETIME: Duration = Duration::from_secs(120);

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
        hex(&Sha256::digest(&self.bytes))
    }

    fn etag(&self) -> String {
        if let Some(e) = &self.etag_override {
            return e.clone();
        }
        if self.lfs {
            self.sha256()
        } else {
            // A 40-hex id like git's blob ids (its exact value does not matter).
            self.sha256()[..40].to_string()
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A running stand-in Hub; stops when dropped.
pub struct HubServer {
    url: String,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl HubServer {
    /// Starts serving `files` on an ephemeral port of 127.0.0.1.
    pub fn start(files: Vec<HubFile>) -> std::io::Result<Self> {
        let server = Server::http("127.0.0.1:0").map_err(std::io::Error::other)?;
        let port = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| std::io::Error::other("server has no IP address"))?
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(vec![]));
        let thread = {
            let (stop, log, url) = (stop.clone(), log.clone(), url.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + MAX_LIFETIME;
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    match server.recv_timeout(Duration::from_millis(20)) {
                        Ok(Some(request)) => {
                            let line = format!("{} {}", request.method(), request.url());
                            if let Ok(mut l) = log.lock() {
                                l.push(line);
                            }
                            respond(request, &files, &url);
                        }
                        Ok(None) => {}
                        Err(_) => break,
                    }
                }
            })
        };
        Ok(HubServer {
            url,
            stop,
            log,
            thread: Some(thread),
        })
    }

    /// The base address, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Requests served so far, as `METHOD /path`.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
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

impl Drop for HubServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("valid header")
}

fn respond(request: Request, files: &[HubFile], base: &str) {
    let path = request.url().split('?').next().unwrap_or("").to_string();
    let if_none_match = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("If-None-Match"))
        .map(|h| h.value.as_str().trim_matches('"').to_string());
    let is_get_or_head = matches!(request.method(), Method::Get | Method::Head);

    let resolved = files.iter().find(|f| {
        ["main", COMMIT]
            .iter()
            .any(|rev| path == format!("/datasets/{}/resolve/{rev}/{}", f.repo, f.path))
    });
    let cdn = files
        .iter()
        .find(|f| f.lfs && path == format!("/cdn/{}", f.sha256()));

    let response = match (is_get_or_head, resolved, cdn) {
        (true, Some(f), _) => {
            let etag = f.etag();
            let common = [
                header("X-Repo-Commit", COMMIT),
                header("Content-Type", "application/octet-stream"),
            ];
            if if_none_match.as_deref() == Some(etag.as_str()) {
                let mut r = Response::empty(304);
                for h in common {
                    r.add_header(h);
                }
                r.add_header(header("ETag", &format!("\"{etag}\"")));
                r.boxed()
            } else if f.lfs {
                let mut r = Response::from_string("Found. Redirecting").with_status_code(302);
                for h in common {
                    r.add_header(h);
                }
                r.add_header(header("Location", &format!("{base}/cdn/{}", f.sha256())));
                r.add_header(header("X-Linked-Etag", &format!("\"{etag}\"")));
                r.add_header(header("X-Linked-Size", &f.bytes.len().to_string()));
                // The git pointer's id, as the Hub sends beside X-Linked-Etag.
                r.add_header(header("ETag", "\"pointer-file-oid\""));
                r.boxed()
            } else {
                let mut r = Response::from_data(f.bytes.clone());
                for h in common {
                    r.add_header(h);
                }
                r.add_header(header("ETag", &format!("\"{etag}\"")));
                r.boxed()
            }
        }
        (true, None, Some(f)) => Response::from_data(f.bytes.clone()).boxed(),
        _ => {
            let mut r =
                Response::from_string("{\"error\":\"Entry not found\"}").with_status_code(404);
            r.add_header(header("X-Error-Code", "EntryNotFound"));
            r.add_header(header("Content-Type", "application/json"));
            r.boxed()
        }
    };
    let _ = request.respond(response);
}
