//! The serving thread both modes share: an ephemeral loopback port, a log of the requests
//! served, one handler call per request, and a stop flag checked between requests.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tiny_http::Server;

use super::reply::Reply;
use super::request::Incoming;
use super::MAX_LIFETIME;

/// A running listener; stops when dropped.
pub(super) struct Listener {
    url: String,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    /// Binds 127.0.0.1 on an ephemeral port and answers every request with `handler`, which
    /// is given the parsed request and the server's base address.
    pub(super) fn spawn<H>(mut handler: H) -> std::io::Result<Self>
    where
        H: FnMut(&Incoming, &str) -> Reply + Send + 'static,
    {
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
            let (stop, log, base) = (stop.clone(), log.clone(), url.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + MAX_LIFETIME;
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    match server.recv_timeout(Duration::from_millis(20)) {
                        Ok(Some(mut request)) => {
                            let line = format!("{} {}", request.method(), request.url());
                            if let Ok(mut l) = log.lock() {
                                l.push(line);
                            }
                            let reply = handler(&Incoming::read(&mut request), &base);
                            let _ = request.respond(reply);
                        }
                        Ok(None) => {}
                        Err(_) => break,
                    }
                }
            })
        };
        Ok(Listener {
            url,
            stop,
            log,
            thread: Some(thread),
        })
    }

    /// The base address, e.g. `http://127.0.0.1:41234`.
    pub(super) fn url(&self) -> &str {
        &self.url
    }

    /// Requests served so far, as `METHOD /path?query`.
    pub(super) fn requests(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Stops the thread and waits for it; the port refuses connections afterwards.
    pub(super) fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.shutdown();
    }
}
