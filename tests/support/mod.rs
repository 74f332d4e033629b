//! Shared helpers for the workspace integration tests: where the real datasets are, and
//! what to do when they are not there.
//!
//! Tests that need `../shared/data` (or `EMC_DATA_DIR`) print why they are skipped when it
//! is absent; with `EMC_REQUIRE_DATA=1` (set by `.ci/run`) a missing dataset fails instead.

pub mod hub_fixture;
pub mod hub_server;

use std::path::{Path, PathBuf};

use emc_data::{load, Dataset, DatasetId, LoadOptions, Split};

/// The workspace root (parent of this package's folder).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The real-data directory: `EMC_DATA_DIR`, else `../shared/data` beside the workspace.
pub fn data_dir() -> PathBuf {
    std::env::var_os(emc_data::DATA_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/data"))
}

fn require() -> bool {
    matches!(
        std::env::var("EMC_REQUIRE_DATA").as_deref(),
        Ok("1") | Ok("true") | Ok("yes")
    )
}

/// The folder of one real dataset (e.g. `mnist`), or `None` after printing why the
/// calling test is skipped. Panics instead when `EMC_REQUIRE_DATA=1`.
pub fn real_folder(folder: &str) -> Option<PathBuf> {
    let dir = data_dir().join(folder);
    if dir.is_dir() {
        return Some(dir);
    }
    let msg = format!(
        "real dataset folder {} is missing (set EMC_DATA_DIR to the folder holding `{folder}/`)",
        dir.display()
    );
    if require() {
        panic!("EMC_REQUIRE_DATA=1 but {msg}");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// Options that read only the real-data directory: no hub cache, no download.
pub fn local_options() -> LoadOptions {
    LoadOptions {
        data_dir: Some(data_dir()),
        hub: emc_data::HubOptions {
            endpoint: None,
            cache_dir: Some(std::env::temp_dir().join("emc-tests-no-hub-cache")),
            offline: true,
            revision: "main".into(),
        },
        allow_download: false,
    }
}

/// Loads a real dataset split from the data directory, or `None` (skipped) as
/// [`real_folder`] decides.
pub fn load_real(id: DatasetId, split: Split) -> Option<Dataset> {
    real_folder(id.folder_names()[0])?;
    Some(load(&id, split, &local_options()).unwrap_or_else(|e| panic!("loading {id}: {e}")))
}

/// A small dataset made in memory for property tests that need no real data: sample `i`
/// has label `i % classes` and pixel `j` equal to `(7 i + 3 j) % 256`.
pub fn generated(n: usize, classes: usize, channels: usize, side: usize) -> Dataset {
    use emc_data::{ImageShape, Metadata, Origin, Pixels};
    let shape = ImageShape {
        channels,
        height: side,
        width: side,
    };
    let pixels = (0..n)
        .flat_map(|i| (0..shape.len()).map(move |j| ((7 * i + 3 * j) % 256) as u8))
        .collect();
    Dataset::new(
        Pixels::U8(pixels),
        (0..n).map(|i| (i % classes) as u32).collect(),
        shape,
        (0..classes).map(|c| format!("class{c}")).collect(),
        Metadata {
            name: "generated".into(),
            split: Split::Train,
            origin: Origin::Generated {
                description: "emc-tests::generated".into(),
            },
            files: vec![],
            variants: vec![],
        },
    )
    .expect("consistent generated dataset")
}

/// A data directory under `root` holding an MNIST-shaped training split written as
/// uncompressed IDX files (`mnist/train-images-idx3-ubyte`, `mnist/train-labels-idx1-ubyte`):
/// `n` 28x28 images with varied pixels (a multiplicative hash of the pixel index) over 10
/// classes, label `i % 10`. For binary tests that need files on disk but no real data.
pub fn generated_mnist_dir(root: &Path, n: u32) -> PathBuf {
    let be = |v: &[u32]| v.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<u8>>();
    let mut images = be(&[0x803, n, 28, 28]);
    images.extend((0..n * 784).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    let mut labels = be(&[0x801, n]);
    labels.extend((0..n).map(|i| (i % 10) as u8));
    let dir = root.join("mnist");
    std::fs::create_dir_all(&dir).expect("create the generated data directory");
    std::fs::write(dir.join("train-images-idx3-ubyte"), images).expect("write images");
    std::fs::write(dir.join("train-labels-idx1-ubyte"), labels).expect("write labels");
    root.to_path_buf()
}

/// Helpers for tests that run the `emc` binary.
pub mod cli {
    use std::path::Path;
    use std::process::{Command, Output};

    /// `bin` (the test's `env!("CARGO_BIN_EXE_emc")`) with `args`, in a clean Hugging Face
    /// environment: no token, endpoint, offline flag or cache from the machine, and
    /// `HF_HOME` in `home` (so no real token file is read); then `env`.
    pub fn run(bin: &str, args: &[&str], home: &Path, env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(bin);
        cmd.args(args);
        for var in [
            "HF_TOKEN",
            "HF_TOKEN_PATH",
            "HF_ENDPOINT",
            "HF_HUB_OFFLINE",
            "HF_HUB_DISABLE_IMPLICIT_TOKEN",
            "HF_HUB_CACHE",
            "HUGGINGFACE_HUB_CACHE",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("HF_HOME", home);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run emc")
    }

    /// Status, stdout and stderr of a run, for assertion messages and `contains` checks.
    pub fn text(out: &Output) -> String {
        format!(
            "status {:?}\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

/// The settings of a claim's smoke run into `out` with `jobs` concurrent trainings, on the
/// real data, quietly; `partial` as `--partial`.
pub fn smoke_settings(out: &Path, jobs: usize, partial: bool) -> emc_claims::RunSettings {
    emc_claims::RunSettings {
        scale: emc_claims::Scale::Smoke,
        seeds: None,
        out: out.to_path_buf(),
        jobs,
        lockstep: emc_search::DEFAULT_LOCKSTEP,
        device: candle_core::Device::Cpu,
        load: local_options(),
        progress: false,
        max_memory: None,
        extension_cap: None,
        seed_cap: None,
        work_cap: None,
        recorded_only: false,
        partial,
    }
}
