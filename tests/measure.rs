//! The EMC search end to end on real MNIST: real vs random labels, parallel = sequential,
//! resume after a completed run and after a crash that tore the probe log, several
//! configurations measured together into one directory.

use emc_search::{measure, measure_many, Event, MeasureConfig, Measurement, RunOptions};
use emc_tests::real_folder;
use emc_train::{Batching, TrainConfig};

fn config(labels: &[&str]) -> MeasureConfig {
    let mut train = TrainConfig {
        optim: emc_optim::OptimConfig::sgd(0.05, 0.9),
        batching: Batching::Mini(64),
        ..TrainConfig::default()
    };
    train.stop.max_epochs = 100;
    train.stop.plateau_patience = 20;
    let mut variants = vec!["resize:7".to_string()];
    variants.extend(labels.iter().map(|s| s.to_string()));
    MeasureConfig {
        model: "mlp:32:relu".into(),
        data: "mnist".into(),
        variants,
        train,
        seeds: vec![0, 1],
        ..MeasureConfig::default()
    }
}

fn run(cfg: &MeasureConfig, out: &std::path::Path, jobs: usize) -> Measurement {
    run_lockstep(cfg, out, jobs, 1)
}

fn run_lockstep(
    cfg: &MeasureConfig,
    out: &std::path::Path,
    jobs: usize,
    lockstep: usize,
) -> Measurement {
    let opts = RunOptions {
        out: out.to_path_buf(),
        jobs,
        lockstep,
        device: candle_core::Device::Cpu,
        load: emc_tests::local_options(),
        max_memory: None,
        recorded_only: false,
        write_summary: true,
    };
    let quiet = |_: &Event| {};
    measure(cfg, &opts, &quiet).unwrap()
}

#[test]
fn random_labels_fit_fewer_samples_than_real_ones_and_fewer_than_parameters() {
    // Measured with a 300-epoch budget: real labels fit 5,360 and 6,000 samples (2 seeds)
    // with 1,930 parameters, i.e. *more* samples than parameters; random labels 295 and
    // 380. So only the random-label EMC is asserted to be below the parameter count.
    if real_folder("mnist").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let real = run(&config(&[]), &tmp.path().join("real"), 2);
    let random = run(&config(&["random-labels"]), &tmp.path().join("random"), 2);
    eprintln!("real {:?}\nrandom {:?}", real.stats, random.stats);
    assert_eq!(real.params, 49 * 32 + 32 + 32 * 10 + 10);
    assert!(
        random.stats.median < real.stats.median,
        "random {:?} real {:?}",
        random.stats,
        real.stats
    );
    assert!(random.stats.max < random.params, "{:?}", random.stats);
    for dir in ["real", "random"] {
        for f in ["probes.csv", "summary.csv", "manifest.toml"] {
            assert!(tmp.path().join(dir).join(f).is_file(), "{dir}/{f}");
        }
    }
    let manifest = std::fs::read_to_string(tmp.path().join("real/manifest.toml")).unwrap();
    assert!(manifest.contains("git_commit") && manifest.contains("mlp:32:relu"));
    let ckpts = std::fs::read_dir(tmp.path().join("real/checkpoints"))
        .unwrap()
        .count();
    assert_eq!(ckpts, 2, "one checkpoint per seed at its largest fitted n");
}

#[test]
fn parallel_and_sequential_runs_agree_and_reruns_resume() {
    if real_folder("mnist").is_none() {
        return;
    }
    let cfg = config(&["random-labels"]);
    let tmp = tempfile::tempdir().unwrap();
    let seq = run(&cfg, &tmp.path().join("seq"), 1);
    let par = run(&cfg, &tmp.path().join("par"), 2);
    assert_eq!(seq.per_seed, par.per_seed);
    assert!(seq.probes_trained > 0);
    // A rerun into the same directory trains nothing and reports the same EMC.
    let again = run(&cfg, &tmp.path().join("seq"), 2);
    assert_eq!((again.probes_trained, &again.per_seed), (0, &seq.per_seed));
    // A crash: the log lost its last two rows and holds half a row.
    let log = tmp.path().join("par/probes.csv");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let kept = lines[..lines.len() - 2].join("\n") + "\n" + &lines[lines.len() - 2][..10];
    std::fs::write(&log, kept).unwrap();
    let resumed = run(&cfg, &tmp.path().join("par"), 2);
    assert_eq!(resumed.per_seed, seq.per_seed);
    assert_eq!(
        resumed.probes_trained, 2,
        "only the lost probes are trained again"
    );
}

/// Configurations measured together (one pool over every configuration and seed, one
/// directory) give exactly what they give alone, and every one gets its summary row.
#[test]
fn measuring_configurations_together_equals_measuring_them_alone() {
    if real_folder("mnist").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut small = config(&["random-labels"]);
    small.model = "mlp:8:relu".into();
    let cfgs = [config(&["random-labels"]), small];
    let alone: Vec<Measurement> = cfgs
        .iter()
        .enumerate()
        .map(|(i, c)| run(c, &tmp.path().join(format!("alone{i}")), 1))
        .collect();
    let opts = RunOptions {
        out: tmp.path().join("together"),
        jobs: 2,
        lockstep: 1,
        device: candle_core::Device::Cpu,
        load: emc_tests::local_options(),
        max_memory: None,
        recorded_only: false,
        write_summary: true,
    };
    let seen = std::sync::Mutex::new(vec![]);
    let together = measure_many(&cfgs, &opts, &|i, e| {
        if let Event::SeedDone { seed, .. } = e {
            seen.lock().unwrap().push((i, *seed));
        }
    })
    .unwrap();
    for (a, t) in alone.iter().zip(&together) {
        assert_eq!(a.per_seed, t.per_seed);
        assert_eq!(a.config_hash, t.config_hash);
    }
    let mut seen = seen.into_inner().unwrap();
    seen.sort();
    assert_eq!(seen, [(0, 0), (0, 1), (1, 0), (1, 1)]);
    let summary = std::fs::read_to_string(tmp.path().join("together/summary.csv")).unwrap();
    for t in &together {
        assert!(summary.contains(&t.config_hash), "{summary}");
    }
}

/// Full-batch GD with a 50-epoch budget is far from converged on 7x7 MNIST: doubling the
/// budget raises EMC, the measurement says budget-limited (probes, summary), and a rerun
/// trains nothing.
#[test]
fn full_batch_gd_at_a_short_budget_is_reported_budget_limited() {
    if real_folder("mnist").is_none() {
        return;
    }
    let mut cfg = config(&[]);
    cfg.model = "mlp:8:relu".into();
    cfg.train.optim = emc_optim::OptimConfig::sgd(0.5, 0.0);
    cfg.train.batching = Batching::Full { chunk: 4096 };
    cfg.train.stop.max_epochs = 50;
    cfg.train.stop.plateau_patience = 0;
    cfg.search.budget_doublings = 1;
    cfg.seeds = vec![0];
    let tmp = tempfile::tempdir().unwrap();
    let m = run(&cfg, tmp.path(), 1);
    let (seed, b) = &m.budgets[0];
    assert_eq!(*seed, 0);
    let emcs: Vec<usize> = b.levels.iter().map(|l| l.outcome.emc).collect();
    assert_eq!(emcs.len(), 2, "{}", b.describe());
    assert!(emcs[1] as f64 > 1.05 * emcs[0] as f64, "{}", b.describe());
    assert_eq!(b.converged, Some(false));
    assert_eq!(
        m.per_seed[0].1.emc, emcs[1],
        "the larger budget's EMC is reported"
    );
    // The transition over the final budget's probes brackets the reported EMC.
    let t = &m.transition;
    let n50 = t.n50.expect("fits and failures were probed");
    assert!(
        t.highest_fit >= Some(emcs[1]) && n50 > emcs[1] as f64 * 0.5,
        "{t:?}"
    );
    // Both budgets' probes are logged, each under its own level's probe hash.
    let probes = std::fs::read_to_string(tmp.path().join("probes.csv")).unwrap();
    let logged: std::collections::BTreeSet<&str> = probes
        .lines()
        .skip(1)
        .filter_map(|row| row.split(',').nth(1))
        .collect();
    let expected: std::collections::BTreeSet<String> = [1, 2]
        .map(|k| cfg.with_budget_multiplier(k).probe_hash())
        .into();
    assert_eq!(
        logged,
        expected.iter().map(String::as_str).collect(),
        "{probes}"
    );
    let summary = std::fs::read_to_string(tmp.path().join("summary.csv")).unwrap();
    assert!(
        summary.contains(&format!("1x:{} 2x:{}", emcs[0], emcs[1])),
        "{summary}"
    );
    assert!(summary.contains(",false"), "{summary}");
    let again = run(&cfg, tmp.path(), 1);
    assert_eq!(again.probes_trained, 0);
    assert_eq!(again.budgets[0].1.describe(), b.describe());
    assert_eq!(again.budgets[0].1.converged, b.converged);
    assert_eq!(again.per_seed, m.per_seed);
}

/// A loss plateau whose gradient is not small is an early stop, not a certified failure:
/// at twice the budget (twice the epochs and twice the patience) such failures are trained
/// again, while the fits below them are carried over untrained.
#[test]
fn plateau_failures_are_trained_again_with_more_budget() {
    if real_folder("mnist").is_none() {
        return;
    }
    let mut cfg = config(&["random-labels"]);
    cfg.model = "mlp:8:relu".into();
    // A deliberately impatient plateau rule: two epochs without halving the loss.
    cfg.train.stop.plateau_patience = 2;
    cfg.train.stop.plateau_rel_improvement = 0.5;
    cfg.search.budget_doublings = 1;
    cfg.seeds = vec![0];
    let doubled = cfg.with_budget_multiplier(2);
    assert_eq!(doubled.train.stop.plateau_patience, 4);
    assert_eq!(doubled.train.stop.max_epochs, 2 * cfg.train.stop.max_epochs);
    let tmp = tempfile::tempdir().unwrap();
    let m = run(&cfg, tmp.path(), 1);
    let rows: Vec<emc_search::ProbeRow> =
        emc_search::read_csv(&tmp.path().join("probes.csv")).unwrap();
    let (h1, h2) = (cfg.probe_hash(), doubled.probe_hash());
    let at = |h: &str| {
        rows.iter()
            .filter(|r| r.config_hash == h)
            .collect::<Vec<_>>()
    };
    let (first, second) = (at(&h1), at(&h2));
    let plateaued: Vec<usize> = first
        .iter()
        .filter(|r| !r.fitted && r.stop == "plateau")
        .map(|r| r.n)
        .collect();
    assert!(!plateaued.is_empty(), "no plateau failure at 1x: {first:?}");
    assert!(
        second.iter().any(|r| plateaued.contains(&r.n)),
        "no 1x plateau failure was trained again at 2x: 1x {first:?}, 2x {second:?}"
    );
    // Fits stand: nothing that fitted at 1x is trained again.
    assert!(
        second
            .iter()
            .all(|r| !first.iter().any(|f| f.fitted && f.n == r.n)),
        "{second:?}"
    );
    let (_, b) = &m.budgets[0];
    assert_eq!(b.levels[1].trained, second.len(), "{}", b.describe());
}

/// A resumed measurement whose checkpoints are gone (results copied without them, or a
/// crash) replays each seed's largest fit to write it again: the same bytes, no new probe.
#[test]
fn missing_checkpoints_are_replayed_bit_identical_on_resume() {
    if real_folder("mnist").is_none() {
        return;
    }
    let mut cfg = config(&["random-labels"]);
    cfg.model = "mlp:8:relu".into();
    let tmp = tempfile::tempdir().unwrap();
    let first = run(&cfg, tmp.path(), 2);
    let dir = tmp.path().join("checkpoints");
    let mut before: Vec<(std::path::PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    before.sort();
    assert_eq!(before.len(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
    let probes = std::fs::read(tmp.path().join("probes.csv")).unwrap();
    let again = run(&cfg, tmp.path(), 2);
    assert_eq!(again.probes_trained, 0);
    assert_eq!(again.per_seed, first.per_seed);
    assert_eq!(
        std::fs::read(tmp.path().join("probes.csv")).unwrap(),
        probes
    );
    // The same tensors and metadata (the metadata's key order in the file may differ).
    for (path, bytes) in before {
        let after = std::fs::read(&path).unwrap();
        let (a, b) = (
            safetensors::SafeTensors::deserialize(&after).unwrap(),
            safetensors::SafeTensors::deserialize(&bytes).unwrap(),
        );
        let mut names = a.names();
        names.sort();
        let mut want = b.names();
        want.sort();
        assert_eq!(names, want);
        for name in names {
            let (x, y) = (a.tensor(name).unwrap(), b.tensor(name).unwrap());
            assert_eq!(x.data(), y.data(), "{} {name}", path.display());
        }
        let meta = |t: &[u8]| safetensors::SafeTensors::read_metadata(t).unwrap().1;
        assert_eq!(meta(&after).metadata(), meta(&bytes).metadata());
    }
}

/// The probe log without its timing and run columns, sorted by (seed, n).
fn probes_untimed(dir: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("probes.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let skip = ["run_id", "seconds", "samples_per_sec", "timestamp"];
    let mut rows: Vec<String> = lines
        .map(|l| {
            l.split(',')
                .zip(&header)
                .filter(|(_, h)| !skip.contains(h))
                .map(|(v, _)| v)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    rows.sort();
    rows
}

/// Probes of several seeds trained together in lockstep groups (stacked MLPs and stacked
/// CNNs) give the very probes, EMCs and checkpoint weights that training each alone gives.
#[test]
fn lockstep_training_records_what_training_alone_records() {
    if real_folder("mnist").is_none() {
        return;
    }
    for model in ["mlp:32:relu", "cnn:2,4:relu:pool=all:flatten"] {
        lockstep_records_what_alone_records(model);
    }
}

fn lockstep_records_what_alone_records(model: &str) {
    let mut cfg = config(&["random-labels"]);
    cfg.model = model.into();
    cfg.seeds = vec![0, 1, 2];
    let tmp = tempfile::tempdir().unwrap();
    let alone = run_lockstep(&cfg, &tmp.path().join("alone"), 1, 1);
    let together = run_lockstep(&cfg, &tmp.path().join("together"), 1, 3);
    assert_eq!(alone.per_seed, together.per_seed);
    assert_eq!(alone.probes_trained, together.probes_trained);
    // Groups did form (one slot, three searches), and the manifest says how many.
    let grouped = |dir: &str| -> usize {
        let text = std::fs::read_to_string(tmp.path().join(dir).join("manifest.toml")).unwrap();
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("probes_in_lockstep_groups = "))
            .expect("the manifest counts the probes trained in lockstep groups");
        line.trim().parse().unwrap()
    };
    assert_eq!(grouped("alone"), 0);
    assert!(grouped("together") >= 3, "{model}: {}", grouped("together"));
    assert_eq!(
        probes_untimed(&tmp.path().join("alone")),
        probes_untimed(&tmp.path().join("together"))
    );
    for seed in 0..3 {
        let name = format!("checkpoints/{}-seed{seed}.safetensors", alone.config_hash);
        let a = std::fs::read(tmp.path().join("alone").join(&name)).unwrap();
        let b = std::fs::read(tmp.path().join("together").join(&name)).unwrap();
        let (a, b) = (
            safetensors::SafeTensors::deserialize(&a).unwrap(),
            safetensors::SafeTensors::deserialize(&b).unwrap(),
        );
        let mut names = a.names();
        names.sort();
        for tensor in names {
            assert_eq!(
                a.tensor(tensor).unwrap().data(),
                b.tensor(tensor).unwrap().data(),
                "{model} seed {seed} {tensor}"
            );
        }
    }
}

/// Adaptive seeds: an unreachable interval width adds seeds up to the maximum, a loose one
/// keeps the configured seeds; a rerun reuses every added seed.
#[test]
fn adaptive_seeds_stop_at_the_interval_width_or_the_maximum() {
    if real_folder("mnist").is_none() {
        return;
    }
    let mut cfg = config(&["random-labels"]);
    cfg.model = "mlp:8:relu".into();
    cfg.search.max_seeds = 5;
    cfg.search.seed_ci_width = 1e-9;
    let tmp = tempfile::tempdir().unwrap();
    let m = run(&cfg, &tmp.path().join("tight"), 2);
    let seeds: Vec<u64> = m.per_seed.iter().map(|(s, _)| *s).collect();
    assert_eq!(seeds, [0, 1, 2, 3, 4]);
    assert_eq!(m.stats.seeds, 5);
    let again = run(&cfg, &tmp.path().join("tight"), 2);
    assert_eq!((again.probes_trained, again.per_seed), (0, m.per_seed));

    cfg.search.seed_ci_width = 1e9;
    let loose = run(&cfg, &tmp.path().join("loose"), 2);
    assert_eq!(
        loose.per_seed.len(),
        2,
        "the configured seeds 0 and 1 suffice"
    );
}

/// The data a result was measured on is pinned: its manifest records each data file's
/// SHA-256, and resuming on other files (Fashion-MNIST's in an `mnist/` folder) is refused,
/// naming the file and both digests, before anything is trained or rewritten. A manifest
/// written before the digests were recorded is accepted and gets them.
#[test]
fn resuming_on_other_data_is_refused_naming_both_digests() {
    let (Some(mnist), Some(fashion)) = (real_folder("mnist"), real_folder("fashion-mnist")) else {
        return;
    };
    let mut cfg = config(&["random-labels"]);
    cfg.seeds = vec![0];
    cfg.search.max_n = Some(16);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let first = run(&cfg, &out, 1);
    let own = out.join(format!("manifest-{}.toml", first.config_hash));
    let manifest = std::fs::read_to_string(&own).unwrap();
    let sha = |path: &std::path::Path| {
        use sha2::Digest;
        let d = sha2::Sha256::digest(std::fs::read(path).unwrap());
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let labels = "train-labels-idx1-ubyte.gz";
    let (real_sha, other_sha) = (sha(&mnist.join(labels)), sha(&fashion.join(labels)));
    assert!(manifest.contains("[[data_files]]") && manifest.contains(&real_sha));

    // Fashion-MNIST's files where MNIST's are expected.
    let other = tmp.path().join("other");
    std::fs::create_dir_all(other.join("mnist")).unwrap();
    for f in ["train-images-idx3-ubyte.gz", labels] {
        std::fs::copy(fashion.join(f), other.join("mnist").join(f)).unwrap();
    }
    let snapshot = |dir: &std::path::Path| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_file())
            .map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                (name, std::fs::read(e.path()).unwrap())
            })
            .collect();
        v.sort();
        v
    };
    let before = snapshot(&out);
    let mut more = cfg.clone();
    more.seeds = vec![0, 1];
    let opts = RunOptions {
        out: out.clone(),
        jobs: 1,
        lockstep: 1,
        device: candle_core::Device::Cpu,
        load: emc_tests::local_options().with_data_dir(Some(other)),
        max_memory: None,
        recorded_only: false,
        write_summary: true,
    };
    let err = measure(&more, &opts, &|_| {}).unwrap_err().to_string();
    for part in [labels, real_sha.as_str(), other_sha.as_str(), "other data"] {
        assert!(err.contains(part), "`{part}` missing from: {err}");
    }
    assert_eq!(snapshot(&out), before, "a refused resume changes no file");

    // A manifest from before the digests: accepted, and it gets them.
    let strip = |text: &str| text.split("[[data_files]]").next().unwrap().to_string();
    std::fs::write(&own, strip(&manifest)).unwrap();
    std::fs::write(out.join("manifest.toml"), strip(&manifest)).unwrap();
    let again = run(&cfg, &out, 1);
    assert_eq!(
        (again.probes_trained, &again.per_seed),
        (0, &first.per_seed)
    );
    assert!(std::fs::read_to_string(&own).unwrap().contains(&real_sha));
}
