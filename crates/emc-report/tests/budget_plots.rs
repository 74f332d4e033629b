//! `emc_vs_budget` and `fit_probability`: written from results searched at several budgets
//! (hand-written files whose probes are keyed, as `emc measure` keys them, by the probe hash
//! of each budget level of the manifest's config), left out when there is nothing to show,
//! and the new `summary.csv` columns read strictly but optionally. (A real measurement read
//! back by the report is emc-search's `tests/report.rs`.)

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use emc_results::{ProbeRow, RecordedConfig, SummaryRow};

/// A configuration as `emc measure` records it in its manifest (only its hashes matter
/// here): `MeasureConfig::default()` with `model`, 7x7 inputs, a 50-epoch budget and
/// `doublings` budget doublings.
struct Config {
    model: String,
    toml: String,
    recorded: RecordedConfig,
}

impl Config {
    fn config_hash(&self) -> String {
        self.recorded.config_hash()
    }
}

fn config(model: &str, doublings: usize) -> Config {
    let toml = format!(
        r#"model = "{model}"
data = "mnist"
variants = ["resize:7"]
seeds = [0, 1]

[train]
eval_every = 1
eval_batch = 1024

[train.optim]
lr = 0.01
weight_decay = 0.0
schedule = "Constant"
warmup_steps = 0

[train.optim.kind.Sgd]
momentum = 0.0
dampening = 0.0
nesterov = false

[train.batching]
mini = 128

[train.stop]
max_epochs = 50
plateau_patience = 25
plateau_rel_improvement = 0.001
grad_tol = 0.00001
hessian_check = false
hessian_iters = 20

[search]
abs_tol = 8
rel_tol = 0.02
budget_doublings = {doublings}
"#
    );
    let recorded = RecordedConfig::from_toml(&toml.parse().unwrap());
    Config {
        model: model.into(),
        toml,
        recorded,
    }
}

/// `manifest-<hash>.toml` as `emc measure` writes it (the fields the report needs).
fn write_manifest(dir: &Path, cfg: &Config) {
    let hash = cfg.config_hash();
    let mut manifest = toml::Table::new();
    manifest.insert("config_hash".into(), hash.clone().into());
    manifest.insert("crate_version".into(), "0.1.0".into());
    let config: toml::Table = cfg.toml.parse().unwrap();
    manifest.insert("config".into(), config.into());
    let text = toml::to_string_pretty(&manifest).unwrap();
    std::fs::write(dir.join(format!("manifest-{hash}.toml")), text).unwrap();
}

/// Appends the probes of one (config, budget level, seed): `64+ 128- 96+` is n, `+` fitted,
/// `-` failed on the budget, `!` failed with a small gradient (certified).
fn probes(csv: &mut String, cfg: &Config, level: usize, seed: u64, search: &str) {
    let hash = cfg.recorded.probe_hash_at(level);
    for p in search.split_whitespace() {
        let (n, mark) = p.split_at(p.len() - 1);
        let (fitted, stop, acc) = match mark {
            "+" => (true, "fitted", "1.0"),
            "-" => (false, "max-epochs", "0.97"),
            _ => (false, "small-gradient", "0.95"),
        };
        writeln!(
            csv,
            "r1,{hash},{},490,mnist,resize:7,sgd:lr=0.1,0.1,full,{seed},{n},{fitted},{stop},\
             50,50,{acc},0.3,0.2,0.01",
            cfg.model
        )
        .unwrap();
    }
}

/// The columns every `summary.csv` has (those before budget convergence).
fn summary_header() -> String {
    SummaryRow::required_columns().join(",")
}

/// A results directory: `mlp:8:relu` searched at 1x, 2x and 4x the budget (seed 0 converges
/// at 4x, seed 1 stays budget-limited), and `mlp:16:relu` at one budget. Returns the dir and
/// the two configurations.
fn budget_results(root: &Path) -> (PathBuf, Config, Config) {
    let dir = root.join("budget");
    std::fs::create_dir_all(&dir).unwrap();
    let a = config("mlp:8:relu", 2);
    let b = config("mlp:16:relu", 0);
    let mut csv = ProbeRow::header();
    // mlp:8, seed 0: EMC 64 at 1x, 96 at 2x (budget-limited failures retried, fits carried
    // over), 104 at 4x (converged: moved by at most abs_tol 8). Seed 1: 48, 64, 96.
    probes(&mut csv, &a, 0, 0, "32+ 64+ 128- 96- 80- 72-");
    probes(&mut csv, &a, 1, 0, "128- 96+ 112- 104-");
    probes(&mut csv, &a, 2, 0, "128! 112! 104+");
    probes(&mut csv, &a, 0, 1, "32+ 64- 48+ 56-");
    probes(&mut csv, &a, 1, 1, "64+ 128- 96- 80-");
    probes(&mut csv, &a, 2, 1, "128- 96+ 112- 104-");
    probes(&mut csv, &b, 0, 0, "64+ 128+ 256- 192+ 224-");
    probes(&mut csv, &b, 0, 1, "64+ 128+ 256- 192- 160+ 176-");
    std::fs::write(dir.join("probes.csv"), csv).unwrap();
    let (ha, hb) = (a.config_hash(), b.config_hash());
    let header = summary_header();
    let summary = format!(
        "{header},budgets,budget_converged,n50,band
{ha},mlp:8:relu,490,mnist,resize:7,sgd:lr=0.1,0,104,112,6,false,false,,,,,,,,1x:64 2x:96 4x:104,true,,
{ha},mlp:8:relu,490,mnist,resize:7,sgd:lr=0.1,1,96,104,7,false,false,,,,,,,,1x:48 2x:64 4x:96,false,,
{ha},mlp:8:relu,490,mnist,resize:7,sgd:lr=0.1,all,,,13,false,false,100,100,5.66,96,104,4.61,0.20,,false,104.5,sharp 104|104
{hb},mlp:16:relu,1010,mnist,resize:7,sgd:lr=0.1,0,192,224,5,false,false,,,,,,,,,,,
{hb},mlp:16:relu,1010,mnist,resize:7,sgd:lr=0.1,1,160,176,6,false,false,,,,,,,,,,,
{hb},mlp:16:relu,1010,mnist,resize:7,sgd:lr=0.1,all,,,11,false,false,176,176,22.6,160,192,5.17,0.17,,,180.2,176-192
"
    );
    std::fs::write(dir.join("summary.csv"), summary).unwrap();
    write_manifest(&dir, &a);
    write_manifest(&dir, &b);
    (dir, a, b)
}

fn assert_written(dir: &Path, stem: &str) {
    for ext in ["svg", "png"] {
        let path = dir.join(format!("{stem}.{ext}"));
        let len = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .len();
        assert!(len > 1000, "{} has only {len} bytes", path.display());
    }
}

#[test]
fn budget_levels_give_emc_vs_budget_and_fit_probability() {
    let root = tempfile::tempdir().unwrap();
    let (dir, _, _) = budget_results(root.path());
    let r = emc_report::report(&dir, true).unwrap();
    assert!(r.notes.is_empty(), "{:?}", r.notes);
    assert_written(&dir, "emc_vs_budget");
    assert_written(&dir, "fit_probability");
    assert_eq!(r.written.len(), 8, "{:?}", r.written);

    let budget = std::fs::read_to_string(dir.join("emc_vs_budget.svg")).unwrap();
    assert!(budget.contains("mlp:8:relu (budget-limited: 1 of 2 seeds)"));
    assert!(
        !budget.contains("mlp:16:relu"),
        "mlp:16 has no budget levels"
    );
    for tick in ["1x", "2x", "4x"] {
        assert!(budget.contains(&format!("\n{tick}\n")), "no {tick} tick");
    }

    // mlp:8 at 4x: seed 0 has 32+ 64+ (carried 1x fits) 96+ (2x fit) 104+ 112! 128! (4x),
    // its budget-limited failures at 1x and 2x dropped: 6 probes; seed 1: 32+ 48+ 64+ and
    // the 4x probes 96+ 104- 112- 128-: 7 probes. mlp:16: 5 + 6.
    let fit = std::fs::read_to_string(dir.join("fit_probability.svg")).unwrap();
    assert!(
        fit.contains("mlp:8:relu, 4x budget (13 probes, 2 seeds)"),
        "{fit}"
    );
    assert!(fit.contains("mlp:16:relu (11 probes, 2 seeds)"));
    assert!(fit.contains("n50 = 105") && fit.contains("n50 = 180"));

    // The probe map shows the same probes, and the table says EMC by budget.
    assert!(r
        .table
        .contains("EMC by budget 1x:48 2x:64 4x:96, budget-limited"));
    assert!(r.table.contains("budget-limited"));
}

#[test]
fn results_without_budget_levels_have_no_emc_vs_budget() {
    let root = tempfile::tempdir().unwrap();
    let (dir, _, b) = budget_results(root.path());
    // An old summary.csv: none of the budget or transition columns.
    let hb = b.config_hash();
    let header = summary_header();
    std::fs::write(
        dir.join("summary.csv"),
        format!(
            "{header}
{hb},mlp:16:relu,1010,mnist,resize:7,sgd:lr=0.1,0,192,224,5,false,false,,,,,,,
{hb},mlp:16:relu,1010,mnist,resize:7,sgd:lr=0.1,1,160,176,6,false,false,,,,,,,
{hb},mlp:16:relu,1010,mnist,resize:7,sgd:lr=0.1,all,,,11,false,false,176,176,22.6,160,192,5.17,0.17
"
        ),
    )
    .unwrap();
    let r = emc_report::report(&dir, true).unwrap();
    assert!(!dir.join("emc_vs_budget.svg").exists());
    assert!(!dir.join("emc_vs_budget.png").exists());
    assert_written(&dir, "fit_probability");
    let fit = std::fs::read_to_string(dir.join("fit_probability.svg")).unwrap();
    assert!(fit.contains("mlp:16:relu (11 probes, 2 seeds)"));
    assert!(!fit.contains("n50 = "), "no n50 in an old summary");
    assert_eq!(r.written.len(), 6);
    // mlp:8's probes are in probes.csv but not in summary.csv.
    assert!(
        r.notes
            .iter()
            .any(|n| n.starts_with("25 probes belong to no (configuration, seed)")),
        "{:?}",
        r.notes
    );
}

#[test]
fn without_manifests_probes_are_left_out_with_a_note() {
    let root = tempfile::tempdir().unwrap();
    let (dir, a, b) = budget_results(root.path());
    for c in [&a, &b] {
        std::fs::remove_file(dir.join(format!("manifest-{}.toml", c.config_hash()))).unwrap();
    }
    let r = emc_report::report(&dir, true).unwrap();
    assert!(!dir.join("fit_probability.svg").exists());
    assert_written(&dir, "emc_vs_budget");
    assert_eq!(r.notes.len(), 2, "{:?}", r.notes);
    assert!(r.notes[0].contains("are left out of the probe plots"));
    assert!(r.notes[0].contains("manifest-"));
}

#[test]
fn a_manifest_whose_config_hashes_differently_is_not_trusted() {
    let root = tempfile::tempdir().unwrap();
    let (dir, a, _) = budget_results(root.path());
    let path = dir.join(format!("manifest-{}.toml", a.config_hash()));
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("max_epochs = 50", "max_epochs = 60");
    std::fs::write(&path, text).unwrap();
    let r = emc_report::report(&dir, true).unwrap();
    let note = r
        .notes
        .iter()
        .find(|n| n.contains(&a.config_hash()))
        .expect("a note on mlp:8");
    assert!(note.contains("written by another version of emc"), "{note}");
    let fit = std::fs::read_to_string(dir.join("fit_probability.svg")).unwrap();
    assert!(!fit.contains("mlp:8:relu"));
}

#[test]
fn malformed_budget_columns_are_errors_naming_line_and_column() {
    let root = tempfile::tempdir().unwrap();
    let (dir, _, _) = budget_results(root.path());
    let summary = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    for (from, to, column, what) in [
        (
            "1x:64 2x:96 4x:104",
            "1x64 2x:96",
            "budgets",
            "is not like `1x:540 2x:900 4x:1440`",
        ),
        (
            "1x:64 2x:96 4x:104",
            "1x:64 3x:96",
            "budgets",
            "not increasing powers of two",
        ),
        ("176-192", "176..192", "band", "is not `LO-HI`"),
        ("sharp 104|104", "sharp 104", "band", "is not `LO-HI`"),
        (",false,104.5,", ",false,x,", "n50", "is not a number"),
        (
            "4x:104,true",
            "4x:104,yes",
            "budget_converged",
            "is not `true`",
        ),
    ] {
        std::fs::write(dir.join("summary.csv"), summary.replacen(from, to, 1)).unwrap();
        let e = emc_report::report(&dir, false).unwrap_err().to_string();
        assert!(e.contains("summary.csv line "), "{e}");
        assert!(e.contains(&format!("column `{column}`")), "{e}");
        assert!(e.contains(what), "{e}");
    }
}

#[test]
fn named_configurations_carry_their_names_into_plots_and_table() {
    let root = tempfile::tempdir().unwrap();
    let (dir, eight, _) = budget_results(root.path());
    let names = [(eight.config_hash(), "narrow relu arm".to_string())].into();
    let r = emc_report::report_named(&dir, true, &names).unwrap();
    let budget = std::fs::read_to_string(dir.join("emc_vs_budget.svg")).unwrap();
    assert!(budget.contains("narrow relu arm (budget-limited: 1 of 2 seeds)"));
    let fit = std::fs::read_to_string(dir.join("fit_probability.svg")).unwrap();
    assert!(fit.contains("narrow relu arm, 4x budget (13 probes, 2 seeds)"));
    // The configuration without a name keeps the one made from its model.
    assert!(fit.contains("mlp:16:relu (11 probes, 2 seeds)"));
    assert!(r.notes.is_empty(), "{:?}", r.notes);
}
