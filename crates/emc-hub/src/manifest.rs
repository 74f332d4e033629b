//! `hub_manifest.toml`: the list of every file `emc hub push` uploaded, with its size and
//! SHA-256. `manifest.toml` (written by the search) describes a measurement but records no
//! digest of the files beside it, so this list is what a pull checks every byte against.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{HubError, Result};

/// File name of the list in the repository (and in a pulled directory).
pub const HUB_MANIFEST: &str = "hub_manifest.toml";

/// The format version written and understood.
pub const FORMAT: u32 = 1;

/// One file of a published repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path inside the repository, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256, 64 lowercase hex digits.
    pub sha256: String,
}

/// The contents of `hub_manifest.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubManifest {
    /// Format version ([`FORMAT`]).
    pub format: u32,
    /// Version of emc that pushed.
    pub emc_version: String,
    /// Every file of the repository but this list, sorted by path.
    pub files: Vec<FileEntry>,
}

impl HubManifest {
    /// A manifest of `files` (sorted by path here).
    pub fn new(mut files: Vec<FileEntry>) -> Self {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        HubManifest {
            format: FORMAT,
            emc_version: env!("CARGO_PKG_VERSION").to_string(),
            files,
        }
    }

    /// The TOML text, with a comment saying what the file is.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).unwrap_or_default();
        format!(
            "# Written by `emc hub push`: every file of this repository with its size and \
             SHA-256.\n# `emc hub pull` checks each download against it.\n{body}"
        )
    }

    /// Parses and checks a manifest read from `path`: known format, every path a safe
    /// relative path (no `..`, no absolute path, no backslash), no duplicate, every digest
    /// 64 hex digits.
    ///
    /// # Errors
    /// [`HubError::Manifest`] naming the field and the entry.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let bad = |field: &str, message: String| HubError::Manifest {
            path: path.to_path_buf(),
            field: field.to_string(),
            message,
        };
        let m: HubManifest = toml::from_str(text).map_err(|e| {
            bad(
                "(file)",
                format!("not a hub manifest: {e}; expected `format`, `emc_version` and [[files]]"),
            )
        })?;
        if m.format != FORMAT {
            return Err(bad(
                "format",
                format!(
                    "{} is not understood by this emc ({}); expected {FORMAT}",
                    m.format,
                    env!("CARGO_PKG_VERSION")
                ),
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, f) in m.files.iter().enumerate() {
            let field = format!("files[{i}]");
            check_relative(&f.path).map_err(|msg| bad(&format!("{field}.path"), msg))?;
            if f.path == HUB_MANIFEST {
                return Err(bad(
                    &format!("{field}.path"),
                    "lists itself; expected only the other files".into(),
                ));
            }
            if !seen.insert(f.path.as_str()) {
                return Err(bad(
                    &format!("{field}.path"),
                    format!("`{}` is listed twice", f.path),
                ));
            }
            if f.sha256.len() != 64 || !f.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad(
                    &format!("{field}.sha256"),
                    format!("`{}` for {}; expected 64 hex digits", f.sha256, f.path),
                ));
            }
        }
        Ok(m)
    }
}

/// Checks that a repository path is relative, `/`-separated and stays inside its folder.
pub(crate) fn check_relative(path: &str) -> std::result::Result<(), String> {
    if path.is_empty() {
        return Err("empty path".into());
    }
    if path.starts_with('/') || path.contains('\\') || path.contains(':') {
        return Err(format!(
            "`{path}` is not a relative `/`-separated path inside the repository"
        ));
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(format!(
            "`{path}` has an empty, `.` or `..` component; expected a plain relative path"
        ));
    }
    Ok(())
}

/// Lowercase hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Size and SHA-256 of bytes in memory.
pub(crate) fn digest_bytes(bytes: &[u8]) -> (u64, String) {
    (bytes.len() as u64, hex(&Sha256::digest(bytes)))
}

/// Size and SHA-256 of a file; with `copy_to`, the bytes hashed are also written there (so
/// that what was checked is exactly what was copied).
pub(crate) fn digest_file(path: &Path, copy_to: Option<&Path>) -> Result<(u64, String)> {
    let mut file = File::open(path).map_err(|e| HubError::io(path, e))?;
    let mut out = match copy_to {
        Some(dest) => {
            if let Some(dir) = dest.parent() {
                std::fs::create_dir_all(dir).map_err(|e| HubError::io(dir, e))?;
            }
            Some((
                File::create(dest).map_err(|e| HubError::io(dest, e))?,
                dest.to_path_buf(),
            ))
        }
        None => None,
    };
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| HubError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        if let Some((f, dest)) = out.as_mut() {
            f.write_all(&buf[..n])
                .map_err(|e| HubError::io(dest.clone(), e))?;
        }
        bytes += n as u64;
    }
    if let Some((f, dest)) = out {
        f.sync_all().map_err(|e| HubError::io(dest, e))?;
    }
    Ok((bytes, hex(&hasher.finalize())))
}

/// The files of a results directory to publish, sorted, as (repository path, local path):
/// every regular file below `dir` except hidden ones, unfinished writes (`*.tmp`,
/// `*.partial`), and the `README.md` and `hub_manifest.toml` that a push generates.
pub(crate) fn collect_files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    fn walk(root: &Path, here: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<()> {
        let entries = std::fs::read_dir(here).map_err(|e| HubError::io(here, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| HubError::io(here, e))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name.ends_with(".tmp") || name.ends_with(".partial") {
                continue;
            }
            // Follows symbolic links: a linked checkpoint is published as a file.
            let meta = std::fs::metadata(&path).map_err(|e| HubError::io(&path, e))?;
            if meta.is_dir() {
                walk(root, &path, out)?;
            } else if meta.is_file() {
                let rel = path
                    .strip_prefix(root)
                    .map_err(|_| HubError::input(&path, "not below the directory pushed"))?;
                let parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                let repo_path = parts.join("/");
                if repo_path == HUB_MANIFEST || repo_path == "README.md" {
                    continue;
                }
                check_relative(&repo_path).map_err(|m| HubError::input(&path, m))?;
                out.push((repo_path, path));
            } else {
                return Err(HubError::input(
                    &path,
                    "not a regular file or a directory (a device or a pipe); a results \
                     directory holds files only",
                ));
            }
        }
        Ok(())
    }
    let mut out = vec![];
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> FileEntry {
        FileEntry {
            path: path.into(),
            bytes: 3,
            sha256: "a".repeat(64),
        }
    }

    #[test]
    fn round_trip() {
        let m = HubManifest::new(vec![entry("b.csv"), entry("a/c.safetensors")]);
        let back = HubManifest::parse(&m.to_toml(), Path::new("m.toml")).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.files[0].path, "a/c.safetensors");
    }

    #[test]
    fn unsafe_paths_are_refused() {
        for p in ["../x", "/etc/passwd", "a//b", "a/./b", "a\\b", "C:x", ""] {
            let m = HubManifest::new(vec![entry(p)]);
            let e = HubManifest::parse(&m.to_toml(), Path::new("m.toml"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("files[0].path"), "{p}: {e}");
        }
    }

    #[test]
    fn bad_digests_and_duplicates_are_refused() {
        let mut short = entry("x");
        short.sha256 = "abc".into();
        let e = HubManifest::parse(&HubManifest::new(vec![short]).to_toml(), Path::new("m"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("files[0].sha256") && e.contains("64 hex"), "{e}");
        let e = HubManifest::parse(
            &HubManifest::new(vec![entry("x"), entry("x")]).to_toml(),
            Path::new("m"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("listed twice"), "{e}");
        let e = HubManifest::parse(
            "format = 9\nemc_version = \"0\"\nfiles = []\n",
            Path::new("m"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("field `format`"), "{e}");
    }
}
