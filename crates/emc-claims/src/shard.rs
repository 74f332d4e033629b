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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use emc_search::{merge_probe_logs, shard_count, SearchError};
pub use emc_search::{Shard, MARKER, SHARDS_DIR};
use serde::{Deserialize, Serialize};

use crate::{Arm, ClaimError, ClaimSpec, Result, Scale};

/// A shard directory's error as the claim framework's.
fn shards_err(e: SearchError) -> ClaimError {
    match e {
        SearchError::Results { path, message } => ClaimError::Shards { dir: path, message },
        other => ClaimError::Measure {
            arm: "the merged shards".into(),
            source: Box::new(other),
        },
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

    /// Whether `dir` holds this shard finished: `false` without a marker; an error naming
    /// the marker and the first search that differs when it records another shard (of
    /// another claim, scale, `--seeds` or grid). The version may differ (a rebuilt binary):
    /// a probe recorded with another outcome is caught when the logs merge.
    pub fn check_recorded(&self, dir: &Path) -> Result<bool> {
        let Some(recorded) = ShardMarker::read(dir)? else {
            return Ok(false);
        };
        let same_version = ShardMarker {
            version: self.version.clone(),
            ..recorded.clone()
        };
        if same_version == *self {
            return Ok(true);
        }
        Err(ClaimError::Shards {
            dir: dir.join(MARKER),
            message: format!(
                "records claim {} at scale {} (seeds {:?}), shard {}/{} with {} searches; this \
                 run is claim {} at scale {} (seeds {:?}), whose shard {}/{} has {} searches{}: \
                 a shard of another grid or scale; use another --out",
                recorded.claim,
                recorded.scale,
                recorded.seeds,
                recorded.index,
                recorded.count,
                recorded.searches.len(),
                self.claim,
                self.scale,
                self.seeds,
                self.index,
                self.count,
                self.searches.len(),
                first_difference(&recorded.searches, &self.searches)
            ),
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
    let Some(count) = shard_count(out).map_err(shards_err)? else {
        return Ok(None);
    };
    let arms = spec.arms(scale, seeds);
    let parts = partition(&arms, count, cost);
    let mut finished = vec![];
    let mut missing = vec![false; arms.len()];
    for (index, part) in parts.iter().enumerate() {
        let shard = Shard { index, count };
        let dir = shard.dir(out);
        if !ShardMarker::new(spec, scale, seeds, shard, &arms, part).check_recorded(&dir)? {
            for &(a, _) in part {
                missing[a] = true;
            }
            continue;
        }
        finished.push(index);
    }
    let dirs: Vec<PathBuf> = finished
        .iter()
        .map(|&index| Shard { index, count }.dir(out))
        .collect();
    let imported = merge_probe_logs(out, &dirs).map_err(shards_err)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::arm;

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
    fn a_marker_is_finished_when_it_records_this_shard_and_refused_when_another() {
        let mine = ShardMarker {
            claim: "c".into(),
            scale: "cpu".into(),
            seeds: None,
            index: 1,
            count: 2,
            searches: vec!["a seed 0".into(), "b seed 1".into()],
            version: "0.1.0".into(),
        };
        let dir = tempfile::tempdir().unwrap();
        assert!(
            !mine.check_recorded(dir.path()).unwrap(),
            "no marker: unfinished"
        );
        // Written by another build of the same grid: finished.
        ShardMarker {
            version: "0.0.9".into(),
            ..mine.clone()
        }
        .write(dir.path())
        .unwrap();
        assert!(mine.check_recorded(dir.path()).unwrap());
        // Another partition of the searches: refused, naming the marker and the search.
        ShardMarker {
            searches: vec!["a seed 0".into(), "c seed 1".into()],
            ..mine.clone()
        }
        .write(dir.path())
        .unwrap();
        let err = mine.check_recorded(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(MARKER)
                && err.contains("search 2: `c seed 1` recorded, `b seed 1` expected"),
            "{err}"
        );
        // Another --seeds: refused.
        ShardMarker {
            seeds: Some(5),
            ..mine.clone()
        }
        .write(dir.path())
        .unwrap();
        assert!(mine.check_recorded(dir.path()).is_err());
    }
}
