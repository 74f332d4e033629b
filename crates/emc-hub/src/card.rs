//! The repository card (`README.md`) a push generates: YAML metadata the Hub indexes
//! (license, tags, datasets, the paper), then what was measured, the protocol, the verdict
//! when the directory holds a claim's `verdict.md`, the files, how to verify and reproduce,
//! and the citation taken from the workspace's `CITATION.cff`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use emc_data::DatasetId;
use emc_search::{MeasureConfig, SummaryRow};
use emc_train::Batching;

use crate::client::RepoId;
use crate::manifest::FileEntry;

/// The workspace's citation file, embedded at build time.
const CITATION_CFF: &str = include_str!("../../../CITATION.cff");

/// The paper's arXiv id.
pub const ARXIV: &str = "2406.11463";

/// One measurement found in a results directory (from `manifest.toml` or
/// `manifest-<hash>.toml`).
#[derive(Debug, Clone)]
pub(crate) struct MeasuredConfig {
    pub hash: String,
    pub config: MeasureConfig,
    pub crate_version: String,
    pub git_commit: String,
}

/// What a card is generated from.
#[derive(Debug, Clone)]
pub(crate) struct CardInput<'a> {
    pub repo: &'a RepoId,
    pub endpoint: &'a str,
    pub license: &'a str,
    pub dir_name: &'a str,
    pub verdict: Option<&'a str>,
    pub configs: &'a [MeasuredConfig],
    pub summary: &'a [SummaryRow],
    pub files: &'a [FileEntry],
}

/// The measurements recorded in `dir`'s manifests, one per config hash, sorted by hash.
/// Unreadable manifests are skipped (the card then says less, it does not fail).
pub(crate) fn read_configs(dir: &Path) -> Vec<MeasuredConfig> {
    let mut out: Vec<MeasuredConfig> = vec![];
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("manifest") && n.ends_with(".toml"))
        })
        .collect();
    paths.sort();
    for path in paths {
        let Some(value) = emc_results::read_result_text(&path)
            .ok()
            .and_then(|t| t.parse::<toml::Table>().ok())
        else {
            continue;
        };
        let text = |k: &str| {
            value
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let Some(config) = value
            .get("config")
            .cloned()
            .and_then(|c| c.try_into::<MeasureConfig>().ok())
        else {
            continue;
        };
        let hash = config.config_hash();
        if out.iter().any(|c| c.hash == hash) {
            continue;
        }
        out.push(MeasuredConfig {
            hash,
            config,
            crate_version: text("crate_version"),
            git_commit: text("git_commit"),
        });
    }
    out.sort_by(|a, b| a.hash.cmp(&b.hash));
    out
}

/// The Hub dataset repository behind an emc dataset name, if there is one.
fn hub_dataset(name: &str) -> Option<String> {
    let id: DatasetId = name.parse().ok()?;
    match id {
        DatasetId::Cifar10Jpeg | DatasetId::Cifar10Subset => Some("uoft-cs/cifar10".into()),
        other => other.hub().map(|h| h.repo.to_string()),
    }
}

/// The dataset citation line for an emc dataset name.
fn dataset_credit(name: &str) -> Option<&'static str> {
    let id: DatasetId = name.parse().ok()?;
    Some(match id {
        DatasetId::Mnist => "MNIST (LeCun, Cortes, Burges)",
        DatasetId::FashionMnist => "Fashion-MNIST (Xiao, Rasul, Vollgraf 2017)",
        DatasetId::Cifar10 | DatasetId::Cifar10Jpeg | DatasetId::Cifar10Subset => {
            "CIFAR-10 (Krizhevsky 2009)"
        }
        DatasetId::Cifar100(_) => "CIFAR-100 (Krizhevsky 2009)",
        DatasetId::Table(t) => t.credit(),
        DatasetId::Folder(_) | DatasetId::TableFile(_) => return None,
    })
}

/// A YAML scalar, quoted when it could be misread.
fn yaml(s: &str) -> String {
    // Plain scalars: `arxiv:2406.11463` stays unquoted (a colon not followed by a space).
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':'))
        && !s.starts_with([':', '-'])
        && !s.ends_with(':')
    {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// The claim name and scale of a `verdict.md` (`# <claim> (<scale> scale): VERDICT`), and
/// the verdict word.
fn verdict_title(verdict: &str) -> Option<(String, String)> {
    let first = verdict.lines().next()?.strip_prefix("# ")?;
    let (what, word) = first.rsplit_once(": ")?;
    Some((what.trim().to_string(), word.trim().to_string()))
}

/// The command in a `verdict.md` line `Run: \`...\``.
fn verdict_command(verdict: &str) -> Option<String> {
    let at = verdict.find("Run: `")? + "Run: `".len();
    let end = verdict[at..].find('`')?;
    Some(verdict[at..at + end].to_string())
}

fn batch_text(b: &Batching) -> String {
    match b {
        Batching::Mini(n) => format!("minibatches of {n}"),
        Batching::Full { .. } => "full batch".into(),
    }
}

fn variants_text(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// Generates the card.
pub(crate) fn render(input: &CardInput<'_>) -> String {
    let mut s = String::new();
    let datasets: BTreeSet<String> = input
        .configs
        .iter()
        .map(|c| c.config.data.clone())
        .chain(input.summary.iter().map(|r| r.dataset.clone()))
        .collect();

    // Metadata.
    s.push_str("---\n");
    let _ = writeln!(s, "license: {}", yaml(input.license));
    s.push_str("tags:\n");
    let mut tags = vec![
        "effective-model-complexity".to_string(),
        "emc".into(),
        "candle".into(),
        "safetensors".into(),
        format!("arxiv:{ARXIV}"),
    ];
    if let Some((what, _)) = input.verdict.and_then(verdict_title) {
        if let Some(claim) = what.split_whitespace().next() {
            tags.push(format!("claim-{claim}"));
        }
    }
    for t in &tags {
        let _ = writeln!(s, "- {}", yaml(t));
    }
    let hub_sets: BTreeSet<String> = datasets.iter().filter_map(|d| hub_dataset(d)).collect();
    if !hub_sets.is_empty() {
        s.push_str("datasets:\n");
        for d in &hub_sets {
            let _ = writeln!(s, "- {}", yaml(d));
        }
    }
    s.push_str("---\n\n");

    // Title and introduction.
    let title = match (input.verdict.and_then(verdict_title), input.configs) {
        (Some((what, word)), _) => format!("Effective Model Complexity: {what} — {word}"),
        (None, [one]) => format!(
            "Effective Model Complexity of {} on {} ({})",
            one.config.model,
            one.config.data,
            variants_text(&one.config.variants)
        ),
        _ => format!("Effective Model Complexity results: {}", input.dir_name),
    };
    let _ = writeln!(s, "# {title}\n");
    let _ = writeln!(
        s,
        "Results and checkpoints of [emc](https://github.com/emc-rs/emc), which measures the \
         *Effective Model Complexity* (EMC) of neural networks: the largest number of training \
         samples a model, trained by a given procedure, fits to 100% training accuracy. It \
         reproduces *Just How Flexible are Neural Networks in Practice?* (Shwartz-Ziv, Goldblum, \
         Bansal, Bruss, LeCun, Wilson; [arXiv:{ARXIV}](https://arxiv.org/abs/{ARXIV})) on \
         [candle](https://github.com/huggingface/candle).\n"
    );

    match input.verdict {
        Some(verdict) => {
            // The claim's own account: claim text, protocol, measured EMC, effect, verdict.
            let body = verdict.split_once('\n').map_or("", |(_, rest)| rest);
            s.push_str(body.trim());
            s.push_str("\n\n");
        }
        None => {
            measured_table(&mut s, input.summary);
            protocol(&mut s, input.configs);
        }
    }

    files_section(&mut s, input.files);
    reproduce(&mut s, input);
    provenance(&mut s, input.configs);
    citation(&mut s, &datasets);
    s
}

fn measured_table(s: &mut String, summary: &[SummaryRow]) {
    let all: Vec<&SummaryRow> = summary.iter().filter(|r| r.seed == "all").collect();
    if all.is_empty() {
        return;
    }
    s.push_str("## Measured EMC\n\n");
    s.push_str(
        "| config | model | params | data | variants | optimizer | seeds | median EMC | min–max | EMC / params |\n\
         |---|---|---:|---|---|---|---:|---:|---:|---:|\n",
    );
    for r in all {
        let seeds = summary
            .iter()
            .filter(|x| x.config_hash == r.config_hash && x.seed != "all")
            .count();
        let num = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v}"));
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} | {} | {} | {} | {} | {}–{} | {} |",
            r.config_hash,
            r.model,
            r.params,
            r.dataset,
            if r.variants.is_empty() {
                "none"
            } else {
                &r.variants
            },
            r.optimizer,
            seeds,
            num(r.median),
            r.min.map_or("—".into(), |v| v.to_string()),
            r.max.map_or("—".into(), |v| v.to_string()),
            r.efficiency.map_or("—".into(), |e| format!("{e:.3}")),
        );
    }
    s.push('\n');
}

fn protocol(s: &mut String, configs: &[MeasuredConfig]) {
    s.push_str(
        "## Protocol\n\n\
         For each seed the data variants are drawn once over the whole training split, which is \
         then put in a fixed seeded order; the probe set of size n is its first n samples \
         (nested). A probe trains a freshly initialised model (seeded) on those n samples until \
         the exact training accuracy (eval mode, all n) is 100% — a fit — or a stop rule fires \
         (epoch or step budget, loss plateau, vanishing full-data gradient, divergence). The \
         search doubles n from a first size while probes fit, then bisects between the last \
         fit L and the first failure U until U − L ≤ max(abs_tol, rel_tol · L); EMC = L.\n\n",
    );
    for c in configs {
        let t = &c.config.train;
        let _ = writeln!(
            s,
            "- `{}`: model `{}`, data `{}` (variants: {}), optimizer `{}` with {}, at most {} \
             epochs{}, plateau patience {} epochs, gradient-norm stop {}; search tolerance \
             max({}, {} · L){}; seeds {:?}.",
            c.hash,
            c.config.model,
            c.config.data,
            variants_text(&c.config.variants),
            t.optim,
            batch_text(&t.batching),
            t.stop.max_epochs,
            t.stop
                .max_steps
                .map_or(String::new(), |m| format!(" or {m} steps")),
            t.stop.plateau_patience,
            t.stop.grad_tol,
            c.config.search.abs_tol,
            c.config.search.rel_tol,
            c.config
                .search
                .max_n
                .map_or(String::new(), |m| format!(", n capped at {m}")),
            c.config.seeds,
        );
    }
    if !configs.is_empty() {
        s.push('\n');
    }
}

fn files_section(s: &mut String, files: &[FileEntry]) {
    s.push_str(
        "## Files\n\n\
         - `probes.csv`: every probe (seed, n, fitted or not, stop reason, epochs, training \
         accuracy and loss, gradient norm).\n\
         - `summary.csv`: EMC per seed and across seeds (median, mean, std, min, max).\n\
         - `runs.csv` (claim directories): each training invocation, with its start, wall \
         time, probes trained, settings, crate version and git commit.\n\
         - `manifest.toml` (and `manifest-<config>.toml`): the full configuration, crate \
         version, git commit, machine and times.\n\
         - `checkpoints/<config>-seed<S>.safetensors`: the model at the largest n it fitted, \
         with its configuration, seed and n in the safetensors metadata.\n\
         - `hub_manifest.toml`: the size and SHA-256 of every other file; `emc hub pull` checks \
         each download against it.\n\n",
    );
    s.push_str("| file | bytes | SHA-256 |\n|---|---:|---|\n");
    for f in files {
        let _ = writeln!(s, "| `{}` | {} | `{}…` |", f.path, f.bytes, &f.sha256[..16]);
    }
    s.push('\n');
}

fn reproduce(s: &mut String, input: &CardInput<'_>) {
    let id = input.repo.id();
    let kind = match input.repo.kind {
        crate::RepoKind::Model => String::new(),
        crate::RepoKind::Dataset => " --repo-type dataset".into(),
    };
    let _ = writeln!(
        s,
        "## Verify without retraining\n\n\
         ```sh\n\
         emc hub pull --repo {id}{kind} --out results\n\
         EMC_DATA_DIR=/path/to/data emc verify results\n\
         ```\n\n\
         `emc hub pull` downloads through the Hugging Face cache (later pulls work offline with \
         `HF_HUB_OFFLINE=1`) and checks every file against `hub_manifest.toml`. `emc verify` \
         loads each checkpoint, rebuilds its model from the configuration in its metadata, \
         rebuilds the exact training subset (dataset, variants, seed, n) and recomputes the \
         training accuracy, which must be 100% for every checkpoint recorded as a fit.\n"
    );
    s.push_str("## Reproduce\n\n");
    if let Some(cmd) = input.verdict.and_then(verdict_command) {
        let _ = writeln!(
            s,
            "From a checkout of emc at the commit below:\n\n```sh\nEMC_DATA_DIR=/path/to/data {cmd}\n```\n"
        );
    }
    if input.verdict.is_none() {
        for c in input.configs {
            let text = toml::to_string(&c.config).unwrap_or_default();
            let _ = writeln!(
                s,
                "Measurement `{}`: save as `measure.toml` and run `emc measure --config \
                 measure.toml --out results`.\n\n```toml\n{}```\n",
                c.hash, text
            );
        }
    }
    let _ = writeln!(
        s,
        "Published at {} with `emc hub push`.\n",
        input.repo.url(input.endpoint)
    );
}

fn provenance(s: &mut String, configs: &[MeasuredConfig]) {
    let versions: BTreeSet<(String, String)> = configs
        .iter()
        .map(|c| (c.crate_version.clone(), c.git_commit.clone()))
        .collect();
    if versions.is_empty() {
        return;
    }
    s.push_str("## Provenance\n\n");
    for (v, commit) in versions {
        let _ = writeln!(s, "- emc {v}, git commit `{commit}`");
    }
    s.push('\n');
}

/// Flattens the block-style YAML of a citation file into `path = value` pairs, e.g.
/// `preferred-citation.authors[1].family-names = Goldblum` (maps, lists of maps and of
/// scalars; enough for CITATION.cff).
fn flatten_yaml(text: &str) -> Vec<(String, String)> {
    let mut out = vec![];
    let mut stack: Vec<(usize, String)> = vec![];
    let mut counters: std::collections::HashMap<String, usize> = Default::default();
    let path = |stack: &[(usize, String)]| {
        stack.iter().fold(String::new(), |acc, (_, seg)| {
            if acc.is_empty() || seg.starts_with('[') {
                acc + seg
            } else {
                acc + "." + seg
            }
        })
    };
    let unquote = |v: &str| v.trim().trim_matches('"').trim_matches('\'').to_string();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut indent = line.len() - trimmed.len();
        let mut rest = trimmed;
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        if let Some(item) = rest.strip_prefix("- ") {
            let parent = path(&stack);
            let idx = counters.entry(parent).and_modify(|i| *i += 1).or_insert(0);
            stack.push((indent, format!("[{idx}]")));
            indent += 2;
            rest = item;
            if !rest.contains(": ") && !rest.ends_with(':') {
                out.push((path(&stack), unquote(rest)));
                continue;
            }
        }
        let (key, value) = match rest.split_once(':') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => continue,
        };
        if value.is_empty() {
            stack.push((indent, key.to_string()));
        } else {
            let mut p = stack.clone();
            p.push((indent, key.to_string()));
            out.push((path(&p), unquote(value)));
        }
    }
    out
}

fn citation(s: &mut String, datasets: &BTreeSet<String>) {
    let fields = flatten_yaml(CITATION_CFF);
    let get = |k: &str| fields.iter().find(|(p, _)| p == k).map(|(_, v)| v.clone());
    s.push_str("## Citation\n\n");
    let authors: Vec<String> = (0..)
        .map_while(|i| {
            let family = get(&format!("preferred-citation.authors[{i}].family-names"))?;
            let given = get(&format!("preferred-citation.authors[{i}].given-names"));
            Some(match given {
                Some(g) => format!("{family}, {g}"),
                None => family,
            })
        })
        .collect();
    if let (Some(title), Some(year)) = (
        get("preferred-citation.title"),
        get("preferred-citation.year"),
    ) {
        let first = authors
            .first()
            .map(|a| a.split(',').next().unwrap_or(a))
            .unwrap_or("anon")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_lowercase();
        let word = title
            .split(|c: char| !c.is_ascii_alphanumeric())
            .find(|w| w.len() >= 5)
            .unwrap_or("")
            .to_lowercase();
        let arxiv = (0..)
            .map_while(|i| get(&format!("preferred-citation.identifiers[{i}].value")))
            .find(|v| v.starts_with("arXiv:"))
            .unwrap_or_else(|| format!("arXiv:{ARXIV}"));
        let _ = writeln!(
            s,
            "Please cite the paper:\n\n```bibtex\n@article{{{first}{year}{word},\n  title   = \
             {{{title}}},\n  author  = {{{}}},\n  journal = {{arXiv preprint {arxiv}}},\n  \
             year    = {{{year}}}{}\n}}\n```\n",
            authors.join(" and "),
            get("preferred-citation.url")
                .map_or(String::new(), |u| format!(",\n  url     = {{{u}}}")),
        );
    }
    if let Some(title) = get("title") {
        let software_authors: Vec<String> = (0..)
            .map_while(|i| get(&format!("authors[{i}].name")))
            .collect();
        let _ = writeln!(
            s,
            "and the software that produced these results:\n\n```bibtex\n@software{{emc,\n  \
             title   = {{{title}}},\n  author  = {{{}}}{}{}\n}}\n```\n",
            software_authors.join(" and "),
            get("version").map_or(String::new(), |v| format!(",\n  version = {{{v}}}")),
            get("repository-code").map_or(String::new(), |u| format!(",\n  url     = {{{u}}}")),
        );
    }
    let credits: Vec<&str> = datasets.iter().filter_map(|d| dataset_credit(d)).collect();
    if !credits.is_empty() {
        let _ = writeln!(s, "Datasets used: {}.", credits.join("; "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn citation_file_is_read() {
        let f = flatten_yaml(CITATION_CFF);
        let get = |k: &str| f.iter().find(|(p, _)| p == k).map(|(_, v)| v.as_str());
        assert_eq!(
            get("preferred-citation.title"),
            Some("Just How Flexible are Neural Networks in Practice?")
        );
        assert_eq!(
            get("preferred-citation.authors[5].family-names"),
            Some("Wilson")
        );
        assert_eq!(
            get("preferred-citation.authors[5].given-names"),
            Some("Andrew Gordon")
        );
        assert_eq!(
            get("preferred-citation.identifiers[0].value"),
            Some("arXiv:2406.11463")
        );
        assert_eq!(get("authors[0].name"), Some("The emc developers"));
        assert_eq!(get("keywords[3]"), Some("candle"));
    }

    #[test]
    fn bibtex_matches_the_readme() {
        let mut s = String::new();
        citation(&mut s, &["mnist".to_string()].into_iter().collect());
        assert!(s.contains("@article{shwartzziv2024flexible,"), "{s}");
        assert!(s.contains(
            "author  = {Shwartz-Ziv, Ravid and Goldblum, Micah and Bansal, Arpit and Bruss, C. \
             Bayan and LeCun, Yann and Wilson, Andrew Gordon}"
        ));
        assert!(
            s.contains("journal = {arXiv preprint arXiv:2406.11463}"),
            "{s}"
        );
        assert!(s.contains("MNIST (LeCun, Cortes, Burges)"), "{s}");
    }

    #[test]
    fn verdict_lines() {
        let v = "# sgd-vs-gd (smoke scale): INCONCLUSIVE\n\nRun: `cargo run -p x -- --scale smoke`; 3 s";
        assert_eq!(
            verdict_title(v),
            Some(("sgd-vs-gd (smoke scale)".into(), "INCONCLUSIVE".into()))
        );
        assert_eq!(
            verdict_command(v).as_deref(),
            Some("cargo run -p x -- --scale smoke")
        );
    }

    #[test]
    fn dataset_repos() {
        assert_eq!(hub_dataset("mnist").as_deref(), Some("ylecun/mnist"));
        assert_eq!(
            hub_dataset("cifar10-jpeg").as_deref(),
            Some("uoft-cs/cifar10")
        );
        assert_eq!(hub_dataset("folder:/x@32"), None);
    }
}
