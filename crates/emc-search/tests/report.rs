//! The report reads back what a real measurement wrote: probes keyed by the probe hash of
//! each budget level, which the report computes from the manifest alone (emc-report does
//! not depend on this crate).

use std::path::{Path, PathBuf};

use emc_search::{measure, MeasureConfig, RunOptions};

fn assert_written(dir: &Path, stem: &str) {
    for ext in ["svg", "png"] {
        let path = dir.join(format!("{stem}.{ext}"));
        let len = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .len();
        assert!(len > 1000, "{} has only {len} bytes", path.display());
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
    let mut cfg = MeasureConfig {
        model: "mlp:8:relu".into(),
        variants: vec!["resize:7".into()],
        seeds: vec![0, 1],
        ..MeasureConfig::default()
    };
    cfg.search.budget_doublings = 1;
    cfg.train.batching = emc_train::Batching::Full { chunk: 4096 };
    cfg.train.optim.lr = 0.5;
    cfg.train.stop.max_epochs = 30;
    cfg.search.n0 = Some(32);
    cfg.search.max_n = Some(256);
    let opts = RunOptions {
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
        max_memory: None,
        recorded_only: false,
        write_summary: true,
    };
    let m = measure(&cfg, &opts, &|_| {}).unwrap();
    let r = emc_report::report(root.path(), true).unwrap();
    assert!(r.notes.is_empty(), "{:?}", r.notes);
    assert_written(root.path(), "emc_vs_budget");
    assert_written(root.path(), "fit_probability");
    let fit = std::fs::read_to_string(root.path().join("fit_probability.svg")).unwrap();
    let probes: usize = m.per_seed.iter().map(|(_, o)| o.probes.len()).sum();
    assert!(fit.contains("mlp:8:relu, "), "{fit}");
    assert!(probes > 0);
}
