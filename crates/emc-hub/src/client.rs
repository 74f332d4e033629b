//! How to reach the Hub: endpoint, cache, offline mode and token, read from the variables the
//! Hugging Face tools read; the hf-hub client built from them; repository ids; and
//! user-facing accounts of hf-hub's errors.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use hf_hub::{HFClient, HFClientSync, HFError, HFRepositorySync, RepoTypeAny};

use crate::error::{HubError, Result};

/// The public Hub, used when neither [`HubConfig::endpoint`] nor `HF_ENDPOINT` is set.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// How to reach the Hub. [`HubConfig::from_env`] reads `HF_ENDPOINT`, `HF_HUB_CACHE`,
/// `HF_HUB_OFFLINE` and the token the way the Hugging Face tools do. The token is never
/// printed: `Debug` shows only whether one is set.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HubConfig {
    /// Hub base address; `None` means `HF_ENDPOINT` or `https://huggingface.co`.
    pub endpoint: Option<String>,
    /// Hub cache directory; `None` means hf-hub's default (`HF_HUB_CACHE`, `HF_HOME/hub`,
    /// `~/.cache/huggingface/hub`).
    pub cache_dir: Option<PathBuf>,
    /// Only the cache is used; no request leaves the machine.
    pub offline: bool,
    /// The access token; `None` means anonymous (reads of public repositories only).
    pub token: Option<String>,
}

impl fmt::Debug for HubConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubConfig")
            .field("endpoint", &self.endpoint)
            .field("cache_dir", &self.cache_dir)
            .field("offline", &self.offline)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl HubConfig {
    /// The configuration from the environment: `HF_ENDPOINT`, `HF_HUB_CACHE`,
    /// `HF_HUB_OFFLINE` (`1`, `true`, `yes`, `on`) and the token from `HF_TOKEN`, the file
    /// named by `HF_TOKEN_PATH`, or `$HF_HOME/token` (what `huggingface-cli login` writes),
    /// none of them when `HF_HUB_DISABLE_IMPLICIT_TOKEN` is set — hf-hub's own order.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        HubConfig {
            endpoint: var("HF_ENDPOINT"),
            cache_dir: var("HF_HUB_CACHE").map(PathBuf::from),
            offline: var("HF_HUB_OFFLINE").is_some_and(|v| {
                matches!(
                    v.trim().to_ascii_lowercase().as_str(),
                    "1" | "true" | "yes" | "on"
                )
            }),
            token: env_token(),
        }
    }

    /// The endpoint requests go to (for messages).
    pub fn endpoint_name(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
    }

    /// The blocking hf-hub client and the cache directory it uses. Offline, the endpoint is
    /// pinned to the default so that a malformed `HF_ENDPOINT` cannot break cache look-ups.
    pub(crate) fn client(&self, repo: &RepoId) -> Result<(HFClientSync, PathBuf)> {
        let mut builder = HFClient::builder().endpoint(if self.offline {
            DEFAULT_ENDPOINT.to_string()
        } else {
            self.endpoint_name()
        });
        if let Some(dir) = &self.cache_dir {
            builder = builder.cache_dir(dir.clone());
        }
        if let Some(token) = &self.token {
            check_token(token)?;
            builder = builder.token(token.clone());
        }
        let fail = |e: HFError| HubError::Hub {
            repo: repo.to_string(),
            message: format!("cannot set up the hub client: {e}"),
        };
        let client = builder.build().map_err(fail)?;
        let cache = client.cache_dir().to_path_buf();
        Ok((HFClientSync::from_inner(client).map_err(fail)?, cache))
    }
}

/// Refuses a token that an HTTP header cannot carry (whitespace or a control character
/// inside it: two tokens pasted together, a line break), naming where but never printing
/// the token. Whitespace around a token is trimmed where it is read.
fn check_token(token: &str) -> Result<()> {
    match token
        .chars()
        .position(|c| c.is_whitespace() || c.is_control())
    {
        None => Ok(()),
        Some(at) => Err(HubError::Argument {
            what: "the Hugging Face token".into(),
            message: format!(
                "it holds whitespace or a control character at character {} of {} (the \
                 token is not printed); expected one word such as hf_...: check HF_TOKEN or \
                 the token file",
                at + 1,
                token.chars().count()
            ),
        }),
    }
}

/// The token the Hugging Face tools would use, resolved in hf-hub's order, without the
/// whitespace around it (`export HF_TOKEN=$(cat file)` keeps no newline, a pasted one
/// might).
fn env_token() -> Option<String> {
    if implicit_token_disabled() {
        return None;
    }
    if let Some(t) = std::env::var("HF_TOKEN")
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
    {
        return Some(t);
    }
    let from_file = |path: PathBuf| {
        std::fs::read_to_string(path)
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
    };
    if let Some(t) = std::env::var_os("HF_TOKEN_PATH").and_then(|p| from_file(PathBuf::from(p))) {
        return Some(t);
    }
    from_file(hf_hub::hf_home().join("token"))
}

/// Whether `HF_HUB_DISABLE_IMPLICIT_TOKEN` is set (to anything non-empty).
pub(crate) fn implicit_token_disabled() -> bool {
    std::env::var("HF_HUB_DISABLE_IMPLICIT_TOKEN").is_ok_and(|v| !v.is_empty())
}

/// The kind of Hub repository results go to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RepoKind {
    /// A model repository (`huggingface.co/owner/name`): the default, since the
    /// checkpoints are models.
    #[default]
    Model,
    /// A dataset repository (`huggingface.co/datasets/owner/name`).
    Dataset,
}

impl RepoKind {
    pub(crate) fn any(self) -> RepoTypeAny {
        match self {
            RepoKind::Model => RepoTypeAny::Model,
            RepoKind::Dataset => RepoTypeAny::Dataset,
        }
    }
}

impl FromStr for RepoKind {
    type Err = HubError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "model" => Ok(RepoKind::Model),
            "dataset" => Ok(RepoKind::Dataset),
            other => Err(HubError::Argument {
                what: "--repo-type".into(),
                message: format!("`{other}` is not a repository type; expected model or dataset"),
            }),
        }
    }
}

impl fmt::Display for RepoKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RepoKind::Model => "model",
            RepoKind::Dataset => "dataset",
        })
    }
}

/// A repository on the Hub: `owner/name` and its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoId {
    /// User or organisation.
    pub owner: String,
    /// Repository name.
    pub name: String,
    /// Model or dataset repository.
    pub kind: RepoKind,
}

impl RepoId {
    /// Parses `owner/name`: both parts non-empty, letters, digits, `-`, `_` and `.` only
    /// (the Hub's rule), not starting or ending with `-` or `.`, at most 96 characters.
    ///
    /// # Errors
    /// [`HubError::Argument`] naming the rule broken.
    pub fn parse(id: &str, kind: RepoKind) -> Result<Self> {
        let bad = |message: String| HubError::Argument {
            what: "--repo".into(),
            message: format!("`{id}`: {message}"),
        };
        let (owner, name) = id.split_once('/').ok_or_else(|| {
            bad("expected owner/name (a user or organisation, a slash, a name)".into())
        })?;
        for (part, what) in [(owner, "owner"), (name, "name")] {
            if part.is_empty() {
                return Err(bad(format!("the {what} is empty; expected owner/name")));
            }
            if let Some(c) = part
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            {
                return Err(bad(format!(
                    "the {what} contains {c:?}; expected letters, digits, `-`, `_` and `.` only"
                )));
            }
            if part.starts_with(['-', '.']) || part.ends_with(['-', '.']) || part.contains("..") {
                return Err(bad(format!(
                    "the {what} starts or ends with `-` or `.`, or contains `..`"
                )));
            }
        }
        if id.len() > 96 {
            return Err(bad(format!("{} characters; at most 96", id.len())));
        }
        Ok(RepoId {
            owner: owner.into(),
            name: name.into(),
            kind,
        })
    }

    /// `owner/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// The repository's page on `endpoint`.
    pub fn url(&self, endpoint: &str) -> String {
        let prefix = match self.kind {
            RepoKind::Model => "",
            RepoKind::Dataset => "datasets/",
        };
        format!("{}/{prefix}{}", endpoint.trim_end_matches('/'), self.id())
    }

    pub(crate) fn handle(&self, client: &HFClientSync) -> HFRepositorySync<RepoTypeAny> {
        client.repository(self.kind.any(), self.owner.clone(), self.name.clone())
    }
}

impl fmt::Display for RepoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            RepoKind::Model => write!(f, "{}/{}", self.owner, self.name),
            RepoKind::Dataset => write!(f, "dataset {}/{}", self.owner, self.name),
        }
    }
}

/// A [`HubError::Hub`] for `repo` with a user-facing account of `e` (and the fix where there
/// is one). `doing` says what was being done ("downloading hub_manifest.toml").
pub(crate) fn hub_error(repo: &RepoId, cfg: &HubConfig, doing: &str, e: &HFError) -> HubError {
    let at = cfg.endpoint_name();
    let message = match e {
        HFError::RepoNotFound { .. } => format!(
            "{doing}: repository not found at {at}; check the name and --repo-type, and if it \
             is private set HF_TOKEN (or run `huggingface-cli login`) with access to it"
        ),
        HFError::RevisionNotFound { revision, .. } => {
            format!("{doing}: revision `{revision}` not found at {at}")
        }
        HFError::EntryNotFound { path, .. } => format!("{doing}: file `{path}` not found at {at}"),
        HFError::LocalEntryNotFound { path } => format!(
            "{doing}: `{path}` is not in the hub cache{} and the Hub is not reachable (or \
             HF_HUB_OFFLINE is set); pull once with network access first",
            cfg.cache_dir
                .as_ref()
                .map(|d| format!(" {}", d.display()))
                .unwrap_or_default()
        ),
        HFError::AuthRequired { .. } | HFError::Forbidden { .. } => format!(
            "{doing}: {e}; set HF_TOKEN (or run `huggingface-cli login`) with a token that has \
             {} access to the repository",
            if doing.starts_with("push")
                || doing.starts_with("creat")
                || doing.starts_with("commit")
            {
                "write"
            } else {
                "read"
            }
        ),
        HFError::Request { .. } => format!(
            "{doing}: cannot reach {at}: {e}. Check the network, point HF_ENDPOINT at a \
             reachable mirror, or set HF_HUB_OFFLINE=1 to use what an earlier pull cached"
        ),
        HFError::Io(_) | HFError::CacheLockTimeout { .. } => format!(
            "{doing}: cannot use the hub cache{}: {e}",
            cfg.cache_dir
                .as_ref()
                .map(|d| format!(" {}", d.display()))
                .unwrap_or_default()
        ),
        _ => format!("{doing} at {at} failed: {e}"),
    };
    HubError::Hub {
        repo: repo.to_string(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids() {
        let r = RepoId::parse("emc-rs/sgd-vs-gd_smoke.v1", RepoKind::Dataset).unwrap();
        assert_eq!(r.id(), "emc-rs/sgd-vs-gd_smoke.v1");
        assert_eq!(
            r.url("http://h/"),
            "http://h/datasets/emc-rs/sgd-vs-gd_smoke.v1"
        );
        for bad in [
            "noslash", "/x", "x/", "a/b/c", "a/b c", "-a/b", "a/b.", "a/b..c",
        ] {
            let e = RepoId::parse(bad, RepoKind::Model).unwrap_err().to_string();
            assert!(e.starts_with("--repo: "), "{bad}: {e}");
        }
    }

    #[test]
    fn repo_kinds() {
        assert_eq!("dataset".parse::<RepoKind>().unwrap(), RepoKind::Dataset);
        let e = "space".parse::<RepoKind>().unwrap_err().to_string();
        assert!(e.contains("expected model or dataset"), "{e}");
    }

    #[test]
    fn a_token_with_whitespace_inside_is_refused_without_printing_it() {
        check_token("hf_abcDEF123").unwrap();
        for (bad, at) in [("hf_abc\nhf_def", 7), ("hf_abc def", 7), ("hf_\tx", 4)] {
            let err = check_token(bad).unwrap_err().to_string();
            assert!(
                err.starts_with("the Hugging Face token: ")
                    && err.contains(&format!("at character {at} of")),
                "{err}"
            );
            assert!(!err.contains("hf_abc") && !err.contains("hf_def"), "{err}");
        }
        let cfg = HubConfig {
            token: Some("hf_a\nb".into()),
            ..HubConfig::default()
        };
        let repo = RepoId::parse("o/r", RepoKind::Model).unwrap();
        let err = cfg.client(&repo).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("whitespace or a control character"), "{err}");
    }

    #[test]
    fn debug_hides_the_token() {
        let cfg = HubConfig {
            token: Some("hf_secret_value".into()),
            ..HubConfig::default()
        };
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("hf_secret_value"), "{shown}");
        assert!(shown.contains("<set>"), "{shown}");
    }
}
