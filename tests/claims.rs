//! Regression of reproduced numbers: the `smoke` scale of every claim, run through its
//! library on real data, must produce a verdict and per-arm median EMCs within the stated
//! relative tolerance of `artifacts/reference/<claim>.csv`
//! (columns `claim,scale,isa,arm,median_emc,rel_tol`).
//!
//! A run is bit-identical on one CPU, but the matrix products sum in another order on a CPU
//! with another vector instruction set (`emc_kernels::vector_isa`), which moves some smoke
//! arms by more than any tolerance that would still catch a regression (a tiny ViT from 45 to
//! 30 between AVX-512 and AVX2). So each row names the instruction set it was recorded on,
//! and a run is checked against the rows of its own; a machine with none is told how to
//! record them.
//!
//! A deliberate change of the numbers regenerates this instruction set's rows from a real
//! run with `EMC_WRITE_REFERENCE=1 cargo test -p emc-tests --test claims` (rows of other
//! instruction sets are kept), committed with the reason.

use emc_claims::{run_claim, ClaimReport, ClaimSpec, RunSettings, Scale};
use emc_tests::{real_folder, smoke_settings, workspace_root};

/// Relative tolerance written into regenerated reference rows: the smoke scale is
/// deterministic on one CPU, so only differences between machines of one instruction set
/// (and of candle or gemm versions) are allowed for.
const REL_TOL: f64 = 0.05;

/// Runs the smoke scale of `spec` into a new directory and checks it against the reference;
/// returns the directory, its settings and the report (`None` when the data is absent).
fn check_smoke(spec: &ClaimSpec) -> Option<(tempfile::TempDir, RunSettings, ClaimReport)> {
    let arms = (spec.grid)(Scale::Smoke);
    // Each dataset's folder under the data directory (`tabular/` for the UCI tables).
    let folder = |name: &str| {
        let id: emc_data::DatasetId = name.parse().unwrap();
        id.folder_names()
            .first()
            .copied()
            .unwrap_or(name)
            .to_string()
    };
    if arms
        .iter()
        .any(|a| real_folder(&folder(&a.measure.data)).is_none())
    {
        return None;
    }
    // One single-threaded training per concurrent seed, as the claim binaries run them.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    let tmp = tempfile::tempdir().unwrap();
    let settings = smoke_settings(tmp.path(), 2, false);
    let start = std::time::Instant::now();
    let report = run_claim(spec, &settings).unwrap();
    eprintln!(
        "{}smoke wall time {:.1}s",
        report.table,
        start.elapsed().as_secs_f64()
    );
    let md = std::fs::read_to_string(tmp.path().join("verdict.md")).unwrap();
    assert!(md.contains(&report.verdict.outcome.to_string()), "{md}");
    for f in [
        "probes.csv",
        "summary.csv",
        "manifest.toml",
        "emc_vs_params.svg",
        "emc_vs_params.png",
        "probes.svg",
        "probes.png",
    ] {
        assert!(tmp.path().join(f).is_file(), "{f}");
    }
    assert!(!tmp.path().join("verdict.md.tmp").exists());
    let id = spec.claim.id;
    let isa = emc_kernels::vector_isa();
    let path = workspace_root().join(format!("artifacts/reference/claim-{id}.csv"));
    if std::env::var("EMC_WRITE_REFERENCE").as_deref() == Ok("1") {
        write_reference(&path, id, isa, &report);
    }
    let reference =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut checked = 0;
    for f in reference_rows(&path, &reference) {
        if f[0] != id || f[1] != "smoke" || f[2] != isa {
            continue;
        }
        let (want, tol): (f64, f64) = (f[4].parse().unwrap(), f[5].parse().unwrap());
        let got = report
            .results
            .iter()
            .find(|r| r.arm.label == f[3])
            .unwrap_or_else(|| panic!("reference arm `{}` is not in the smoke grid", f[3]))
            .measurement
            .stats
            .median;
        assert!(
            (got - want).abs() <= tol * want.max(1.0),
            "{id} smoke `{}` on {isa}: median EMC {got}, reference {want} ± {:.0}%",
            f[3],
            tol * 100.0
        );
        checked += 1;
    }
    assert!(
        checked > 0,
        "{}: no {id} smoke reference recorded on this CPU's vector instruction set `{isa}`; \
         results on it differ from those of other instruction sets, so record its rows with \
         EMC_WRITE_REFERENCE=1 cargo test -p emc-tests --test claims",
        path.display()
    );
    assert_eq!(
        checked,
        report.results.len(),
        "every smoke arm has a reference row"
    );
    Some((tmp, settings, report))
}

/// The rows of a reference file after its header, each split into its six fields. An arm
/// label may contain commas (`mnist random cnn:2,4`): the three fields before it and the two
/// after it have none.
fn reference_rows<'a>(path: &std::path::Path, text: &'a str) -> Vec<Vec<&'a str>> {
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut f: Vec<&str> = line.splitn(4, ',').collect();
            let rest = f.pop().unwrap_or_default();
            let mut tail: Vec<&str> = rest.rsplitn(3, ',').collect();
            tail.reverse();
            f.extend(tail);
            assert_eq!(f.len(), 6, "{}: bad row `{line}`", path.display());
            f
        })
        .collect()
}

/// Rewrites `path` with this run's median EMCs as the rows of `claim` on `isa`, keeping the
/// rows of other claims and instruction sets.
fn write_reference(path: &std::path::Path, claim: &str, isa: &str, report: &ClaimReport) {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let mut text = String::from("claim,scale,isa,arm,median_emc,rel_tol\n");
    for f in reference_rows(path, &old) {
        if f[0] != claim || f[2] != isa {
            text += &(f.join(",") + "\n");
        }
    }
    for r in &report.results {
        text += &format!(
            "{claim},smoke,{isa},{},{},{REL_TOL}\n",
            r.arm.label, r.measurement.stats.median
        );
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn sgd_vs_gd_smoke_matches_reference() {
    check_smoke(&claim_sgd_vs_gd::SPEC);
}

#[test]
fn activations_smoke_matches_reference() {
    check_smoke(&claim_activations::SPEC);
}

#[test]
fn params_vs_samples_smoke_matches_reference() {
    check_smoke(&claim_params_vs_samples::SPEC);
}

#[test]
fn cnn_vs_mlp_vit_smoke_matches_reference() {
    check_smoke(&claim_cnn_vs_mlp_vit::SPEC);
}

#[test]
fn tabular_smoke_matches_reference() {
    check_smoke(&claim_tabular::SPEC);
}

#[test]
fn random_labels_vs_linear_smoke_matches_reference() {
    check_smoke(&claim_random_labels_vs_linear::SPEC);
}

#[test]
fn random_inputs_smoke_matches_reference() {
    check_smoke(&claim_random_inputs::SPEC);
}

#[test]
fn classes_smoke_matches_reference() {
    check_smoke(&claim_classes::SPEC);
}

#[test]
fn input_size_smoke_matches_reference() {
    check_smoke(&claim_input_size::SPEC);
}

#[test]
fn optimizers_smoke_matches_reference() {
    check_smoke(&claim_optimizers::SPEC);
}

#[test]
fn regularization_smoke_matches_reference() {
    check_smoke(&claim_regularization::SPEC);
}

#[test]
fn parameter_efficiency_smoke_matches_reference() {
    check_smoke(&claim_parameter_efficiency::SPEC);
}

#[test]
fn width_vs_depth_smoke_matches_reference() {
    check_smoke(&claim_width_vs_depth::SPEC);
}

#[test]
fn compound_scaling_smoke_matches_reference() {
    check_smoke(&claim_compound_scaling::SPEC);
}

#[test]
fn generalization_smoke_matches_reference_and_resumes_without_training() {
    let Some((tmp, settings, first)) = check_smoke(&claim_generalization::SPEC) else {
        return;
    };
    for f in [
        "generalization.csv",
        "emc_gap_vs_generalization_gap.svg",
        "emc_gap_vs_generalization_gap.png",
    ] {
        assert!(tmp.path().join(f).is_file(), "{f}");
    }
    let real: Vec<_> = first
        .results
        .iter()
        .filter(|r| r.arm.generalization.is_some())
        .collect();
    assert!(!real.is_empty());
    let rows: usize = real
        .iter()
        .map(|r| r.generalization.as_ref().unwrap().per_seed.len())
        .sum();
    let csv = std::fs::read_to_string(tmp.path().join("generalization.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + rows, "{csv}");
    for r in &real {
        let g = r.generalization.as_ref().unwrap();
        assert_eq!(g.per_seed.len(), r.arm.measure.seeds.len());
        assert_eq!(g.trained, g.per_seed.len(), "first run trains every seed");
        for row in &g.per_seed {
            assert!((0.0..=1.0).contains(&row.test_accuracy), "{row:?}");
            assert!((row.gap - (row.train_accuracy - row.test_accuracy)).abs() < 1e-12);
            assert!(!row.git_commit.is_empty() && !row.crate_version.is_empty());
        }
    }
    let md = std::fs::read_to_string(tmp.path().join("verdict.md")).unwrap();
    assert!(md.contains("Pearson") && md.contains("Kendall") && md.contains("−0.8"));

    // A rerun into the same directory trains nothing and says the same.
    let second = run_claim(&claim_generalization::SPEC, &settings).unwrap();
    for (a, b) in first.results.iter().zip(&second.results) {
        assert_eq!(b.measurement.probes_trained, 0, "{}", b.arm.label);
        assert_eq!(a.measurement.stats, b.measurement.stats);
        if let Some(g) = &b.generalization {
            assert_eq!(g.trained, 0, "{}: generalization retrained", b.arm.label);
            assert_eq!(
                Some(&g.per_seed),
                a.generalization.as_ref().map(|g| &g.per_seed)
            );
        }
    }
    assert_eq!(first.verdict.outcome, second.verdict.outcome);
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("generalization.csv")).unwrap(),
        csv
    );
    // Each training invocation is logged: the first trained every probe, the second none.
    let runs_csv = tmp.path().join(emc_claims::RUNS_CSV);
    let runs: Vec<emc_claims::Invocation> = csv::Reader::from_path(&runs_csv)
        .unwrap()
        .deserialize()
        .collect::<Result<_, _>>()
        .unwrap();
    let probe_rows = csv::Reader::from_path(tmp.path().join("probes.csv"))
        .unwrap()
        .records()
        .count();
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r.finished && r.scale == "smoke"));
    assert_eq!((runs[0].trained, runs[1].trained), (probe_rows, 0));
    assert_eq!(runs[1].resumed, probe_rows);
    let logged = "`runs.csv` records 2 training invocations of this directory";
    let md = std::fs::read_to_string(tmp.path().join("verdict.md")).unwrap();
    assert!(
        md.contains(logged)
            && md.contains(&format!("training {probe_rows} of the {probe_rows} probes"))
            && md.contains("s wall time in this invocation (the grid "),
        "{md}"
    );

    // `--analyse` (recorded only) gives the same verdict from the records, rewrites
    // verdict.md and leaves summary.csv alone.
    let analyse = RunSettings {
        recorded_only: true,
        ..settings.clone()
    };
    let summary = tmp.path().join("summary.csv");
    let long_ago = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
    let stamp = |t| {
        let f = std::fs::File::options().write(true).open(&summary).unwrap();
        f.set_modified(t).unwrap();
    };
    stamp(long_ago);
    let third = run_claim(&claim_generalization::SPEC, &analyse).unwrap();
    assert_eq!(third.verdict.outcome, first.verdict.outcome);
    assert_eq!(third.verdict.reason, first.verdict.reason);
    let modified = std::fs::metadata(&summary).unwrap().modified().unwrap();
    assert_eq!(modified, long_ago, "summary.csv was rewritten");
    let md = std::fs::read_to_string(tmp.path().join("verdict.md")).unwrap();
    assert!(
        md.contains("Analysed without training") && md.contains(logged),
        "{md}"
    );
    let unchanged = std::fs::read_to_string(&runs_csv).unwrap();
    assert_eq!(
        unchanged.lines().count(),
        3,
        "--analyse logged itself: {unchanged}"
    );
    // A probe missing from the records is an error that says so, not a retraining.
    let probes = tmp.path().join("probes.csv");
    let text = std::fs::read_to_string(&probes).unwrap();
    let kept: Vec<&str> = text.lines().take(text.lines().count() - 1).collect();
    std::fs::write(&probes, kept.join("\n") + "\n").unwrap();
    let err = run_claim(&claim_generalization::SPEC, &analyse).unwrap_err();
    assert!(err.to_string().contains("no recorded probe"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&probes).unwrap(),
        kept.join("\n") + "\n"
    );
}

/// The committed cpu-scale results are this grid's: every arm of every claim's cpu grid has
/// its configuration (same hash) in `artifacts/<claim>/cpu/summary.csv`, so rerunning a
/// claim into its committed directory resumes it instead of training a different grid.
#[test]
fn committed_cpu_results_belong_to_the_current_grids() {
    for spec in [
        &claim_sgd_vs_gd::SPEC,
        &claim_activations::SPEC,
        &claim_params_vs_samples::SPEC,
        &claim_cnn_vs_mlp_vit::SPEC,
        &claim_generalization::SPEC,
        &claim_tabular::SPEC,
        &claim_random_labels_vs_linear::SPEC,
        &claim_random_inputs::SPEC,
        &claim_input_size::SPEC,
        &claim_classes::SPEC,
        &claim_parameter_efficiency::SPEC,
        &claim_optimizers::SPEC,
        &claim_regularization::SPEC,
        &claim_width_vs_depth::SPEC,
        &claim_compound_scaling::SPEC,
    ] {
        let id = spec.claim.id;
        let path = workspace_root().join(format!("artifacts/{id}/cpu/summary.csv"));
        let summary =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for arm in (spec.grid)(Scale::Cpu) {
            let hash = arm.measure.config_hash();
            assert!(
                summary.contains(&hash),
                "{id}: arm `{}` (config {hash}) is not in {}",
                arm.label,
                path.display()
            );
        }
    }
}
