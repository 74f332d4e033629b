//! `emc hub pull`: fetches a published results repository through the Hugging Face cache,
//! checks every file against `hub_manifest.toml`, and only then moves the files into the
//! output directory (built beside it under a temporary name and renamed into place, so a
//! failed pull leaves nothing there).

use std::path::{Path, PathBuf};

use hf_hub::{HFError, HFRepositorySync, RepoTypeAny};

use crate::client::{hub_error, HubConfig, RepoId};
use crate::error::{FileMismatch, HubError, Result};
use crate::manifest::{digest_file, HubManifest, HUB_MANIFEST};
use crate::verify::{verify, VerifyOptions, VerifyReport};

/// What a pull fetched.
#[derive(Debug, Clone, PartialEq)]
pub struct Pulled {
    /// The output directory (the files, `hub_manifest.toml` included).
    pub dir: PathBuf,
    /// The commit the files come from.
    pub commit: String,
    /// The manifest every file was checked against.
    pub manifest: HubManifest,
    /// Whether everything came from the cache without a request.
    pub offline: bool,
}

/// Downloads `repo` at `revision` (default `main`) through the hub cache into `out`, which
/// must not exist or be empty. With `cfg.offline` only the cache is read.
///
/// Every file listed in `hub_manifest.toml` is fetched at the manifest's commit and checked
/// against its size and SHA-256; a mismatching cached copy is removed from the cache.
///
/// # Errors
/// [`HubError::Hub`] for a missing repository, revision or manifest, or a failed download
/// (offline: a file not cached); [`HubError::Mismatch`] for a file that does not match the
/// manifest (truncated, corrupted); [`HubError::Manifest`] for a malformed manifest;
/// [`HubError::Input`] for an output directory that is not empty. In every case `out` is
/// left as it was.
pub fn pull(repo: &RepoId, revision: Option<&str>, out: &Path, cfg: &HubConfig) -> Result<Pulled> {
    let (staging, mut pulled) = fetch_staged(repo, revision, out, cfg)?;
    commit_dir(staging, out)?;
    pulled.dir = out.to_path_buf();
    Ok(pulled)
}

/// [`pull`], then [`verify`] on the pulled files before they are moved into `out`: on any
/// failure `out` is left as it was. Returns `out`.
///
/// # Errors
/// Those of [`pull`] and [`verify`]; [`HubError::VerifyFailed`] when a checkpoint does not
/// reproduce its recorded fit.
pub fn pull_and_verify(
    repo: &str,
    revision: Option<&str>,
    out: &Path,
    opts: &PullVerifyOptions,
) -> Result<PathBuf> {
    pull_and_verify_report(repo, revision, out, opts).map(|(p, _)| p.dir)
}

/// Options of [`pull_and_verify`]: how to reach the Hub, the repository kind, and how to
/// rebuild the data and models.
#[derive(Debug, Clone)]
pub struct PullVerifyOptions {
    /// Endpoint, cache, offline mode, token.
    pub hub: HubConfig,
    /// Model or dataset repository.
    pub kind: crate::RepoKind,
    /// Data and device for the verification.
    pub verify: VerifyOptions,
}

/// [`pull_and_verify`] returning what was pulled and the verification report.
///
/// # Errors
/// As [`pull_and_verify`].
pub fn pull_and_verify_report(
    repo: &str,
    revision: Option<&str>,
    out: &Path,
    opts: &PullVerifyOptions,
) -> Result<(Pulled, VerifyReport)> {
    let repo = RepoId::parse(repo, opts.kind)?;
    let (staging, mut pulled) = fetch_staged(&repo, revision, out, &opts.hub)?;
    let report = verify(staging.path(), &opts.verify)?;
    report.ensure_passed(out)?;
    commit_dir(staging, out)?;
    pulled.dir = out.to_path_buf();
    Ok((pulled, report))
}

/// Checks that `out` can receive a pull: it does not exist, or is an empty directory.
fn check_out(out: &Path) -> Result<()> {
    match std::fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(HubError::input(
                    out,
                    "exists and is not empty; pull into a new or empty directory",
                ));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(HubError::input(
            out,
            format!("cannot be used as the output directory: {e}"),
        )),
    }
}

/// Moves the finished staging directory to `out` (replacing an empty `out`).
fn commit_dir(staging: tempfile::TempDir, out: &Path) -> Result<()> {
    check_out(out)?;
    if out.exists() {
        std::fs::remove_dir(out).map_err(|e| HubError::io(out, e))?;
    }
    let path = staging.keep();
    std::fs::rename(&path, out).map_err(|e| {
        let _ = std::fs::remove_dir_all(&path);
        HubError::io(out, e)
    })
}

/// The snapshot commit of a cached file (`.../snapshots/<commit>/<path>`).
fn snapshot_commit(path: &Path, repo_path: &str) -> Option<String> {
    let mut dir = path.parent()?;
    for _ in 1..repo_path.split('/').count() {
        dir = dir.parent()?;
    }
    Some(dir.file_name()?.to_str()?.to_string())
}

/// Removes a bad copy from the hub cache: the blob the snapshot entry points to, and the
/// entry. Returns what was removed, for the message.
fn evict(snapshot_file: &Path) -> String {
    let blob = std::fs::read_link(snapshot_file)
        .ok()
        .map(|t| snapshot_file.parent().map_or(t.clone(), |p| p.join(&t)));
    let mut removed = vec![];
    if let Some(b) = blob {
        if std::fs::remove_file(&b).is_ok() {
            removed.push(b.display().to_string());
        }
    }
    if std::fs::remove_file(snapshot_file).is_ok() {
        removed.push(snapshot_file.display().to_string());
    }
    if removed.is_empty() {
        format!("could not remove {}; delete it", snapshot_file.display())
    } else {
        format!(
            "removed {} from the hub cache; pull again (with network access) to download a good copy",
            removed.join(" and ")
        )
    }
}

/// Fetches and checks everything into a staging directory beside `out`.
fn fetch_staged(
    repo: &RepoId,
    revision: Option<&str>,
    out: &Path,
    cfg: &HubConfig,
) -> Result<(tempfile::TempDir, Pulled)> {
    check_out(out)?;
    let revision = revision.unwrap_or("main");
    let (client, _) = cfg.client(repo)?;
    let handle = repo.handle(&client);
    let fail = |doing: &str, e: HFError| hub_error(repo, cfg, doing, &e);
    if !cfg.offline {
        // Distinguish a missing repository from a missing revision before downloading.
        let exists = handle
            .exists()
            .send()
            .map_err(|e| fail("looking up the repository", e))?;
        if !exists {
            return Err(fail(
                "looking up the repository",
                HFError::RepoNotFound {
                    repo_id: repo.id(),
                    context: None,
                },
            ));
        }
        let rev_exists = handle
            .revision_exists()
            .revision(revision)
            .send()
            .map_err(|e| fail("looking up the revision", e))?;
        if !rev_exists {
            return Err(HubError::Hub {
                repo: repo.to_string(),
                message: format!(
                    "revision `{revision}` does not exist at {} (expected a branch, tag or \
                     commit of the repository)",
                    cfg.endpoint_name()
                ),
            });
        }
    }
    let download = |h: &HFRepositorySync<RepoTypeAny>, file: &str, rev: &str| {
        h.download_file()
            .filename(file)
            .revision(rev.to_string())
            .local_files_only(cfg.offline)
            .send()
    };
    let manifest_path = download(&handle, HUB_MANIFEST, revision).map_err(|e| match e {
        HFError::EntryNotFound { .. } => HubError::Hub {
            repo: repo.to_string(),
            message: format!(
                "no {HUB_MANIFEST} at revision `{revision}`: not published by `emc hub push` \
                 (or the manifest was deleted), so its files cannot be checked"
            ),
        },
        e => fail(&format!("downloading {HUB_MANIFEST}"), e),
    })?;
    let commit = snapshot_commit(&manifest_path, HUB_MANIFEST).ok_or_else(|| HubError::Hub {
        repo: repo.to_string(),
        message: format!(
            "the cached {HUB_MANIFEST} at {} is not in a hub-cache snapshot folder",
            manifest_path.display()
        ),
    })?;
    let text = emc_results::read_result_text(&manifest_path)
        .map_err(|e| HubError::io(&manifest_path, e))?;
    let manifest = HubManifest::parse(&text, &manifest_path)?;

    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| HubError::io(&parent, e))?;
    let staging = tempfile::Builder::new()
        .prefix(&format!(
            ".{}.pulling-",
            out.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "emc".into())
        ))
        .tempdir_in(&parent)
        .map_err(|e| HubError::io(&parent, e))?;
    std::fs::write(staging.path().join(HUB_MANIFEST), &text)
        .map_err(|e| HubError::io(staging.path().join(HUB_MANIFEST), e))?;

    for entry in &manifest.files {
        // At the manifest's commit: a push landing mid-pull cannot mix two versions.
        let cached = download(&handle, &entry.path, &commit)
            .map_err(|e| fail(&format!("downloading {}", entry.path), e))?;
        let dest = staging.path().join(&entry.path);
        let (bytes, sha256) = digest_file(&cached, Some(&dest))?;
        if bytes != entry.bytes || sha256 != entry.sha256 {
            let action = evict(&cached);
            return Err(HubError::Mismatch(Box::new(FileMismatch {
                file: entry.path.clone(),
                expected_bytes: entry.bytes,
                expected_sha256: entry.sha256.clone(),
                found_bytes: bytes,
                found_sha256: sha256,
                source_desc: cached.display().to_string(),
                action: if bytes < entry.bytes {
                    format!("the download is truncated; {action}")
                } else {
                    action
                },
            })));
        }
    }
    Ok((
        staging,
        Pulled {
            dir: out.to_path_buf(),
            commit,
            manifest,
            offline: cfg.offline,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_of_snapshot_paths() {
        let p = Path::new("/c/models--a--b/snapshots/abc123/checkpoints/x.safetensors");
        assert_eq!(
            snapshot_commit(p, "checkpoints/x.safetensors").as_deref(),
            Some("abc123")
        );
        let p = Path::new("/c/models--a--b/snapshots/abc123/hub_manifest.toml");
        assert_eq!(snapshot_commit(p, HUB_MANIFEST).as_deref(), Some("abc123"));
    }

    #[test]
    fn non_empty_output_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(check_out(&tmp.path().join("new")).is_ok());
        assert!(check_out(tmp.path()).is_ok());
        std::fs::write(tmp.path().join("x"), b"1").unwrap();
        let e = check_out(tmp.path()).unwrap_err().to_string();
        assert!(e.contains("not empty"), "{e}");
    }
}
