//! Reading what `emc measure` wrote: `probes.csv` and `summary.csv` (strictly: every error
//! names the file, the line and the column), `manifest.toml` (context only) and each
//! configuration's `manifest-<config_hash>.toml`, whose config gives the probe hash of each
//! budget level (how `probes.csv` keys a configuration's probes).

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

/// Columns of `probes.csv`, in the order `emc measure` writes them.
pub const PROBE_COLUMNS: [&str; 19] = [
    "run_id",
    "config_hash",
    "model",
    "params",
    "dataset",
    "variants",
    "optimizer",
    "lr",
    "batch",
    "seed",
    "n",
    "fitted",
    "stop",
    "epochs",
    "steps",
    "train_accuracy",
    "train_loss",
    "grad_norm",
    "seconds",
];

/// Columns of `summary.csv`, in the order `emc measure` writes them. The columns of budget
/// convergence and the transition band that follow (`budgets`, `budget_converged`, `n50`,
/// `band`) are optional: older files without them still read.
pub const SUMMARY_COLUMNS: [&str; 19] = [
    "config_hash",
    "model",
    "params",
    "dataset",
    "variants",
    "optimizer",
    "seed",
    "emc",
    "upper",
    "probes",
    "non_monotone",
    "saturated",
    "median",
    "mean",
    "std",
    "min",
    "max",
    "mean_log_emc",
    "efficiency",
];

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

impl Probe {
    /// Whether the result stands when the budget grows (see
    /// `emc_search::ProbeRow::stands_with_more_budget`): a fit, or a failure certified by a
    /// small gradient or divergence; not a failure that ran out of epochs, steps or plateau
    /// patience.
    pub fn stands_with_more_budget(&self) -> bool {
        emc_train::stands_with_more_budget(self.fitted, &self.stop)
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
        let top = seed.level();
        let mut by_n: BTreeMap<u64, (usize, &Probe)> = BTreeMap::new();
        for p in probes.iter().filter(|p| p.seed == seed.seed) {
            let Some(level) = self.level_of(&p.config_hash).filter(|&l| l <= top) else {
                continue;
            };
            if level < top && !(self.replays && p.stands_with_more_budget()) {
                continue;
            }
            match by_n.entry(p.n) {
                Entry::Vacant(e) => {
                    e.insert((level, p));
                }
                Entry::Occupied(mut e) => {
                    if level > e.get().0 {
                        e.insert((level, p));
                    }
                }
            }
        }
        by_n.into_values().map(|(_, p)| p).collect()
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
    anyhow::ensure!(dir.is_dir(), "{}: not a directory", dir.display());
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
        let text = match std::fs::read_to_string(&path) {
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
        let config: emc_search::MeasureConfig = table
            .get("config")
            .cloned()
            .ok_or_else(|| format!("{}: no [config] table", path.display()))?
            .try_into()
            .map_err(|e| format!("{}: [config]: {e}", path.display()))?;
        if config.config_hash() != c.hash {
            return Err(format!(
                "{}: its [config] hashes to {}, not {} (written by another version of emc)",
                path.display(),
                config.config_hash(),
                c.hash
            ));
        }
        let reached = c.seeds.iter().map(SeedResult::level).max().unwrap_or(0);
        let levels = config.search.budget_doublings.max(reached);
        let hashes = (0..=levels)
            .map(|level| config.with_budget_multiplier(1 << level).probe_hash())
            .collect();
        return Ok((hashes, config.longer_budget_replays()));
    }
    Err(tried.join("; "))
}

fn read_manifest(path: &Path) -> Manifest {
    match std::fs::read_to_string(path) {
        Ok(text) => match text.parse::<toml::Table>() {
            Ok(table) => Manifest::Found(path.to_owned(), table),
            Err(e) => Manifest::Unreadable(path.to_owned(), e.to_string()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Manifest::Absent(path.to_owned()),
        Err(e) => Manifest::Unreadable(path.to_owned(), e.to_string()),
    }
}

/// A CSV file opened with its header checked: every expected column present.
struct Table {
    path: PathBuf,
    reader: csv::Reader<std::fs::File>,
    index: HashMap<String, usize>,
    width: usize,
}

impl Table {
    fn open(path: &Path, columns: &[&str]) -> Result<Self> {
        let file = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
        let header = reader.headers().map_err(|e| csv_error(path, e))?.clone();
        let index: HashMap<String, usize> = header
            .iter()
            .enumerate()
            .map(|(i, name)| (name.trim().to_string(), i))
            .collect();
        if let Some(missing) = columns.iter().find(|c| !index.contains_key(**c)) {
            bail!(
                "{} line 1: missing column `{missing}` (expected columns: {})",
                path.display(),
                columns.join(",")
            );
        }
        Ok(Self {
            path: path.to_owned(),
            reader,
            index,
            width: header.len(),
        })
    }

    /// The data rows, each checked to have as many fields as the header.
    fn rows(&mut self) -> Result<Vec<Row<'_>>> {
        let mut rows = Vec::new();
        for record in self.reader.records() {
            let record = record.map_err(|e| csv_error(&self.path, e))?;
            let line = record.position().map_or(0, |p| p.line());
            if record.len() != self.width {
                bail!(
                    "{} line {line}: {} fields, but the header has {}",
                    self.path.display(),
                    record.len(),
                    self.width
                );
            }
            rows.push(Row {
                path: &self.path,
                index: &self.index,
                line,
                record,
            });
        }
        Ok(rows)
    }
}

fn csv_error(path: &Path, e: csv::Error) -> anyhow::Error {
    match e.position() {
        Some(p) => anyhow!("{} line {}: {e}", path.display(), p.line()),
        None => anyhow!("{}: {e}", path.display()),
    }
}

/// One data row, with typed, located accessors.
struct Row<'a> {
    path: &'a Path,
    index: &'a HashMap<String, usize>,
    line: u64,
    record: csv::StringRecord,
}

impl Row<'_> {
    fn error(&self, column: &str, value: &str, what: impl Display) -> anyhow::Error {
        anyhow!(
            "{} line {}: column `{column}`: `{value}` {what}",
            self.path.display(),
            self.line
        )
    }

    fn str(&self, column: &str) -> &str {
        // Open checked that every column asked for is in the header, and rows that every
        // record is as wide as the header.
        self.record[self.index[column]].trim()
    }

    fn parse<T: std::str::FromStr>(&self, column: &str, what: &str) -> Result<T> {
        let value = self.str(column);
        value
            .parse()
            .map_err(|_| self.error(column, value, format_args!("is not {what}")))
    }

    fn int(&self, column: &str) -> Result<u64> {
        self.parse(column, "an integer")
    }

    fn float(&self, column: &str) -> Result<f64> {
        self.parse(column, "a number")
    }

    fn opt_int(&self, column: &str) -> Result<Option<u64>> {
        match self.str(column) {
            "" => Ok(None),
            _ => self.int(column).map(Some),
        }
    }

    /// An optional column's value: empty when the file has no such column.
    fn opt_str(&self, column: &str) -> &str {
        self.index
            .get(column)
            .map_or("", |&i| self.record[i].trim())
    }

    fn opt_float(&self, column: &str) -> Result<Option<f64>> {
        match self.opt_str(column) {
            "" => Ok(None),
            v => v
                .parse()
                .map(Some)
                .map_err(|_| self.error(column, v, "is not a number")),
        }
    }

    fn opt_bool(&self, column: &str) -> Result<Option<bool>> {
        match self.opt_str(column) {
            "" => Ok(None),
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            v => Err(self.error(column, v, "is not `true`, `false` or empty")),
        }
    }

    /// `1x:540 2x:900 4x:1440`: EMC per budget multiplier (powers of two, increasing).
    fn budgets(&self, column: &str) -> Result<Vec<(u64, u64)>> {
        let v = self.opt_str(column);
        let bad = || self.error(column, v, "is not like `1x:540 2x:900 4x:1440`");
        let mut out: Vec<(u64, u64)> = Vec::new();
        for item in v.split_whitespace() {
            let (m, emc) = item.split_once("x:").ok_or_else(bad)?;
            let (m, emc): (u64, u64) = (
                m.parse().map_err(|_| bad())?,
                emc.parse().map_err(|_| bad())?,
            );
            if !m.is_power_of_two() || out.last().is_some_and(|&(prev, _)| prev >= m) {
                return Err(self.error(
                    column,
                    v,
                    "has budget multipliers that are not increasing powers of two",
                ));
            }
            out.push((m, emc));
        }
        Ok(out)
    }

    /// `lo-hi`, `sharp fit|failure` or empty.
    fn band(&self, column: &str) -> Result<Option<Band>> {
        let v = self.opt_str(column);
        let bad = || self.error(column, v, "is not `LO-HI`, `sharp FIT|FAILURE` or empty");
        let pair = |s: &str, sep: char| -> Result<(u64, u64)> {
            let (a, b) = s.split_once(sep).ok_or_else(bad)?;
            Ok((
                a.trim().parse().map_err(|_| bad())?,
                b.trim().parse().map_err(|_| bad())?,
            ))
        };
        if v.is_empty() {
            return Ok(None);
        }
        Ok(Some(match v.strip_prefix("sharp ") {
            Some(rest) => {
                let (fit, failure) = pair(rest, '|')?;
                Band::Sharp { fit, failure }
            }
            None => {
                let (lo, hi) = pair(v, '-')?;
                Band::Overlap { lo, hi }
            }
        }))
    }

    fn bool(&self, column: &str) -> Result<bool> {
        match self.str(column) {
            "true" => Ok(true),
            "false" => Ok(false),
            v => Err(self.error(column, v, "is not `true` or `false`")),
        }
    }

    fn hash(&self, column: &str) -> Result<String> {
        let v = self.str(column);
        if v.len() != 16 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(self.error(column, v, "is not 16 hex digits"));
        }
        Ok(v.to_string())
    }

    fn nonempty(&self, column: &str) -> Result<String> {
        match self.str(column) {
            "" => Err(self.error(column, "", "is empty")),
            v => Ok(v.to_string()),
        }
    }
}

fn read_probes(path: &Path) -> Result<Vec<Probe>> {
    let mut table = Table::open(path, &PROBE_COLUMNS)?;
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
        if stop.parse::<emc_train::StopReason>().is_err() {
            let expected = format_args!("is not one of {}", emc_train::StopReason::names());
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
    let mut table = Table::open(path, &SUMMARY_COLUMNS)?;
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
            bail!(
                "{}: config_hash {hash} (first at line {}) has no `seed = all` row",
                path.display(),
                p.first_line
            );
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
        bail!("{}: no results (only a header)", path.display());
    }
    configs.sort_by(|a, b| (a.params, &a.model, &a.hash).cmp(&(b.params, &b.model, &b.hash)));
    Ok(configs)
}
