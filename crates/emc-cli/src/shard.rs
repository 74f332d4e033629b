//! `emc measure --shard I/N`: one shard of a measurement's seeds (every N-th from the I-th)
//! into `<out>/shards/<I>-of-<N>/`, marked finished by `shard.toml`; and the merge of the
//! finished shards into `<out>` before a measurement without `--shard` there, which then
//! resumes from them and trains nothing.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use emc_search::{merge_probe_logs, shard_count, MeasureConfig, RunOptions, Shard, MARKER};
use serde::{Deserialize, Serialize};

/// The marker of a finished shard of a measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Marker {
    /// The whole measurement's configuration hash (every shard's is the same).
    config_hash: String,
    /// Which shard, from 0.
    index: usize,
    /// How many shards.
    count: usize,
    /// Its seeds.
    seeds: Vec<u64>,
}

/// The seeds of `shard`: every N-th of `seeds` from the I-th.
fn seeds_of(seeds: &[u64], shard: Shard) -> Vec<u64> {
    seeds
        .iter()
        .skip(shard.index)
        .step_by(shard.count)
        .copied()
        .collect()
}

/// What shard `shard` of `cfg` measures, and where: its seeds, into its directory under
/// `opts.out`. Adaptive seeds are refused: they need every seed's EMC.
pub(crate) fn plan(
    cfg: &MeasureConfig,
    opts: &RunOptions,
    shard: Shard,
) -> Result<(MeasureConfig, RunOptions)> {
    let seeds = seeds_of(&cfg.seeds, shard);
    if seeds.is_empty() {
        bail!(
            "--shard {shard}: the measurement has {} seeds, so shard {} of {} has none; use \
             at most {} shards",
            cfg.seeds.len(),
            shard.index,
            shard.count,
            cfg.seeds.len()
        );
    }
    if cfg.search.max_seeds > cfg.seeds.len() {
        bail!(
            "--shard with --max-seeds {}: adaptive seeds need every seed's EMC, so a sharded \
             measurement has none; give the seeds outright (--seeds {})",
            cfg.search.max_seeds,
            cfg.search.max_seeds
        );
    }
    // The same configuration but for the seeds: its checkpoints keep their names.
    let mut part = cfg.clone();
    part.seeds = seeds;
    let mut opts = opts.clone();
    opts.out = shard.dir(&opts.out);
    Ok((part, opts))
}

/// Marks `shard` of `cfg` finished in its directory.
pub(crate) fn finish(cfg: &MeasureConfig, out: &Path, shard: Shard) -> Result<()> {
    let marker = Marker {
        config_hash: cfg.config_hash(),
        index: shard.index,
        count: shard.count,
        seeds: seeds_of(&cfg.seeds, shard),
    };
    let text = toml::to_string(&marker)?;
    let dir = shard.dir(out);
    emc_search::write_atomic(&dir.join(MARKER), text.as_bytes())?;
    Ok(())
}

/// Merges the finished shards of `out` into it: `None` when `out` has none; an error
/// naming every unfinished shard, or a shard of another measurement.
pub(crate) fn merge(cfg: &MeasureConfig, out: &Path) -> Result<Option<usize>> {
    let Some(count) = shard_count(out)? else {
        return Ok(None);
    };
    let (mut dirs, mut unfinished) = (vec![], vec![]);
    for index in 0..count {
        let shard = Shard { index, count };
        let dir = shard.dir(out);
        let path = dir.join(MARKER);
        if !path.is_file() {
            unfinished.push(format!("{index}-of-{count}"));
            continue;
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
        let marker: Marker = toml::from_str(&text)
            .with_context(|| format!("{}: not a shard marker", path.display()))?;
        let want = Marker {
            config_hash: cfg.config_hash(),
            index,
            count,
            seeds: seeds_of(&cfg.seeds, shard),
        };
        if marker != want {
            bail!(
                "{}: records configuration {} with seeds {:?}, not this measurement's {} with \
                 seeds {:?}: a shard of another measurement; use another --out",
                path.display(),
                marker.config_hash,
                marker.seeds,
                want.config_hash,
                want.seeds
            );
        }
        dirs.push(dir);
    }
    if !unfinished.is_empty() {
        bail!(
            "{}: shard{} {} not finished (no {MARKER}); run {} (`--shard I/N` resumes), \
             then measure here again",
            out.display(),
            if unfinished.len() == 1 { "" } else { "s" },
            unfinished.join(", "),
            if unfinished.len() == 1 { "it" } else { "them" }
        );
    }
    let dirs: Vec<PathBuf> = dirs;
    Ok(Some(merge_probe_logs(out, &dirs)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_take_every_nth_seed() {
        let seeds = [0, 1, 2, 3, 4];
        let of = |index, count| seeds_of(&seeds, Shard { index, count });
        assert_eq!(of(0, 2), vec![0, 2, 4]);
        assert_eq!(of(1, 2), vec![1, 3]);
        assert_eq!(of(4, 5), vec![4]);
        assert!(of(5, 6).is_empty());
    }
}
