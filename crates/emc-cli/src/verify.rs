//! `emc verify DIR`: recompute the training accuracy of every checkpoint of a results
//! directory (see `emc_hub::verify`); it must be 100% for each recorded fit.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use emc_data::LoadOptions;
use emc_hub::VerifyOptions;

/// Arguments of `emc verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Results directory (from `emc measure`, a claim, or `emc hub pull`).
    dir: PathBuf,
    /// Directory of canonical dataset files (IDX, CIFAR binary, ...).
    #[arg(long, env = "EMC_DATA_DIR", value_parser = crate::data::data_dir)]
    data_dir: Option<PathBuf>,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// The most memory one checkpoint's check may allocate (e.g. 8GiB); by default the
    /// memory available. The model a checkpoint's metadata names is estimated before it is
    /// built.
    #[arg(long, value_name = "SIZE", value_parser = emc_search::parse_memory_size)]
    max_memory: Option<u64>,
}

/// Runs `emc verify`: prints one line per checkpoint; fails when any checkpoint does not
/// reproduce its recorded fit.
pub fn run(args: VerifyArgs) -> Result<()> {
    let opts = VerifyOptions {
        load: LoadOptions::from_env().with_data_dir(args.data_dir.clone()),
        device: emc_train::parse_device(&args.device)?,
        max_memory: args.max_memory,
    };
    let report = emc_hub::verify(&args.dir, &opts)?;
    print!("{}", report.text());
    report.ensure_passed(&args.dir)?;
    Ok(())
}
