//! A claim run split into shards, each a separate process (as the tasks of a Slurm array
//! are), then merged: the same probes (outcome, epochs, steps, accuracy, loss) and the same
//! verdict as one process running the whole grid. An unfinished shard is an error naming it
//! and its arms; `--partial` gives a verdict over the complete arms and says which are
//! missing.
//!
//! The shard processes are this test binary run again on the ignored test
//! `shard_process`, which runs the one shard named by `EMC_TEST_SHARD` into
//! `EMC_TEST_SHARD_OUT` (Slurm is not needed: `scripts/slurm/` runs the same thing under
//! it).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use emc_claims::{run_claim, run_shard, ClaimSpec, RunSettings, Scale, Shard};
use emc_search::{read_csv, ProbeRow};
use emc_tests::{real_folder, smoke_settings};

/// The claim sharded here: four arms of two seeds at smoke scale, CNNs trained in lockstep
/// when a shard holds both seeds of an arm and alone when the seeds are split.
const SPEC: &ClaimSpec = &claim_width_vs_depth::SPEC;

fn settings(out: &Path, partial: bool) -> RunSettings {
    smoke_settings(out, 1, partial)
}

/// Not a test: the entry point of one shard process (see the module docs).
#[test]
#[ignore = "a shard process, started by the sharded tests"]
fn shard_process() {
    let shard: Shard = std::env::var("EMC_TEST_SHARD")
        .expect("EMC_TEST_SHARD")
        .parse()
        .unwrap();
    let out = std::env::var("EMC_TEST_SHARD_OUT").expect("EMC_TEST_SHARD_OUT");
    std::env::set_var("RAYON_NUM_THREADS", "1");
    let report = run_shard(SPEC, &settings(Path::new(&out), false), shard).unwrap();
    assert_eq!(report.dir, shard.dir(Path::new(&out)));
}

/// Runs `shards` of a split into `count` as separate processes, all at once; panics with
/// a process's output if it fails.
fn run_shard_processes(out: &Path, shards: &[usize], count: usize) {
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = shards
        .iter()
        .map(|&i| {
            let child = Command::new(&exe)
                .args(["--ignored", "--exact", "shard_process", "--nocapture"])
                .env("EMC_TEST_SHARD", format!("{i}/{count}"))
                .env("EMC_TEST_SHARD_OUT", out)
                .env_remove("SLURM_ARRAY_TASK_ID")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            (i, child)
        })
        .collect();
    for (i, child) in children {
        let done = child.wait_with_output().unwrap();
        assert!(
            done.status.success(),
            "shard {i}/{count} failed:\n{}\n{}",
            String::from_utf8_lossy(&done.stdout),
            String::from_utf8_lossy(&done.stderr)
        );
    }
}

/// A probe's key: configuration, seed, n.
type Key = (String, u64, usize);
/// A probe's outcome: fitted, stop, epochs, steps, accuracy and loss (bit patterns).
type Outcome = (bool, String, usize, usize, u64, u64);

/// Every probe of `dir/probes.csv`.
fn probes(dir: &Path) -> BTreeMap<Key, Outcome> {
    read_csv::<ProbeRow>(&dir.join("probes.csv"))
        .unwrap()
        .into_iter()
        .map(|r| {
            let outcome = (
                r.fitted,
                r.stop,
                r.epochs,
                r.steps,
                r.train_accuracy.to_bits(),
                r.train_loss.to_bits(),
            );
            ((r.config_hash, r.seed, r.n), outcome)
        })
        .collect()
}

fn have_data() -> bool {
    real_folder("mnist").is_some()
}

#[test]
fn sharded_processes_merge_to_the_single_process_probes_and_verdict() {
    if !have_data() {
        return;
    }
    std::env::set_var("RAYON_NUM_THREADS", "1");
    let single = tempfile::tempdir().unwrap();
    let whole = run_claim(SPEC, &settings(single.path(), false)).unwrap();

    let sharded = tempfile::tempdir().unwrap();
    run_shard_processes(sharded.path(), &[0, 1, 2], 3);
    for i in 0..3 {
        let dir = sharded.path().join(format!("shards/{i}-of-3"));
        assert!(dir.join("shard.toml").is_file(), "{}", dir.display());
        assert!(
            !sharded.path().join("probes.csv").exists(),
            "shards write only their own"
        );
    }
    let merged = run_claim(SPEC, &settings(sharded.path(), false)).unwrap();
    assert!(
        merged
            .results
            .iter()
            .all(|r| r.measurement.probes_trained == 0),
        "the merge trains nothing"
    );
    assert_eq!(probes(sharded.path()), probes(single.path()));
    assert_eq!(merged.verdict.outcome, whole.verdict.outcome);
    assert_eq!(merged.table, whole.table);
    for (a, b) in merged.results.iter().zip(&whole.results) {
        assert_eq!(
            a.measurement.per_seed, b.measurement.per_seed,
            "{}",
            a.arm.label
        );
    }
    for f in ["verdict.md", "summary.csv", "emc_vs_params.svg"] {
        assert!(sharded.path().join(f).is_file(), "{f}");
    }
    // The verdict counts the shards' training from their own logs.
    let verdict = std::fs::read_to_string(sharded.path().join("verdict.md")).unwrap();
    let trained = probes(single.path()).len();
    for said in [
        format!("training 0 of the {trained} probes in `probes.csv`; the logs of its 3 shards"),
        format!("(`shards/*/runs.csv`) record 3 invocations training {trained} probes in"),
    ] {
        assert!(verdict.contains(&said), "{said}\n{verdict}");
    }
    // Merging again adds nothing and changes nothing.
    let before = std::fs::read(sharded.path().join("probes.csv")).unwrap();
    let again = run_claim(SPEC, &settings(sharded.path(), false)).unwrap();
    assert_eq!(again.table, whole.table);
    assert_eq!(
        std::fs::read(sharded.path().join("probes.csv")).unwrap(),
        before
    );
}

#[test]
fn an_unfinished_shard_is_named_and_partial_says_what_is_missing() {
    if !have_data() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    // Shards 0 and 1 of 4; 2 and 3 never run.
    run_shard_processes(out.path(), &[0, 1], 4);
    let err = run_claim(SPEC, &settings(out.path(), false))
        .unwrap_err()
        .to_string();
    assert!(err.contains("2-of-4, 3-of-4 not finished"), "{err}");
    assert!(err.contains("--partial"), "{err}");
    assert!(
        !out.path().join("verdict.md").exists(),
        "no verdict without --partial"
    );

    let report = run_claim(SPEC, &settings(out.path(), true)).unwrap();
    assert!(
        report.table.starts_with("**Partial verdict**"),
        "{}",
        report.table
    );
    let md = std::fs::read_to_string(out.path().join("verdict.md")).unwrap();
    assert!(
        md.contains("**Partial verdict**") && md.contains("2-of-4"),
        "{md}"
    );
    assert!(report
        .results
        .iter()
        .all(|r| r.measurement.probes_trained == 0));
    let all = (SPEC.grid)(Scale::Smoke).len();
    assert!(
        report.results.len() < all,
        "{} of {all} arms",
        report.results.len()
    );
    assert!(
        md.contains(&format!("covers the {} arms", report.results.len())),
        "{md}"
    );
}

#[test]
fn a_shard_of_another_split_is_refused() {
    if !have_data() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let dir = Shard { index: 0, count: 2 }.dir(out.path());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(Shard { index: 1, count: 3 }.dir(out.path())).unwrap();
    let err = run_claim(SPEC, &settings(out.path(), false))
        .unwrap_err()
        .to_string();
    assert!(err.contains("shards of different counts"), "{err}");
    std::fs::remove_dir_all(Shard { index: 1, count: 3 }.dir(out.path())).unwrap();
    // A marker from another claim.
    std::fs::write(
        dir.join("shard.toml"),
        "claim = \"sgd-vs-gd\"\nscale = \"smoke\"\nindex = 0\ncount = 2\nsearches = []\nversion = \"0\"\n",
    )
    .unwrap();
    let err = run_claim(SPEC, &settings(out.path(), false))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("shard.toml") && err.contains("sgd-vs-gd"),
        "{err}"
    );
}

#[test]
fn partial_analyses_a_stopped_run_without_training() {
    if !have_data() {
        return;
    }
    std::env::set_var("RAYON_NUM_THREADS", "1");
    let out = tempfile::tempdir().unwrap();
    let whole = run_claim(SPEC, &settings(out.path(), false)).unwrap();
    // A run stopped before one arm's searches: its probes are not in the log.
    let dropped = &whole.results[1];
    let path = out.path().join("probes.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = text
        .lines()
        // (its model is the only one of its spec; the CSV quotes it, for it holds commas)
        .filter(|l| !l.contains(dropped.arm.measure.model.as_str()))
        .collect();
    assert!(
        kept.len() < text.lines().count(),
        "no rows of {}",
        dropped.arm.label
    );
    std::fs::write(&path, kept.join("\n") + "\n").unwrap();
    // Nor are checkpoints trained again when they are missing (a copy without them).
    let checkpoints = out.path().join("checkpoints");
    std::fs::remove_dir_all(&checkpoints).unwrap();
    let report = run_claim(SPEC, &settings(out.path(), true)).unwrap();
    let restored = std::fs::read_dir(&checkpoints).map_or(0, |d| d.count());
    assert_eq!(restored, 0, "a checkpoint was trained again");
    assert!(report
        .results
        .iter()
        .all(|r| r.measurement.probes_trained == 0));
    assert_eq!(report.results.len(), whole.results.len() - 1);
    assert!(
        report.table.contains(&format!(
            "1 arm not recorded whole in probes.csv: {}",
            dropped.arm.label
        )),
        "{}",
        report.table
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap().lines().count(),
        kept.len(),
        "nothing trained, nothing logged"
    );
}
