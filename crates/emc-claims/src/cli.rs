//! The command line every claim binary shares: its flags ([`ClaimArgs`]), [`main`] (dry
//! run, or run and print the verdict table) and fetching published results from the
//! Hugging Face Hub ([`fetch_published`]).

use std::path::{Path, PathBuf};

use clap::Parser;
use emc_data::LoadOptions;

use crate::{
    dry_run, run_claim, run_shard, ClaimError, ClaimReport, ClaimSpec, Result, RunSettings, Scale,
    Shard, ShardReport,
};

/// The flags every claim binary takes.
#[derive(Debug, Clone, Parser)]
#[command(about = "Measure one claim of arXiv:2406.11463 and say whether it holds")]
pub struct ClaimArgs {
    /// smoke (seconds, CI), cpu (a 2-core machine: about an hour of grid, plus the adaptive
    /// rounds the verdict asks for) or paper (a GPU).
    #[arg(long, value_enum, default_value_t = Scale::Cpu)]
    pub scale: Scale,
    /// Probes trained concurrently (each single-threaded when > 1).
    #[arg(long, default_value_t = 2, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub jobs: usize,
    /// Up to this many probes of different seeds train together, stacked, in one
    /// lockstep group per job (MLPs, softmax regression and CNNs without batch norm;
    /// bit-identical results); 1: off.
    #[arg(long, default_value_t = emc_search::DEFAULT_LOCKSTEP, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub lockstep: usize,
    /// The most memory a measurement may allocate (e.g. 8GiB); by default the memory
    /// available. A measurement whose estimate exceeds it is refused before it allocates.
    #[arg(long, value_name = "SIZE", value_parser = emc_search::parse_memory_size)]
    pub max_memory: Option<u64>,
    /// Adaptive budget: an arm a comparison hinges on (undecided, and the arm behind is
    /// budget-limited) is searched again at further budget doublings, up to this many in
    /// all (default: 5, i.e. 32x, at cpu and paper scale, or the claim's own cap at cpu
    /// scale, e.g. 7 for claim-activations; 0 at smoke). 0 turns it off.
    #[arg(long, value_name = "DOUBLINGS")]
    pub extend_up_to: Option<usize>,
    /// Adaptive seeds: both arms of a comparison undecided only because its 95% interval
    /// contains 1 get 2 more seeds per round, up to this many seeds in all (default: 8 at
    /// cpu and paper scale; none added at smoke). At most the grid's seeds turns it off.
    #[arg(long, value_name = "SEEDS")]
    pub max_seeds: Option<usize>,
    /// The training work the adaptive rounds together may spend, in parameter-sample-epochs
    /// (params × n × epochs over the probes they train, e.g. 2e12; a count, so the same run
    /// makes the same choices on any machine); `inf`: no bound beyond --extend-up-to and
    /// --max-seeds. Default: the claim's own bound at its scale (most claims have none).
    #[arg(long, value_name = "WORK", value_parser = parse_work)]
    pub adaptive_work: Option<f64>,
    /// Use seeds 0..N instead of the scale's seeds.
    #[arg(long)]
    pub seeds: Option<u64>,
    /// Output directory (default `artifacts/<claim>/<scale>/`); rerunning into it resumes.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// cpu, cuda or cuda:N. CUDA needs a build with `--features cuda` (the claim binaries and
    /// emc-cli have the feature; it has not been run on a GPU yet); without it, `cuda` is
    /// refused with that advice.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Print the grid and an estimate of the training cost; train nothing, load no data.
    #[arg(long)]
    pub dry_run: bool,
    /// Directory of canonical dataset files.
    #[arg(long, env = "EMC_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Fetch this claim's published results from a Hugging Face Hub repository
    /// (`owner/name`), check every file's SHA-256 and recompute every checkpoint's training
    /// accuracy, then give the verdict from them without training (into `--out`, default
    /// `artifacts/<claim>/<scale>-hub-<owner>--<name>`, which must be new or empty).
    #[arg(long, value_name = "OWNER/NAME")]
    pub from_hub: Option<String>,
    /// Branch, tag or commit of `--from-hub`.
    #[arg(long, requires = "from_hub")]
    pub revision: Option<String>,
    /// Run only shard I of N (0 ≤ I < N) of the (arm, seed) searches, balanced by the dry
    /// run's cost bound, into `<out>/shards/<I>-of-<N>/`; no verdict. Defaults, in a Slurm
    /// array task, to SLURM_ARRAY_TASK_ID (less SLURM_ARRAY_TASK_MIN) of
    /// SLURM_ARRAY_TASK_COUNT. A run without it on the same --out merges the finished
    /// shards, runs the adaptive rounds and gives the verdict.
    #[arg(long, value_name = "I/N", conflicts_with = "from_hub")]
    pub shard: Option<Shard>,
    /// Train nothing: a verdict over the arms recorded whole in --out at the grid's budgets
    /// (no adaptive rounds), saying which are missing — for a run stopped part-way, or a
    /// sharded --out with unfinished shards (without it those are an error).
    #[arg(long)]
    pub partial: bool,
    /// Train nothing: the verdict from the probes already recorded in --out, adaptive
    /// rounds included, as a full run would give it; a probe it needs that is not recorded
    /// is an error naming it. Rewrites verdict.md and the plots only (summary.csv and the
    /// manifests stay): to re-render a finished directory after the analysis changed, or to
    /// check that its verdict follows from its probes.
    #[arg(long, conflicts_with_all = ["from_hub", "shard", "partial"])]
    pub analyse: bool,
}

/// `--adaptive-work`: a positive number of parameter-sample-epochs, or `inf`.
fn parse_work(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(w) if w > 0.0 => Ok(w),
        _ => Err(format!(
            "expected a positive number of parameter-sample-epochs (e.g. 2e12) or `inf`, got \
             `{s}`"
        )),
    }
}

impl ClaimArgs {
    /// `--out`, or `artifacts/<claim>/<scale>` (`<scale>-hub-<owner>--<name>` with
    /// `--from-hub`).
    fn out_dir(&self, spec: &ClaimSpec) -> PathBuf {
        self.out.clone().unwrap_or_else(|| {
            let dir = PathBuf::from("artifacts").join(spec.claim.id);
            match &self.from_hub {
                Some(repo) => dir.join(format!("{}-hub-{}", self.scale, repo.replace('/', "--"))),
                None => dir.join(self.scale.name()),
            }
        })
    }

    /// Fetches the published results when asked, then runs (or resumes) the claim, or one
    /// shard of it, in `out`.
    fn run(&self, spec: &ClaimSpec, out: &Path) -> Result<Ran> {
        let device = emc_train::parse_device(&self.device).map_err(|e| ClaimError::Config {
            field: "--device".into(),
            message: e.to_string(),
        })?;
        let load = LoadOptions::from_env().with_data_dir(self.data_dir.clone());
        if let Some(repo) = &self.from_hub {
            let hub = emc_hub::HubConfig::from_env();
            fetch_published(repo, self.revision.as_deref(), out, &hub, &load, &device)?;
        }
        let settings = RunSettings {
            scale: self.scale,
            seeds: self.seeds,
            out: out.to_path_buf(),
            jobs: self.jobs,
            lockstep: self.lockstep,
            device,
            load,
            progress: true,
            max_memory: self.max_memory,
            extension_cap: self.extend_up_to,
            seed_cap: self.max_seeds,
            work_cap: self.adaptive_work,
            recorded_only: self.from_hub.is_some() || self.analyse,
            partial: self.partial,
        };
        let shard = match self.shard {
            Some(shard) => Some(shard),
            None if !self.analyse && self.from_hub.is_none() => {
                Shard::from_slurm(|k| std::env::var(k).ok()).map_err(|e| ClaimError::Config {
                    field: "--shard".into(),
                    message: e.to_string(),
                })?
            }
            None => None,
        };
        match shard {
            Some(shard) => run_shard(spec, &settings, shard).map(Ran::Shard),
            None => run_claim(spec, &settings).map(|r| Ran::Claim(Box::new(r))),
        }
    }
}

/// What a command line ran.
enum Ran {
    Claim(Box<ClaimReport>),
    Shard(ShardReport),
}

/// The whole command line of a claim binary: parse the flags, dry-run or run, print the
/// verdict table last. Exits with status 1 on error. First turns mimalloc's purging off,
/// for the claim binaries declare mimalloc their global allocator (candle allocates a
/// buffer per op: see `emc_train::allocator`).
pub fn main(spec: &ClaimSpec) {
    emc_train::allocator::retain_freed_memory();
    let args = ClaimArgs::parse();
    let out = args.out_dir(spec);
    if args.dry_run {
        print!("{}", dry_run(spec, args.scale, args.seeds, &out));
        return;
    }
    // One single-threaded training per concurrent seed is fastest on a CPU.
    if args.jobs > 1 && std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    match args.run(spec, &out) {
        Ok(Ran::Claim(report)) => {
            println!("verdict written to {}", out.join("verdict.md").display());
            print!("{}", report.table);
        }
        Ok(Ran::Shard(report)) => println!(
            "shard {} finished: {} searches in {:.0} s, in {}; once every shard has finished, \
             run without --shard on {} to merge them and give the verdict",
            report.shard,
            report.searches,
            report.seconds,
            report.dir.display(),
            out.display()
        ),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

/// Pulls published results into `out` (new or empty), every file checked against the
/// repository's `hub_manifest.toml` and every checkpoint's fit recomputed; `out` is left
/// untouched when anything fails.
pub fn fetch_published(
    repo: &str,
    revision: Option<&str>,
    out: &Path,
    hub: &emc_hub::HubConfig,
    load: &LoadOptions,
    device: &candle_core::Device,
) -> Result<()> {
    eprintln!("fetching {repo} from the Hub and verifying every checkpoint...");
    let opts = emc_hub::PullVerifyOptions {
        hub: hub.clone(),
        kind: emc_hub::RepoKind::Model,
        verify: emc_hub::VerifyOptions {
            load: load.clone(),
            device: device.clone(),
            max_memory: None,
        },
    };
    let (pulled, report) =
        emc_hub::pull_and_verify_report(repo, revision, out, &opts).map_err(|e| {
            ClaimError::Hub {
                repo: repo.to_string(),
                message: e.to_string(),
            }
        })?;
    eprint!("{}", report.text());
    eprintln!(
        "{} files of {repo} at commit {} in {}, checked; the verdict below is computed from \
         them, nothing is trained",
        pulled.manifest.files.len(),
        pulled.commit,
        out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--analyse` reads a finished directory: it cannot be combined with the flags that
    /// fetch, shard or cut a run short.
    #[test]
    fn analyse_stands_alone() {
        let parse = |args: &[&str]| ClaimArgs::try_parse_from([&["claim"], args].concat());
        assert!(parse(&["--analyse"]).unwrap().analyse);
        assert!(!parse(&[]).unwrap().analyse);
        for other in [
            &["--partial"][..],
            &["--shard", "0/2"],
            &["--from-hub", "a/b"],
        ] {
            let err = parse(&[&["--analyse"][..], other].concat()).unwrap_err();
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::ArgumentConflict,
                "{other:?}"
            );
        }
    }
}
