//! Writing the result files of a measurement directory (their rows and columns are
//! `emc-results`'): `summary.csv` and `manifest.toml` are rewritten through a temporary
//! file and a rename; `probes.csv` is the append-only log of `probe_log`.
//!
//! A configuration's manifest records the data files it was measured on (name, size and
//! SHA-256); resuming it on other data is refused ([`check_data`]) before anything is
//! trained or rewritten.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use emc_data::FileDigest;
use emc_results::{ProbeRow, SummaryRow};
use emc_train::{FitReport, Provenance};
use serde::{Deserialize, Serialize};

use crate::config::MeasureConfig;
use crate::error::{Result, SearchError};
use crate::measure::{Measurement, RunOptions};

pub(crate) fn io_err(path: &Path, e: impl std::fmt::Display) -> SearchError {
    SearchError::Results {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Serialises every read-modify-write of the shared result files (`probes.csv` opening and
/// appends, `summary.csv`, `manifest.toml`) within the process, so that measurements of
/// several configurations may run concurrently into one directory.
static FILES: Mutex<()> = Mutex::new(());

/// Holds the result-files lock; a poisoned lock is still usable (it guards no data).
pub(crate) fn files_lock() -> std::sync::MutexGuard<'static, ()> {
    FILES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes `bytes` to `path` atomically (temporary file in the same folder, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    let mut f = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
    f.write_all(bytes).map_err(|e| io_err(&tmp, e))?;
    f.sync_all().map_err(|e| io_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))
}

/// Serialises rows to CSV text with a header.
pub fn to_csv<T: Serialize>(rows: &[T], path: &Path) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(vec![]);
    for r in rows {
        w.serialize(r).map_err(|e| io_err(path, e))?;
    }
    w.into_inner().map_err(|e| io_err(path, e))
}

/// Reads every row of a CSV file, naming the line of a malformed row.
pub fn read_csv<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>> {
    let file = emc_results::open_result_file(path).map_err(|e| io_err(path, e))?;
    let mut r = csv::Reader::from_reader(file);
    let mut out = vec![];
    for (i, row) in r.deserialize().enumerate() {
        out.push(row.map_err(|e| io_err(path, format!("line {}: {e}", i + 2)))?);
    }
    Ok(out)
}

/// The `probes.csv` row of a probe of `cfg` (keyed by its probe hash `hash`).
pub(crate) fn probe_row(
    cfg: &MeasureConfig,
    hash: &str,
    run_id: &str,
    params: usize,
    seed: u64,
    r: &FitReport,
) -> ProbeRow {
    ProbeRow {
        run_id: run_id.to_string(),
        config_hash: hash.to_string(),
        model: cfg.model.clone(),
        params,
        dataset: cfg.data.clone(),
        variants: cfg.variants.join(" "),
        optimizer: cfg.train.optim.to_string(),
        lr: cfg.train.optim.lr,
        batch: cfg.batch_text(),
        seed,
        n: r.n,
        fitted: r.fitted,
        stop: r.stop.to_string(),
        epochs: r.epochs,
        steps: r.steps,
        train_accuracy: r.train_accuracy,
        train_loss: r.train_loss,
        grad_norm: r.grad_norm,
        seconds: r.seconds,
    }
}

/// Rewrites `summary.csv`: this config's rows replaced, other configs' rows kept.
pub(crate) fn write_summary(out: &Path, cfg: &MeasureConfig, m: &Measurement) -> Result<()> {
    let (hash, params, stats) = (m.config_hash.as_str(), m.params, &m.stats);
    let (per_seed, budgets, transition) = (&m.per_seed, &m.budgets, &m.transition);
    let path = out.join("summary.csv");
    let budget_of = |seed: u64| budgets.iter().find(|(s, _)| *s == seed).map(|(_, b)| b);
    let mut rows: Vec<SummaryRow> = if path.exists() {
        read_csv::<SummaryRow>(&path)?
            .into_iter()
            .filter(|r| r.config_hash != hash)
            .collect()
    } else {
        vec![]
    };
    let base = SummaryRow {
        config_hash: hash.to_string(),
        model: cfg.model.clone(),
        params,
        dataset: cfg.data.clone(),
        variants: cfg.variants.join(" "),
        optimizer: cfg.train.optim.to_string(),
        seed: String::new(),
        emc: None,
        upper: None,
        probes: 0,
        non_monotone: false,
        saturated: false,
        median: None,
        mean: None,
        std: None,
        min: None,
        max: None,
        mean_log_emc: None,
        efficiency: None,
        budgets: String::new(),
        budget_converged: None,
        n50: None,
        band: String::new(),
    };
    for (seed, o) in per_seed {
        let b = budget_of(*seed);
        rows.push(SummaryRow {
            seed: seed.to_string(),
            budgets: b.map(|b| b.describe()).unwrap_or_default(),
            budget_converged: b.and_then(|b| b.converged),
            emc: Some(o.emc),
            upper: o.upper,
            probes: o.probes.len(),
            non_monotone: o.non_monotone,
            saturated: o.saturated,
            ..base.clone()
        });
    }
    rows.push(SummaryRow {
        seed: "all".into(),
        probes: per_seed.iter().map(|(_, o)| o.probes.len()).sum(),
        non_monotone: per_seed.iter().any(|(_, o)| o.non_monotone),
        saturated: per_seed.iter().any(|(_, o)| o.saturated),
        median: Some(stats.median),
        mean: Some(stats.mean),
        std: Some(stats.std),
        min: Some(stats.min),
        max: Some(stats.max),
        mean_log_emc: Some(stats.mean_log_emc),
        efficiency: Some(stats.efficiency),
        budget_converged: budgets
            .iter()
            .map(|(_, b)| b.converged)
            .try_fold(true, |all, c| c.map(|c| all && c)),
        n50: transition.n50,
        band: match (
            transition.band(),
            transition.highest_fit,
            transition.lowest_failure,
        ) {
            (Some((lo, hi)), _, _) => format!("{lo}-{hi}"),
            (None, Some(fit), Some(fail)) => format!("sharp {fit}|{fail}"),
            _ => String::new(),
        },
        ..base
    });
    write_atomic(&path, &to_csv(&rows, &path)?)
}

#[derive(Serialize)]
struct Manifest<'a> {
    config_hash: &'a str,
    crate_version: String,
    git_commit: String,
    jobs: usize,
    threads_per_job: String,
    /// Probes per lockstep group at most.
    lockstep: usize,
    /// Probes of this configuration trained in lockstep groups of two or more in this
    /// invocation.
    probes_in_lockstep_groups: usize,
    device: String,
    started_unix: f64,
    finished_unix: f64,
    probes_trained: usize,
    params: usize,
    median_emc: f64,
    machine: Machine,
    config: &'a MeasureConfig,
    /// The data files the configuration's training split was read from.
    data_files: Vec<DataFile>,
}

/// A data file a measurement read, as its manifest records it (`[[data_files]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DataFile {
    /// The file's name (its folder may differ from machine to machine).
    pub(crate) name: String,
    /// Its size in bytes.
    pub(crate) bytes: u64,
    /// Lower-case hex SHA-256 of its bytes.
    pub(crate) sha256: String,
}

impl DataFile {
    /// The manifest entry of a file `emc-data` read.
    pub(crate) fn of(d: &FileDigest) -> Self {
        DataFile {
            name: d.path.file_name().map_or_else(
                || d.path.display().to_string(),
                |n| n.to_string_lossy().into(),
            ),
            bytes: d.bytes,
            sha256: d.sha256.clone(),
        }
    }
}

/// Refuses to resume configuration `hash` in `out` on data other than the data its manifest
/// (`manifest-<hash>.toml`, else `manifest.toml` when it is that configuration's) records:
/// an error naming each file that differs, with the recorded and the current SHA-256. A
/// directory without such a manifest, or a manifest written before data files were recorded,
/// is accepted (the next manifest written records them). So is data read from files of
/// another form or source than the recorded ones (no file name in common: e.g. the Hub's
/// parquet files where IDX files were recorded): the stored bytes of two forms cannot be
/// compared, and the same images decode from both.
pub fn check_data(out: &Path, hash: &str, files: &[FileDigest]) -> Result<()> {
    let Some((path, recorded)) = recorded_data(out, hash)? else {
        return Ok(());
    };
    let now: Vec<DataFile> = files.iter().map(DataFile::of).collect();
    if !recorded
        .iter()
        .any(|r| now.iter().any(|f| f.name == r.name))
    {
        return Ok(());
    }
    let mut diffs = vec![];
    for r in &recorded {
        match now.iter().find(|f| f.name == r.name) {
            Some(f) if f.sha256 == r.sha256 => {}
            Some(f) => {
                let at = files
                    .iter()
                    .find(|d| DataFile::of(d).name == f.name)
                    .map_or_else(String::new, |d| format!(" ({})", d.path.display()));
                diffs.push(format!(
                    "`{}`: recorded SHA-256 {} ({} bytes), now {} ({} bytes){at}",
                    r.name, r.sha256, r.bytes, f.sha256, f.bytes
                ));
            }
            None => diffs.push(format!(
                "`{}` (recorded SHA-256 {}) is not among the files read now",
                r.name, r.sha256
            )),
        }
    }
    for f in now
        .iter()
        .filter(|f| !recorded.iter().any(|r| r.name == f.name))
    {
        diffs.push(format!(
            "`{}` (SHA-256 {}) is read now but was not when the results were measured",
            f.name, f.sha256
        ));
    }
    if diffs.is_empty() {
        return Ok(());
    }
    Err(SearchError::Results {
        path,
        message: format!(
            "configuration {hash} was measured on other data than the data found now: {}; \
             resume it with the data it was measured on (EMC_DATA_DIR / --data-dir), or \
             measure into another directory",
            diffs.join("; ")
        ),
    })
}

/// The data files recorded for configuration `hash` in `out`, with the manifest that
/// records them; `None` when no manifest of it records any.
fn recorded_data(out: &Path, hash: &str) -> Result<Option<(PathBuf, Vec<DataFile>)>> {
    #[derive(Deserialize)]
    struct Recorded {
        config_hash: Option<String>,
        data_files: Option<Vec<DataFile>>,
    }
    for path in [
        out.join(format!("manifest-{hash}.toml")),
        out.join("manifest.toml"),
    ] {
        let text = match emc_results::read_result_text(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(&path, e)),
        };
        let r: Recorded = toml::from_str(&text).map_err(|e| io_err(&path, e))?;
        if r.config_hash.as_deref() != Some(hash) {
            continue;
        }
        return Ok(r.data_files.map(|files| (path, files)));
    }
    Ok(None)
}

#[derive(Serialize)]
struct Machine {
    os: &'static str,
    arch: &'static str,
    cpus: usize,
    /// The vector instruction set of the CPU's matrix products: results are bit-identical
    /// on one, not across them (`emc_kernels::vector_isa`).
    vector_isa: &'static str,
    hostname: String,
}

/// Writes `manifest.toml` (one per directory, for the latest measurement; older
/// manifests of other configs are kept as `manifest-<hash>.toml`).
pub(crate) fn write_manifest(
    out: &Path,
    cfg: &MeasureConfig,
    opts: &RunOptions,
    (lockstep, probes_in_lockstep_groups): (usize, usize),
    m: &Measurement,
    (started, finished): (f64, f64),
    data: &[FileDigest],
) -> Result<()> {
    let prov = Provenance::current();
    let manifest = Manifest {
        config_hash: &m.config_hash,
        crate_version: prov.crate_version,
        git_commit: prov.git_commit,
        machine: Machine {
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            vector_isa: emc_models::kernels::vector_isa(),
            hostname: std::fs::read_to_string("/etc/hostname")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
        },
        jobs: opts.jobs,
        threads_per_job: std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "default".into()),
        lockstep,
        probes_in_lockstep_groups,
        device: format!("{:?}", opts.device.location()),
        started_unix: started,
        finished_unix: finished,
        probes_trained: m.probes_trained,
        params: m.params,
        median_emc: m.stats.median,
        config: cfg,
        data_files: data.iter().map(DataFile::of).collect(),
    };
    let text = toml::to_string_pretty(&manifest).map_err(|e| SearchError::Results {
        path: out.join("manifest.toml"),
        message: e.to_string(),
    })?;
    write_atomic(
        &out.join(format!("manifest-{}.toml", m.config_hash)),
        text.as_bytes(),
    )?;
    write_atomic(&out.join("manifest.toml"), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(name: &str, sha: &str) -> FileDigest {
        FileDigest {
            path: PathBuf::from("/data/mnist").join(name),
            bytes: 10,
            sha256: sha.into(),
        }
    }

    fn manifest(dir: &Path, file: &str, hash: &str, files: &[FileDigest]) {
        let mut text = format!("config_hash = \"{hash}\"\n");
        for f in files.iter().map(DataFile::of) {
            text += &format!(
                "\n[[data_files]]\nname = \"{}\"\nbytes = {}\nsha256 = \"{}\"\n",
                f.name, f.bytes, f.sha256
            );
        }
        std::fs::write(dir.join(file), text).unwrap();
    }

    #[test]
    fn other_data_than_recorded_is_refused_naming_the_file_and_both_digests() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let recorded = [digest("images", "aaaa"), digest("labels", "bbbb")];
        // No manifest yet, or only another configuration's: nothing to compare with.
        check_data(dir, "h1", &recorded).unwrap();
        manifest(dir, "manifest.toml", "h2", &recorded);
        check_data(dir, "h1", &[digest("images", "ffff")]).unwrap();

        manifest(dir, "manifest-h1.toml", "h1", &recorded);
        check_data(dir, "h1", &recorded).unwrap();
        let other = [digest("images", "aaaa"), digest("labels", "cccc")];
        let e = check_data(dir, "h1", &other).unwrap_err().to_string();
        assert!(e.contains("manifest-h1.toml"), "{e}");
        assert!(e.contains("`labels`: recorded SHA-256 bbbb") && e.contains("now cccc"));
        assert!(!e.contains("`images`"), "{e}");
        // A file missing from a set that shares names is other data.
        let e = check_data(dir, "h1", &[digest("images", "aaaa")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`labels` (recorded SHA-256 bbbb) is not among"),
            "{e}"
        );
        let e = check_data(
            dir,
            "h1",
            &[
                digest("images", "aaaa"),
                digest("labels", "bbbb"),
                digest("extra", "dddd"),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`extra` (SHA-256 dddd) is read now"), "{e}");
        // Files of another form or source (no name in common) cannot be compared byte for
        // byte: accepted.
        check_data(dir, "h1", &[digest("train.parquet", "eeee")]).unwrap();
    }

    #[test]
    fn a_manifest_from_before_the_digests_is_accepted() {
        let tmp = tempfile::tempdir().unwrap();
        manifest(tmp.path(), "manifest-h1.toml", "h1", &[]);
        check_data(tmp.path(), "h1", &[digest("images", "aaaa")]).unwrap();
        std::fs::write(tmp.path().join("manifest-h2.toml"), "not toml [").unwrap();
        let e = check_data(tmp.path(), "h2", &[]).unwrap_err().to_string();
        assert!(e.contains("manifest-h2.toml"), "{e}");
    }
}
