//! Sharding a claim over processes, e.g. the tasks of a Slurm job array: a deterministic
//! partition of the grid's (arm, seed) searches balanced by the dry run's cost bound
//! ([`partition`]); each shard's results in a directory of its own,
//! `<out>/shards/<I>-of-<N>/`, so that no two processes ever write one file; a marker
//! (`shard.toml`) written when a shard has finished; and the merge ([`merge_shards`]) that
//! reads every finished shard back into `<out>` as one result set, refusing a probe
//! recorded twice with different outcomes.
//!
//! A shard searches its (arm, seed) pairs at the grid's budget levels. The adaptive
//! extensions and the generalization runs need every arm's results, so they happen after
//! the merge, in the process that analyses.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use emc_search::{read_csv, ProbeLog, ProbeRow};
use serde::{Deserialize, Serialize};

use crate::{Arm, ClaimError, ClaimSpec, Result, Scale};

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
            let value = value.ok_or_else(|| ClaimError::Config {
                field: name.into(),
                message: "unset in a Slurm array task; pass --shard I/N".into(),
            })?;
            value.trim().parse().map_err(|_| ClaimError::Config {
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
            None => Err(ClaimError::Config {
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

/// Splits the (arm, seed) searches of `arms` into `count` shards, each a list of
/// `(arm index, seed)` in grid order: longest first, each to the shard with the least cost
/// so far (ties: the lowest index), with `cost(arm)` one search's cost. Deterministic.
pub fn partition(arms: &[Arm], count: usize, cost: impl Fn(&Arm) -> f64) -> Vec<Vec<(usize, u64)>> {
    let mut searches: Vec<(f64, usize, u64)> = arms
        .iter()
        .enumerate()
        .flat_map(|(i, a)| {
            let c = cost(a);
            a.measure.seeds.iter().map(move |&s| (c, i, s))
        })
        .collect();
    // Stable: equal costs keep grid order.
    searches.sort_by(|a, b| b.0.total_cmp(&a.0));
    let count = count.max(1);
    let mut load = vec![0.0f64; count];
    let mut shards = vec![vec![]; count];
    for (c, arm, seed) in searches {
        let k = (0..count)
            .min_by(|&a, &b| load[a].total_cmp(&load[b]))
            .unwrap_or(0);
        load[k] += c;
        shards[k].push((arm, seed));
    }
    for s in &mut shards {
        s.sort_unstable();
    }
    shards
}

/// The arms of one part of a [`partition`]: each arm with only that part's seeds of it, in
/// grid order (arms without any left out).
pub fn part_arms(arms: &[Arm], part: &[(usize, u64)]) -> Vec<Arm> {
    let mut seeds: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for &(arm, seed) in part {
        seeds.entry(arm).or_default().push(seed);
    }
    seeds
        .into_iter()
        .map(|(i, s)| {
            let mut arm = arms[i].clone();
            arm.measure.seeds = s;
            arm
        })
        .collect()
}

/// The marker of a finished shard: what it was asked to do, so the merge can tell a shard
/// of another grid, scale or shard count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardMarker {
    /// The claim's id.
    pub claim: String,
    /// The scale's name.
    pub scale: String,
    /// `--seeds`, when given.
    pub seeds: Option<u64>,
    /// Which shard, from 0.
    pub index: usize,
    /// How many shards.
    pub count: usize,
    /// Its searches, `<arm label> seed <seed>`, in grid order.
    pub searches: Vec<String>,
    /// The crate version that ran it.
    pub version: String,
}

impl ShardMarker {
    /// The marker of shard `shard` of `spec` at `scale`, with its part of the partition.
    pub fn new(
        spec: &ClaimSpec,
        scale: Scale,
        seeds: Option<u64>,
        shard: Shard,
        arms: &[Arm],
        part: &[(usize, u64)],
    ) -> ShardMarker {
        ShardMarker {
            claim: spec.claim.id.to_string(),
            scale: scale.name().to_string(),
            seeds,
            index: shard.index,
            count: shard.count,
            searches: part
                .iter()
                .map(|&(a, s)| search_name(&arms[a], s))
                .collect(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// Reads `dir/shard.toml`; `None` when the shard has not finished.
    pub fn read(dir: &Path) -> Result<Option<ShardMarker>> {
        let path = dir.join(MARKER);
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|source| ClaimError::Io {
            path: path.clone(),
            source,
        })?;
        toml::from_str(&text)
            .map(Some)
            .map_err(|e| ClaimError::Shards {
                dir: path,
                message: format!("not a shard marker: {e}"),
            })
    }

    /// Writes `dir/shard.toml` (through a temporary file).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let text = toml::to_string(self).map_err(|e| ClaimError::Shards {
            dir: dir.to_path_buf(),
            message: format!("marker does not serialise: {e}"),
        })?;
        emc_search::write_atomic(&dir.join(MARKER), text.as_bytes()).map_err(|e| {
            ClaimError::Shards {
                dir: dir.to_path_buf(),
                message: e.to_string(),
            }
        })
    }
}

/// How a search is named in markers and messages.
fn search_name(arm: &Arm, seed: u64) -> String {
    format!("{} seed {seed}", arm.label)
}

/// What [`merge_shards`] found and did.
#[derive(Debug, Clone, PartialEq)]
pub struct Merge {
    /// How many shards the directory was split into.
    pub count: usize,
    /// The finished shards' indices.
    pub finished: Vec<usize>,
    /// Probe rows copied into `<out>/probes.csv` (rows already there are not copied again).
    pub imported: usize,
    /// Labels of the arms with a search in an unfinished shard, in grid order.
    pub missing_arms: Vec<String>,
}

impl Merge {
    /// The unfinished shards' indices.
    pub fn unfinished(&self) -> Vec<usize> {
        (0..self.count)
            .filter(|i| !self.finished.contains(i))
            .collect()
    }

    /// One line naming the unfinished shards and the arms they hold.
    pub fn describe_missing(&self) -> String {
        let shards: Vec<String> = self
            .unfinished()
            .iter()
            .map(|i| format!("{i}-of-{}", self.count))
            .collect();
        format!(
            "shard{} {} not finished (no {MARKER}); {} arm{} incomplete: {}",
            if shards.len() == 1 { "" } else { "s" },
            shards.join(", "),
            self.missing_arms.len(),
            if self.missing_arms.len() == 1 {
                ""
            } else {
                "s"
            },
            self.missing_arms.join("; ")
        )
    }
}

/// Reads every finished shard of `out` back into `out`: each shard's probes are added to
/// `out/probes.csv` (a probe already there, or in another shard, must have the same outcome,
/// else the error names both rows) and its checkpoints copied into `out/checkpoints/`.
/// `None` when `out` has no `shards/` folder. Every shard must belong to this claim, scale,
/// seeds and shard count, and hold the searches the partition gives it now.
pub fn merge_shards(
    spec: &ClaimSpec,
    scale: Scale,
    seeds: Option<u64>,
    out: &Path,
    cost: impl Fn(&Arm) -> f64,
) -> Result<Option<Merge>> {
    let root = out.join(SHARDS_DIR);
    if !root.is_dir() {
        return Ok(None);
    }
    let err = |dir: &Path, message: String| ClaimError::Shards {
        dir: dir.to_path_buf(),
        message,
    };
    let count = shard_count(&root)?;
    let arms = spec.arms(scale, seeds);
    let parts = partition(&arms, count, cost);
    let mut finished = vec![];
    let mut missing = vec![false; arms.len()];
    let mut rows: Vec<(PathBuf, usize, ProbeRow)> = vec![];
    for (index, part) in parts.iter().enumerate() {
        let shard = Shard { index, count };
        let dir = shard.dir(out);
        let Some(marker) = ShardMarker::read(&dir)? else {
            for &(a, _) in part {
                missing[a] = true;
            }
            continue;
        };
        let want = ShardMarker::new(spec, scale, seeds, shard, &arms, part);
        // The version may differ (a rebuilt binary); conflicting probes are caught below.
        let same_version = ShardMarker {
            version: want.version.clone(),
            ..marker.clone()
        };
        if same_version != want {
            return Err(err(
                &dir.join(MARKER),
                format!(
                    "records claim {} at scale {} (seeds {:?}), shard {}/{} with {} searches; \
                     this run is claim {} at scale {} (seeds {:?}), whose shard {shard} has {} \
                     searches{}: a shard of another grid, scale or binary version",
                    marker.claim,
                    marker.scale,
                    marker.seeds,
                    marker.index,
                    marker.count,
                    marker.searches.len(),
                    want.claim,
                    want.scale,
                    want.seeds,
                    want.searches.len(),
                    first_difference(&marker.searches, &want.searches)
                ),
            ));
        }
        let path = dir.join("probes.csv");
        if path.is_file() {
            let shard_rows = read_csv::<ProbeRow>(&path)
                .map_err(|e| err(&path, format!("unreadable probe log: {e}")))?;
            rows.extend(
                shard_rows
                    .into_iter()
                    .enumerate()
                    .map(|(i, r)| (path.clone(), i + 2, r)),
            );
        }
        finished.push(index);
    }
    let imported = import_rows(out, rows)?;
    for &index in &finished {
        copy_checkpoints(&Shard { index, count }.dir(out), out)?;
    }
    let missing_arms = arms
        .iter()
        .zip(&missing)
        .filter(|(_, &m)| m)
        .map(|(a, _)| a.label.clone())
        .collect();
    Ok(Some(Merge {
        count,
        finished,
        imported,
        missing_arms,
    }))
}

/// The one shard count of the `<I>-of-<N>` directories under `root`.
fn shard_count(root: &Path) -> Result<usize> {
    let entries = std::fs::read_dir(root).map_err(|source| ClaimError::Io {
        path: root.to_path_buf(),
        source,
    })?;
    let mut counts: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|source| ClaimError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let count = name
            .split_once("-of-")
            .and_then(|(i, n)| Some((i.parse::<usize>().ok()?, n.parse::<usize>().ok()?)))
            .filter(|(i, n)| i < n)
            .map(|(_, n)| n);
        match count {
            Some(n) if entry.path().is_dir() => counts.entry(n).or_default().push(name),
            _ => {
                return Err(ClaimError::Shards {
                    dir: entry.path(),
                    message: "not a shard directory; expected only `<I>-of-<N>` directories \
                              (as `--shard I/N` writes them)"
                        .into(),
                })
            }
        }
    }
    match counts.len() {
        0 => Err(ClaimError::Shards {
            dir: root.to_path_buf(),
            message: "no shard directories; remove the empty folder or run the shards".into(),
        }),
        1 => Ok(*counts.keys().next().unwrap_or(&1)),
        _ => Err(ClaimError::Shards {
            dir: root.to_path_buf(),
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

/// Where two search lists first differ, as a clause of a message.
fn first_difference(got: &[String], want: &[String]) -> String {
    let i = got.iter().zip(want).take_while(|(a, b)| a == b).count();
    match (got.get(i), want.get(i)) {
        (Some(g), Some(w)) => format!(" (search {}: `{g}` recorded, `{w}` expected)", i + 1),
        (Some(g), None) => format!(" (`{g}` recorded, not expected)"),
        (None, Some(w)) => format!(" (`{w}` expected, not recorded)"),
        (None, None) => String::new(),
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
fn import_rows(out: &Path, rows: Vec<(PathBuf, usize, ProbeRow)>) -> Result<usize> {
    let main = out.join("probes.csv");
    let mut seen: HashMap<(String, u64, usize), (PathBuf, usize, ProbeRow)> = HashMap::new();
    if main.is_file() && std::fs::metadata(&main).map_or(0, |m| m.len()) > 0 {
        let existing = read_csv::<ProbeRow>(&main).map_err(|e| ClaimError::Shards {
            dir: main.clone(),
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
                return Err(ClaimError::Shards {
                    dir: path.clone(),
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
    let log = ProbeLog::open(out).map_err(|source| ClaimError::Measure {
        arm: "the merged shards".into(),
        source: Box::new(source),
    })?;
    for row in &new {
        log.append(row).map_err(|source| ClaimError::Measure {
            arm: "the merged shards".into(),
            source: Box::new(source),
        })?;
    }
    Ok(new.len())
}

/// Copies the checkpoints of a shard's directory into `out/checkpoints/` (through a
/// temporary file each), leaving those already there.
fn copy_checkpoints(dir: &Path, out: &Path) -> Result<()> {
    let from = dir.join("checkpoints");
    if !from.is_dir() {
        return Ok(());
    }
    let to = out.join("checkpoints");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ClaimError::Io { path, source }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::arm;

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
    fn partition_covers_every_search_once_and_balances_the_cost() {
        let one: &[usize] = &[1];
        let seeds = [(one, None); 3];
        let arms: Vec<Arm> = (0..5).map(|i| arm(&format!("a{i}"), &seeds).arm).collect();
        // Arm i costs i + 1 per search: 45 in all.
        let cost = |a: &Arm| a.label[1..].parse::<f64>().unwrap() + 1.0;
        for count in [1, 2, 3, 4, 15, 20] {
            let parts = partition(&arms, count, cost);
            assert_eq!(parts.len(), count);
            let mut all: Vec<_> = parts.iter().flatten().copied().collect();
            all.sort_unstable();
            let want: Vec<_> = (0..5).flat_map(|a| (0..3).map(move |s| (a, s))).collect();
            assert_eq!(all, want, "{count} shards");
            let loads: Vec<f64> = parts
                .iter()
                .map(|p| p.iter().map(|&(a, _)| a as f64 + 1.0).sum())
                .collect();
            let max = loads.iter().cloned().fold(0.0, f64::max);
            // Longest-first greedy: within the largest search (5) of the mean.
            assert!(max <= 45.0 / count as f64 + 5.0, "{count}: {loads:?}");
            assert_eq!(parts, partition(&arms, count, cost), "deterministic");
        }
        let parts = partition(&arms, 3, cost);
        let arms_of_first = part_arms(&arms, &parts[0]);
        let searches: usize = arms_of_first.iter().map(|a| a.measure.seeds.len()).sum();
        assert_eq!(searches, parts[0].len());
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
