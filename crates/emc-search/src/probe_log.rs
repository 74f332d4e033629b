//! The append-only probe log of a measurement directory (`probes.csv`): one complete line
//! per probe (a single write, then fsync), so `kill -9` loses at most the probes in flight;
//! a torn last line left by a crash is cut off when the file is reopened. It answers which
//! probes are already recorded, and how every probe it holds ended.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use emc_results::ProbeRow;

use crate::error::Result;
use crate::results::{files_lock, io_err, read_csv};

/// The append-only probe log of a directory, with the probes already recorded.
pub struct ProbeLog {
    path: PathBuf,
    file: Mutex<File>,
    done: HashMap<(String, u64, usize), ProbeRow>,
    /// (probe hash, seed, outcome) of each row appended by this invocation.
    appended: Mutex<Vec<(String, u64, Outcome)>>,
}

impl ProbeLog {
    /// Opens (or creates) `dir/probes.csv`, repairing a torn last line.
    pub fn open(dir: &Path) -> Result<Self> {
        let _files = files_lock();
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let path = dir.join("probes.csv");
        let mut done = HashMap::new();
        if path.exists() {
            let text = emc_results::read_result_bytes(&path).map_err(|e| io_err(&path, e))?;
            if !text.is_empty() && !text.ends_with(b"\n") {
                // A crash mid-write: keep the complete lines only.
                let keep = text.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| io_err(&path, e))?;
                f.set_len(keep as u64).map_err(|e| io_err(&path, e))?;
                f.sync_all().map_err(|e| io_err(&path, e))?;
            }
            if std::fs::metadata(&path)
                .map_err(|e| io_err(&path, e))?
                .len()
                > 0
            {
                for row in read_csv::<ProbeRow>(&path)? {
                    done.insert((row.config_hash.clone(), row.seed, row.n), row);
                }
            }
        }
        let fresh = !path.exists()
            || std::fs::metadata(&path)
                .map(|m| m.len() == 0)
                .unwrap_or(true);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        if fresh {
            file.write_all(ProbeRow::header().as_bytes())
                .map_err(|e| io_err(&path, e))?;
            file.sync_data().map_err(|e| io_err(&path, e))?;
        }
        Ok(ProbeLog {
            path,
            file: Mutex::new(file),
            done,
            appended: Mutex::new(vec![]),
        })
    }

    /// The recorded probe for `(config_hash, seed, n)`, if any.
    pub fn get(&self, config_hash: &str, seed: u64, n: usize) -> Option<&ProbeRow> {
        self.done.get(&(config_hash.to_string(), seed, n))
    }

    /// Every recorded probe of `(probe_hash, seed)`, smallest `n` first.
    pub fn rows(&self, probe_hash: &str, seed: u64) -> Vec<&ProbeRow> {
        let mut v: Vec<&ProbeRow> = self
            .done
            .values()
            .filter(|r| r.config_hash == probe_hash && r.seed == seed)
            .collect();
        v.sort_by_key(|r| r.n);
        v
    }

    /// Every recorded probe of `(probe_hash, seed)`, as search points.
    pub fn points(&self, probe_hash: &str, seed: u64) -> Vec<crate::search::ProbePoint> {
        let mut v: Vec<_> = self
            .done
            .values()
            .filter(|r| r.config_hash == probe_hash && r.seed == seed)
            .map(|r| crate::search::ProbePoint {
                n: r.n,
                fitted: r.fitted,
            })
            .collect();
        v.sort_by_key(|p| p.n);
        v
    }

    /// Appends one row as a single write followed by fsync.
    pub fn append(&self, row: &ProbeRow) -> Result<()> {
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(vec![]);
        w.serialize(row).map_err(|e| io_err(&self.path, e))?;
        let line = w.into_inner().map_err(|e| io_err(&self.path, e))?;
        let _files = files_lock();
        let mut f = self
            .file
            .lock()
            .map_err(|_| io_err(&self.path, "log lock poisoned"))?;
        f.write_all(&line).map_err(|e| io_err(&self.path, e))?;
        f.sync_data().map_err(|e| io_err(&self.path, e))?;
        if let Ok(mut appended) = self.appended.lock() {
            let outcome = Outcome {
                n: row.n,
                fitted: row.fitted,
                stop: row.stop.clone(),
            };
            appended.push((row.config_hash.clone(), row.seed, outcome));
        }
        Ok(())
    }

    /// The outcome of every probe of `(probe_hash, seed)` in the log, recorded before this
    /// invocation or appended by it, smallest `n` first.
    pub(crate) fn outcomes(&self, probe_hash: &str, seed: u64) -> Vec<Outcome> {
        let mut all: Vec<Outcome> = self
            .done
            .values()
            .filter(|r| r.config_hash == probe_hash && r.seed == seed)
            .map(|r| Outcome {
                n: r.n,
                fitted: r.fitted,
                stop: r.stop.clone(),
            })
            .collect();
        if let Ok(appended) = self.appended.lock() {
            all.extend(
                appended
                    .iter()
                    .filter(|(h, s, _)| h == probe_hash && *s == seed)
                    .map(|(_, _, o)| o.clone()),
            );
        }
        all.sort_by_key(|o| o.n);
        all
    }

    /// Whether the log holds no probe at all (none recorded, none appended).
    pub fn is_empty(&self) -> bool {
        self.done.is_empty() && self.appended.lock().map_or(true, |a| a.is_empty())
    }

    /// Where the log lives.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// How one logged probe ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcome {
    /// Subset size.
    pub(crate) n: usize,
    /// Whether it fitted.
    pub(crate) fitted: bool,
    /// Stop reason (text form).
    pub(crate) stop: String,
}
