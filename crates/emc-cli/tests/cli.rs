//! The `emc` binary end to end: `data info` on real MNIST, `data preview` writing a PNG,
//! and clear errors for bad names.

use std::path::PathBuf;
use std::process::Command;

fn data_dir() -> Option<PathBuf> {
    emc_tests::real_folder("mnist")?;
    Some(emc_tests::data_dir())
}

fn emc(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_emc"))
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .env(
            "HF_HUB_CACHE",
            std::env::temp_dir().join("emc-cli-test-empty-cache"),
        )
        .output()
        .expect("run emc")
}

#[test]
fn info_prints_the_mnist_histogram() {
    let Some(dir) = data_dir() else { return };
    let out = emc(&["data", "info", "mnist", "--data-dir", dir.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (k, count) in [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
        .iter()
        .enumerate()
    {
        let line = format!("{k:>5} {k} {count}");
        assert!(stdout.contains(&line), "missing `{line}` in:\n{stdout}");
    }
    assert!(stdout.contains("splits    train 60000, test 10000"));
    assert!(stdout.contains("71524e2cd1ad2968737f7f2f2ff69cbfc32df8ccddff51593f7cb2d4e0eb5b64"));
}

#[test]
fn preview_writes_a_png_grid() {
    let Some(dir) = data_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let png = tmp.path().join("grid.png");
    let out = emc(&[
        "data",
        "preview",
        "mnist",
        "--data-dir",
        dir.to_str().unwrap(),
        "--variant",
        "resize:14",
        "--variant",
        "random-labels",
        "--count",
        "10",
        "--out",
        png.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let img = image::open(&png).unwrap().to_rgb8();
    // 10 samples -> 4 columns, 3 rows of 14x2-pixel tiles plus label strips.
    assert_eq!(img.width(), 2 + 4 * (28 + 2));
    assert_eq!(img.height(), 2 + 3 * (28 + 14 + 2));
    assert!(!tmp.path().join("grid.png.tmp").exists());
}

#[test]
fn bad_names_fail_with_the_accepted_forms() {
    let out = emc(&["data", "info", "imagenet-1k"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown dataset `imagenet-1k`") && err.contains("folder:PATH"),
        "{err}"
    );
    let out = emc(&[
        "data",
        "info",
        "mnist",
        "--data-dir",
        "/nonexistent",
        "--variant",
        "blur",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("variant `blur`"), "{err}");
    // Offline with nothing anywhere: the error lists where it looked and how to fix it.
    let out = emc(&["data", "info", "mnist", "--data-dir", "/nonexistent"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent") && err.contains("HF_HUB_OFFLINE"),
        "{err}"
    );
    assert!(err.contains("emc data fetch mnist"), "{err}");
    // A bad schedule names the flag and the accepted forms before any data is read.
    let out = emc(&[
        "measure",
        "--model",
        "mlp:8",
        "--data",
        "mnist",
        "--schedule",
        "linear",
        "--out",
        "/nonexistent/out",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--schedule linear") && err.contains("cosine-budget"),
        "{err}"
    );
}

#[test]
fn bench_prints_a_throughput_line_per_workload() {
    let out = emc(&[
        "bench",
        "--only",
        "mlp",
        "--min-seconds",
        "0",
        "--min-steps",
        "1",
        "--threads",
        "1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("mlp_784-512-512-10_b128"))
        .expect(&stdout);
    let rate: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(rate > 0.0, "{line}");
    let out = emc(&["bench", "--only", "gpu-net"]);
    assert!(!out.status.success());
    let out = emc(&["bench", "--device", "tpu"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected cpu, cuda"));
}

/// `--torch` runs the reference script with the given interpreter and prints the ratio
/// beside our figure; `--save` writes it with the machine description. A stand-in
/// interpreter (a shell script printing the reference's line) keeps torch out of the test.
/// A stand-in for a Python with torch in `dir`: a shell script that runs `first` and then
/// prints one MLP line as the reference script would.
#[cfg(unix)]
fn stand_in_python(dir: &std::path::Path, first: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let python = dir.join("python");
    std::fs::write(
        &python,
        format!(
            "#!/bin/sh\n{first}\n\
             echo 'mlp_784-512-512-10_b128 1000.0 samples/s  (128.00 ms/step, 9 steps)'\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    python
}

#[cfg(unix)]
#[test]
fn bench_prints_the_ratio_to_the_torch_reference_and_saves_it() {
    let tmp = tempfile::tempdir().unwrap();
    let python = stand_in_python(tmp.path(), "echo \"torch 0.0 args: $*\"");
    let script = tmp.path().join("torch_reference.py");
    std::fs::write(&script, "# stand-in").unwrap();
    let save = tmp.path().join("bench");
    let (python_s, script_s, save_s) = (
        python.to_str().unwrap(),
        script.to_str().unwrap(),
        save.to_str().unwrap(),
    );
    let out = emc(&[
        "bench",
        "--only",
        "mlp",
        "--min-seconds",
        "0",
        "--min-steps",
        "1",
        "--threads",
        "1",
        "--torch",
        python_s,
        "--torch-script",
        script_s,
        "--save",
        save_s,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("mlp_784-512-512-10_b128"))
        .expect(&stdout);
    let ours: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let ratio: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((ratio - ours / 1000.0).abs() < 0.01, "{line}");
    let csv = std::fs::read_to_string(save.join("throughput-threads1.csv")).unwrap();
    assert!(csv.contains(",1000.000,"), "{csv}");
    let machine = std::fs::read_to_string(save.join("machine.toml")).unwrap();
    assert!(
        machine.contains("cores = ") && machine.contains("git_commit"),
        "{machine}"
    );
    // A missing script is named, and nothing runs.
    let out = emc(&[
        "bench",
        "--torch",
        python_s,
        "--torch-script",
        "/no/such/reference.py",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--torch-script /no/such/reference.py"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Without `--torch-script`, `--torch` runs the repository's own `scripts/torch_reference.py`
/// (found through the checkout the binary was built from), on the same workload, threads,
/// minimum steps and seconds as ours. Guards against a default that points outside the
/// repository, where a user's clone has nothing.
#[cfg(unix)]
#[test]
fn bench_torch_runs_the_repositorys_reference_script_by_default() {
    let tmp = tempfile::tempdir().unwrap();
    let argv = tmp.path().join("argv");
    let python = stand_in_python(
        tmp.path(),
        &format!("printf '%s\\n' \"$@\" > '{}'", argv.display()),
    );
    let out = emc(&[
        "bench",
        "--only",
        "mlp",
        "--min-seconds",
        "0",
        "--min-steps",
        "1",
        "--threads",
        "1",
        "--torch",
        python.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let argv = std::fs::read_to_string(&argv).unwrap();
    let argv: Vec<&str> = argv.lines().collect();
    let repo_script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/torch_reference.py")
        .canonicalize()
        .expect("scripts/torch_reference.py is in the repository");
    assert_eq!(
        PathBuf::from(argv[0]).canonicalize().unwrap(),
        repo_script,
        "{argv:?}"
    );
    assert_eq!(
        argv[1..],
        [
            "--threads",
            "1",
            "--min-seconds",
            "0",
            "--min-steps",
            "1",
            "--only",
            "mlp"
        ]
    );
}

/// The reference script knows every workload of `emc bench`, by the name both print and the
/// key of `--only`.
#[test]
fn the_torch_reference_script_has_every_bench_workload() {
    let script = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/torch_reference.py"),
    )
    .unwrap();
    for w in emc_train::bench::all_workloads() {
        for needle in [format!("\"{}\"", w.name), format!("\"{}\"", w.key)] {
            assert!(script.contains(&needle), "{needle} is not in the script");
        }
    }
}

#[test]
fn measure_reads_a_toml_config_and_names_a_bad_one() {
    let Some(dir) = data_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("m.toml");
    std::fs::write(
        &cfg,
        r#"
model = "linear"
data = "mnist"
variants = ["resize:4", "random-labels"]
seeds = [5]

[train.stop]
max_epochs = 30
"#,
    )
    .unwrap();
    let out = tmp.path().join("out");
    let o = emc(&[
        "measure",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
        "--jobs",
        "1",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let manifest = std::fs::read_to_string(out.join("manifest.toml")).unwrap();
    assert!(
        manifest.contains("seeds = [5]") && manifest.contains("max_epochs = 30"),
        "{manifest}"
    );
    std::fs::write(&cfg, "model = 3\n").unwrap();
    let o = emc(&[
        "measure",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("m.toml") && err.contains("model"),
        "{err}"
    );
}

/// A misspelt field or an empty file in `--config` stops `emc measure` before anything is
/// measured or written, naming the file, the table, the field and its correction.
#[test]
fn measure_refuses_a_config_with_a_typo_or_nothing_in_it() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("typo.toml");
    let out = tmp.path().join("out");
    for (text, needles) in [
        (
            "modle = \"mlp:8:relu\"\n",
            &[
                "typo.toml",
                "unknown field `modle`",
                "did you mean `model`?",
            ][..],
        ),
        (
            "model = \"mlp:8:relu\"\n[train.stop]\nmax_epoch = 50\n",
            &[
                "typo.toml",
                "`max_epoch` in [train.stop]",
                "did you mean `max_epochs`?",
            ],
        ),
        ("", &["typo.toml", "empty measurement config"]),
    ] {
        std::fs::write(&cfg, text).unwrap();
        let o = emc(&[
            "measure",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{text:?} was accepted");
        for needle in needles {
            assert!(err.contains(needle), "`{needle}` not in: {err}");
        }
        assert!(!out.exists(), "{text:?} left {} behind", out.display());
    }
}

/// An IDX image file with the header's sizes, and a label file holding `labels`.
/// 100 distinct 4x4 MNIST-format images of 10 classes under `root/mnist` (`idx_pair`
/// writes a constant image), so that small subsets can be fitted.
fn distinct_mnist(root: &std::path::Path) {
    let labels: Vec<u8> = (0..100).map(|i| i % 10).collect();
    idx_pair(&root.join("mnist"), 100, 4, 4, &labels);
    let images = root.join("mnist/train-images-idx3-ubyte");
    let mut bytes = std::fs::read(&images).unwrap();
    for (i, b) in bytes[16..].iter_mut().enumerate() {
        *b = ((i * 37 + i / 16 * 11) % 251) as u8;
    }
    std::fs::write(&images, bytes).unwrap();
}

fn idx_pair(dir: &std::path::Path, n: u32, rows: u32, cols: u32, labels: &[u8]) {
    let be = |v: &[u32]| v.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<u8>>();
    let mut images = be(&[0x803, n, rows, cols]);
    images.resize(images.len() + (n * rows * cols) as usize, 9);
    let mut lab = be(&[0x801, labels.len() as u32]);
    lab.extend_from_slice(labels);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("train-images-idx3-ubyte"), images).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), lab).unwrap();
}

// Regression: a header of 0 images panicked (exit 101); one of 0 rows measured `EMC 1`.
#[test]
fn measure_refuses_degenerate_data_before_writing_results() {
    let ten: Vec<u8> = (0..100).map(|i| i % 10).collect();
    for (name, problem) in [
        ("zero-images", "0 samples"),
        ("zero-rows", "images of 1x0x28"),
        ("one-class", "only 1 of its 10 classes"),
        // The default first probe of 10 classes is 40 samples.
        ("too-small", "holds 20 samples, fewer than n0 = 40"),
        ("directory", "is a directory"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let mnist = tmp.path().join("mnist");
        match name {
            "zero-images" => idx_pair(&mnist, 0, 28, 28, &[]),
            "zero-rows" => idx_pair(&mnist, 100, 0, 28, &ten),
            "one-class" => idx_pair(&mnist, 100, 4, 4, &[3; 100]),
            "too-small" => idx_pair(&mnist, 20, 4, 4, &ten[..20]),
            _ => {
                idx_pair(&mnist, 1, 4, 4, &[0]);
                let images = mnist.join("train-images-idx3-ubyte");
                std::fs::remove_file(&images).unwrap();
                std::fs::create_dir(&images).unwrap();
            }
        }
        let out = tmp.path().join("out");
        let o = emc(&[
            "measure",
            "--model",
            "mlp:4",
            "--seeds",
            "1",
            "--jobs",
            "1",
            "--data-dir",
            tmp.path().to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.contains(problem) && err.contains("train-images-idx3-ubyte"),
            "{name}: {err}"
        );
        assert!(!out.exists(), "{name}: {out:?} left behind");
    }
}

// Regression: `EMC_DATA_DIR=` was reported as a missing value of `--data-dir`.
#[test]
fn an_empty_emc_data_dir_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    for args in [
        &["data", "info", "mnist"][..],
        &["measure", "--out", out.to_str().unwrap()],
        &["verify", out.to_str().unwrap()],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_emc"))
            .args(args)
            .env("EMC_DATA_DIR", "")
            .env("HF_HUB_OFFLINE", "1")
            .output()
            .expect("run emc");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains("EMC_DATA_DIR is set but empty"),
            "{args:?}: {err}"
        );
    }
    assert!(!out.exists());
}

#[test]
fn info_prints_each_tables_features_and_class_histogram() {
    let Some(_) = emc_tests::real_folder("tabular") else {
        return;
    };
    let dir = emc_tests::data_dir();
    for (name, features, line) in [
        ("wine", 13, "    1 class_1 57"),
        ("breast-cancer", 30, "    0 malignant 170"),
        ("digits", 64, "    9 9 144"),
        ("wine-quality-red", 11, "    2 5 545"),
    ] {
        let out = emc(&["data", "info", name, "--data-dir", dir.to_str().unwrap()]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!("features  {features} (a table")),
            "{stdout}"
        );
        assert!(stdout.contains(line), "missing `{line}` in:\n{stdout}");
        // One file serves both splits: listed once.
        assert_eq!(
            stdout.lines().filter(|l| l.contains("/tabular/")).count(),
            1
        );
    }
    // A corrupted copy, named as a file, fails with its path, line and field.
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("wine_data.csv");
    let text = std::fs::read_to_string(dir.join("tabular/wine_data.csv")).unwrap();
    std::fs::write(&bad, text.replacen("14.23", "14.2.3", 1)).unwrap();
    let spec = format!("tabular:{}", bad.display());
    let out = emc(&["data", "info", &spec]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("{}: line 2, column 1: `14.2.3`", bad.display())),
        "{stderr}"
    );
}

#[test]
fn measure_trains_with_shampoo_outside_lockstep_and_refuses_momentum_for_adam() {
    let tmp = tempfile::tempdir().unwrap();
    distinct_mnist(tmp.path());
    let out = tmp.path().join("out");
    let run = |optimizer: &str, out: &std::path::Path| {
        emc(&[
            "measure",
            "--model",
            "mlp:8",
            "--optimizer",
            optimizer,
            "--momentum",
            "0.5",
            "--max-epochs",
            "30",
            "--n0",
            "40",
            "--seeds",
            "2",
            "--jobs",
            "1",
            "--allow-diverged",
            "--data-dir",
            tmp.path().to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let o = run("shampoo", &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let manifest = std::fs::read_to_string(out.join("manifest.toml")).unwrap();
    assert!(
        manifest.contains("[config.train.optim.kind.Shampoo]"),
        "{manifest}"
    );
    assert!(manifest.contains("momentum = 0.5"), "{manifest}");
    // Two seeds would share a lockstep group with an elementwise optimizer; Shampoo's
    // preconditioners would mix the stacked members, so every probe trains alone.
    assert!(
        manifest.contains("probes_in_lockstep_groups = 0"),
        "{manifest}"
    );
    let sgd = tmp.path().join("sgd");
    let o = run("sgd", &sgd);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let manifest = std::fs::read_to_string(sgd.join("manifest.toml")).unwrap();
    assert!(
        !manifest.contains("probes_in_lockstep_groups = 0"),
        "{manifest}"
    );
    let adam = tmp.path().join("adam");
    let o = run("adam", &adam);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--momentum applies to sgd, gd and shampoo"),
        "{err}"
    );
    assert!(!adam.exists(), "{adam:?} left behind");

    // Shampoo's variant flags: recorded in the manifest; refused for another optimizer.
    let variant = |optimizer: &str, graft: &str, out: &std::path::Path| {
        emc(&[
            "measure",
            "--model",
            "mlp:8",
            "--optimizer",
            optimizer,
            "--graft",
            graft,
            "--update-freq",
            "5",
            "--max-epochs",
            "30",
            "--n0",
            "40",
            "--seeds",
            "1",
            "--allow-diverged",
            "--data-dir",
            tmp.path().to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let grafted = tmp.path().join("grafted");
    let o = variant("shampoo", "sgd", &grafted);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let manifest = std::fs::read_to_string(grafted.join("manifest.toml")).unwrap();
    assert!(manifest.contains("graft = \"Sgd\""), "{manifest}");
    assert!(manifest.contains("update_freq = 5"), "{manifest}");
    for (optimizer, graft, why) in [
        (
            "sgd",
            "sgd",
            "--graft and --update-freq apply to shampoo only, not sgd",
        ),
        ("shampoo", "adam", "--graft adam: expected none or sgd"),
    ] {
        let refused = tmp.path().join(format!("refused-{optimizer}-{graft}"));
        let o = variant(optimizer, graft, &refused);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(why), "{err}");
        assert!(!refused.exists(), "{refused:?} left behind");
    }
}

/// A small `emc measure` of `model` on `data` (the distinct MNIST under `root`) into `out`,
/// with `extra` training flags.
fn measure_small(
    root: &std::path::Path,
    model: &str,
    data: &str,
    extra: &[&str],
    out: &std::path::Path,
) -> std::process::Output {
    let mut args = vec!["measure", "--model", model, "--data", data];
    args.extend_from_slice(extra);
    let root = root.to_str().unwrap();
    let out = out.to_str().unwrap();
    args.extend_from_slice(&[
        "--max-epochs",
        "40",
        "--n0",
        "20",
        "--seeds",
        "2",
        "--jobs",
        "1",
        "--data-dir",
        root,
        "--out",
        out,
    ]);
    emc(&args)
}

/// The probes of a measurement in `out`, without the run id and the wall time.
fn probe_outcomes(out: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(out.join("probes.csv"))
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            f[1..f.len() - 1].join(",")
        })
        .collect()
}

/// Two measurements with the training option `extra` give the same probes (a probe is a
/// pure function of (config, seed, n)), trained outside lockstep; returns the manifest.
fn seeded_outside_lockstep(root: &std::path::Path, extra: &[&str]) -> String {
    let (a, b) = (root.join("a"), root.join("b"));
    for out in [&a, &b] {
        let o = measure_small(root, "mlp:8", "mnist", extra, out);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert!(probe_outcomes(&a).len() > 2);
    assert_eq!(probe_outcomes(&a), probe_outcomes(&b));
    let manifest = std::fs::read_to_string(a.join("manifest.toml")).unwrap();
    assert!(
        manifest.contains("probes_in_lockstep_groups = 0"),
        "{manifest}"
    );
    manifest
}

/// `--dropout P`: recorded in the manifest, outside lockstep, and a probe is a pure function
/// of (config, seed, n); a model without dropout is refused before anything is written.
#[test]
fn measure_with_dropout_is_deterministic_and_refused_for_models_without_it() {
    let tmp = tempfile::tempdir().unwrap();
    distinct_mnist(tmp.path());
    let manifest = seeded_outside_lockstep(tmp.path(), &["--dropout", "0.3"]);
    assert!(manifest.contains("dropout = 0.3"), "{manifest}");
    let linear = tmp.path().join("linear");
    let o = measure_small(
        tmp.path(),
        "linear",
        "mnist",
        &["--dropout", "0.3"],
        &linear,
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("train.dropout") && err.contains("linear"),
        "{err}"
    );
    assert!(!linear.exists(), "{linear:?} left behind");
}

/// `--crop-padding P --hflip`: recorded in the manifest, outside lockstep, and a probe is a
/// pure function of (config, seed, n); a table is refused before anything is written.
#[test]
fn measure_with_augmentation_is_deterministic_and_refused_for_tables() {
    let tmp = tempfile::tempdir().unwrap();
    distinct_mnist(tmp.path());
    let flags = ["--crop-padding", "1", "--hflip"];
    let manifest = seeded_outside_lockstep(tmp.path(), &flags);
    assert!(
        manifest.contains("crop_padding = 1") && manifest.contains("hflip = true"),
        "{manifest}"
    );
    let table = tmp.path().join("table");
    let csv = tmp.path().join("t.csv");
    std::fs::write(&csv, "a,b,label\n1,2,x\n3,4,y\n").unwrap();
    let data = format!("tabular:{}", csv.display());
    let o = measure_small(tmp.path(), "mlp:8", &data, &flags, &table);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("train.augment") && err.contains("table"),
        "{err}"
    );
    assert!(!table.exists(), "{table:?} left behind");
}

/// `--model subspace:...(...)` and `quant:...(...)`: measured like any model (probes a pure
/// function of (config, seed, n), d counted as the parameters), and their checkpoints pass
/// `emc verify`, which rebuilds the weights from the stored z or master weights.
#[test]
fn measure_and_verify_subspace_and_quantised_models() {
    let tmp = tempfile::tempdir().unwrap();
    distinct_mnist(tmp.path());
    for (model, params) in [("subspace:d=60(mlp:8)", 60), ("quant:4(mlp:8)", 226)] {
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        for out in [&a, &b] {
            let o = measure_small(tmp.path(), model, "mnist", &[], out);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        assert_eq!(probe_outcomes(&a), probe_outcomes(&b), "{model}");
        let manifest = std::fs::read_to_string(a.join("manifest.toml")).unwrap();
        assert!(
            manifest.contains(&format!("model = \"{model}")),
            "{manifest}"
        );
        let summary = std::fs::read_to_string(a.join("summary.csv")).unwrap();
        assert!(summary.contains(&format!(",{params},")), "{summary}");
        let o = emc(&[
            "verify",
            a.to_str().unwrap(),
            "--data-dir",
            tmp.path().to_str().unwrap(),
        ]);
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success() && text.contains("reproduce their recorded fit"),
            "{model}: {text}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        std::fs::remove_dir_all(&a).unwrap();
        std::fs::remove_dir_all(&b).unwrap();
    }
}

/// `emc measure --shard I/N` as separate processes, then `emc measure` without it into the
/// same directory: the probes of one process, nothing trained by the merge; an unfinished
/// shard is named, adaptive seeds are refused.
#[test]
fn measure_in_shards_merges_to_the_single_process_probes() {
    let tmp = tempfile::tempdir().unwrap();
    distinct_mnist(tmp.path());
    let (single, sharded) = (tmp.path().join("single"), tmp.path().join("sharded"));
    let o = measure_small(tmp.path(), "mlp:8", "mnist", &[], &single);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Shard 1 of 2 alone: the merge refuses, naming shard 0.
    let shard = |i: &str| measure_small(tmp.path(), "mlp:8", "mnist", &["--shard", i], &sharded);
    let o = shard("1/2");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = measure_small(tmp.path(), "mlp:8", "mnist", &[], &sharded);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("0-of-2 not finished"),
        "{err}"
    );
    assert!(
        !sharded.join("probes.csv").exists(),
        "nothing merged or trained"
    );
    let o = shard("0/2");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = measure_small(tmp.path(), "mlp:8", "mnist", &[], &sharded);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("0 probes trained"), "{text}");
    let sorted = |out: &std::path::Path| {
        let mut v = probe_outcomes(out);
        v.sort();
        v
    };
    assert_eq!(sorted(&sharded), sorted(&single));
    // A shard of a measurement with adaptive seeds is refused before anything runs.
    let o = measure_small(
        tmp.path(),
        "mlp:8",
        "mnist",
        &["--shard", "0/2", "--max-seeds", "4"],
        &tmp.path().join("adaptive"),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("--max-seeds"), "{err}");
}
