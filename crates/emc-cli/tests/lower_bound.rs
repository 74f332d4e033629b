//! The end of `emc measure`'s summary: the failed probes by stop reason, and the line that
//! says the EMC is only a lower bound when some seed's first failure above its EMC was not
//! certified (it ran out of budget), on generated data (no real data needed) and on real
//! MNIST.

use std::path::Path;
use std::process::{Command, Output};

fn measure(data: &Path, out: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_emc"))
        .args(["measure", "--data-dir", data.to_str().unwrap()])
        .args(["--out", out.to_str().unwrap()])
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .expect("run emc")
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn failures_that_ran_out_of_epochs_make_the_emc_a_lower_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let data = emc_tests::generated_mnist_dir(tmp.path(), 200);
    // Two epochs: every failure runs out of them.
    let args = [
        "--model",
        "mlp:4",
        "--seeds",
        "2",
        "--n0",
        "32",
        "--max-epochs",
        "2",
        "--patience",
        "0",
    ];
    let shown = stdout(&measure(&data, &tmp.path().join("a"), &args));
    assert!(
        shown.contains("failed probes by stop reason: max-epochs "),
        "{shown}"
    );
    assert!(
        shown.contains("EMC is a lower bound: the first failure above the EMC was not certified")
            && shown.contains("seed 0 (n = ")
            && shown.contains("seed 1 (n = ")
            && shown.contains("rerun into the same directory with --budget-doublings 2"),
        "{shown}"
    );
    // With budget doublings that do not converge, the line says how far it went.
    let mut more = args.to_vec();
    more[3] = "1"; // --seeds 1
    more.extend(["--budget-doublings", "1"]);
    let shown = stdout(&measure(&data, &tmp.path().join("b"), &more));
    assert!(
        shown.contains("still so after 1 budget doubling(s) (2x the configured budget)"),
        "{shown}"
    );
}

#[test]
fn certified_failures_leave_the_emc_as_measured() {
    let tmp = tempfile::tempdir().unwrap();
    let data = emc_tests::generated_mnist_dir(tmp.path(), 200);
    // A gradient tolerance no gradient exceeds: every failure stops as a certified
    // stationary point (small-gradient) at its first check.
    let config = tmp.path().join("certified.toml");
    std::fs::write(
        &config,
        "model = \"mlp:4\"\ndata = \"mnist\"\nseeds = [0]\n[search]\nn0 = 32\n\
         [train.stop]\ngrad_tol = 1e12\n",
    )
    .unwrap();
    let shown = stdout(&measure(
        &data,
        &tmp.path().join("c"),
        &["--config", config.to_str().unwrap()],
    ));
    assert!(
        shown.contains("failed probes by stop reason: small-gradient "),
        "{shown}"
    );
    assert!(!shown.contains("lower bound"), "{shown}");
}

/// The README's first command, as it runs on real MNIST: all its failures run out of the
/// 2,000 epochs, so its EMC is a lower bound, and it says so for every seed.
#[test]
fn the_readme_command_says_its_emc_is_a_lower_bound() {
    if emc_tests::real_folder("mnist").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let args = [
        "--model",
        "mlp:32:relu",
        "--data",
        "mnist",
        "--resize",
        "7",
        "--labels",
        "random",
        "--seeds",
        "3",
    ];
    let shown = stdout(&measure(
        &emc_tests::data_dir(),
        &tmp.path().join("r"),
        &args,
    ));
    assert!(shown.contains("EMC median 410.0"), "{shown}");
    assert!(
        shown.contains("failed probes by stop reason: max-epochs 13")
            && shown.contains("seed 0 (n = 425: max-epochs), seed 1 (n = 230: max-epochs), seed 2 (n = 415: max-epochs)"),
        "{shown}"
    );
}
