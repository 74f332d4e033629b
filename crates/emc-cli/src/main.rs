//! `emc`: the command-line front end of the workspace. Each command group lives in its own
//! module and only parses arguments, calls the library crates and prints.

mod bench;
mod data;
mod preview;

use clap::{Parser, Subcommand};

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
    /// Training throughput on the reference workloads (compare with
    /// shared/bench/torch_reference.py on the same machine).
    Bench(bench::BenchArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Command::Bench(args) = &cli.command {
        // Must happen before candle starts its thread pools.
        std::env::set_var("RAYON_NUM_THREADS", args.threads().to_string());
    }
    let result = match cli.command {
        Command::Data(cmd) => data::run(cmd),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
