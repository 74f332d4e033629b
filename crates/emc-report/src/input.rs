//! Reading what `emc measure` wrote: `probes.csv` and `summary.csv` (strictly, through
//! [`table`]: every error names the file, the line and the column), `manifest.toml`
//! (context only) and each configuration's `manifest-<config_hash>.toml`, whose config gives
//! the probe hash of each budget level (how `probes.csv` keys a configuration's probes). The
//! files' columns, stop reasons, hashes and budget carry-over rule are `emc-results'`.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use emc_results::{ProbeRow, Recorded, RecordedConfig, StopReason, SummaryRow};

use crate::error::{ReportError, Result};
use table::Table;

mod table;

/// One training probe (a row of `probes.csv`), reduced to what the report shows.
#[derive(Debug, Clone)]
pub struct Probe {
    /// 1-based line in `probes.csv`.
    pub line: u64,
    /// Which configuration the probe belongs to.
    pub config_hash: String,
    /// Seed of the search the probe belongs to.
    pub seed: u64,
    /// Training-set size.
    pub n: u64,
    /// Whether training reached 100% training accuracy.
    pub fitted: bool,
    /// Why training stopped (`fitted`, `max-epochs`, ...).
    pub stop: String,
    /// Wall-clock training time.
    pub seconds: f64,
}

impl Recorded for Probe {
    fn n(&self) -> u64 {
        self.n
    }
    fn fitted(&self) -> bool {
        self.fitted
    }
    fn stop(&self) -> &str {
        &self.stop
    }
}

/// One seed's search result (a `summary.csv` row with an integer `seed`).
#[derive(Debug, Clone)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// That seed's EMC.
    pub emc: u64,
    /// Smallest failed n above the EMC, if any was probed.
    pub upper: Option<u64>,
    /// Number of probes of this seed.
    pub probes: u64,
    /// Whether some fitted n lay above a failed one.
    pub non_monotone: bool,
    /// Whether the search hit the largest n it could try.
    pub saturated: bool,
    /// EMC at each budget tried, as (multiplier, EMC), smallest budget first (empty when
    /// budget convergence was off or the file predates it).
    pub budgets: Vec<(u64, u64)>,
    /// Budget-converged (`None`: not checked).
    pub budget_converged: Option<bool>,
}

impl SeedResult {
    /// The budget level (`log2` of the multiplier) of the EMC reported: the largest tried.
    pub fn level(&self) -> usize {
        self.budgets
            .last()
            .map_or(0, |&(m, _)| m.trailing_zeros() as usize)
    }
}

/// Where fits and failures meet across seeds (the `band` column).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Band {
    /// Fits and failures overlap over `[lo, hi]` (lowest failure, highest fit).
    Overlap { lo: u64, hi: u64 },
    /// Every fit lies below every failure: highest fit, lowest failure.
    Sharp { fit: u64, failure: u64 },
}

/// The across-seed aggregate of one configuration (its `seed = all` row).
#[derive(Debug, Clone)]
pub struct Aggregate {
    /// Probes over all seeds.
    pub probes: u64,
    /// Some seed was non-monotone.
    pub non_monotone: bool,
    /// Some seed saturated.
    pub saturated: bool,
    /// Median EMC over seeds.
    pub median: f64,
    /// Mean EMC over seeds.
    pub mean: f64,
    /// Sample standard deviation of EMC over seeds (0 for one seed).
    pub std: f64,
    /// Smallest EMC over seeds.
    pub min: u64,
    /// Largest EMC over seeds.
    pub max: u64,
    /// Mean of ln EMC over seeds.
    pub mean_log_emc: f64,
    /// Median EMC / params.
    pub efficiency: f64,
    /// Every seed budget-converged (`None`: not checked).
    pub budget_converged: Option<bool>,
    /// Where the pooled fit probability crosses 50%.
    pub n50: Option<f64>,
    /// The fit/fail transition band.
    pub band: Option<Band>,
}

/// One configuration of `summary.csv`: what was trained, per-seed results and the aggregate.
#[derive(Debug, Clone)]
pub struct Config {
    /// 16 hex digits identifying the configuration.
    pub hash: String,
    /// Model spec.
    pub model: String,
    /// Trainable parameters.
    pub params: u64,
    /// Dataset name.
    pub dataset: String,
    /// Space-separated dataset variants (may be empty).
    pub variants: String,
    /// Optimizer spec.
    pub optimizer: String,
    /// Per-seed results, by seed.
    pub seeds: Vec<SeedResult>,
    /// The `seed = all` row.
    pub aggregate: Aggregate,
    /// The probe hash (`config_hash` of `probes.csv`) of each budget level (multiplier
    /// `2^level`), from the configuration's manifest; empty when no manifest gave them.
    pub probe_hashes: Vec<String>,
    /// Whether a larger budget replays a smaller one (false for a schedule that stretches
    /// with the budget: then no probe is carried to a larger budget).
    pub replays: bool,
}

impl Config {
    /// Whether some seed was searched at more than one budget.
    pub fn has_budget_levels(&self) -> bool {
        self.seeds.iter().any(|s| !s.budgets.is_empty())
    }

    /// The budget level of the probes keyed `probe_hash`, if they are this configuration's.
    /// Without probe hashes from a manifest, probes keyed by the config hash itself (files
    /// written before probes had their own hash) are level 0.
    pub fn level_of(&self, probe_hash: &str) -> Option<usize> {
        if self.probe_hashes.is_empty() {
            return (probe_hash == self.hash).then_some(0);
        }
        self.probe_hashes.iter().position(|h| h == probe_hash)
    }

    /// The probes of `seed` valid at its largest budget, one per `n`, smallest `n` first:
    /// those trained at that budget, and those of smaller budgets that more budget cannot
    /// change (fits, and failures certified by a small gradient or divergence, when a
    /// larger budget replays a smaller one), as the search carried them over. The larger
    /// budget's probe wins at the same `n`.
    pub fn probes_at_budget<'p>(&self, seed: &SeedResult, probes: &'p [Probe]) -> Vec<&'p Probe> {
        let levelled = probes
            .iter()
            .filter(|p| p.seed == seed.seed)
            .filter_map(|p| Some((self.level_of(&p.config_hash)?, p)));
        emc_results::probes_at_budget(levelled, seed.level(), self.replays)
    }
}

/// Everything read from a results directory.
#[derive(Debug)]
pub struct Results {
    /// Configurations, by parameter count then model.
    pub configs: Vec<Config>,
    /// All probes, in file order.
    pub probes: Vec<Probe>,
    /// `manifest.toml`, if present and readable.
    pub manifest: Manifest,
    /// Why some configuration's probes could not be matched to it (no usable manifest).
    pub notes: Vec<String>,
}

/// What became of `manifest.toml`.
#[derive(Debug)]
pub enum Manifest {
    /// Read and parsed.
    Found(PathBuf, toml::Table),
    /// Not there.
    Absent(PathBuf),
    /// There but unreadable (the report goes on without it).
    Unreadable(PathBuf, String),
}

/// Reads and cross-checks `probes.csv`, `summary.csv` and `manifest.toml` in `dir`.
pub fn read_dir(dir: &Path) -> Result<Results> {
    if !dir.is_dir() {
        return Err(ReportError::input(dir, None, "not a directory"));
    }
    let summary_path = dir.join("summary.csv");
    let probes_path = dir.join("probes.csv");
    let mut configs = read_summary(&summary_path)?;
    let probes = read_probes(&probes_path)?;
    let mut notes = Vec::new();
    for c in &mut configs {
        match probe_hashes(dir, c) {
            Ok((hashes, replays)) => {
                c.probe_hashes = hashes;
                c.replays = replays;
            }
            Err(why) => {
                // Files written before probes had their own hash need no manifest.
                if !probes.iter().any(|p| p.config_hash == c.hash) {
                    notes.push(format!(
                        "config_hash {}: its probes cannot be told apart from others' ({why}); \
                         they are left out of the probe plots",
                        c.hash
                    ));
                }
            }
        }
    }
    Ok(Results {
        configs,
        probes,
        manifest: read_manifest(&dir.join("manifest.toml")),
        notes,
    })
}

/// The probe hash of each budget level of `c` (as many levels as it was configured with or
/// its seeds reached) and whether a larger budget replays a smaller one, from the `config`
/// table of `manifest-<hash>.toml` (or of `manifest.toml` when that is the same
/// configuration's). The manifest's config must hash
/// to `c.hash`, so a manifest from another version of the config format is not trusted.
fn probe_hashes(dir: &Path, c: &Config) -> std::result::Result<(Vec<String>, bool), String> {
    let own = dir.join(format!("manifest-{}.toml", c.hash));
    let latest = dir.join("manifest.toml");
    let mut tried = Vec::new();
    for path in [own, latest] {
        let text = match emc_results::read_result_text(&path) {
            Ok(text) => text,
            Err(e) => {
                tried.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        let table: toml::Table = text
            .parse()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if table.get("config_hash").and_then(|h| h.as_str()) != Some(c.hash.as_str()) {
            tried.push(format!("{}: another configuration's", path.display()));
            continue;
        }
        let config = table
            .get("config")
            .ok_or_else(|| format!("{}: no [config] table", path.display()))?
            .as_table()
            .map(RecordedConfig::from_toml)
            .ok_or_else(|| format!("{}: [config]: not a table", path.display()))?;
        if config.config_hash() != c.hash {
            return Err(format!(
                "{}: its [config] hashes to {}, not {} (written by another version of emc)",
                path.display(),
                config.config_hash(),
                c.hash
            ));
        }
        let reached = c.seeds.iter().map(SeedResult::level).max().unwrap_or(0);
        let levels = config.budget_doublings().max(reached);
        let hashes = (0..=levels).map(|l| config.probe_hash_at(l)).collect();
        return Ok((hashes, config.longer_budget_replays()));
    }
    Err(tried.join("; "))
}

fn read_manifest(path: &Path) -> Manifest {
    match emc_results::read_result_text(path) {
        Ok(text) => match text.parse::<toml::Table>() {
            Ok(table) => Manifest::Found(path.to_owned(), table),
            Err(e) => Manifest::Unreadable(path.to_owned(), e.to_string()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Manifest::Absent(path.to_owned()),
        Err(e) => Manifest::Unreadable(path.to_owned(), e.to_string()),
    }
}

fn read_probes(path: &Path) -> Result<Vec<Probe>> {
    let mut table = Table::open(path, &ProbeRow::columns())?;
    let mut probes = Vec::new();
    for row in table.rows()? {
        row.nonempty("run_id")?;
        row.nonempty("model")?;
        row.int("params")?;
        row.nonempty("dataset")?;
        row.nonempty("optimizer")?;
        row.float("lr")?;
        let batch = row.str("batch");
        if batch != "full" && !batch.parse::<u64>().is_ok_and(|b| b > 0) {
            return Err(row.error("batch", batch, "is neither a positive integer nor `full`"));
        }
        row.int("epochs")?;
        row.int("steps")?;
        row.float("train_accuracy")?;
        row.float("train_loss")?;
        row.float("grad_norm")?;
        let stop = row.str("stop");
        if stop.parse::<StopReason>().is_err() {
            let expected = format_args!("is not one of {}", StopReason::names());
            return Err(row.error("stop", stop, expected));
        }
        probes.push(Probe {
            line: row.line,
            config_hash: row.hash("config_hash")?,
            seed: row.int("seed")?,
            n: row.int("n")?,
            fitted: row.bool("fitted")?,
            stop: stop.to_string(),
            seconds: row.float("seconds")?,
        });
    }
    Ok(probes)
}

/// A configuration while `summary.csv` is being read: its `seed = all` row may come anywhere.
struct Partial {
    first_line: u64,
    hash: String,
    model: String,
    params: u64,
    dataset: String,
    variants: String,
    optimizer: String,
    seeds: Vec<SeedResult>,
    aggregate: Option<Aggregate>,
}

fn read_summary(path: &Path) -> Result<Vec<Config>> {
    let mut table = Table::open(path, &SummaryRow::required_columns())?;
    let mut partial: BTreeMap<String, Partial> = BTreeMap::new();
    for row in table.rows()? {
        let hash = row.hash("config_hash")?;
        let entry = match partial.entry(hash.clone()) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(Partial {
                first_line: row.line,
                hash,
                model: row.nonempty("model")?,
                params: row.int("params")?,
                dataset: row.nonempty("dataset")?,
                variants: row.str("variants").to_string(),
                optimizer: row.nonempty("optimizer")?,
                seeds: Vec::new(),
                aggregate: None,
            }),
        };
        let probes = row.int("probes")?;
        let non_monotone = row.bool("non_monotone")?;
        let saturated = row.bool("saturated")?;
        if row.str("seed") == "all" {
            if entry.aggregate.is_some() {
                return Err(row.error("seed", "all", "appears twice for this config_hash"));
            }
            entry.aggregate = Some(Aggregate {
                probes,
                non_monotone,
                saturated,
                median: row.float("median")?,
                mean: row.float("mean")?,
                std: row.float("std")?,
                min: row.int("min")?,
                max: row.int("max")?,
                mean_log_emc: row.float("mean_log_emc")?,
                efficiency: row.float("efficiency")?,
                budget_converged: row.opt_bool("budget_converged")?,
                n50: row.opt_float("n50")?,
                band: row.band("band")?,
            });
        } else {
            let seed: u64 = row.parse("seed", "an integer or `all`")?;
            if entry.seeds.iter().any(|s| s.seed == seed) {
                return Err(row.error(
                    "seed",
                    row.str("seed"),
                    "appears twice for this config_hash",
                ));
            }
            entry.seeds.push(SeedResult {
                seed,
                emc: row.int("emc")?,
                upper: row.opt_int("upper")?,
                probes,
                non_monotone,
                saturated,
                budgets: row.budgets("budgets")?,
                budget_converged: row.opt_bool("budget_converged")?,
            });
        }
    }
    let mut configs = Vec::with_capacity(partial.len());
    for (hash, mut p) in partial {
        let Some(aggregate) = p.aggregate else {
            let first = p.first_line;
            let message =
                format!("config_hash {hash} (first at line {first}) has no `seed = all` row");
            return Err(ReportError::input(path, None, message));
        };
        p.seeds.sort_by_key(|s| s.seed);
        configs.push(Config {
            hash: p.hash,
            model: p.model,
            params: p.params,
            dataset: p.dataset,
            variants: p.variants,
            optimizer: p.optimizer,
            seeds: p.seeds,
            aggregate,
            probe_hashes: Vec::new(),
            replays: true,
        });
    }
    if configs.is_empty() {
        return Err(ReportError::input(path, None, "no results (only a header)"));
    }
    configs.sort_by(|a, b| (a.params, &a.model, &a.hash).cmp(&(b.params, &b.model, &b.hash)));
    Ok(configs)
}
