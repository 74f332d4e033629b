//! The log of the training invocations of a claim directory, `runs.csv`: when each began,
//! how long it ran, how many probes it trained and found recorded, with which settings and
//! build. A directory resumed over several sessions (or builds) says what each spent; the
//! log is rewritten as probes finish, so an interrupted invocation keeps its wall time up to
//! its last probe. `--analyse` and `--partial` train nothing and leave it alone.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::{ClaimError, Result};

/// The log's file name inside a claim directory.
pub const RUNS_CSV: &str = "runs.csv";

/// One training invocation of a claim binary on a directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invocation {
    /// When it began (UTC, RFC 3339, whole seconds).
    pub started: String,
    /// Wall seconds from its start to its last recorded probe, or to its verdict.
    pub wall_seconds: f64,
    /// Probes it trained.
    pub trained: usize,
    /// Probes it found recorded by earlier invocations.
    pub resumed: usize,
    /// Whether it reached its verdict (false: interrupted, or still running).
    pub finished: bool,
    /// The scale.
    pub scale: String,
    /// Probes trained concurrently.
    pub jobs: usize,
    /// Probes per lockstep group.
    pub lockstep: usize,
    /// Version of the emc crates.
    pub crate_version: String,
    /// Git commit the binary was built from (`-dirty` with local changes).
    pub git_commit: String,
}

/// What the log records in all, beside the probes the directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Totals {
    /// Invocations recorded.
    pub invocations: usize,
    /// Their wall seconds, summed.
    pub wall_seconds: f64,
    /// Probes they trained.
    pub trained: usize,
    /// Probe rows in the directory's `probes.csv` (more than `trained` when invocations from
    /// before the log was kept, or in merged shards, trained some).
    pub recorded: usize,
    /// What the logs of the directory's shards (`shards/*/runs.csv`) record.
    pub shards: ShardTotals,
}

/// What the logs of a sharded directory's shards record: their probes were merged into
/// the directory's `probes.csv`, their time was spent on whichever machines ran them.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ShardTotals {
    /// Shards with a log.
    pub shards: usize,
    /// Invocations recorded, over every shard.
    pub invocations: usize,
    /// Their wall seconds summed over shards (shards may have run at once: this is machine
    /// time, not elapsed time).
    pub wall_seconds: f64,
    /// Probes they trained.
    pub trained: usize,
}

/// Where the wall time of one invocation went: the grid, the adaptive rounds
/// ([`crate::extend_arms`]) and the generalization runs (the rest is analysis and writing).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Phases {
    /// Seconds measuring the grid (resumed probes cost nothing).
    pub grid: f64,
    /// Adaptive rounds run.
    pub rounds: usize,
    /// Seconds in them.
    pub rounds_seconds: f64,
    /// Seconds in the generalization runs.
    pub generalization: f64,
}

impl Phases {
    /// `the grid 12 s, 3 adaptive rounds 40 s, generalization runs 5 s` (parts that took
    /// nothing are left out, the grid never).
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("the grid {:.0} s", self.grid)];
        if self.rounds > 0 {
            parts.push(format!(
                "{} adaptive round{} {:.0} s",
                self.rounds,
                if self.rounds == 1 { "" } else { "s" },
                self.rounds_seconds
            ));
        }
        if self.generalization >= 0.5 {
            parts.push(format!("generalization runs {:.0} s", self.generalization));
        }
        parts.join(", ")
    }
}

/// The totals of `rows`, the invocations of `dir`, and of its shards' logs.
pub(crate) fn totals(dir: &Path, rows: &[Invocation]) -> Result<Totals> {
    let path = dir.join("probes.csv");
    let recorded = if path.is_file() {
        let mut reader = csv::Reader::from_path(&path).map_err(|e| ClaimError::Log {
            path: path.clone(),
            message: e.to_string(),
        })?;
        reader.records().count()
    } else {
        0
    };
    let mut shards = ShardTotals::default();
    for shard in shard_dirs(dir)? {
        let rows = read(&shard)?;
        if rows.is_empty() {
            continue;
        }
        shards.shards += 1;
        shards.invocations += rows.len();
        shards.wall_seconds += rows.iter().map(|r| r.wall_seconds).sum::<f64>();
        shards.trained += rows.iter().map(|r| r.trained).sum::<usize>();
    }
    Ok(Totals {
        invocations: rows.len(),
        wall_seconds: rows.iter().map(|r| r.wall_seconds).sum(),
        trained: rows.iter().map(|r| r.trained).sum(),
        recorded,
        shards,
    })
}

/// The shard directories of `dir` (`shards/*/`), in name order; none when it is not
/// sharded.
fn shard_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let root = dir.join(emc_search::SHARDS_DIR);
    let entries = match std::fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(ClaimError::Io { path: root, source }),
    };
    let mut dirs = vec![];
    for entry in entries {
        let entry = entry.map_err(|source| ClaimError::Io {
            path: root.clone(),
            source,
        })?;
        if entry.path().is_dir() {
            dirs.push(entry.path());
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// Reads the log of `dir` (no file: no invocation); a malformed one is an error naming the
/// file, the line and what was expected.
pub fn read(dir: &Path) -> Result<Vec<Invocation>> {
    let path = dir.join(RUNS_CSV);
    let bad = |message: String| ClaimError::Log {
        path: path.clone(),
        message,
    };
    let mut reader = match csv::Reader::from_path(&path) {
        Ok(r) => r,
        Err(e) => match e.kind() {
            csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Vec::new())
            }
            _ => return Err(bad(e.to_string())),
        },
    };
    reader
        .deserialize()
        .map(|row| {
            row.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                bad(format!(
                    "line {line}: {e}; expected the columns of `{RUNS_CSV}` (started, \
                     wall_seconds, trained, resumed, finished, scale, jobs, lockstep, \
                     crate_version, git_commit)"
                ))
            })
        })
        .collect()
}

/// The invocation in progress: its row, last after the earlier ones, kept up to date.
#[derive(Debug)]
pub(crate) struct Log {
    path: PathBuf,
    started: Instant,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// The earlier invocations, then this one.
    rows: Vec<Invocation>,
    /// The first write that failed (reported by [`Log::finish`]).
    error: Option<ClaimError>,
}

impl State {
    fn row(&mut self) -> &mut Invocation {
        self.rows
            .last_mut()
            .expect("the log holds this invocation's row")
    }
}

impl Log {
    /// Starts the row of an invocation in `dir` (which exists) with the scale, jobs and
    /// lockstep of `settings`, and writes the log.
    pub(crate) fn begin(dir: &Path, settings: &crate::RunSettings) -> Result<Log> {
        let (jobs, lockstep) = (settings.jobs.max(1), settings.lockstep.max(1));
        Log::start(dir, settings.scale.to_string(), jobs, lockstep)
    }

    fn start(dir: &Path, scale: String, jobs: usize, lockstep: usize) -> Result<Log> {
        let mut rows = read(dir)?;
        let provenance = emc_train::Provenance::current();
        rows.push(Invocation {
            started: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            wall_seconds: 0.0,
            trained: 0,
            resumed: 0,
            finished: false,
            scale,
            jobs,
            lockstep,
            crate_version: provenance.crate_version,
            git_commit: provenance.git_commit,
        });
        let path = dir.join(RUNS_CSV);
        write_rows(&path, &rows)?;
        Ok(Log {
            path,
            started: Instant::now(),
            state: Mutex::new(State { rows, error: None }),
        })
    }

    /// Counts a finished probe (`resumed`: found recorded) and, for a trained one, rewrites
    /// the log (a probe takes seconds at least; the log is a few rows), so an interrupted
    /// invocation's row counts every probe it recorded.
    pub(crate) fn probe(&self, resumed: bool) {
        let mut state = self.state.lock().expect("runs.csv state");
        if resumed {
            state.row().resumed += 1;
            return;
        }
        let wall = self.started.elapsed().as_secs_f64();
        let row = state.row();
        row.trained += 1;
        row.wall_seconds = wall;
        if let Err(e) = write_rows(&self.path, &state.rows) {
            state.error.get_or_insert(e);
        }
    }

    /// Marks the invocation finished, writes the log, and returns every invocation (this
    /// one last) and this one's wall seconds.
    pub(crate) fn finish(self) -> Result<(Vec<Invocation>, f64)> {
        let mut state = self.state.into_inner().expect("runs.csv state");
        if let Some(e) = state.error.take() {
            return Err(e);
        }
        let wall = self.started.elapsed().as_secs_f64();
        let row = state.row();
        row.wall_seconds = wall;
        row.finished = true;
        write_rows(&self.path, &state.rows)?;
        Ok((state.rows, wall))
    }
}

/// Writes `rows` to `path` through a temporary file (a reader never sees half of it).
fn write_rows(path: &Path, rows: &[Invocation]) -> Result<()> {
    let tmp = path.with_extension("csv.tmp");
    let failed = |e: csv::Error| ClaimError::Log {
        path: tmp.clone(),
        message: e.to_string(),
    };
    let mut w = csv::Writer::from_path(&tmp).map_err(failed)?;
    for r in rows {
        w.serialize(r).map_err(failed)?;
    }
    w.flush().map_err(|source| ClaimError::Io {
        path: tmp.clone(),
        source,
    })?;
    drop(w);
    std::fs::rename(&tmp, path).map_err(|source| ClaimError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invocations_accumulate_and_an_unfinished_one_keeps_its_probes() -> Result<()> {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path())?.is_empty());
        let first = Log::start(dir.path(), "cpu".into(), 2, 4)?;
        first.probe(true);
        first.probe(false);
        let (rows, _) = first.finish()?;
        let t = totals(dir.path(), &rows)?;
        assert_eq!((t.invocations, t.trained, t.recorded), (1, 1, 0));
        // An interrupted invocation: begun, two probes, never finished.
        let second = Log::start(dir.path(), "cpu".into(), 1, 1)?;
        second.probe(false);
        second.probe(false);
        drop(second);
        let rows = read(dir.path())?;
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].trained, rows[0].resumed, rows[0].finished),
            (1, 1, true)
        );
        assert_eq!(
            (rows[1].trained, rows[1].finished, rows[1].jobs),
            (2, false, 1)
        );
        assert_eq!(
            rows[1].git_commit,
            emc_train::Provenance::current().git_commit
        );
        let third = Log::start(dir.path(), "cpu".into(), 2, 4)?;
        let (rows, _) = third.finish()?;
        std::fs::write(
            dir.path().join("probes.csv"),
            "run_id,n\na,1\nb,2\nc,3\nd,4\n",
        )
        .unwrap();
        let t = totals(dir.path(), &rows)?;
        assert_eq!((t.invocations, t.trained, t.recorded), (3, 3, 4));
        Ok(())
    }

    #[test]
    fn phases_name_the_grid_always_and_the_rest_when_it_took_time() {
        let grid_only = Phases {
            grid: 12.4,
            ..Phases::default()
        };
        assert_eq!(grid_only.describe(), "the grid 12 s");
        let all = Phases {
            grid: 0.0,
            rounds: 3,
            rounds_seconds: 40.0,
            generalization: 5.2,
        };
        assert_eq!(
            all.describe(),
            "the grid 0 s, 3 adaptive rounds 40 s, generalization runs 5 s"
        );
    }

    #[test]
    fn a_malformed_log_is_refused_with_its_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let first = Log::start(dir.path(), "cpu".into(), 2, 4).unwrap();
        first.finish().unwrap();
        let path = dir.path().join(RUNS_CSV);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("2026-12-05T09:00:00Z,many,1,0,true,cpu,2,4,0.1.0,abc\n");
        std::fs::write(&path, text).unwrap();
        let err = read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("runs.csv") && err.contains("line 3"), "{err}");
        assert!(Log::start(dir.path(), "cpu".into(), 2, 4).is_err());
    }
}
