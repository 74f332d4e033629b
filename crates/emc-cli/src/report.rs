//! `emc report DIR`: the table and plots of a results directory (see `emc-report`).

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

/// Arguments of `emc report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Results directory written by `emc measure` (probes.csv, summary.csv, manifest.toml).
    pub dir: PathBuf,
    /// Print the table only; write no plots.
    #[arg(long)]
    pub no_plots: bool,
}

/// Prints the table of results in `args.dir` and writes the plots there.
pub fn run(args: ReportArgs) -> Result<()> {
    let r = emc_report::report(&args.dir, !args.no_plots)?;
    out(&r.manifest)?;
    out(&r.table)?;
    for note in &r.notes {
        eprintln!("note: {note}");
    }
    if !r.written.is_empty() {
        let mut list = String::from("\n");
        for path in &r.written {
            let _ = writeln!(list, "wrote {}", path.display());
        }
        out(&list)?;
    }
    Ok(())
}

/// Writes to stdout; a closed pipe (`emc report DIR | head`) is not an error.
fn out(text: &str) -> Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
