//! `emc bench`: training throughput on the reference workloads, in the same form as
//! `scripts/torch_reference.py` prints PyTorch's (and beside it, with `--torch`), and the
//! EMC-search benchmark (`--search`): the wall time of a whole small measurement.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser};
use emc_search::{measure, write_atomic, Event, ProbeRow};
use emc_train::bench::{all_workloads, measure as measure_workload};

/// The PyTorch reference script `--torch` runs unless `--torch-script` names another: the
/// repository's `scripts/torch_reference.py`, found through the path of the checkout this
/// binary was built from.
pub fn default_torch_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/emc-cli sits two levels below the repository root")
        .join("scripts")
        .join("torch_reference.py")
}

/// The EMC-search benchmark: the README's first measurement (mlp:32:relu on 7x7 MNIST with
/// random labels, `emc measure`'s default procedure, seeds 0, 1, 2).
pub const SEARCH_ARGS: [&str; 10] = [
    "--model",
    "mlp:32:relu",
    "--data",
    "mnist",
    "--resize",
    "7",
    "--labels",
    "random",
    "--seeds",
    "3",
];

/// Name of the EMC-search benchmark in printed lines and `search.csv`.
const SEARCH_NAME: &str = "emc_search_mlp32_mnist7_random_3seeds";

/// Arguments of `emc bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Only this workload: mlp, cnn, vit, gd, tiny32 or tiny256 (the EMC-sized CNN).
    #[arg(long, conflicts_with = "search")]
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
    /// A Python with torch installed: also run the PyTorch reference script on the same
    /// workloads, thread count, minimum steps and seconds, and print the ratio (ours /
    /// PyTorch) per workload.
    #[arg(long, value_name = "PYTHON", conflicts_with = "search")]
    torch: Option<PathBuf>,
    /// The PyTorch reference script run by --torch (default: `scripts/torch_reference.py`
    /// of the checkout this binary was built from).
    #[arg(long, value_name = "PATH", default_value_os_t = default_torch_script())]
    torch_script: PathBuf,
    /// Instead of the workloads, time a whole EMC measurement (the README's first one:
    /// mlp:32:relu, 7x7 MNIST, random labels, 3 seeds), `--jobs` seeds at a time, each
    /// single-threaded.
    #[arg(long)]
    search: bool,
    /// Probes trained concurrently by --search (one thread each).
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// Probes per lockstep group in --search (1: every probe trained alone).
    #[arg(long, default_value_t = emc_search::DEFAULT_LOCKSTEP)]
    lockstep: usize,
    /// Directory of canonical dataset files (for --search).
    #[arg(long, env = "EMC_DATA_DIR", value_parser = crate::data::data_dir)]
    data_dir: Option<PathBuf>,
    /// Also write the figures to DIR: `throughput-threadsN.csv` or `search-jobsJ-lockstepK.csv`, and
    /// `machine.toml` (CPU, cores, build) beside them.
    #[arg(long, value_name = "DIR")]
    save: Option<PathBuf>,
}

impl BenchArgs {
    /// Threads each training uses: `--threads`, or 1 per concurrent search for --search.
    pub fn threads(&self) -> usize {
        if self.search {
            1
        } else {
            self.threads
        }
    }
}

/// Runs the benchmark and prints one line per workload.
pub fn run(args: BenchArgs) -> Result<()> {
    if args.search {
        return run_search(&args);
    }
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
    // PyTorch first, so that its figures do not wait for ours (and a bad --torch fails fast).
    let torch = match &args.torch {
        Some(python) => Some(torch_reference(python, &args)?),
        None => None,
    };
    let device = emc_train::parse_device(&args.device)?;
    println!(
        "emc {} (candle, {}), threads {}",
        env!("CARGO_PKG_VERSION"),
        args.device,
        args.threads
    );
    let mut csv = String::from(
        "workload,threads,samples_per_sec,ms_per_step,steps,torch_samples_per_sec,ratio\n",
    );
    for w in workloads {
        let r = measure_workload(&w, &device, args.min_seconds, args.min_steps)?;
        let theirs = torch.as_ref().and_then(|t| {
            t.iter()
                .find(|(name, _)| name == r.name)
                .map(|(_, sps)| *sps)
        });
        let ratio = theirs.map(|t| r.samples_per_sec / t);
        let versus = match (theirs, ratio) {
            (Some(t), Some(q)) => format!("  torch {t:>10.1}  ratio {q:.2}"),
            _ => String::new(),
        };
        println!(
            "{:<28} {:>12.1} samples/s  ({:8.2} ms/step, {} steps){versus}",
            r.name, r.samples_per_sec, r.ms_per_step, r.steps
        );
        let opt = |x: Option<f64>| x.map(|v| format!("{v:.3}")).unwrap_or_default();
        let _ = writeln!(
            csv,
            "{},{},{:.3},{:.4},{},{},{}",
            r.name,
            args.threads,
            r.samples_per_sec,
            r.ms_per_step,
            r.steps,
            opt(theirs),
            opt(ratio)
        );
    }
    if let Some(dir) = &args.save {
        let name = format!("throughput-threads{}.csv", args.threads);
        save(dir, &name, &csv, &args)?;
    }
    Ok(())
}

/// Runs `python script --threads T --min-seconds S --min-steps N [--only K]` and reads its
/// `name  X samples/s` lines.
fn torch_reference(python: &Path, args: &BenchArgs) -> Result<Vec<(String, f64)>> {
    let script = &args.torch_script;
    if !script.is_file() {
        bail!(
            "--torch-script {}: no such file (the PyTorch reference is \
             scripts/torch_reference.py in the emc repository; an installed or moved binary \
             needs --torch-script PATH to a checkout's copy)",
            script.display()
        );
    }
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .args(["--threads", &args.threads.to_string()])
        .args(["--min-seconds", &args.min_seconds.to_string()])
        .args(["--min-steps", &args.min_steps.to_string()]);
    if let Some(k) = &args.only {
        cmd.arg("--only").arg(k);
    }
    eprintln!("running the PyTorch reference: {cmd:?}");
    let out = cmd
        .output()
        .with_context(|| format!("--torch {}: could not run it", python.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "--torch {}: {} exited with {}: {}",
            python.display(),
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let rows = parse_torch_lines(&text);
    if rows.is_empty() {
        bail!(
            "{}: printed no `NAME  X samples/s` line:\n{text}",
            script.display()
        );
    }
    Ok(rows)
}

/// The `NAME  X samples/s ...` lines of the reference script's output.
fn parse_torch_lines(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter_map(|line| {
            let mut it = line.split_whitespace();
            let (name, value, unit) = (it.next()?, it.next()?, it.next()?);
            (unit == "samples/s")
                .then(|| value.parse().ok().map(|v| (name.to_string(), v)))
                .flatten()
        })
        .collect()
}

/// `emc bench --search`: the README's first measurement into a fresh directory, timed.
fn run_search(args: &BenchArgs) -> Result<()> {
    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        measure: crate::measure::MeasureArgs,
    }
    let tmp = tempfile::tempdir().context("creating a scratch directory")?;
    let out = tmp.path().join("search");
    let mut argv: Vec<String> = ["measure"]
        .iter()
        .chain(SEARCH_ARGS.iter())
        .map(|s| s.to_string())
        .collect();
    argv.extend(["--out".into(), out.display().to_string()]);
    argv.extend(["--jobs".into(), args.jobs.to_string()]);
    argv.extend(["--lockstep".into(), args.lockstep.to_string()]);
    argv.extend(["--device".into(), args.device.clone()]);
    if let Some(d) = &args.data_dir {
        argv.extend(["--data-dir".into(), d.display().to_string()]);
    }
    let margs = Wrap::try_parse_from(&argv)?.measure;
    let (cfg, opts) = (margs.config()?, margs.run_options()?);
    println!(
        "emc {} (candle, {}): emc measure {} ({} trainings at a time, 1 thread each, up to \
         {} probes per lockstep group)",
        env!("CARGO_PKG_VERSION"),
        args.device,
        SEARCH_ARGS.join(" "),
        opts.jobs,
        opts.lockstep
    );
    let start = Instant::now();
    let m = measure(&cfg, &opts, &|_: &Event| {})?;
    let wall = start.elapsed().as_secs_f64();
    let probes: Vec<ProbeRow> = emc_search::read_csv(&out.join("probes.csv"))?;
    let epochs: usize = probes.iter().map(|p| p.epochs).sum();
    let sample_epochs: usize = probes.iter().map(|p| p.n * p.epochs).sum();
    let emcs: Vec<String> = m.per_seed.iter().map(|(_, o)| o.emc.to_string()).collect();
    println!(
        "{SEARCH_NAME} wall {wall:.1} s ({:.0} sample-epochs/s): EMC per seed [{}]; {} probes, \
         {epochs} epochs, {sample_epochs} sample-epochs",
        sample_epochs as f64 / wall,
        emcs.join(", "),
        probes.len()
    );
    if let Some(dir) = &args.save {
        let csv = format!(
            "benchmark,jobs,lockstep,wall_seconds,probes,epochs,sample_epochs,emc_per_seed\n\
             {SEARCH_NAME},{},{},{wall:.2},{},{epochs},{sample_epochs},{}\n",
            opts.jobs,
            opts.lockstep,
            probes.len(),
            emcs.join(" ")
        );
        let name = format!("search-jobs{}-lockstep{}.csv", opts.jobs, opts.lockstep);
        save(dir, &name, &csv, args)?;
    }
    Ok(())
}

/// Writes `name` and `machine.toml` into `dir`, each through a temporary file and a rename.
fn save(dir: &Path, name: &str, csv: &str, args: &BenchArgs) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("--save {}", dir.display()))?;
    write_atomic(&dir.join(name), csv.as_bytes())?;
    write_atomic(&dir.join("machine.toml"), machine(args).as_bytes())?;
    println!("saved {} and machine.toml in {}", name, dir.display());
    Ok(())
}

/// The machine and build the figures come from, as TOML.
fn machine(args: &BenchArgs) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let simd = emc_kernels::vector_isa();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let p = emc_train::Provenance::current();
    let when = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "cpu = {cpu:?}\nsimd = {simd:?}\ncores = {cores}\nos = {:?}\ndevice = {:?}\n\
         crate_version = {:?}\ngit_commit = {:?}\nunix_time = {when}\n",
        std::env::consts::OS,
        args.device,
        p.crate_version,
        p.git_commit
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_reference_scripts_lines() {
        let text = "torch 2.15.0, threads 2\n\
                    mlp_784-512-512-10_b128           30618.8 samples/s  (    4.18 ms/step, 718 steps)\n\
                    cnn_32-64_pool_b128                 679.2 samples/s  (  188.46 ms/step, 16 steps)\n\
                    warning: something else\n";
        let rows = parse_torch_lines(text);
        assert_eq!(
            rows,
            [
                ("mlp_784-512-512-10_b128".to_string(), 30618.8),
                ("cnn_32-64_pool_b128".to_string(), 679.2)
            ]
        );
    }
}
