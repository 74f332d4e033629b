//! `emc`: the command-line front end of the workspace. Each command group lives in its own
//! module and only parses arguments, calls the library crates and prints.

mod bench;
mod config_file;
mod data;
mod hub;
mod measure;
mod preview;
mod report;
mod shard;
mod verify;

use clap::{Parser, Subcommand};

/// candle allocates a fresh buffer for every op; glibc returns large ones to the OS, so each
/// training step page-faults. mimalloc keeps them (with purging off: see `main`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Effective Model Complexity: how many samples does a network, trained this way, fit?
#[derive(Debug, Parser)]
#[command(name = "emc", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect, download and look at datasets.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Training throughput on the reference workloads (beside PyTorch's with --torch, from
    /// scripts/torch_reference.py).
    Bench(bench::BenchArgs),
    /// Table and plots of the results `emc measure` wrote into a directory.
    Report(report::ReportArgs),
    /// Measure the EMC of a model, dataset variant and training procedure over seeds.
    Measure(Box<measure::MeasureArgs>),
    /// Publish results on the Hugging Face Hub and fetch them back, checked.
    #[command(subcommand)]
    Hub(hub::HubCommand),
    /// Recompute each checkpoint's training accuracy on its exact training subset: 100% for
    /// every recorded fit, without retraining.
    Verify(verify::VerifyArgs),
}

/// A run that finished but whose result is no measurement (every probe diverged): exit
/// status 2, so that scripts tell it from a failure to run (status 1).
#[derive(Debug)]
struct Degenerate(String);

impl std::fmt::Display for Degenerate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Degenerate {}

fn main() -> std::process::ExitCode {
    emc_train::allocator::retain_freed_memory();
    let cli = Cli::parse();
    // Must happen before candle starts its thread pools.
    match &cli.command {
        Command::Bench(args) => std::env::set_var("RAYON_NUM_THREADS", args.threads().to_string()),
        // Concurrent searches each train single-threaded (measured faster on CPU than
        // sharing threads), unless the user chose otherwise.
        Command::Measure(args)
            if args.jobs() > 1 && std::env::var_os("RAYON_NUM_THREADS").is_none() =>
        {
            std::env::set_var("RAYON_NUM_THREADS", "1")
        }
        _ => {}
    }
    let result = match cli.command {
        Command::Data(cmd) => data::run(cmd),
        Command::Bench(args) => bench::run(args),
        Command::Measure(args) => measure::run(*args),
        Command::Report(args) => report::run(args),
        Command::Hub(cmd) => hub::run(cmd),
        Command::Verify(args) => verify::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<Degenerate>().is_some() {
                std::process::ExitCode::from(2)
            } else {
                std::process::ExitCode::FAILURE
            }
        }
    }
}
