//! `emc hub push`, `emc hub pull` and `emc verify` end to end through the binary, against
//! the writable stand-in Hub on 127.0.0.1 (`emc_tests::hub_server`), with the token and
//! cache taken from the environment as the Hugging Face tools take them.

use std::path::Path;
use std::process::Output;

use emc_tests::cli::text;
use emc_tests::hub_server::HubServer;

const TOKEN: &str = "hf_cli_test_token_never_printed";

/// Runs `emc` with a clean Hugging Face environment (`HF_HOME` in `home`, so no real token
/// file is read) plus `env`.
fn emc(args: &[&str], home: &Path, env: &[(&str, &str)]) -> Output {
    emc_tests::cli::run(env!("CARGO_BIN_EXE_emc"), args, home, env)
}

fn results() -> Option<&'static Path> {
    emc_tests::hub_fixture::small_results(Path::new(env!("CARGO_TARGET_TMPDIR")))
}

#[test]
fn push_pull_verify_and_offline_pull_through_the_binary() {
    let Some(results) = results() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let server = HubServer::writable(TOKEN).unwrap();
    let cache = tmp.path().join("cache");
    let (url, cache_s) = (
        server.url().to_string(),
        cache.to_str().unwrap().to_string(),
    );
    let env = [
        ("HF_ENDPOINT", url.as_str()),
        ("HF_HUB_CACHE", cache_s.as_str()),
    ];
    let dir = results.to_str().unwrap();

    let mut with_token = env.to_vec();
    with_token.push(("HF_TOKEN", TOKEN));
    let out = emc(
        &["hub", "push", dir, "--repo", "emc-cli/mlp8"],
        tmp.path(),
        &with_token,
    );
    assert!(out.status.success(), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("pushed ") && shown.contains("in one commit"),
        "{shown}"
    );
    assert!(!shown.contains(TOKEN), "{shown}");
    assert_eq!(server.commit_count("models", "emc-cli/mlp8"), 2);

    // Pulled anonymously into a new directory, then verified.
    let pulled = tmp.path().join("pulled");
    let p = pulled.to_str().unwrap();
    let out = emc(
        &["hub", "pull", "--repo", "emc-cli/mlp8", "--out", p],
        tmp.path(),
        &env,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("each matching the SHA-256"),
        "{}",
        text(&out)
    );
    let data = emc_tests::data_dir();
    let out = emc(
        &["verify", p, "--data-dir", data.to_str().unwrap()],
        tmp.path(),
        &env,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("2 of 2 checkpoint(s) reproduce their recorded fit"),
        "{}",
        text(&out)
    );

    // The server gone, the cache alone serves `--offline`.
    server.stop();
    let again = tmp.path().join("again");
    let out = emc(
        &[
            "hub",
            "pull",
            "--repo",
            "emc-cli/mlp8",
            "--out",
            again.to_str().unwrap(),
            "--offline",
        ],
        tmp.path(),
        &env,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("offline"), "{}", text(&out));
}

#[test]
fn push_without_a_token_names_where_tokens_come_from() {
    let Some(results) = results() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let server = HubServer::writable(TOKEN).unwrap();
    let env = [("HF_ENDPOINT", server.url())];
    let out = emc(
        &[
            "hub",
            "push",
            results.to_str().unwrap(),
            "--repo",
            "emc-cli/x",
        ],
        tmp.path(),
        &env,
    );
    assert!(!out.status.success(), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("no Hugging Face token") && shown.contains("HF_TOKEN"),
        "{shown}"
    );
    assert!(server.requests().is_empty(), "{:?}", server.requests());
}

#[test]
fn dry_run_prints_the_card_and_bad_arguments_are_named() {
    let Some(results) = results() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = results.to_str().unwrap();
    let out = emc(
        &[
            "hub",
            "push",
            dir,
            "--repo",
            "me/r",
            "--repo-type",
            "dataset",
            "--dry-run",
        ],
        tmp.path(),
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("- effective-model-complexity") && shown.contains("dry run:"),
        "{shown}"
    );
    assert!(
        shown.contains("https://huggingface.co/datasets/me/r"),
        "{shown}"
    );

    let out = emc(
        &["hub", "push", dir, "--repo", "noslash", "--dry-run"],
        tmp.path(),
        &[],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("--repo: `noslash`: expected owner/name"),
        "{}",
        text(&out)
    );
    let out = emc(
        &["hub", "pull", "--repo", "me/r", "--repo-type", "space"],
        tmp.path(),
        &[],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("expected model or dataset"),
        "{}",
        text(&out)
    );
    let out = emc(&["verify", tmp.path().to_str().unwrap()], tmp.path(), &[]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("no checkpoints/*.safetensors"),
        "{}",
        text(&out)
    );
}
