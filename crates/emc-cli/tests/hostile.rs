//! Hostile but fair input through the binary (issue 20): sizes that would exhaust memory,
//! degenerate settings and outcomes, result files that are not files or contradict each
//! other, bad tokens. Each case must end in an error naming the problem, before anything
//! is allocated or sent, with nothing left behind.

use std::path::{Path, PathBuf};
use std::process::Output;

use emc_tests::cli::text;
use emc_tests::hub_server::HubServer;

/// Runs `emc` in a clean Hugging Face environment, `HF_HOME` in `home`.
fn emc_in(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    emc_tests::cli::run(env!("CARGO_BIN_EXE_emc"), args, home, env)
}

/// Generated MNIST-shaped data under `root`: these cases need no real data.
fn generated_mnist(root: &Path, n: u32) -> PathBuf {
    emc_tests::generated_mnist_dir(root, n)
}

/// `emc measure` on the generated data with `args`, into `out`.
fn measure(data: &Path, out: &Path, args: &[&str]) -> Output {
    let mut all = vec![
        "measure",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    emc_in(data, &all, &[])
}

// Regression: `mlp:100000000` aborted on `memory allocation of 39200000000 bytes failed`
// (or drove the machine out of memory); `linear --resize 1000` the same.
#[test]
fn sizes_beyond_the_memory_limit_are_refused_before_allocation() {
    let tmp = tempfile::tempdir().unwrap();
    let data = generated_mnist(tmp.path(), 100);
    let out = tmp.path().join("out");
    for (args, parts) in [
        (
            &[
                "--model",
                "mlp:100000000",
                "--resize",
                "7",
                "--labels",
                "random",
            ][..],
            &[
                "6000000010 parameters",
                "the limit is 8.0 GiB (--max-memory 8.0 GiB)",
            ][..],
        ),
        // 100 images of 1000x1000 are 400 MB as f32, held by the search and the probe.
        (
            &[
                "--model",
                "linear",
                "--resize",
                "1000",
                "--max-memory",
                "1GiB",
            ],
            &["100 samples of 1x1000x1000", "the limit is 1.0 GiB"],
        ),
    ] {
        let mut all = args.to_vec();
        all.extend(["--seeds", "1", "--jobs", "1"]);
        if !all.contains(&"--max-memory") {
            all.extend(["--max-memory", "8GiB"]);
        }
        let o = measure(&data, &out, &all);
        let shown = text(&o);
        assert_eq!(o.status.code(), Some(1), "{shown}");
        assert!(
            shown.contains("error: not enough memory: the measurement of"),
            "{shown}"
        );
        for part in parts {
            assert!(shown.contains(part), "{part}: {shown}");
        }
        assert!(!out.exists(), "{shown}");
    }
    // Without --max-memory the limit is what this machine has, and no machine has 300 TB.
    let o = measure(
        &data,
        &out,
        &["--model", "mlp:100000000000", "--seeds", "1"],
    );
    let shown = text(&o);
    assert!(
        o.status.code() == Some(1) && shown.contains("not enough memory") && !out.exists(),
        "{shown}"
    );
    assert!(shown.contains("memory available on this machine") || shown.contains("cgroup"));
    let o = measure(&data, &out, &["--max-memory", "lots"]);
    assert!(
        text(&o).contains("invalid value 'lots' for '--max-memory <SIZE>'"),
        "{}",
        text(&o)
    );
}

// Regression: `--seeds 1,1` counted seed 1 twice; `--n0 0`, `--jobs 0`, `--lockstep 0`
// were accepted.
#[test]
fn degenerate_settings_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let data = generated_mnist(tmp.path(), 100);
    let out = tmp.path().join("out");
    for (args, expected) in [
        (&["--seeds", "1,1"][..], "seed 1 is listed twice in [1, 1]"),
        (&["--n0", "0"], "measurement config field `search.n0`: 0"),
        (&["--jobs", "0"], "invalid value '0' for '--jobs <JOBS>'"),
        (
            &["--lockstep", "0"],
            "invalid value '0' for '--lockstep <LOCKSTEP>'",
        ),
    ] {
        let o = measure(&data, &out, args);
        assert!(
            !o.status.success() && text(&o).contains(expected),
            "{args:?}: {}",
            text(&o)
        );
        assert!(!out.exists(), "{args:?}");
    }
}

// Regression: with `--lr 1e30` every probe diverged and `EMC 0` was printed with exit 0.
// (A probe of one sample may fit before the loss diverges: what is flagged is that every
// probe that did not fit diverged.)
#[test]
fn a_measurement_whose_every_probe_diverged_is_flagged_and_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let data = generated_mnist(tmp.path(), 100);
    let out = tmp.path().join("out");
    let args = [
        "--model",
        "mlp:16",
        "--lr",
        "1e30",
        "--seeds",
        "2",
        "--n0",
        "32",
        "--max-epochs",
        "20",
    ];
    let o = measure(&data, &out, &args);
    let shown = text(&o);
    assert_eq!(o.status.code(), Some(2), "{shown}");
    assert!(
        shown.contains("DEGENERATE: all ") && shown.contains("probes that did not fit diverged"),
        "{shown}"
    );
    assert!(shown.contains("measures the learning rate (1000000000000000000000000000000)"));
    // The results stay (they are what happened), and the report says the same.
    let report = emc_in(
        tmp.path(),
        &["report", out.to_str().unwrap(), "--no-plots"],
        &[],
    );
    assert!(
        text(&report).contains("DEGENERATE, all"),
        "{}",
        text(&report)
    );
    // Asked to accept it, the same run (resumed: nothing trained) exits 0.
    let mut accepting = args.to_vec();
    accepting.push("--allow-diverged");
    let o = measure(&data, &out, &accepting);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("0 probes trained"), "{}", text(&o));
}

// Regression: a probes.csv linked to /dev/full (or /dev/zero) was read until memory ran out.
#[test]
fn result_files_that_are_not_files_are_refused_unread() {
    let tmp = tempfile::tempdir().unwrap();
    let data = generated_mnist(tmp.path(), 100);
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::os::unix::fs::symlink("/dev/zero", out.join("probes.csv")).unwrap();
    let o = measure(&data, &out, &["--model", "mlp:4", "--seeds", "1"]);
    assert!(
        !o.status.success() && text(&o).contains("probes.csv: not a regular file"),
        "{}",
        text(&o)
    );
    std::os::unix::fs::symlink("/dev/zero", out.join("summary.csv")).unwrap();
    let o = emc_in(
        tmp.path(),
        &["report", out.to_str().unwrap(), "--no-plots"],
        &[],
    );
    assert!(
        !o.status.success() && text(&o).contains("not a regular file"),
        "{}",
        text(&o)
    );
}

/// A copy of the hub fixture's results (a real measurement on MNIST) in `dir`, or `None`
/// without real MNIST.
fn results_copy(dir: &Path) -> Option<PathBuf> {
    let from = emc_tests::hub_fixture::small_results(Path::new(env!("CARGO_TARGET_TMPDIR")))?;
    let to = dir.join("results");
    copy_dir(from, &to);
    Some(to)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

// Regression: a directory with an unreadable probes.csv passed `--dry-run`, and a real push
// created the repository before anything was checked.
#[test]
fn push_checks_the_directory_before_any_request_even_in_a_dry_run() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(results) = results_copy(tmp.path()) else {
        return;
    };
    let server = HubServer::writable("hf_token").unwrap();
    let env = [("HF_ENDPOINT", server.url()), ("HF_TOKEN", "hf_token")];
    let dir = results.to_str().unwrap();
    let push = |extra: &[&str]| {
        let mut args = vec!["hub", "push", dir, "--repo", "me/r"];
        args.extend_from_slice(extra);
        emc_in(tmp.path(), &args, &env)
    };
    let probes = results.join("probes.csv");
    let good = std::fs::read_to_string(&probes).unwrap();
    std::fs::write(&probes, good.replacen(",true,", ",maybe,", 1)).unwrap();
    for extra in [&["--dry-run"][..], &[]] {
        let o = push(extra);
        let shown = text(&o);
        assert!(!o.status.success(), "{shown}");
        assert!(
            shown.contains("its result files do not read back")
                && shown.contains("probes.csv")
                && shown.contains("nothing was sent"),
            "{shown}"
        );
    }
    // summary.csv edited to disagree with probes.csv: seed 0's EMC becomes 999.
    std::fs::write(&probes, &good).unwrap();
    let summary = results.join("summary.csv");
    let mut reader = csv::Reader::from_path(&summary).unwrap();
    let header = reader.headers().unwrap().clone();
    let at = header
        .iter()
        .position(|c| c == "emc")
        .expect("an emc column");
    let mut rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    let mut first: Vec<String> = rows[0].iter().map(String::from).collect();
    first[at] = "999".into();
    rows[0] = csv::StringRecord::from(first);
    let mut writer = csv::Writer::from_path(&summary).unwrap();
    writer.write_record(&header).unwrap();
    for r in &rows {
        writer.write_record(r).unwrap();
    }
    writer.flush().unwrap();
    let o = push(&["--dry-run"]);
    assert!(
        !o.status.success() && text(&o).contains("contradict each other"),
        "{}",
        text(&o)
    );
    assert!(server.requests().is_empty(), "{:?}", server.requests());
}

// Regression: a token holding a newline was sent without an Authorization header, and the
// error then said "Invalid token".
#[test]
fn a_token_with_a_newline_inside_is_refused_and_one_around_it_trimmed() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(results) = results_copy(tmp.path()) else {
        return;
    };
    let server = HubServer::writable("hf_token").unwrap();
    let dir = results.to_str().unwrap();
    let push = |token: &str| {
        let env = [("HF_ENDPOINT", server.url()), ("HF_TOKEN", token)];
        emc_in(tmp.path(), &["hub", "push", dir, "--repo", "me/r"], &env)
    };
    let o = push("hf_tok\nen");
    let shown = text(&o);
    assert!(!o.status.success(), "{shown}");
    assert!(
        shown.contains(
            "the Hugging Face token: it holds whitespace or a control character at \
                        character 7 of 9 (the token is not printed)"
        ),
        "{shown}"
    );
    assert!(!shown.contains("hf_tok"), "{shown}");
    assert!(server.requests().is_empty(), "{:?}", server.requests());
    // A newline after the token (as `echo token | ...` leaves) is not part of it.
    let o = push("hf_token\n");
    assert!(o.status.success(), "{}", text(&o));
}
