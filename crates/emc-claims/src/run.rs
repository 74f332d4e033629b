//! Running a claim: flags, the grid, every arm measured into one directory, the verdict
//! written to `verdict.md` and printed as the last thing on the terminal.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use emc_data::LoadOptions;
use emc_models::{InputShape, ModelSpec};
use emc_search::{default_n0, generalize_many, measure_many, Event, RunOptions};
use emc_train::Batching;

use crate::effect::RESAMPLES;
use crate::{Arm, ArmResult, ClaimError, ClaimSpec, Result, Scale, Verdict};

/// The flags every claim binary takes.
#[derive(Debug, Clone, Parser)]
#[command(about = "Measure one claim of arXiv:2406.11463 and say whether it holds")]
pub struct ClaimArgs {
    /// smoke (seconds, CI), cpu (a 2-core machine, under an hour) or paper (a GPU).
    #[arg(long, value_enum, default_value_t = Scale::Cpu)]
    pub scale: Scale,
    /// Probes trained concurrently (each single-threaded when > 1).
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
    /// Up to this many probes of different seeds train together, stacked, in one
    /// lockstep group per job (MLPs, softmax regression and CNNs without batch norm;
    /// bit-identical results); 1: off.
    #[arg(long, default_value_t = emc_search::DEFAULT_LOCKSTEP)]
    pub lockstep: usize,
    /// Use seeds 0..N instead of the scale's seeds.
    #[arg(long)]
    pub seeds: Option<u64>,
    /// Output directory (default artifacts/<claim>/<scale>/); rerunning into it resumes.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// cpu, cuda or cuda:N.
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
}

/// Where and how a claim runs (none of it changes the result).
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// The scale.
    pub scale: Scale,
    /// Seeds 0..N instead of the scale's seeds.
    pub seeds: Option<u64>,
    /// Output directory.
    pub out: PathBuf,
    /// Probes trained concurrently.
    pub jobs: usize,
    /// Probes per lockstep group (1: off).
    pub lockstep: usize,
    /// Device.
    pub device: candle_core::Device,
    /// Where the data is found.
    pub load: LoadOptions,
    /// Print a line per probe to stderr.
    pub progress: bool,
    /// Analyse the probes recorded in `out` without training any (published results):
    /// a probe the grid needs and the records lack is an error.
    pub recorded_only: bool,
}

/// A finished claim run.
#[derive(Debug, Clone)]
pub struct ClaimReport {
    /// Every arm with its measurement, in grid order.
    pub results: Vec<ArmResult>,
    /// The analysis' verdict.
    pub verdict: Verdict,
    /// The text written to `verdict.md`.
    pub markdown: String,
    /// The verdict table as printed on the terminal.
    pub table: String,
}

/// The arms of `spec` at `scale`, with `seeds` (0..N) replacing theirs when given.
fn arms(spec: &ClaimSpec, scale: Scale, seeds: Option<u64>) -> Vec<Arm> {
    let mut arms = (spec.grid)(scale);
    if let Some(n) = seeds {
        for a in &mut arms {
            a.measure.seeds = (0..n.max(1)).collect();
        }
    }
    arms
}

/// Runs (or resumes) every arm of the claim, analyses, and writes `verdict.md`.
pub fn run_claim(spec: &ClaimSpec, settings: &RunSettings) -> Result<ClaimReport> {
    let started = Instant::now();
    let arms = arms(spec, settings.scale, settings.seeds);
    std::fs::create_dir_all(&settings.out).map_err(|source| ClaimError::Io {
        path: settings.out.clone(),
        source,
    })?;
    let opts = RunOptions {
        out: settings.out.clone(),
        jobs: settings.jobs.max(1),
        lockstep: settings.lockstep.max(1),
        device: settings.device.clone(),
        load: settings.load.clone(),
        recorded_only: settings.recorded_only,
    };
    if settings.progress {
        let seeds: usize = arms.iter().map(|a| a.measure.seeds.len()).sum();
        eprintln!(
            "{} arms, {seeds} searches, {} at a time; already recorded probes are reused",
            arms.len(),
            opts.jobs
        );
    }
    let on_event = |i: usize, e: &Event| {
        if !settings.progress {
            return;
        }
        let label = arms[i].label.as_str();
        match e {
            Event::Probe { seed, row, resumed } => eprintln!(
                "  {label}  seed {seed:<2} {}{}",
                row.describe(),
                if *resumed { " (resumed)" } else { "" }
            ),
            Event::SeedDone { seed, outcome } => {
                eprintln!("  {label}  seed {seed}: EMC {}", outcome.emc)
            }
            Event::Epoch { .. } => {}
        }
    };
    // Every (arm, seed) search in one pool, so no core idles while one arm finishes.
    let configs: Vec<_> = arms.iter().map(|a| a.measure.clone()).collect();
    let measurements =
        measure_many(&configs, &opts, &on_event).map_err(|source| ClaimError::Measure {
            arm: format!("the {} arms", arms.len()),
            source: Box::new(source),
        })?;
    let mut results: Vec<ArmResult> = arms
        .iter()
        .zip(measurements)
        .map(|(arm, measurement)| ArmResult {
            arm: arm.clone(),
            measurement,
            generalization: None,
        })
        .collect();
    // Generalization of the arms that ask for it: every (arm, seed) in one pool.
    let asking: Vec<usize> = (0..arms.len())
        .filter(|&i| arms[i].generalization.is_some())
        .collect();
    let pairs: Vec<_> = asking
        .iter()
        .filter_map(|&i| Some((arms[i].measure.clone(), arms[i].generalization.clone()?)))
        .collect();
    let on_row = |k: usize, row: &emc_search::GeneralizationRow, resumed: bool| {
        if settings.progress {
            eprintln!(
                "  {}  seed {:<2} generalization: n={} {} train acc {:.4} test acc {:.4}{}",
                arms[asking[k]].label,
                row.seed,
                row.train_size,
                if row.fitted { "FIT" } else { "no fit" },
                row.train_accuracy,
                row.test_accuracy,
                if resumed { " (resumed)" } else { "" }
            );
        }
    };
    let generalizations =
        generalize_many(&pairs, &opts, &on_row).map_err(|source| ClaimError::Measure {
            arm: format!("the generalization of {} arms", pairs.len()),
            source: Box::new(source),
        })?;
    for (&i, g) in asking.iter().zip(generalizations) {
        results[i].generalization = Some(g);
    }
    let verdict = (spec.analyse)(&results);
    let table = verdict_table(&results, &verdict);
    let markdown = markdown(
        spec,
        settings,
        &results,
        &verdict,
        started.elapsed().as_secs_f64(),
    );
    let path = settings.out.join("verdict.md");
    let tmp = settings.out.join("verdict.md.tmp");
    std::fs::write(&tmp, &markdown).map_err(|source| ClaimError::Io {
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, &path).map_err(|source| ClaimError::Io { path, source })?;
    // EMC against parameters and the fit/no-fit map of every probe, as SVG and PNG, each
    // configuration named by its arm's label.
    let names = results
        .iter()
        .map(|r| (r.arm.measure.config_hash(), r.arm.label.clone()))
        .collect();
    emc_report::report_named(&settings.out, true, &names).map_err(|source| ClaimError::Report {
        dir: settings.out.clone(),
        source,
    })?;
    for plot in &verdict.plots {
        emc_report::write_scatter(&settings.out, plot).map_err(|source| ClaimError::Report {
            dir: settings.out.clone(),
            source,
        })?;
    }
    Ok(ClaimReport {
        results,
        verdict,
        markdown,
        table,
    })
}

/// Input shape, classes and training-split size of the built-in datasets after `resize:`
/// and `grayscale` variants, without loading anything (for the dry run's cost estimate).
fn input_of(data: &str, variants: &[String]) -> Option<(InputShape, usize, usize)> {
    let (mut channels, side, classes, len) = match data {
        "mnist" | "fashion-mnist" => (1, 28, 10, 60_000),
        "cifar10" => (3, 32, 10, 50_000),
        "cifar10-jpeg" => (3, 32, 10, 20_000),
        "cifar10-subset" => (3, 32, 10, 4_000),
        "cifar100" => (3, 32, 100, 50_000),
        _ => return None,
    };
    let (mut h, mut w) = (side, side);
    for v in variants {
        if let Some(r) = v.strip_prefix("resize:") {
            let mut parts = r.split('x').map(|p| p.parse::<usize>().ok());
            let a = parts.next().flatten()?;
            let b = parts.next().flatten().unwrap_or(a);
            (h, w) = (a, b);
        } else if v == "grayscale" {
            channels = 1;
        }
    }
    Some((
        InputShape {
            channels,
            height: h,
            width: w,
        },
        classes,
        len,
    ))
}

/// The grid and an upper bound on its training cost, as text; loads no data and trains
/// nothing.
pub fn dry_run(spec: &ClaimSpec, scale: Scale, seeds: Option<u64>, out: &Path) -> String {
    let arms = arms(spec, scale, seeds);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "claim {} at scale {scale} (meant for {})",
        spec.claim.id,
        scale.hardware()
    );
    let _ = writeln!(
        s,
        "  \"{}\" ({})",
        spec.claim.statement, spec.claim.location
    );
    let _ = writeln!(s, "output: {}", out.display());
    let _ = writeln!(
        s,
        "{:<34} {:>8} {:>6} {:>6} {:>7} {:>7} {:>9}  data",
        "arm", "params", "seeds", "epochs", "n0", "n cap", "probes≤"
    );
    let (mut total_se, mut total_flops, mut total_probes) = (0f64, 0f64, 0usize);
    for a in &arms {
        let m = &a.measure;
        let shape = input_of(&m.data, &m.variants);
        let params = shape.and_then(|(input, classes, _)| {
            m.model
                .parse::<ModelSpec>()
                .ok()
                .and_then(|spec| spec.num_params(input, classes).ok())
        });
        let (n0, cap) = match (shape, params) {
            (Some((_, classes, len)), Some(p)) => {
                let cap = m.search.max_n.map_or(len, |x| x.min(len));
                (
                    m.search
                        .n0
                        .unwrap_or_else(|| default_n0(p, classes))
                        .min(cap),
                    cap,
                )
            }
            _ => (0, 0),
        };
        // Doubling from n0 to the cap, then bisection down to the relative tolerance.
        let doubling = ((cap.max(1) as f64) / (n0.max(1) as f64)).log2().ceil() as usize + 1;
        let bisect = (1.0 / m.search.rel_tol.max(1e-3)).log2().ceil() as usize;
        let probes = doubling + bisect;
        // Upper bound: EMC reaches the cap and every probe runs its whole epoch budget, at
        // every budget level (1x + 2x + ... = 2^(d+1) - 1 times the configured budget) and
        // for the most seeds adaptive seeding may add.
        let levels = ((1usize << (m.search.budget_doublings + 1)) - 1) as f64;
        let seeds = m.seeds.len().max(m.search.max_seeds) as f64;
        let sample_epochs =
            seeds * levels * m.train.stop.max_epochs as f64 * (2 * cap + bisect * cap) as f64;
        total_se += sample_epochs;
        total_flops += sample_epochs * 6.0 * params.unwrap_or(0) as f64;
        total_probes += probes * m.seeds.len();
        let _ = writeln!(
            s,
            "{:<34} {:>8} {:>6} {:>6} {:>7} {:>7} {:>9}  {} [{}]",
            a.label,
            params.map_or("?".into(), |p| p.to_string()),
            m.seeds.len(),
            m.train.stop.max_epochs,
            n0,
            cap,
            probes * m.seeds.len(),
            m.data,
            m.variants.join(" ")
        );
    }
    // Generalization: one more training per seed of the arms that ask for it.
    let (mut gen_arms, mut gen_runs, mut gen_sizes) = (0, 0, vec![]);
    for a in &arms {
        if let Some(g) = &a.generalization {
            gen_arms += 1;
            gen_runs += a.measure.seeds.len();
            if !gen_sizes.contains(&g.train_size) {
                gen_sizes.push(g.train_size);
            }
        }
    }
    if gen_arms > 0 {
        let sizes: Vec<String> = gen_sizes.iter().map(|n| n.to_string()).collect();
        let _ = writeln!(
            s,
            "generalization: {gen_arms} arms also train {gen_runs} models (one per seed) on the \
             first n = {} samples and evaluate them on the test split",
            sizes.join(" or ")
        );
    }
    let _ = writeln!(
        s,
        "{} arms, at most {total_probes} probes; cost upper bound (EMC at the cap, full epoch \
         budgets): {total_se:.2e} sample-epochs, ≈ {total_flops:.2e} FLOPs at 6·params per \
         sample (exact for MLPs; convolutions cost more). Plateau and fit stops make real runs \
         far cheaper.",
        arms.len()
    );
    s
}

/// The verdict table: one row per arm, then the effects and the outcome.
fn verdict_table(results: &[ArmResult], v: &Verdict) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<34} {:>8} {:>6} {:>10} {:>15}  chosen",
        "arm", "params", "seeds", "median EMC", "min–max"
    );
    for r in results {
        let st = &r.measurement.stats;
        let _ = writeln!(
            s,
            "{:<34} {:>8} {:>6} {:>10.1} {:>15}  {}",
            r.arm.label,
            r.measurement.params,
            st.seeds,
            st.median,
            format!("{}–{}", st.min, st.max),
            if v.chosen.contains(&r.arm.label) {
                "*"
            } else {
                ""
            }
        );
    }
    let limited: Vec<&str> = results
        .iter()
        .filter(|r| r.budget_limited())
        .map(|r| r.arm.label.as_str())
        .collect();
    if !limited.is_empty() {
        let _ = writeln!(
            s,
            "budget-limited (EMC still grew at the largest budget, some seed): {}",
            limited.join(", ")
        );
    }
    for e in &v.effects {
        let _ = writeln!(
            s,
            "{}: ratio {:.3}, 95% CI [{:.3}, {:.3}]",
            e.label, e.ratio, e.lo, e.hi
        );
    }
    for sec in &v.sections {
        let _ = writeln!(s, "{}:\n{}", sec.title, sec.body.trim_end());
    }
    let _ = writeln!(s, "VERDICT: {} — {}", v.outcome, v.reason);
    s
}

fn protocol(results: &[ArmResult]) -> String {
    let mut s = String::new();
    let uniq = |f: &dyn Fn(&ArmResult) -> String| {
        let mut v: Vec<String> = vec![];
        for r in results {
            let x = f(r);
            if !v.contains(&x) {
                v.push(x);
            }
        }
        v.join("; ")
    };
    let data = uniq(&|r| {
        format!(
            "{} [{}]",
            r.arm.measure.data,
            r.arm.measure.variants.join(" ")
        )
    });
    let models = uniq(&|r| {
        format!(
            "{} ({} parameters)",
            r.arm.measure.model, r.measurement.params
        )
    });
    let seeds = uniq(&|r| format!("{:?}", r.arm.measure.seeds));
    let budget = uniq(&|r| {
        let st = &r.arm.measure.train.stop;
        format!(
            "at most {} epochs, plateau patience {} epochs, gradient-norm stop {}",
            st.max_epochs, st.plateau_patience, st.grad_tol
        )
    });
    let search = uniq(&|r| {
        let c = &r.arm.measure.search;
        format!(
            "bisection to within max({}, {}·EMC){}",
            c.abs_tol,
            c.rel_tol,
            c.max_n
                .map_or(String::new(), |m| format!(", n capped at {m}"))
        )
    });
    // Every procedure with its learning rate and batching spelled out (the optimizer's text
    // form leaves out default values, the learning rate included).
    let procs = uniq(&|r| {
        let train = &r.arm.measure.train;
        let batching = match train.batching {
            Batching::Mini(b) => format!("batch {b}"),
            Batching::Full { .. } => "full batch".into(),
        };
        format!(
            "{}: {} (lr {}, {batching})",
            r.arm.procedure, train.optim, train.optim.lr
        )
    });
    let adaptive = uniq(&|r| {
        let c = &r.arm.measure.search;
        if c.max_seeds > 0 {
            format!(
                " Seeds were added (as many per round as there are workers) until the 95% \
                 bootstrap interval of the median EMC was within {:.0}% of the median, or {} \
                 seeds were searched; the seeds column says how many were needed.",
                100.0 * c.seed_ci_width,
                c.max_seeds
            )
        } else {
            String::new()
        }
    });
    // Arms sharing architecture and procedure differ only in optimizer settings (learning
    // rate, schedule): one is chosen.
    let grouped = results.iter().enumerate().any(|(i, a)| {
        results[..i].iter().any(|b| {
            (&a.arm.architecture, &a.arm.procedure) == (&b.arm.architecture, &b.arm.procedure)
        })
    });
    let choice = if grouped {
        " The learning-rate grid (and any schedule grid) runs as separate arms; per \
         architecture and procedure the setting with the best median EMC (ties: mean log EMC) \
         is chosen (marked *)."
    } else {
        ""
    };
    let _ = write!(
        s,
        "Data: {data}. Models: {models}. For each seed ({seeds}) a fixed random order of the \
         training split defines nested subsets; EMC is the largest subset size the model fits \
         to 100% training accuracy, found by doubling from a first size then {search}. Every \
         probe trains a fresh initialisation with {budget}. Procedures: {procs}.{choice} \
         Effects are ratios of geometric-mean EMC with a 95% percentile bootstrap interval \
         ({RESAMPLES} ChaCha8 resamples of the per-seed EMCs).{adaptive}"
    );
    let mut gens: Vec<String> = vec![];
    for g in results.iter().filter_map(|r| r.arm.generalization.as_ref()) {
        let text = format!(
            "{} training samples, {}",
            g.train_size,
            g.test_size
                .map_or("the whole test split".into(), |t| format!(
                    "the first {t} test samples"
                ))
        );
        if !gens.contains(&text) {
            gens.push(text);
        }
    }
    let gen = gens.join("; ");
    if !gen.is_empty() {
        let _ = write!(
            s,
            " Generalization (arms that measure it): per seed, the same model and procedure \
             (same initialisation, minibatch order and stop rules) trained on the first n \
             samples of the seed's order — the probe the search would train at n — then \
             evaluated in eval mode on the test split (same input variants, the training \
             split's normalisation): {gen}; `generalization.csv` holds every seed."
        );
    }
    s
}

fn markdown(
    spec: &ClaimSpec,
    settings: &RunSettings,
    results: &[ArmResult],
    v: &Verdict,
    seconds: f64,
) -> String {
    let c = &spec.claim;
    let mut s = String::new();
    let _ = writeln!(s, "# {} ({} scale): {}\n", c.id, settings.scale, v.outcome);
    let _ = writeln!(s, "> {}\n", c.statement);
    let _ = writeln!(
        s,
        "Where: {}. Expected: {} {}.\n",
        c.location, c.expectation.effect, c.expectation.direction
    );
    let _ = writeln!(s, "## Protocol\n\n{}\n", protocol(results));
    let _ = writeln!(
        s,
        "## Measured EMC\n\nPer seed, EMC is the largest fitted n of its search. Over every \
         seed's probes, n₅₀ is where a maximum-likelihood logistic fit of fit/fail against \
         ln n crosses 50%, and the band is where both fits and failures occur (sharp: every \
         fit lies below every failure).\n"
    );
    let _ = writeln!(
        s,
        "| arm | params | seeds | median EMC | min–max | per seed | n₅₀ | fit/fail band | chosen |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---|---:|---|:-:|");
    for r in results {
        let st = &r.measurement.stats;
        let t = &r.measurement.transition;
        let band = match (t.band(), t.highest_fit, t.lowest_failure) {
            (Some((lo, hi)), _, _) => format!("{lo}–{hi}"),
            (None, Some(fit), Some(fail)) => format!("sharp ({fit} fits, {fail} fails)"),
            _ => "-".into(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.1} | {}–{} | {:?} | {} | {band} | {} |",
            r.arm.label,
            r.measurement.params,
            st.seeds,
            st.median,
            st.min,
            st.max,
            r.emcs(),
            t.n50.map_or("-".into(), |n| format!("{n:.0}")),
            if v.chosen.contains(&r.arm.label) {
                "*"
            } else {
                ""
            }
        );
    }
    s += &budget_section(results);
    if !v.effects.is_empty() {
        let _ = writeln!(s, "\n## Effect\n");
        let _ = writeln!(s, "| comparison | ratio | 95% CI |");
        let _ = writeln!(s, "|---|---:|---|");
    }
    for e in &v.effects {
        let _ = writeln!(
            s,
            "| {} | {:.3} | [{:.3}, {:.3}] |",
            e.label, e.ratio, e.lo, e.hi
        );
    }
    for sec in &v.sections {
        let _ = writeln!(s, "\n## {}\n\n{}", sec.title, sec.body.trim_end());
    }
    let _ = writeln!(s, "\n## Verdict\n\n**{}** — {}\n", v.outcome, v.reason);
    let _ = writeln!(
        s,
        "Run: `cargo run --release -p claim-{} -- --scale {}`; {:.0} s wall time in this \
         invocation (resumed probes cost nothing). Plots: `emc report` on this directory.",
        c.id, settings.scale, seconds
    );
    s
}

/// `## EMC versus budget`: per arm and seed the EMC at each budget tried, and whether it
/// converged; empty when no arm checked budget convergence.
fn budget_section(results: &[ArmResult]) -> String {
    let checked = |r: &&ArmResult| {
        r.measurement
            .budgets
            .iter()
            .any(|(_, b)| b.converged.is_some())
    };
    if !results.iter().any(|r| checked(&r)) {
        return String::new();
    }
    let mut s = String::from(
        "\n## EMC versus budget\n\nEach seed's search was repeated at doubled budgets (epochs \
         and plateau patience) until EMC moved by at most the stated tolerance (*converged*) or \
         the doublings ran out (*budget-limited*: EMC still grows with the budget, and the \
         reported EMC, at the largest budget, is a lower bound). Fits, and failures certified \
         by a small full-data gradient or by divergence, were carried to the larger budget; \
         failures that ran out of epochs or of plateau patience were trained again.\n\n\
         | arm | EMC per budget, per seed | converged seeds |\n|---|---|---:|\n",
    );
    for r in results.iter().filter(checked) {
        let b = &r.measurement.budgets;
        let per = b
            .iter()
            .map(|(seed, o)| format!("seed {seed}: {}", o.describe()))
            .collect::<Vec<_>>()
            .join("; ");
        let ok = b.iter().filter(|(_, o)| o.converged == Some(true)).count();
        let _ = writeln!(s, "| {} | {per} | {ok} of {} |", r.arm.label, b.len());
    }
    s
}

/// The whole command line of a claim binary: parse the flags, dry-run or run, print the
/// verdict table last. Exits with status 1 on error.
pub fn main(spec: &ClaimSpec) {
    emc_train::allocator::retain_freed_memory();
    let args = ClaimArgs::parse();
    let out = args.out.clone().unwrap_or_else(|| {
        let dir = PathBuf::from("artifacts").join(spec.claim.id);
        match &args.from_hub {
            Some(repo) => dir.join(format!("{}-hub-{}", args.scale, repo.replace('/', "--"))),
            None => dir.join(args.scale.name()),
        }
    });
    if args.dry_run {
        print!("{}", dry_run(spec, args.scale, args.seeds, &out));
        return;
    }
    // One single-threaded training per concurrent seed is fastest on a CPU.
    if args.jobs > 1 && std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    let run = || -> Result<ClaimReport> {
        let device = emc_train::parse_device(&args.device).map_err(|e| ClaimError::Config {
            field: "--device".into(),
            message: e.to_string(),
        })?;
        let load = LoadOptions::from_env().with_data_dir(args.data_dir.clone());
        if let Some(repo) = &args.from_hub {
            let hub = emc_hub::HubConfig::from_env();
            fetch_published(repo, args.revision.as_deref(), &out, &hub, &load, &device)?;
        }
        let settings = RunSettings {
            scale: args.scale,
            seeds: args.seeds,
            out: out.clone(),
            jobs: args.jobs,
            lockstep: args.lockstep,
            device,
            load,
            progress: true,
            recorded_only: args.from_hub.is_some(),
        };
        run_claim(spec, &settings)
    };
    match run() {
        Ok(report) => {
            println!("verdict written to {}", out.join("verdict.md").display());
            print!("{}", report.table);
        }
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

    #[test]
    fn dry_run_shape_follows_resize_and_grayscale() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let (shape, classes, len) =
            input_of("cifar10-subset", &v(&["grayscale", "resize:16"])).unwrap();
        assert_eq!((shape.channels, shape.height, shape.width), (1, 16, 16));
        assert_eq!((classes, len), (10, 4_000));
        let (shape, _, _) = input_of("cifar10", &v(&["resize:8x12"])).unwrap();
        assert_eq!((shape.channels, shape.height, shape.width), (3, 8, 12));
        assert!(input_of("imagenet", &[]).is_none());
    }
}
