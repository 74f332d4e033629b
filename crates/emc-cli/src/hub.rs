//! `emc hub push | pull`: publish a results directory on the Hugging Face Hub and fetch one
//! back, checked against its `hub_manifest.toml` (see `emc-hub`). The token is read where the
//! Hugging Face tools read it (`HF_TOKEN`, `HF_TOKEN_PATH`, `$HF_HOME/token`) and never
//! printed.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use emc_hub::{HubConfig, PushOptions, RepoId, RepoKind};

/// The `hub` command group.
#[derive(Debug, Subcommand)]
pub enum HubCommand {
    /// Publish a results directory (a measurement's or a claim's) as a Hub repository, in one
    /// commit, with a generated README.md card and hub_manifest.toml (SHA-256 of every file).
    Push(PushArgs),
    /// Download a published results repository through the hub cache, check every file
    /// against its hub_manifest.toml, and write it to a new directory.
    Pull(PullArgs),
}

/// Which repository.
#[derive(Debug, Args)]
pub struct RepoArgs {
    /// The repository, owner/name.
    #[arg(long)]
    repo: String,
    /// Repository type: model or dataset.
    #[arg(long, default_value = "model")]
    repo_type: String,
    /// Branch (push: created from main if missing) or, for pull, branch, tag or commit.
    #[arg(long)]
    revision: Option<String>,
}

impl RepoArgs {
    fn repo(&self) -> Result<RepoId> {
        let kind: RepoKind = self.repo_type.parse()?;
        Ok(RepoId::parse(&self.repo, kind)?)
    }
}

/// Arguments of `emc hub push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Results directory: written by `emc measure` or a claim (`artifacts/<claim>/<scale>/`).
    dir: PathBuf,
    #[command(flatten)]
    repo: RepoArgs,
    /// Create the repository private (an existing one keeps its visibility).
    #[arg(long)]
    private: bool,
    /// The card's license (a Hub license identifier).
    #[arg(long, default_value = "mit")]
    license: String,
    /// Commit message (default: generated from the directory).
    #[arg(long)]
    message: Option<String>,
    /// Print the card and the files that would be uploaded; send nothing (the directory is
    /// checked as for a push).
    #[arg(long)]
    dry_run: bool,
    /// Before anything is sent, run `emc verify` on the directory (recompute every
    /// checkpoint's training accuracy on its data) and push only if every checkpoint
    /// passes. Without it, the files are checked to read back and agree with each other.
    #[arg(long)]
    verify: bool,
    /// Directory of canonical dataset files, for --verify.
    #[arg(long, env = "EMC_DATA_DIR", value_parser = crate::data::data_dir)]
    data_dir: Option<PathBuf>,
}

/// Arguments of `emc hub pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    #[command(flatten)]
    repo: RepoArgs,
    /// Output directory; must not exist or be empty (default: the repository's name).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Use only the hub cache, as HF_HUB_OFFLINE=1 does.
    #[arg(long)]
    offline: bool,
}

/// Runs a `hub` command.
pub fn run(cmd: HubCommand) -> Result<()> {
    match cmd {
        HubCommand::Push(args) => push(args),
        HubCommand::Pull(args) => pull(args),
    }
}

fn push(args: PushArgs) -> Result<()> {
    let repo = args.repo.repo()?;
    let cfg = HubConfig::from_env();
    let opts = PushOptions {
        revision: args.repo.revision.clone(),
        private: args.private,
        license: args.license.clone(),
        commit_message: args.message.clone(),
    };
    if args.verify {
        let opts = emc_hub::VerifyOptions {
            load: emc_data::LoadOptions::from_env().with_data_dir(args.data_dir.clone()),
            ..emc_hub::VerifyOptions::default()
        };
        let report = emc_hub::verify(&args.dir, &opts)?;
        print!("{}", report.text());
        report.ensure_passed(&args.dir)?;
    }
    if args.dry_run {
        let plan = emc_hub::prepare(&args.dir, &repo, &opts, &cfg.endpoint_name())?;
        println!("{}", plan.card);
        for f in &plan.manifest.files {
            println!("{:>10}  {}  {}", f.bytes, f.sha256, f.path);
        }
        println!(
            "dry run: {} files (and {}) would be committed to {}",
            plan.manifest.files.len(),
            emc_hub::HUB_MANIFEST,
            repo.url(&cfg.endpoint_name())
        );
        return Ok(());
    }
    let report = emc_hub::push(&args.dir, &repo, &opts, &cfg)?;
    let bytes: u64 = report.files.iter().map(|f| f.bytes).sum();
    println!(
        "pushed {} files ({bytes} bytes) and {} to {} in one commit{} on `{}`",
        report.files.len(),
        emc_hub::HUB_MANIFEST,
        report.url,
        report
            .commit
            .as_deref()
            .map(|c| format!(" {c}"))
            .unwrap_or_default(),
        report.revision
    );
    Ok(())
}

fn pull(args: PullArgs) -> Result<()> {
    let repo = args.repo.repo()?;
    let mut cfg = HubConfig::from_env();
    cfg.offline |= args.offline;
    let out = args.out.unwrap_or_else(|| PathBuf::from(&repo.name));
    let pulled = emc_hub::pull(&repo, args.repo.revision.as_deref(), &out, &cfg)?;
    let bytes: u64 = pulled.manifest.files.iter().map(|f| f.bytes).sum();
    println!(
        "pulled {} files ({bytes} bytes) of {repo} at commit {} into {}, each matching the \
         SHA-256 in {}{}",
        pulled.manifest.files.len(),
        pulled.commit,
        pulled.dir.display(),
        emc_hub::HUB_MANIFEST,
        if pulled.offline {
            " (from the hub cache, offline)"
        } else {
            ""
        }
    );
    println!("next: emc verify {}", pulled.dir.display());
    Ok(())
}
