//! Shards of a measurement over processes (the tasks of a Slurm job array): which shard a
//! process is ([`Shard`]: `--shard I/N`, or Slurm's array variables), where its results go
//! (`<out>/shards/<I>-of-<N>/`: an ordinary results directory, so no two processes ever
//! write one file), and the merge of finished shards back into `<out>`
//! ([`merge_probe_logs`]): every probe added to `<out>/probes.csv` once, a probe recorded
//! twice with different outcomes refused with both rows named, checkpoints copied. What a
//! shard holds and when it has finished is its caller's (a claim's searches, a
//! measurement's seeds).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use emc_results::ProbeRow;

use crate::error::{Result, SearchError};
use crate::results::{io_err, read_csv};
use crate::ProbeLog;

/// The folder of `<out>` holding one directory per shard.
pub const SHARDS_DIR: &str = "shards";

/// The file a shard writes into its directory when it has finished.
pub const MARKER: &str = "shard.toml";

/// Shard `index` of `count` (`I/N` on the command line, `0 ≤ I < N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which shard, from 0.
    pub index: usize,
    /// How many shards in all.
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let bad = || format!("`{s}`: expected I/N with 0 ≤ I < N, e.g. 0/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse::<usize>().map_err(|_| bad())?,
            n.trim().parse::<usize>().map_err(|_| bad())?,
        );
        if index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// The shard of a Slurm array task: `SLURM_ARRAY_TASK_ID` less `SLURM_ARRAY_TASK_MIN`
    /// (0 when unset) of `SLURM_ARRAY_TASK_COUNT`; `None` outside an array task. An array
    /// with gaps (`--array=0-9:2`) is refused: its task ids do not number the shards.
    pub fn from_slurm(env: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>> {
        let Some(id) = env("SLURM_ARRAY_TASK_ID") else {
            return Ok(None);
        };
        let number = |name: &str, value: Option<String>| -> Result<usize> {
            let value = value.ok_or_else(|| SearchError::Config {
                field: name.into(),
                message: "unset in a Slurm array task; pass --shard I/N".into(),
            })?;
            value.trim().parse().map_err(|_| SearchError::Config {
                field: name.into(),
                message: format!("`{value}` is not a task number; pass --shard I/N"),
            })
        };
        let id = number("SLURM_ARRAY_TASK_ID", Some(id))?;
        let min = match env("SLURM_ARRAY_TASK_MIN") {
            Some(v) => number("SLURM_ARRAY_TASK_MIN", Some(v))?,
            None => 0,
        };
        let count = number("SLURM_ARRAY_TASK_COUNT", env("SLURM_ARRAY_TASK_COUNT"))?;
        let index = id.checked_sub(min).filter(|&i| i < count);
        match index {
            Some(index) => Ok(Some(Shard { index, count })),
            None => Err(SearchError::Config {
                field: "SLURM_ARRAY_TASK_ID".into(),
                message: format!(
                    "task {id} of an array of {count} tasks from {min} does not number a \
                     shard (an array with gaps?); submit `--array=0-{}` or pass --shard I/N",
                    count.saturating_sub(1)
                ),
            }),
        }
    }

    /// This shard's directory under `out`.
    pub fn dir(&self, out: &Path) -> PathBuf {
        out.join(SHARDS_DIR)
            .join(format!("{}-of-{}", self.index, self.count))
    }
}

/// The one shard count of the `<I>-of-<N>` directories under `root`.
fn count_in(root: &Path) -> Result<usize> {
    let entries = std::fs::read_dir(root).map_err(|e| io_err(root, e))?;
    let mut counts: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_err(root, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let count = name
            .split_once("-of-")
            .and_then(|(i, n)| Some((i.parse::<usize>().ok()?, n.parse::<usize>().ok()?)))
            .filter(|(i, n)| i < n)
            .map(|(_, n)| n);
        match count {
            Some(n) if entry.path().is_dir() => counts.entry(n).or_default().push(name),
            _ => {
                return Err(SearchError::Results {
                    path: entry.path(),
                    message: "not a shard directory; expected only `<I>-of-<N>` directories \
                              (as `--shard I/N` writes them)"
                        .into(),
                })
            }
        }
    }
    match counts.len() {
        0 => Err(SearchError::Results {
            path: root.to_path_buf(),
            message: "no shard directories; remove the empty folder or run the shards".into(),
        }),
        1 => Ok(*counts.keys().next().unwrap_or(&1)),
        _ => Err(SearchError::Results {
            path: root.to_path_buf(),
            message: format!(
                "shards of different counts ({}): one directory holds one split; move the \
                 other split's directories elsewhere",
                counts
                    .iter()
                    .map(|(n, names)| format!("{n}: {}", names.join(", ")))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }),
    }
}

/// Whether two rows of one probe ended the same way (the invocation and its wall time may
/// differ; the outcome, epochs, steps, accuracy and loss may not).
fn same_outcome(a: &ProbeRow, b: &ProbeRow) -> bool {
    a.fitted == b.fitted
        && a.stop == b.stop
        && a.epochs == b.epochs
        && a.steps == b.steps
        && a.train_accuracy.to_bits() == b.train_accuracy.to_bits()
        && a.train_loss.to_bits() == b.train_loss.to_bits()
}

/// Adds `rows` (file, line, row) to `out/probes.csv`, skipping the probes already there;
/// two rows of one probe with different outcomes are an error naming both. Returns how many
/// rows were added.
pub(crate) fn import_rows(out: &Path, rows: Vec<(PathBuf, usize, ProbeRow)>) -> Result<usize> {
    let main = out.join("probes.csv");
    let mut seen: HashMap<(String, u64, usize), (PathBuf, usize, ProbeRow)> = HashMap::new();
    if main.is_file() && std::fs::metadata(&main).map_or(0, |m| m.len()) > 0 {
        let existing = read_csv::<ProbeRow>(&main).map_err(|e| SearchError::Results {
            path: main.clone(),
            message: format!("unreadable probe log: {e}"),
        })?;
        for (i, r) in existing.into_iter().enumerate() {
            seen.insert(
                (r.config_hash.clone(), r.seed, r.n),
                (main.clone(), i + 2, r),
            );
        }
    }
    let mut new = vec![];
    for (path, line, row) in rows {
        let key = (row.config_hash.clone(), row.seed, row.n);
        match seen.get(&key) {
            Some((p, l, r)) if !same_outcome(r, &row) => {
                return Err(SearchError::Results {
                    path: path.clone(),
                    message: format!(
                        "line {line} and {} line {l} record the probe n = {} seed {} of \
                         configuration {} ({}) with different outcomes: {} after {} epochs, \
                         accuracy {}, loss {} against {} after {} epochs, accuracy {}, loss {}; \
                         one of them comes from another binary or machine: remove the wrong \
                         shard and rerun it",
                        p.display(),
                        row.n,
                        row.seed,
                        row.config_hash,
                        row.model,
                        row.stop,
                        row.epochs,
                        row.train_accuracy,
                        row.train_loss,
                        r.stop,
                        r.epochs,
                        r.train_accuracy,
                        r.train_loss
                    ),
                })
            }
            Some(_) => {}
            None => {
                new.push(row.clone());
                seen.insert(key, (path, line, row));
            }
        }
    }
    if new.is_empty() {
        return Ok(0);
    }
    let log = ProbeLog::open(out)?;
    for row in &new {
        log.append(row)?;
    }
    Ok(new.len())
}

/// Copies the checkpoints of a shard's directory into `out/checkpoints/` (through a
/// temporary file each), leaving those already there.
pub(crate) fn copy_checkpoints(dir: &Path, out: &Path) -> Result<()> {
    let from = dir.join("checkpoints");
    if !from.is_dir() {
        return Ok(());
    }
    let to = out.join("checkpoints");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| io_err(&path, e)
    };
    std::fs::create_dir_all(&to).map_err(io(&to))?;
    for entry in std::fs::read_dir(&from).map_err(io(&from))? {
        let entry = entry.map_err(io(&from))?;
        let target = to.join(entry.file_name());
        if target.exists() || !entry.path().is_file() {
            continue;
        }
        let tmp = to.join(format!("{}.partial", entry.file_name().to_string_lossy()));
        std::fs::copy(entry.path(), &tmp).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &target).map_err(io(&target))?;
    }
    Ok(())
}

/// How many shards `out` was split into (`None` when it has no `shards/` folder): the one
/// count of its `<I>-of-<N>` directories; anything else there is an error.
pub fn shard_count(out: &Path) -> Result<Option<usize>> {
    let root = out.join(SHARDS_DIR);
    if !root.is_dir() {
        return Ok(None);
    }
    count_in(&root).map(Some)
}

/// Adds the probes of every directory in `dirs` (shards, in order) to `out/probes.csv`
/// and copies their checkpoints into `out/checkpoints/`: a probe already there, or in an
/// earlier directory, must have the same outcome, else the error names both rows. Returns
/// how many rows were added.
pub fn merge_probe_logs(out: &Path, dirs: &[PathBuf]) -> Result<usize> {
    let mut rows = vec![];
    for dir in dirs {
        let path = dir.join("probes.csv");
        if path.is_file() {
            let shard_rows = read_csv::<ProbeRow>(&path)?;
            rows.extend(
                shard_rows
                    .into_iter()
                    .enumerate()
                    .map(|(i, r)| (path.clone(), i + 2, r)),
            );
        }
    }
    let added = import_rows(out, rows)?;
    for dir in dirs {
        copy_checkpoints(dir, out)?;
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_parses_and_refuses_out_of_range() {
        assert_eq!("1/4".parse::<Shard>(), Ok(Shard { index: 1, count: 4 }));
        assert_eq!("0/1".parse::<Shard>().unwrap().to_string(), "0/1");
        for bad in ["4/4", "1", "a/4", "1/0", "-1/4", "1/4/2"] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(e.contains("I/N"), "{bad}: {e}");
        }
    }

    #[test]
    fn slurm_array_tasks_number_the_shards() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(Shard::from_slurm(env(&[])).unwrap(), None);
        let task = env(&[
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]);
        assert_eq!(
            Shard::from_slurm(task).unwrap(),
            Some(Shard { index: 2, count: 4 })
        );
        let from_one = env(&[
            ("SLURM_ARRAY_TASK_ID", "4"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]);
        assert_eq!(
            Shard::from_slurm(from_one).unwrap(),
            Some(Shard { index: 3, count: 4 })
        );
        let gaps = env(&[
            ("SLURM_ARRAY_TASK_ID", "8"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_COUNT", "5"),
        ]);
        let e = Shard::from_slurm(gaps).unwrap_err().to_string();
        assert!(e.contains("--array=0-4"), "{e}");
        let no_count = env(&[("SLURM_ARRAY_TASK_ID", "0")]);
        let e = Shard::from_slurm(no_count).unwrap_err().to_string();
        assert!(e.contains("SLURM_ARRAY_TASK_COUNT"), "{e}");
    }

    #[test]
    fn rows_of_one_probe_must_agree() {
        let tmp = tempfile::tempdir().unwrap();
        let row = |epochs: usize, run: &str| ProbeRow {
            run_id: run.into(),
            config_hash: "h".into(),
            seed: 1,
            n: 64,
            fitted: true,
            stop: "fitted".into(),
            epochs,
            train_accuracy: 1.0,
            ..ProbeRow::default()
        };
        let a = (tmp.path().join("a.csv"), 2, row(10, "x"));
        // The same outcome from another invocation is one probe.
        let b = (tmp.path().join("b.csv"), 5, row(10, "y"));
        assert_eq!(import_rows(tmp.path(), vec![a.clone(), b]).unwrap(), 1);
        assert_eq!(import_rows(tmp.path(), vec![a]).unwrap(), 0, "idempotent");
        let c = (tmp.path().join("c.csv"), 7, row(11, "z"));
        let e = import_rows(tmp.path(), vec![c]).unwrap_err().to_string();
        assert!(e.contains("c.csv") && e.contains("line 7"), "{e}");
        assert!(e.contains("probes.csv line 2"), "{e}");
        assert!(e.contains("different outcomes"), "{e}");
    }
}
