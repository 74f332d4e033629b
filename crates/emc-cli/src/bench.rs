//! `emc bench`: training throughput on the reference workloads, in the same form as
//! `shared/bench/torch_reference.py` prints PyTorch's.

use anyhow::{bail, Result};
use clap::Args;
use emc_train::bench::{all_workloads, measure};

/// Arguments of `emc bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Only this workload: mlp, cnn, vit, gd, tiny32 or tiny256 (the EMC-sized CNN).
    #[arg(long)]
    only: Option<String>,
    /// Threads for candle's kernels (sets RAYON_NUM_THREADS before any tensor work).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Minimum timed seconds per workload.
    #[arg(long, default_value_t = 3.0)]
    min_seconds: f64,
    /// cpu, cuda or cuda:N (CUDA needs a build with `--features cuda`).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Minimum timed steps per workload.
    #[arg(long, default_value_t = 5)]
    min_steps: usize,
}

impl BenchArgs {
    /// Threads asked for.
    pub fn threads(&self) -> usize {
        self.threads
    }
}

/// Runs the benchmark and prints one line per workload.
pub fn run(args: BenchArgs) -> Result<()> {
    let workloads: Vec<_> = all_workloads()
        .into_iter()
        .filter(|w| args.only.as_deref().is_none_or(|k| k == w.key))
        .collect();
    if workloads.is_empty() {
        let keys: Vec<_> = all_workloads().iter().map(|w| w.key).collect();
        bail!(
            "--only {}: expected one of {}",
            args.only.unwrap_or_default(),
            keys.join(", ")
        );
    }
    let device = emc_train::parse_device(&args.device)?;
    println!(
        "emc {} (candle, {}), threads {}",
        env!("CARGO_PKG_VERSION"),
        args.device,
        args.threads
    );
    for w in workloads {
        let r = measure(&w, &device, args.min_seconds, args.min_steps)?;
        println!(
            "{:<28} {:>12.1} samples/s  ({:8.2} ms/step, {} steps)",
            r.name, r.samples_per_sec, r.ms_per_step, r.steps
        );
    }
    Ok(())
}
