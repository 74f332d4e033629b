//! The results directory the hub tests publish: a small EMC measurement on real MNIST
//! (MLP with 8 hidden units on 7x7 images, Adam, 2 seeds, n capped at 128; about a second),
//! so that every checkpoint pushed, pulled and verified is a real recorded fit.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use emc_search::{measure, Event, MeasureConfig, RunOptions};
use emc_train::{Batching, TrainConfig};

/// The measurement's configuration.
pub fn small_config() -> MeasureConfig {
    let mut train = TrainConfig {
        optim: emc_optim::OptimConfig::adam(0.01),
        batching: Batching::Mini(16),
        ..TrainConfig::default()
    };
    train.stop.max_epochs = 150;
    train.stop.plateau_patience = 40;
    let mut cfg = MeasureConfig {
        model: "mlp:8:relu".into(),
        data: "mnist".into(),
        variants: vec!["resize:7".into()],
        train,
        seeds: vec![0, 1],
        ..MeasureConfig::default()
    };
    cfg.search.n0 = Some(32);
    cfg.search.max_n = Some(128);
    cfg
}

/// The measured directory under `root` (one per test process, measured on first use;
/// directories of earlier runs older than ten minutes are removed), or `None` when real
/// MNIST is absent (skipped as [`crate::real_folder`] decides).
pub fn small_results(root: &Path) -> Option<&'static Path> {
    crate::real_folder("mnist")?;
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let stale = std::time::Duration::from_secs(600);
        for e in std::fs::read_dir(root).into_iter().flatten().flatten() {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > stale));
            if old && e.file_name().to_string_lossy().starts_with("hub-fixture-") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        let dir = root.join(format!("hub-fixture-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let opts = RunOptions {
            out: dir.clone(),
            jobs: 2,
            lockstep: 1,
            device: candle_core::Device::Cpu,
            load: crate::local_options(),
            max_memory: None,
            recorded_only: false,
            write_summary: true,
        };
        let quiet = |_: &Event| {};
        let m = measure(&small_config(), &opts, &quiet).expect("the fixture measurement");
        assert!(m.per_seed.iter().all(|(_, o)| o.emc > 0), "{m:?}");
        dir
    });
    Some(dir.as_path())
}
