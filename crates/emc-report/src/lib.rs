//! # emc-report
//!
//! The report of a results directory (what `emc report DIR` and the claim binaries show):
//! reads the `probes.csv`, `summary.csv` and (optional) `manifest.toml` that the EMC search
//! wrote into DIR, renders one table line per configuration (median EMC
//! over seeds, spread, EMC/params, flags) with its seeds indented under it, and writes two
//! figures into DIR, each as SVG and PNG:
//!
//! - `emc_vs_params`: median EMC (bars: min to max over seeds) against trainable
//!   parameters, log-log, one labelled marker per configuration, with the line
//!   EMC = parameters;
//! - `probes`: every probe at its n (log scale), green when it fitted, red when it did not,
//!   one row per (configuration, seed), with the seed's EMC marked (searched at several
//!   budgets: the probes valid at the seed's largest one);
//! - `emc_vs_budget` (only when some configuration was searched at several budgets): median
//!   EMC (bars: min to max over seeds) against the budget multiplier, one line per
//!   configuration, dashed with hollow markers where some seed stayed budget-limited;
//! - `fit_probability` (only when probes could be matched to their configurations): the
//!   fraction of probes that fitted against n, all seeds pooled, at each seed's largest
//!   budget, one panel per configuration with n₅₀ and the transition band.
//!
//! `probes.csv` keys probes by a *probe hash* per budget level; the report gets them from
//! each configuration's `manifest-<config_hash>.toml` (through
//! `emc_results::RecordedConfig`). The file formats are `emc-results'`: this crate knows
//! nothing of training or the search (no tensors).
//!
//! A claim adds its own figures with [`write_scatter`] (a [`Scatter`] of one quantity
//! against another).
//!
//! ```text
//! emc report runs/mlp-width
//! ```
//!
//! The inputs are read strictly: a missing file, a missing column or a malformed value is an
//! error naming the file, the line and the column. Only the manifests are optional (without
//! its manifest a configuration's probes are left out of the probe plots, with a note), and
//! so are the `summary.csv` columns added with budget convergence (`budgets`,
//! `budget_converged`, `n50`, `band`).

mod error;
mod input;
mod plots;

pub use error::{ReportError, Result};
pub use plots::{write_scatter, Scatter, ScatterPoint, SCATTER_SIZE};

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;

use std::path::Path;

use emc_results::StopReason;
use input::{Config, Manifest, Probe, Results, SeedResult};

/// A rendered report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// What the manifest says (or that it is absent).
    pub manifest: String,
    /// The table: one line per configuration, its seeds indented under it.
    pub table: String,
    /// Inconsistencies between the files worth telling the user.
    pub notes: Vec<String>,
    /// Those notes that say the files contradict each other (summary.csv's EMC or probe
    /// count against probes.csv): results that must not be trusted or published as they
    /// are.
    pub contradictions: Vec<String>,
    /// The plot files written (empty without plots).
    pub written: Vec<PathBuf>,
}

/// Reads the results in `dir`, renders the table and, with `plots`, writes the figures
/// (SVG and PNG, atomically) into `dir`.
pub fn report(dir: &Path, plots: bool) -> Result<Report> {
    report_named(dir, plots, &HashMap::new())
}

/// [`report`], naming the configurations whose config hash is a key of `names` (a claim's
/// arm labels) by that name in the plots and notes (the table lists config hashes); the
/// others are named from their model, data and optimizer.
pub fn report_named(dir: &Path, plots: bool, names: &HashMap<String, String>) -> Result<Report> {
    let results = input::read_dir(dir)?;
    let mut labels = config_labels(&results.configs);
    for (label, c) in labels.iter_mut().zip(&results.configs) {
        if let Some(name) = names.get(&c.hash) {
            label.clone_from(name);
        }
    }
    let (table, contradictions) = table(&results, &labels);
    let mut notes = contradictions.clone();
    notes.extend(diverged_notes(&results, &labels));
    notes.extend(orphan_note(&results));
    notes.extend(results.notes.iter().cloned());
    let written = if plots {
        plots::write_all(dir, &results.configs, &labels, &results.probes)?
    } else {
        vec![]
    };
    Ok(Report {
        manifest: describe_manifest(&results.manifest),
        table,
        notes,
        contradictions,
        written,
    })
}

/// A name for each configuration: its model, plus whatever tells apart configurations that
/// share the model (dataset and variants, then optimizer, then the config hash).
fn config_labels(configs: &[Config]) -> Vec<String> {
    type Part = fn(&Config) -> String;
    let parts: [Part; 4] = [
        |c| c.model.clone(),
        |c| {
            if c.variants.is_empty() {
                c.dataset.clone()
            } else {
                format!("{} {}", c.dataset, c.variants)
            }
        },
        |c| c.optimizer.clone(),
        |c| c.hash[..8].to_string(),
    ];
    let mut labels: Vec<String> = configs.iter().map(parts[0]).collect();
    for part in &parts[1..] {
        let taken = labels.clone();
        for (label, c) in labels.iter_mut().zip(configs) {
            let shared = taken.iter().filter(|l| *l == label).count() > 1;
            if shared {
                *label = format!("{label}, {}", part(c));
            }
        }
    }
    labels
}

fn describe_manifest(manifest: &Manifest) -> String {
    const MAX_LINES: usize = 24;
    let mut out = String::new();
    match manifest {
        Manifest::Absent(path) => {
            let _ = writeln!(out, "manifest: none ({} is absent)", path.display());
        }
        Manifest::Unreadable(path, why) => {
            let _ = writeln!(
                out,
                "manifest: unreadable, ignored ({}: {})",
                path.display(),
                why.trim()
            );
        }
        Manifest::Found(path, table) => {
            let _ = writeln!(out, "manifest: {}", path.display());
            let mut lines = Vec::new();
            for (key, value) in table {
                match value {
                    toml::Value::Table(inner) => {
                        for (k, v) in inner.iter().filter(|(_, v)| !v.is_table()) {
                            lines.push(format!("{key}.{k} = {v}"));
                        }
                    }
                    v => lines.push(format!("{key} = {v}")),
                }
            }
            for line in lines.iter().take(MAX_LINES) {
                let _ = writeln!(out, "  {line}");
            }
            if lines.len() > MAX_LINES {
                let _ = writeln!(out, "  ... ({} more)", lines.len() - MAX_LINES);
            }
        }
    }
    out.push('\n');
    out
}

/// What `probes.csv` says about one (config, seed).
#[derive(Default)]
struct ProbeStats {
    count: u64,
    fitted: u64,
    /// Stop reason of each failed probe, counted.
    failed_stops: BTreeMap<String, u64>,
    seconds: f64,
}

/// Per (config index, seed): its probes at every budget level.
fn probe_stats(configs: &[Config], probes: &[Probe]) -> BTreeMap<(usize, u64), ProbeStats> {
    let mut stats: BTreeMap<(usize, u64), ProbeStats> = BTreeMap::new();
    for (i, c) in configs.iter().enumerate() {
        for p in probes
            .iter()
            .filter(|p| c.level_of(&p.config_hash).is_some())
        {
            stats.entry((i, p.seed)).or_default().add(p);
        }
    }
    stats
}

impl ProbeStats {
    fn add(&mut self, p: &Probe) {
        self.count += 1;
        self.seconds += p.seconds;
        if p.fitted {
            self.fitted += 1;
        } else {
            *self.failed_stops.entry(p.stop.clone()).or_default() += 1;
        }
    }
}

/// Medians are whole numbers for an odd number of seeds; print them so.
fn number(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

/// Three significant digits, without switching to exponents above 1e-3.
fn ratio(x: f64) -> String {
    match x.abs() {
        a if a == 0.0 || !a.is_finite() => format!("{x}"),
        a if a >= 100.0 => format!("{x:.0}"),
        a if a >= 1e-3 => {
            let decimals = (2.0 - a.log10().floor()).max(0.0) as usize;
            format!("{x:.decimals$}")
        }
        _ => format!("{x:.2e}"),
    }
}

fn flags(non_monotone: bool, saturated: bool, budget_converged: Option<bool>) -> String {
    let mut f = Vec::new();
    match budget_converged {
        Some(true) => f.push("budget-converged"),
        Some(false) => f.push("budget-limited"),
        None => {}
    }
    if non_monotone {
        f.push("non-monotone");
    }
    if saturated {
        f.push("saturated");
    }
    f.join(", ")
}

/// The results table and the notes on mismatches between summary.csv and probes.csv.
fn table(results: &Results, labels: &[String]) -> (String, Vec<String>) {
    let stats = probe_stats(&results.configs, &results.probes);
    let mut notes = Vec::new();
    let mut cells: Vec<Vec<String>> = vec![HEADER.iter().map(|h| h.to_string()).collect()];
    cells.extend(results.configs.iter().map(config_cells));
    let widths: Vec<usize> = (0..HEADER.len())
        .map(|k| {
            cells
                .iter()
                .map(|r| r[k].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();

    let total_probes: u64 = results.configs.iter().map(|c| c.aggregate.probes).sum();
    let total_seeds: usize = results.configs.iter().map(|c| c.seeds.len()).sum();
    let mut out = String::new();
    let plural = |k: usize, what: &str| format!("{k} {what}{}", if k == 1 { "" } else { "s" });
    let _ = writeln!(
        out,
        "{}, {}, {}",
        plural(results.configs.len(), "config"),
        plural(total_seeds, "seed"),
        plural(total_probes as usize, "probe"),
    );
    let _ = writeln!(out, "{}", aligned(&cells[0], &widths));
    for (i, ((c, row), label)) in results
        .configs
        .iter()
        .zip(&cells[1..])
        .zip(labels)
        .enumerate()
    {
        let _ = writeln!(out, "{}", aligned(row, &widths));
        for s in &c.seeds {
            let st = stats.get(&(i, s.seed));
            let count = st.map_or(0, |st| st.count);
            // summary.csv counts the probes its search used at the largest budget;
            // probes.csv has those and any others recorded for the same probe hashes (other
            // budgets, other search settings), so only fewer is an inconsistency. Without
            // probe hashes, the probes of other configurations cannot be told apart.
            let matched = !c.probe_hashes.is_empty() || count > 0;
            if matched && count < s.probes {
                notes.push(format!(
                    "{label}, seed {}: summary.csv counts {} probes, probes.csv has {count}",
                    s.seed, s.probes
                ));
            }
            // summary.csv is derived data: its EMC must be what the probes give.
            if matched {
                let valid = c.probes_at_budget(s, &results.probes);
                if let Some(derived) = emc_results::emc_disagreement(&valid, s.emc, s.upper) {
                    notes.push(format!(
                        "{label}, seed {}: summary.csv gives EMC {} but probes.csv gives {derived} \
                         (the largest fitted n at its largest budget); summary.csv was edited \
                         or belongs to other probes",
                        s.seed, s.emc
                    ));
                }
            }
            let _ = writeln!(out, "{}", seed_line(s, st));
        }
    }
    (out, notes)
}

/// The table's columns.
const HEADER: [&str; 14] = [
    "config",
    "model",
    "dataset",
    "variants",
    "optimizer",
    "params",
    "median EMC",
    "min–max",
    "mean",
    "std",
    "mean ln EMC",
    "EMC/params",
    "seeds",
    "flags",
];

/// Which of [`HEADER`]'s columns are right-aligned (numbers; text is left-aligned).
const RIGHT: [bool; 14] = [
    false, false, false, false, false, true, true, true, true, true, true, true, true, false,
];

/// One configuration's table row, a cell per [`HEADER`] column.
fn config_cells(c: &Config) -> Vec<String> {
    let a = &c.aggregate;
    vec![
        c.hash.clone(),
        c.model.clone(),
        c.dataset.clone(),
        if c.variants.is_empty() {
            "-".into()
        } else {
            c.variants.clone()
        },
        c.optimizer.clone(),
        c.params.to_string(),
        number(a.median),
        format!("{}–{}", a.min, a.max),
        format!("{:.1}", a.mean),
        format!("{:.1}", a.std),
        format!("{:.3}", a.mean_log_emc),
        ratio(a.efficiency),
        c.seeds.len().to_string(),
        flags(a.non_monotone, a.saturated, a.budget_converged),
    ]
}

/// A row of cells padded to `widths`, two spaces apart, trailing space trimmed.
fn aligned(row: &[String], widths: &[usize]) -> String {
    let mut s = String::new();
    for (k, cell) in row.iter().enumerate() {
        let pad = " ".repeat(widths[k] - cell.chars().count());
        if RIGHT[k] {
            let _ = write!(s, "{pad}{cell}  ");
        } else {
            let _ = write!(s, "{cell}{pad}  ");
        }
    }
    s.trim_end().to_string()
}

/// A seed's line under its configuration: EMC, next failure, probes (by budget) and, from
/// `probes.csv` (`st`), how they ended and the training time.
fn seed_line(s: &SeedResult, st: Option<&ProbeStats>) -> String {
    let mut detail = format!("{} probes", s.probes);
    if !s.budgets.is_empty() {
        let per: Vec<String> = s.budgets.iter().map(|(m, e)| format!("{m}x:{e}")).collect();
        let state = match s.budget_converged {
            Some(true) => ", budget-converged",
            Some(false) => ", budget-limited",
            None => "",
        };
        let _ = write!(detail, " (EMC by budget {}{state})", per.join(" "));
    }
    if let Some(st) = st {
        let failed: Vec<String> = st
            .failed_stops
            .iter()
            .map(|(stop, k)| format!("{k} {stop}"))
            .collect();
        if s.budgets.is_empty() {
            let _ = write!(detail, ", {} fitted", st.fitted);
        } else {
            let _ = write!(
                detail,
                "; at all budgets {} probes, {} fitted",
                st.count, st.fitted
            );
        }
        if !failed.is_empty() {
            let _ = write!(detail, ", failed: {}", failed.join(", "));
        }
        let _ = write!(detail, "; {:.1} s training", st.seconds);
    }
    let upper = s.upper.map_or("-".to_string(), |u| u.to_string());
    let f = flags(s.non_monotone, s.saturated, None);
    format!(
        "    seed {:<4} EMC {:>9}   next failed n {:>9}   {detail}{}",
        s.seed,
        s.emc,
        upper,
        if f.is_empty() {
            String::new()
        } else {
            format!("   [{f}]")
        }
    )
}

/// A note on the probes of `probes.csv` that belong to no (configuration, seed) of
/// `summary.csv`, when every configuration's probes could be recognised.
/// A note for each configuration whose every probe that did not fit diverged: its EMC
/// marks where training blows up (the learning rate), not what the model can fit.
fn diverged_notes<'a>(
    results: &'a Results,
    labels: &'a [String],
) -> impl Iterator<Item = String> + 'a {
    let diverged = StopReason::Diverged.as_str();
    results
        .configs
        .iter()
        .zip(labels)
        .filter_map(move |(c, label)| {
            let failed: Vec<&Probe> = results
                .probes
                .iter()
                .filter(|p| !p.fitted && c.level_of(&p.config_hash).is_some())
                .collect();
            let all = !failed.is_empty() && failed.iter().all(|p| p.stop == diverged);
            all.then(|| {
                format!(
                    "{label}: DEGENERATE, all {} probes that did not fit diverged (the loss \
                     became non-finite); its EMC measures the learning rate, not the model",
                    failed.len()
                )
            })
        })
}

fn orphan_note(results: &Results) -> Option<String> {
    let known = |p: &Probe| {
        results.configs.iter().any(|c| {
            c.level_of(&p.config_hash).is_some() && c.seeds.iter().any(|s| s.seed == p.seed)
        })
    };
    // Without a manifest a configuration's probes cannot be recognised (noted elsewhere).
    let all_matched = results.configs.iter().all(|c| {
        !c.probe_hashes.is_empty() || results.probes.iter().any(|p| p.config_hash == c.hash)
    });
    let p = results.probes.iter().find(|p| all_matched && !known(p))?;
    let orphans = results.probes.iter().filter(|q| !known(q)).count();
    Some(format!(
        "{orphans} probes belong to no (configuration, seed) of summary.csv (their \
         config_hash is none of its configurations' probe hashes) and are not shown \
         (the first: probes.csv line {}, config_hash {} seed {})",
        p.line, p.config_hash, p.seed
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_compactly() {
        assert_eq!(number(1234.0), "1234");
        assert_eq!(number(1234.5), "1234.5");
        assert_eq!(ratio(0.08123), "0.0812");
        assert_eq!(ratio(1.5), "1.50");
        assert_eq!(ratio(0.0001), "1.00e-4");
    }
}
