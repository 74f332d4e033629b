//! `emc_vs_budget` and `fit_probability`: written from results searched at several budgets
//! (hand-written files whose probes are keyed, as `emc measure` keys them, by the probe hash
//! of each budget level of the manifest's config), left out when there is nothing to show,
//! and the new `summary.csv` columns read strictly but optionally. The last test measures a
//! real one on 7x7 MNIST when the data is there.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use emc_search::MeasureConfig;

/// A configuration as `emc measure` would run it (only its hashes matter here).
fn config(model: &str, doublings: usize) -> MeasureConfig {
    let mut cfg = MeasureConfig {
        model: model.into(),
        variants: vec!["resize:7".into()],
        seeds: vec![0, 1],
        ..MeasureConfig::default()
    };
    cfg.train.stop.max_epochs = 50;
    cfg.search.budget_doublings = doublings;
    cfg
}

/// `manifest-<hash>.toml` as `emc measure` writes it (the fields the report needs).
fn write_manifest(dir: &Path, cfg: &MeasureConfig) {
    #[derive(serde::Serialize)]
    struct Manifest<'a> {
        config_hash: String,
        crate_version: &'a str,
        config: &'a MeasureConfig,
    }
    let text = toml::to_string_pretty(&Manifest {
        config_hash: cfg.config_hash(),
        crate_version: "0.1.0",
        config: cfg,
    })
    .unwrap();
    std::fs::write(
        dir.join(format!("manifest-{}.toml", cfg.config_hash())),
        text,
    )
    .unwrap();
}

const PROBES_HEADER: &str = "run_id,config_hash,model,params,dataset,variants,optimizer,lr,\
                             batch,seed,n,fitted,stop,epochs,steps,train_accuracy,train_loss,\
                             grad_norm,seconds\n";

/// Appends the probes of one (config, budget level, seed): `64+ 128- 96+` is n, `+` fitted,
/// `-` failed on the budget, `!` failed with a small gradient (certified).
fn probes(csv: &mut String, cfg: &MeasureConfig, level: usize, seed: u64, search: &str) {
    let hash = cfg.with_budget_multiplier(1 << level).probe_hash();
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

const SUMMARY_HEADER: &str = "config_hash,model,params,dataset,variants,optimizer,seed,emc,\
                              upper,probes,non_monotone,saturated,median,mean,std,min,max,\
                              mean_log_emc,efficiency";

/// A results directory: `mlp:8:relu` searched at 1x, 2x and 4x the budget (seed 0 converges
/// at 4x, seed 1 stays budget-limited), and `mlp:16:relu` at one budget. Returns the dir and
/// the two configurations.
fn budget_results(root: &Path) -> (PathBuf, MeasureConfig, MeasureConfig) {
    let dir = root.join("budget");
    std::fs::create_dir_all(&dir).unwrap();
    let a = config("mlp:8:relu", 2);
    let b = config("mlp:16:relu", 0);
    let mut csv = String::from(PROBES_HEADER);
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
    let summary = format!(
        "{SUMMARY_HEADER},budgets,budget_converged,n50,band
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
    std::fs::write(
        dir.join("summary.csv"),
        format!(
            "{SUMMARY_HEADER}
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

/// A real measurement: `mlp:8:relu` on 7x7 MNIST, full-batch GD with a 30-epoch budget and
/// one doubling, 2 seeds, n at most 256 (a few seconds). Skipped without the data
/// (`EMC_DATA_DIR`, else `../shared/data` beside the workspace), unless
/// `EMC_REQUIRE_DATA=1`.
#[test]
fn a_real_budget_measurement_gets_both_figures() {
    let data = std::env::var_os("EMC_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    if !data.join("mnist").is_dir() {
        let msg = format!("{} has no mnist/", data.display());
        if matches!(
            std::env::var("EMC_REQUIRE_DATA").as_deref(),
            Ok("1" | "true" | "yes")
        ) {
            panic!("EMC_REQUIRE_DATA=1 but {msg}");
        }
        eprintln!("SKIPPED: {msg}");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let mut cfg = config("mlp:8:relu", 1);
    cfg.train.batching = emc_train::Batching::Full { chunk: 4096 };
    cfg.train.optim.lr = 0.5;
    cfg.train.stop.max_epochs = 30;
    cfg.search.n0 = Some(32);
    cfg.search.max_n = Some(256);
    let opts = emc_search::RunOptions {
        out: root.path().to_path_buf(),
        jobs: 2,
        lockstep: 1,
        device: candle_core::Device::Cpu,
        load: emc_data::LoadOptions {
            data_dir: Some(data),
            hub: emc_data::HubOptions {
                endpoint: None,
                cache_dir: Some(root.path().join("no-hub-cache")),
                offline: true,
                revision: "main".into(),
            },
            allow_download: false,
        },
        recorded_only: false,
    };
    let m = emc_search::measure(&cfg, &opts, &|_| {}).unwrap();
    let r = emc_report::report(root.path(), true).unwrap();
    assert!(r.notes.is_empty(), "{:?}", r.notes);
    assert_written(root.path(), "emc_vs_budget");
    assert_written(root.path(), "fit_probability");
    let fit = std::fs::read_to_string(root.path().join("fit_probability.svg")).unwrap();
    let probes: usize = m.per_seed.iter().map(|(_, o)| o.probes.len()).sum();
    assert!(fit.contains("mlp:8:relu, "), "{fit}");
    assert!(probes > 0);
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
