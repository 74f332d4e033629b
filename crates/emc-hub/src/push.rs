//! `emc hub push`: publishes a results directory (a measurement's or a claim's) as a Hub
//! repository in one commit, with a generated card and `hub_manifest.toml`.
//!
//! Nothing is written into the directory pushed: the card and the manifest are uploaded
//! from memory.

use std::path::Path;

use emc_search::{read_csv, SummaryRow};
use hf_hub::repository::CommitOperation;
use hf_hub::HFError;

use crate::card::{self, CardInput};
use crate::client::{hub_error, implicit_token_disabled, HubConfig, RepoId};
use crate::error::{HubError, Result};
use crate::manifest::{
    collect_files, digest_bytes, digest_file, FileEntry, HubManifest, HUB_MANIFEST,
};

/// How to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOptions {
    /// Branch to commit to; `None` is `main`. A branch that does not exist is created from
    /// `main`.
    pub revision: Option<String>,
    /// Create the repository private (an existing repository keeps its visibility).
    pub private: bool,
    /// The `license` of the card's metadata (a Hub license identifier).
    pub license: String,
    /// Commit message; `None` generates one from the directory and its verdict.
    pub commit_message: Option<String>,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            revision: None,
            private: false,
            // The workspace is MIT OR Apache-2.0; the Hub's field takes one identifier.
            license: "mit".into(),
            commit_message: None,
        }
    }
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushReport {
    /// The repository's page.
    pub url: String,
    /// The commit created, when the Hub returned it.
    pub commit: Option<String>,
    /// The branch committed to.
    pub revision: String,
    /// Every file uploaded (the card included, `hub_manifest.toml` excluded), sorted.
    pub files: Vec<FileEntry>,
    /// The generated card.
    pub card: String,
}

/// What a push uploads: the generated card, the manifest, and the local files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushPlan {
    /// The `README.md` card.
    pub card: String,
    /// `hub_manifest.toml` (the card included in its list).
    pub manifest: HubManifest,
    /// The local files, as (repository path, local path), sorted.
    pub files: Vec<(String, std::path::PathBuf)>,
}

/// What a push of `dir` to `repo` would upload, without any network access (also what
/// [`push`] uses, so a dry run checks what a push checks).
///
/// The directory must read back as results before anything is planned: every row of
/// `probes.csv` and `summary.csv` as `emc report` reads them, summary.csv's EMCs and probe
/// counts as probes.csv gives them, and every checkpoint's header. (Recomputing each
/// checkpoint's accuracy needs the data: that is `emc verify`, which `emc hub push
/// --verify` runs first.)
///
/// # Errors
/// [`HubError::Input`] when `dir` is not a results directory (no `summary.csv` and no
/// `manifest.toml`), is empty, cannot be read, or holds files that do not read back or
/// contradict each other.
pub fn prepare(dir: &Path, repo: &RepoId, opts: &PushOptions, endpoint: &str) -> Result<PushPlan> {
    if !dir.is_dir() {
        return Err(HubError::input(
            dir,
            "not a directory; expected a results directory written by `emc measure` or a claim",
        ));
    }
    if !dir.join("summary.csv").is_file() && !dir.join("manifest.toml").is_file() {
        return Err(HubError::input(
            dir,
            "no summary.csv or manifest.toml; expected a results directory written by `emc \
             measure` or a claim (artifacts/<claim>/<scale>/)",
        ));
    }
    check_results(dir)?;
    let local = collect_files(dir)?;
    let mut files = Vec::with_capacity(local.len() + 1);
    for (path, source) in &local {
        let (bytes, sha256) = digest_file(source, None)?;
        files.push(FileEntry {
            path: path.clone(),
            bytes,
            sha256,
        });
    }
    let verdict = match emc_results::read_result_text(&dir.join("verdict.md")) {
        Ok(v) => Some(v),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(HubError::io(dir.join("verdict.md"), e)),
    };
    let summary_path = dir.join("summary.csv");
    let summary: Vec<SummaryRow> = if summary_path.is_file() {
        read_csv(&summary_path).map_err(|e| HubError::input(&summary_path, e.to_string()))?
    } else {
        vec![]
    };
    let configs = card::read_configs(dir);
    let dir_name = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| dir.display().to_string());
    // The card lists the files it is published with; it cannot list its own digest.
    let card_text = card::render(&CardInput {
        repo,
        endpoint,
        license: &opts.license,
        dir_name: &dir_name,
        verdict: verdict.as_deref(),
        configs: &configs,
        summary: &summary,
        files: &files,
    });
    let (bytes, sha256) = digest_bytes(card_text.as_bytes());
    files.push(FileEntry {
        path: "README.md".into(),
        bytes,
        sha256,
    });
    Ok(PushPlan {
        card: card_text,
        manifest: HubManifest::new(files),
        files: local,
    })
}

/// Refuses a directory whose result files do not read back or contradict each other
/// (see [`prepare`]).
fn check_results(dir: &Path) -> Result<()> {
    let refuse = |why: String| {
        Err(HubError::input(
            dir,
            format!(
                "{why}; nothing was sent. Run `emc report` and `emc verify` on it, and publish \
                 results only once they read back"
            ),
        ))
    };
    if dir.join("summary.csv").is_file() || dir.join("probes.csv").is_file() {
        match emc_report::report(dir, false) {
            Err(e) => return refuse(format!("its result files do not read back: {e}")),
            Ok(r) => {
                if let Some(c) = r.contradictions.first() {
                    return refuse(format!("its result files contradict each other: {c}"));
                }
            }
        }
    }
    let checkpoints = dir.join("checkpoints");
    if checkpoints.is_dir() {
        let entries = std::fs::read_dir(&checkpoints).map_err(|e| HubError::io(&checkpoints, e))?;
        for entry in entries {
            let path = entry.map_err(|e| HubError::io(&checkpoints, e))?.path();
            if path.extension().is_some_and(|e| e == "safetensors") {
                if let Err(e) = emc_train::read_checkpoint_metadata(&path) {
                    return refuse(format!("a checkpoint does not read back: {e}"));
                }
            }
        }
    }
    Ok(())
}

/// Publishes `dir` to `repo` in one commit: every file below it (hidden files and
/// unfinished `*.tmp` writes excepted), a generated `README.md` card and
/// `hub_manifest.toml`. Creates the repository (and the branch) if needed.
///
/// # Errors
/// [`HubError::Input`] for a directory that is not a results directory;
/// [`HubError::MissingToken`] when `cfg` has no token (checked before any request);
/// [`HubError::Hub`] when the Hub refuses (authentication, permissions, storage) or
/// cannot be reached, saying what failed.
pub fn push(dir: &Path, repo: &RepoId, opts: &PushOptions, cfg: &HubConfig) -> Result<PushReport> {
    let endpoint = cfg.endpoint_name();
    let PushPlan {
        card: card_text,
        manifest,
        files: local,
    } = prepare(dir, repo, opts, &endpoint)?;
    if cfg.token.is_none() {
        return Err(HubError::MissingToken {
            repo: repo.to_string(),
            disabled: implicit_token_disabled(),
        });
    }
    if cfg.offline {
        return Err(HubError::Hub {
            repo: repo.to_string(),
            message: "cannot push with HF_HUB_OFFLINE set; unset it".into(),
        });
    }
    let (client, _) = cfg.client(repo)?;
    let fail = |doing: &str, e: HFError| hub_error(repo, cfg, doing, &e);
    client
        .create_repository()
        .repo_id(&repo.id())
        .repo_type(repo.kind.any())
        .private(opts.private)
        .exist_ok(true)
        .send()
        .map_err(|e| fail("creating the repository", e))?;
    let handle = repo.handle(&client);
    let revision = opts.revision.clone().unwrap_or_else(|| "main".into());
    if revision != "main" {
        let exists = handle
            .revision_exists()
            .revision(&revision)
            .send()
            .map_err(|e| fail("checking the branch", e))?;
        if !exists {
            handle
                .create_branch()
                .branch(&revision)
                .send()
                .map_err(|e| fail(&format!("creating branch `{revision}`"), e))?;
        }
    }
    let mut ops: Vec<CommitOperation> = local
        .iter()
        .map(|(path, source)| CommitOperation::add_file(path.clone(), source.clone()))
        .collect();
    ops.push(CommitOperation::add_bytes(
        "README.md",
        card_text.clone().into_bytes(),
    ));
    ops.push(CommitOperation::add_bytes(
        HUB_MANIFEST,
        manifest.to_toml().into_bytes(),
    ));
    let message = opts.commit_message.clone().unwrap_or_else(|| {
        let what = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("emc hub push: {what} ({} files)", manifest.files.len() + 1)
    });
    let info = handle
        .create_commit()
        .operations(ops)
        .commit_message(message)
        .commit_description(
            "Uploaded by `emc hub push`; hub_manifest.toml lists the SHA-256 of every file.",
        )
        .revision(revision.clone())
        .send()
        .map_err(|e| fail(&format!("committing {} files", manifest.files.len() + 1), e))?;
    Ok(PushReport {
        url: repo.url(&endpoint),
        commit: info.commit_oid,
        revision,
        files: manifest.files,
        card: card_text,
    })
}
