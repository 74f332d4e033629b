//! Publishing and fetching results on the Hugging Face Hub, end to end against a writable
//! stand-in Hub on 127.0.0.1 (`emc_tests::hub_server`), with hf-hub's real client: a small
//! EMC measurement on real MNIST is pushed (repository creation, preupload, LFS batch
//! negotiation, one NDJSON commit), pulled into an empty cache, verified by recomputing each
//! checkpoint's training accuracy, pulled again from the cache with the server stopped; and
//! every bad input (no token, missing repository or revision, truncated download, corrupted
//! cache, checkpoint metadata that disagrees with its tensors, xet-only storage) fails with
//! a clear error and leaves nothing in the output directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use emc_claims::{fetch_published, run_claim, RunSettings, Scale};
use emc_hub::{
    prepare, pull, pull_and_verify, push, verify, HubConfig, HubError, HubManifest,
    PullVerifyOptions, PushOptions, RepoId, RepoKind, VerifyOptions, HUB_MANIFEST,
};
use emc_search::MeasureConfig;
use emc_tests::hub_server::HubServer;
use sha2::{Digest, Sha256};

const TOKEN: &str = "hf_test_token_never_printed";

/// The small real-MNIST measurement every test publishes (`None`: skipped).
fn results() -> Option<&'static Path> {
    emc_tests::hub_fixture::small_results(Path::new(env!("CARGO_TARGET_TMPDIR")))
}

fn hub(server: &HubServer, cache: &Path) -> HubConfig {
    HubConfig {
        endpoint: Some(server.url().to_string()),
        cache_dir: Some(cache.to_path_buf()),
        offline: false,
        token: Some(TOKEN.into()),
    }
}

fn repo(id: &str) -> RepoId {
    RepoId::parse(id, RepoKind::Model).unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every file below `dir`, relative path → bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, here: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(here).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Entries of `dir` whose name starts with `.` (a pull's staging directory would).
fn hidden_entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

fn verify_options() -> VerifyOptions {
    VerifyOptions {
        load: emc_tests::local_options(),
        device: candle_core::Device::Cpu,
        max_memory: None,
    }
}

#[test]
fn push_pull_verify_round_trip_then_offline_from_the_cache() {
    let Some(results) = results() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let server = HubServer::writable(TOKEN).unwrap();
    let cfg = hub(&server, &tmp.path().join("cache"));
    let target = repo("emc-tests/mlp8-mnist7");
    let local = tree(results);

    // Push: one commit after the repository's creation, holding every file plus the card
    // and the manifest; nothing written into the directory pushed.
    let report = push(results, &target, &PushOptions::default(), &cfg).unwrap();
    assert_eq!(
        tree(results),
        local,
        "push wrote into the results directory"
    );
    assert_eq!(server.commit_count("models", "emc-tests/mlp8-mnist7"), 2);
    assert_eq!(
        report.url,
        format!("{}/emc-tests/mlp8-mnist7", server.url())
    );
    assert!(report.commit.is_some());
    let stored = server
        .files("models", "emc-tests/mlp8-mnist7", "main")
        .unwrap();
    for (path, bytes) in &local {
        let f = stored
            .get(path)
            .unwrap_or_else(|| panic!("{path} not uploaded"));
        assert_eq!(f.sha256, sha256(bytes), "{path}");
        assert_eq!(server.blob(&f.sha256).as_deref(), Some(bytes.as_slice()));
        assert_eq!(
            f.lfs,
            path.ends_with(".safetensors"),
            "{path} storage class"
        );
    }
    assert!(stored.contains_key("README.md") && stored.contains_key(HUB_MANIFEST));
    assert_eq!(
        stored.len(),
        local.len() + 3,
        "files + card + manifest + .gitattributes"
    );
    let requests = server.requests();
    for wanted in [
        "POST /api/repos/create",
        "POST /api/models/emc-tests/mlp8-mnist7/preupload/main",
        "POST /emc-tests/mlp8-mnist7.git/info/lfs/objects/batch",
        "POST /api/models/emc-tests/mlp8-mnist7/commit/main",
    ] {
        assert!(
            requests.iter().any(|r| r == wanted),
            "{wanted} missing from {requests:#?}"
        );
    }
    let commits = requests.iter().filter(|r| r.contains("/commit/")).count();
    assert_eq!(commits, 1, "{requests:#?}");

    // The card: metadata the Hub indexes, the measurement, the protocol, the citation.
    let card = String::from_utf8(server.blob(&stored["README.md"].sha256).unwrap()).unwrap();
    assert_eq!(card, report.card);
    for wanted in [
        "---\nlicense: mit\ntags:\n- effective-model-complexity\n",
        "- arxiv:2406.11463\n",
        "datasets:\n- ylecun/mnist\n---\n",
        "# Effective Model Complexity of mlp:8:relu on mnist (resize:7)",
        "## Measured EMC",
        "## Protocol",
        "emc hub pull --repo emc-tests/mlp8-mnist7 --out results",
        "emc measure --config measure.toml",
        "@article{shwartzziv2024flexible,",
        "MNIST (LeCun, Cortes, Burges)",
    ] {
        assert!(card.contains(wanted), "card lacks {wanted:?}:\n{card}");
    }
    assert!(!card.contains(TOKEN) && !requests.iter().any(|r| r.contains(TOKEN)));

    // Pull into an empty cache, then verify without retraining.
    let out = tmp.path().join("pulled");
    let pulled = pull(&target, None, &out, &cfg).unwrap();
    assert!(!pulled.offline);
    let got = tree(&out);
    for (path, bytes) in &local {
        assert_eq!(got.get(path), Some(bytes), "{path}");
    }
    assert_eq!(
        got.len(),
        local.len() + 2,
        "files + README.md + hub_manifest.toml"
    );
    let report = verify(&out, &verify_options()).unwrap();
    eprint!("{}", report.text());
    assert!(report.passed(), "{}", report.text());
    assert_eq!(report.checks.len(), 2);
    for c in &report.checks {
        assert_eq!(c.recorded_fit, Some(true));
        assert_eq!(c.correct, Some(c.n));
        assert!(c.n >= 32, "{c:?}");
    }

    // The entry point the claim binaries use: pull, verify, then move into place.
    let verified = tmp.path().join("verified");
    let opts = PullVerifyOptions {
        hub: cfg.clone(),
        kind: RepoKind::Model,
        verify: verify_options(),
    };
    assert_eq!(
        pull_and_verify("emc-tests/mlp8-mnist7", None, &verified, &opts).unwrap(),
        verified
    );
    assert_eq!(tree(&verified), got);

    // With the server gone, the cache alone serves a pull.
    server.stop();
    let offline = HubConfig {
        offline: true,
        token: None,
        ..cfg.clone()
    };
    let again = tmp.path().join("offline");
    let pulled = pull(&target, None, &again, &offline).unwrap();
    assert!(pulled.offline);
    assert_eq!(tree(&again), got);

    // A corrupted cached file is detected, removed from the cache, and nothing is written.
    let manifest = HubManifest::parse(
        &String::from_utf8(got[HUB_MANIFEST].clone()).unwrap(),
        Path::new("m"),
    )
    .unwrap();
    let ckpt = manifest
        .files
        .iter()
        .find(|f| f.path.ends_with(".safetensors"))
        .unwrap();
    let blob = tmp
        .path()
        .join("cache/models--emc-tests--mlp8-mnist7/blobs")
        .join(&ckpt.sha256);
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&blob, &bytes).unwrap();
    let bad = tmp.path().join("from-bad-cache");
    let e = pull(&target, None, &bad, &offline).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, HubError::Mismatch(_)), "{msg}");
    assert!(
        msg.contains(&ckpt.path) && msg.contains(&ckpt.sha256),
        "{msg}"
    );
    assert!(
        msg.contains("removed") && msg.contains("pull again"),
        "{msg}"
    );
    assert!(!bad.exists());
    assert!(!blob.exists(), "the bad copy stays in the cache");
    assert!(
        hidden_entries(tmp.path()).is_empty(),
        "{:?}",
        hidden_entries(tmp.path())
    );
}

#[test]
fn push_without_a_token_fails_before_any_request() {
    let Some(results) = results() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let server = HubServer::writable(TOKEN).unwrap();
    let cfg = HubConfig {
        token: None,
        ..hub(&server, &tmp.path().join("cache"))
    };
    let e = push(results, &repo("emc-tests/x"), &PushOptions::default(), &cfg).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, HubError::MissingToken { .. }), "{msg}");
    assert!(
        msg.contains("HF_TOKEN") && msg.contains("huggingface-cli login"),
        "{msg}"
    );
    assert!(server.requests().is_empty(), "{:?}", server.requests());

    // A wrong token is the Hub's refusal, named as such.
    let cfg = HubConfig {
        token: Some("hf_wrong".into()),
        ..cfg
    };
    let msg = push(results, &repo("emc-tests/x"), &PushOptions::default(), &cfg)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("Authentication required") && msg.contains("write"),
        "{msg}"
    );
    assert!(!msg.contains("hf_wrong"), "{msg}");
}

#[test]
fn missing_repository_and_revision_are_named_and_nothing_is_written() {
    let Some(results) = results() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let server = HubServer::writable(TOKEN).unwrap();
    let cfg = hub(&server, &tmp.path().join("cache"));
    push(results, &repo("emc-tests/r"), &PushOptions::default(), &cfg).unwrap();

    let out = tmp.path().join("out");
    let msg = pull(&repo("emc-tests/nope"), None, &out, &cfg)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("emc-tests/nope") && msg.contains("repository not found"),
        "{msg}"
    );
    let msg = pull(&repo("emc-tests/r"), Some("v9"), &out, &cfg)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("revision `v9` does not exist"), "{msg}");
    // A dataset repository of the same name is another repository.
    let as_dataset = RepoId::parse("emc-tests/r", RepoKind::Dataset).unwrap();
    let msg = pull(&as_dataset, None, &out, &cfg).unwrap_err().to_string();
    assert!(
        msg.contains("dataset emc-tests/r") && msg.contains("--repo-type"),
        "{msg}"
    );
    assert!(!out.exists());
    assert!(hidden_entries(tmp.path()).is_empty());

    // Offline with nothing cached for that revision: the message says to pull online first.
    let offline = HubConfig {
        offline: true,
        ..cfg.clone()
    };
    let msg = pull(&repo("emc-tests/r"), Some("v9"), &out, &offline)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("not in the hub cache"), "{msg}");

    // An output directory that is not empty is refused before any download.
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("keep.txt"), b"mine").unwrap();
    let msg = pull(&repo("emc-tests/r"), None, &out, &cfg)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("not empty"), "{msg}");
    assert_eq!(std::fs::read(out.join("keep.txt")).unwrap(), b"mine");
}

#[test]
fn a_truncated_download_is_detected_and_not_kept() {
    let Some(results) = results() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let server = HubServer::writable(TOKEN).unwrap();
    let cfg = hub(&server, &tmp.path().join("cache"));
    let report = push(results, &repo("emc-tests/t"), &PushOptions::default(), &cfg).unwrap();
    let ckpt = report
        .files
        .iter()
        .find(|f| f.path.ends_with(".safetensors"))
        .unwrap()
        .clone();
    server.truncate(&ckpt.sha256);
    let out = tmp.path().join("out");
    let e = pull(&repo("emc-tests/t"), None, &out, &cfg).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, HubError::Mismatch(_)), "{msg}");
    assert!(
        msg.contains(&ckpt.path)
            && msg.contains(&format!("{} bytes", ckpt.bytes))
            && msg.contains(&format!("{} bytes", ckpt.bytes / 2))
            && msg.contains("truncated"),
        "{msg}"
    );
    assert!(!out.exists());
    assert!(hidden_entries(tmp.path()).is_empty());
    let blob = tmp
        .path()
        .join("cache/models--emc-tests--t/blobs")
        .join(&ckpt.sha256);
    assert!(!blob.exists(), "the truncated copy stays in the cache");
}

/// Rewrites a checkpoint as if it had been saved by a wider MLP: its metadata (model, full
/// config, hash and file name all consistent with each other) then disagrees with its
/// tensors.
fn widen_checkpoint(dir: &Path) -> PathBuf {
    let ckpt_dir = dir.join("checkpoints");
    let path = std::fs::read_dir(&ckpt_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .min()
        .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut meta: std::collections::HashMap<String, String> =
        meta.metadata().clone().unwrap_or_default();
    let mut cfg: MeasureConfig = serde_json::from_str(&meta["config"]).unwrap();
    cfg.model = "mlp:16:relu".into();
    let hash = cfg.config_hash();
    meta.insert("model".into(), cfg.model.clone());
    meta.insert("config".into(), serde_json::to_string(&cfg).unwrap());
    meta.insert("config_hash".into(), hash.clone());
    let tensors = candle_core::safetensors::load(&path, &candle_core::Device::Cpu).unwrap();
    let seed = &meta["seed"];
    let widened = ckpt_dir.join(format!("{hash}-seed{seed}.safetensors"));
    let mut sorted: Vec<_> = tensors.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    safetensors::serialize_to_file(sorted, Some(meta), &widened).unwrap();
    std::fs::remove_file(&path).unwrap();
    widened
}

fn copy_dir(from: &Path, to: &Path) {
    for (rel, bytes) in tree(from) {
        let dest = to.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(dest, bytes).unwrap();
    }
}

#[test]
fn checkpoint_metadata_that_disagrees_with_its_tensors_fails_verification() {
    let Some(results) = results() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let doctored = tmp.path().join("doctored");
    copy_dir(results, &doctored);
    let widened = widen_checkpoint(&doctored);

    let report = verify(&doctored, &verify_options()).unwrap();
    eprint!("{}", report.text());
    assert!(!report.passed());
    let bad: Vec<_> = report.checks.iter().filter(|c| !c.passed()).collect();
    assert_eq!(bad.len(), 1, "{}", report.text());
    assert_eq!(bad[0].path, widened.strip_prefix(&doctored).unwrap());
    let why = bad[0].failure.as_deref().unwrap();
    assert!(
        why.contains("mlp:16:relu") && why.contains("disagrees with the tensors"),
        "{why}"
    );
    assert!(
        report.text().contains("1 of 2 checkpoint(s)"),
        "{}",
        report.text()
    );

    // Published like that, it fails pull_and_verify and nothing reaches the output.
    let server = HubServer::writable(TOKEN).unwrap();
    let cfg = hub(&server, &tmp.path().join("cache"));
    push(
        &doctored,
        &repo("emc-tests/d"),
        &PushOptions::default(),
        &cfg,
    )
    .unwrap();
    let out = tmp.path().join("out");
    let opts = PullVerifyOptions {
        hub: cfg,
        kind: RepoKind::Model,
        verify: verify_options(),
    };
    let e = pull_and_verify("emc-tests/d", None, &out, &opts).unwrap_err();
    assert!(
        matches!(
            e,
            HubError::VerifyFailed {
                failed: 1,
                total: 2,
                ..
            }
        ),
        "{e}"
    );
    assert!(!out.exists());
    assert!(hidden_entries(tmp.path()).is_empty());
}

#[test]
fn a_checkpoint_not_recorded_as_a_fit_fails_verification() {
    let Some(results) = results() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("r");
    copy_dir(results, &dir);
    // Mark every probe as a failure: the checkpoints no longer match a recorded fit.
    let probes = std::fs::read_to_string(dir.join("probes.csv")).unwrap();
    std::fs::write(
        dir.join("probes.csv"),
        probes.replace(",true,fitted,", ",false,fitted,"),
    )
    .unwrap();
    let report = verify(&dir, &verify_options()).unwrap();
    assert_eq!(report.checks.iter().filter(|c| !c.passed()).count(), 2);
    for c in &report.checks {
        assert_eq!(c.recorded_fit, Some(false));
        assert!(c.failure.as_deref().unwrap().contains("as no fit"), "{c:?}");
    }
}

#[test]
fn xet_storage_is_not_faked_the_push_fails_and_commits_nothing() {
    // huggingface.co stores large files through xet (hf-hub fetches a write token, then
    // uploads content-defined chunks to a CAS server). The stand-in Hub does not implement
    // a CAS server; offered xet, the push must fail clearly, with no commit.
    let Some(results) = results() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let server = HubServer::writable(TOKEN).unwrap();
    server.offer_xet(true);
    let cfg = hub(&server, &tmp.path().join("cache"));
    let msg = push(results, &repo("emc-tests/x"), &PushOptions::default(), &cfg)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("committing") && msg.contains("xet"), "{msg}");
    assert_eq!(
        server.commit_count("models", "emc-tests/x"),
        1,
        "only the creation commit"
    );
    assert!(server
        .requests()
        .iter()
        .any(|r| r == "GET /api/models/emc-tests/x/xet-write-token/main"));
}

#[test]
fn private_dataset_repository_on_a_new_branch() {
    let Some(results) = results() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let server = HubServer::writable(TOKEN).unwrap();
    let cfg = hub(&server, &tmp.path().join("cache"));
    let target = RepoId::parse("emc-tests/p", RepoKind::Dataset).unwrap();
    let opts = PushOptions {
        revision: Some("results-v1".into()),
        private: true,
        ..PushOptions::default()
    };
    let report = push(results, &target, &opts, &cfg).unwrap();
    assert_eq!(report.url, format!("{}/datasets/emc-tests/p", server.url()));
    assert_eq!(server.is_private("datasets", "emc-tests/p"), Some(true));
    let main = server.files("datasets", "emc-tests/p", "main").unwrap();
    assert_eq!(main.len(), 1, "main keeps only .gitattributes");
    assert!(server
        .files("datasets", "emc-tests/p", "results-v1")
        .unwrap()
        .contains_key(HUB_MANIFEST));
    let card = report.card;
    assert!(
        card.contains("--repo emc-tests/p --repo-type dataset"),
        "{card}"
    );

    // Read with the token; without it the private repository does not exist.
    let out = tmp.path().join("out");
    pull(&target, Some("results-v1"), &out, &cfg).unwrap();
    assert!(out.join(HUB_MANIFEST).is_file());
    let anonymous = HubConfig {
        token: None,
        cache_dir: Some(tmp.path().join("cache2")),
        ..cfg
    };
    let msg = pull(
        &target,
        Some("results-v1"),
        &tmp.path().join("out2"),
        &anonymous,
    )
    .unwrap_err()
    .to_string();
    assert!(
        msg.contains("repository not found") && msg.contains("private"),
        "{msg}"
    );
}

#[test]
fn pushing_a_directory_without_results_is_refused_without_network() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("notes.txt"), b"hello").unwrap();
    let e = prepare(
        tmp.path(),
        &repo("emc-tests/n"),
        &PushOptions::default(),
        "http://127.0.0.1:9",
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("no summary.csv or manifest.toml"),
        "{e}"
    );
    let e = prepare(
        &tmp.path().join("absent"),
        &repo("emc-tests/n"),
        &PushOptions::default(),
        "http://127.0.0.1:9",
    )
    .unwrap_err();
    assert!(e.to_string().contains("not a directory"), "{e}");
}

/// Pushes the claim results in `local` to `repo_id` on a local Hub and fetches them with
/// `--from-hub`'s checks into `tmp/pulled`, which it returns.
fn publish_and_fetch(tmp: &Path, local: &Path, repo_id: &str, settings: &RunSettings) -> PathBuf {
    let server = HubServer::writable(TOKEN).unwrap();
    let cfg = hub(&server, &tmp.join("cache"));
    push(local, &repo(repo_id), &PushOptions::default(), &cfg).unwrap();
    let pulled = tmp.join("pulled");
    fetch_published(
        repo_id,
        None,
        &pulled,
        &cfg,
        &settings.load,
        &settings.device,
    )
    .unwrap();
    pulled
}

/// A claim run with `--from-hub` gives the verdict of the published results without
/// training, and refuses (rather than trains) a grid the published results do not cover.
#[test]
fn a_claim_from_published_results_gives_the_same_verdict_without_training() {
    let spec = &claim_params_vs_samples::SPEC;
    let arms = (spec.grid)(Scale::Smoke);
    if arms
        .iter()
        .any(|a| emc_tests::real_folder(&a.measure.data).is_none())
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("local");
    let settings = RunSettings {
        scale: Scale::Smoke,
        seeds: None,
        out: local.clone(),
        jobs: 2,
        lockstep: 1,
        device: candle_core::Device::Cpu,
        load: emc_tests::local_options(),
        progress: false,
        max_memory: None,
        extension_cap: None,
        seed_cap: None,
        work_cap: None,
        recorded_only: false,
        partial: false,
    };
    let first = run_claim(spec, &settings).unwrap();
    let pulled = publish_and_fetch(tmp.path(), &local, "emc-tests/params-smoke", &settings);
    let again = run_claim(
        spec,
        &RunSettings {
            out: pulled.clone(),
            recorded_only: true,
            ..settings.clone()
        },
    )
    .unwrap();
    assert_eq!(again.table, first.table);
    assert_eq!(again.verdict.outcome, first.verdict.outcome);
    assert!(again
        .results
        .iter()
        .all(|r| r.measurement.probes_trained == 0));

    // More seeds than were published: an error naming the missing probe, nothing trained.
    let before = std::fs::read(pulled.join("probes.csv")).unwrap();
    let err = run_claim(
        spec,
        &RunSettings {
            seeds: Some(3),
            out: pulled.clone(),
            recorded_only: true,
            ..settings
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("training is off") && err.contains("seed 2"),
        "{err}"
    );
    assert_eq!(std::fs::read(pulled.join("probes.csv")).unwrap(), before);
}

/// summary.csv is derived data: a seed's EMC edited there disagrees with probes.csv, and
/// verification fails naming the seed and both values.
#[test]
fn an_edited_summary_emc_fails_verification() {
    let Some(results) = results() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("r");
    copy_dir(results, &dir);
    let path = dir.join("summary.csv");
    let rows: Vec<emc_search::SummaryRow> = emc_search::read_csv(&path).unwrap();
    let row = rows.iter().find(|r| r.seed == "0").unwrap();
    let (emc, upper) = (row.emc.unwrap(), row.upper.map(|u| u.to_string()));
    let upper = upper.unwrap_or_default();
    let text = std::fs::read_to_string(&path).unwrap();
    let was = format!(",0,{emc},{upper},");
    assert!(text.contains(&was), "{text}");
    std::fs::write(&path, text.replacen(&was, &format!(",0,999,{upper},"), 1)).unwrap();

    let report = verify(&dir, &verify_options()).unwrap();
    let bad: Vec<_> = report.checks.iter().filter(|c| !c.passed()).collect();
    assert_eq!(bad.len(), 1, "{}", report.text());
    assert_eq!((bad[0].seed, bad[0].summary_emc), (0, Some(999)));
    let why = bad[0].failure.as_deref().unwrap();
    let derived = format!("probes.csv gives {emc}");
    assert!(
        why.contains("seed 0 EMC 999") && why.contains(&derived),
        "{why}"
    );
}

/// Verifying against other data (Fashion-MNIST's files in an `mnist/` folder) is named a
/// data mismatch, with both digests, not a failed fit.
#[test]
fn other_data_is_a_data_mismatch_not_a_failed_fit() {
    let Some(results) = results() else { return };
    let Some(fashion) = emc_tests::real_folder("fashion-mnist") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let other = tmp.path().join("data");
    std::fs::create_dir_all(other.join("mnist")).unwrap();
    for f in ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"] {
        std::fs::copy(fashion.join(f), other.join("mnist").join(f)).unwrap();
    }
    let sha = |p: &Path| {
        Sha256::digest(std::fs::read(p).unwrap())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let labels = "train-labels-idx1-ubyte.gz";
    let real = emc_tests::real_folder("mnist").unwrap();
    let (was, now) = (sha(&real.join(labels)), sha(&fashion.join(labels)));
    let opts = VerifyOptions {
        load: emc_tests::local_options().with_data_dir(Some(other)),
        device: candle_core::Device::Cpu,
        max_memory: None,
    };
    let report = verify(results, &opts).unwrap();
    assert!(!report.passed());
    for c in &report.checks {
        let why = c.failure.as_deref().unwrap();
        for part in ["data mismatch", labels, was.as_str(), now.as_str()] {
            assert!(why.contains(part), "`{part}` missing from: {why}");
        }
    }
}

/// A forged checkpoint whose metadata asks for a model of 10^9 hidden units (with the
/// config hash verify would reveal) is refused by the memory estimate before the model is
/// built, and its line says the accuracy was not evaluated; the real checkpoints still pass.
#[test]
fn a_forged_checkpoint_naming_a_huge_model_is_refused_before_it_is_built() {
    let Some(results) = results() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("r");
    copy_dir(results, &dir);
    let mut cfg = emc_tests::hub_fixture::small_config();
    cfg.model = "mlp:1000000000:relu".into();
    let hash = cfg.config_hash();
    let meta: BTreeMap<String, String> = [
        ("model", cfg.model.clone()),
        ("config_hash", hash.clone()),
        ("config", serde_json::to_string(&cfg).unwrap()),
        ("seed", "0".into()),
        ("n", "32".into()),
        ("dataset", cfg.data.clone()),
        ("variants", cfg.variants.join(" ")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    // A one-scalar stand-in for the weights: the metadata is what verify reads first.
    let varmap = candle_nn::VarMap::new();
    varmap
        .get(
            1,
            "w",
            candle_nn::Init::Const(0.0),
            candle_core::DType::F32,
            &candle_core::Device::Cpu,
        )
        .unwrap();
    let forged = dir
        .join("checkpoints")
        .join(format!("{hash}-seed0.safetensors"));
    emc_train::save_checkpoint(&varmap, &forged, &meta).unwrap();

    let report = verify(&dir, &verify_options()).unwrap();
    let bad: Vec<_> = report.checks.iter().filter(|c| !c.passed()).collect();
    assert_eq!(bad.len(), 1, "{}", report.text());
    assert_eq!(bad[0].correct, None);
    let why = bad[0].failure.as_deref().unwrap();
    assert!(
        why.contains("not enough memory: checking `mlp:1000000000:relu`")
            && why.contains("weights of 60000000010 parameters"),
        "{why}"
    );
    assert!(
        bad[0].line().contains("accuracy not evaluated"),
        "{}",
        bad[0].line()
    );
    assert_eq!(report.checks.len(), 3);
}

/// A sharded claim directory, merged, published and fetched: `--from-hub` gives the same
/// verdict without training, the shard directories travelling with the results.
#[test]
fn a_sharded_claim_directory_publishes_and_fetches_like_any_other() {
    let spec = &claim_width_vs_depth::SPEC;
    if emc_tests::real_folder("mnist").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("local");
    let settings = emc_tests::smoke_settings(&local, 2, false);
    for index in 0..2 {
        emc_claims::run_shard(spec, &settings, emc_claims::Shard { index, count: 2 }).unwrap();
    }
    let merged = run_claim(spec, &settings).unwrap();
    assert!(local.join("shards/1-of-2/shard.toml").is_file());
    let pulled = publish_and_fetch(tmp.path(), &local, "emc-tests/sharded-smoke", &settings);
    assert!(pulled.join("shards/0-of-2/shard.toml").is_file());
    let again = run_claim(
        spec,
        &RunSettings {
            out: pulled.clone(),
            recorded_only: true,
            ..settings
        },
    )
    .unwrap();
    assert_eq!(again.table, merged.table);
    assert!(again
        .results
        .iter()
        .all(|r| r.measurement.probes_trained == 0));
}
