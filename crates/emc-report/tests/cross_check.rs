//! summary.csv is derived data: the report checks each seed's EMC against what probes.csv
//! gives, on the committed results (which agree) and on an edited copy (which does not).

use std::path::{Path, PathBuf};

fn artifacts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../artifacts")
}

const DISAGREE: &str = "summary.csv gives EMC";

#[test]
fn committed_summaries_agree_with_their_probes() {
    let mut dirs = 0;
    for claim in std::fs::read_dir(artifacts()).unwrap().flatten() {
        let dir = claim.path().join("cpu");
        if !dir.join("summary.csv").is_file() {
            continue;
        }
        dirs += 1;
        let report = emc_report::report(&dir, false).unwrap();
        let bad: Vec<&String> = report
            .notes
            .iter()
            .filter(|n| n.contains(DISAGREE))
            .collect();
        assert!(bad.is_empty(), "{}: {bad:?}", dir.display());
    }
    assert!(dirs >= 4, "found {dirs} committed results directories");
}

#[test]
fn an_edited_seed_emc_is_reported_with_both_values() {
    let src = artifacts().join("generalization/cpu");
    let tmp = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(&src).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".csv") || name.ends_with(".toml") {
            std::fs::copy(e.path(), tmp.path().join(&name)).unwrap();
        }
    }
    let summary = tmp.path().join("summary.csv");
    let text = std::fs::read_to_string(&summary).unwrap();
    // Seed 0 of the first configuration: EMC 310 -> 999.
    let row = "mlp:4,838,mnist,resize:14,\"sgd:lr=0.02,momentum=0.9\",0,310,320,";
    assert!(text.contains(row), "the committed summary changed");
    std::fs::write(
        &summary,
        text.replacen(row, &row.replace(",310,", ",999,"), 1),
    )
    .unwrap();
    let report = emc_report::report(tmp.path(), false).unwrap();
    let bad: Vec<&String> = report
        .notes
        .iter()
        .filter(|n| n.contains(DISAGREE))
        .collect();
    assert_eq!(bad.len(), 1, "{:?}", report.notes);
    for part in ["mlp:4", "seed 0", "EMC 999", "probes.csv gives 310"] {
        assert!(bad[0].contains(part), "`{part}` missing from: {}", bad[0]);
    }
}
