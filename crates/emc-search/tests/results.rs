//! Result files: the probe log's header matches its rows, appends survive a reopen, and a
//! torn last line (a crash mid-write) is cut off rather than read as a probe.

use std::io::Write;

use emc_search::{read_csv, ProbeLog, ProbeRow};

fn row(seed: u64, n: usize, fitted: bool) -> ProbeRow {
    ProbeRow {
        run_id: "r1".into(),
        config_hash: "abcdef0123456789".into(),
        model: "mlp:32:relu".into(),
        params: 1930,
        dataset: "mnist".into(),
        variants: "resize:7 random-labels".into(),
        optimizer: "sgd:momentum=0.9".into(),
        lr: 0.01,
        batch: "128".into(),
        seed,
        n,
        fitted,
        stop: if fitted { "fitted" } else { "plateau" }.into(),
        epochs: 10,
        steps: 10,
        train_accuracy: if fitted { 1.0 } else { 0.9 },
        train_loss: f64::NAN,
        grad_norm: 0.5,
        seconds: 0.1,
    }
}

#[test]
fn a_fresh_log_starts_with_the_header_of_its_rows() {
    let tmp = tempfile::tempdir().unwrap();
    ProbeLog::open(tmp.path()).unwrap();
    let text = std::fs::read_to_string(tmp.path().join("probes.csv")).unwrap();
    assert_eq!(text, ProbeRow::header());
    // The csv crate derives the same header from a row.
    let mut w = csv::Writer::from_writer(vec![]);
    w.serialize(row(0, 1, true)).unwrap();
    let written = String::from_utf8(w.into_inner().unwrap()).unwrap();
    assert_eq!(written.lines().next().unwrap().to_string() + "\n", text);
}

#[test]
fn log_resumes_and_repairs_a_torn_line() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let log = ProbeLog::open(tmp.path()).unwrap();
        log.append(&row(0, 64, true)).unwrap();
        log.append(&row(0, 128, false)).unwrap();
    }
    // A crash in the middle of writing a third row.
    let path = tmp.path().join("probes.csv");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"r1,abcdef0123456789,mlp:32:relu,1930,mni")
        .unwrap();
    let log = ProbeLog::open(tmp.path()).unwrap();
    assert!(log.get("abcdef0123456789", 0, 64).unwrap().fitted);
    assert!(!log.get("abcdef0123456789", 0, 128).unwrap().fitted);
    assert!(log.get("abcdef0123456789", 0, 96).is_none());
    log.append(&row(1, 96, true)).unwrap();
    let rows: Vec<ProbeRow> = read_csv(&path).unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!((rows[2].seed, rows[2].n), (1, 96));
    assert!(rows[0].train_loss.is_nan());
}
