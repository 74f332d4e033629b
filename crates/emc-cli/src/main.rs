//! `emc`: the command-line front end of the workspace. Each command group lives in its own
//! module and only parses arguments, calls the library crates and prints.

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
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Data(cmd) => data::run(cmd),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
