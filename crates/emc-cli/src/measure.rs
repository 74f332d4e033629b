//! `emc measure`: the EMC of one model, dataset variant and training procedure over
//! several seeds, from flags or from a TOML file with the fields of
//! [`emc_search::MeasureConfig`].

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use emc_optim::{Graft, OptimKind};
use emc_search::{measure, Event, MeasureConfig, RunOptions};
use emc_train::{Augment, Batching, TrainConfig};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// Arguments of `emc measure`.
#[derive(Debug, Args)]
pub struct MeasureArgs {
    /// A TOML file with the measurement (fields of MeasureConfig: model, data, variants,
    /// train, search, seeds); the flags from --model to --seeds, which define the
    /// measurement, are then refused. A field the file leaves out takes the default of the
    /// flag that sets it (below: SGD with momentum 0.9, 2000 epochs, patience 100, ...; lr
    /// 0.001 when the file's optimizer kind is Adam or AdamW, momentum 0 with full batch);
    /// an unknown field or an empty file is an error.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Model spec: linear, mlp:W1xW2:ACT, cnn:C1,C2:ACT, cnn-compound:C1,C2:phi=F, resnet18:k=K,
    /// vit:patch4,d64,depth4,heads4, subspace:d=D(SPEC), quant:BITS(SPEC), e.g. mlp:32:relu
    /// (the grammar: README.md, `--model SPEC`).
    #[arg(long, default_value = MeasureConfig::DEFAULT_MODEL, conflicts_with = "config")]
    model: String,
    /// Dataset: mnist, fashion-mnist, cifar10, cifar10-jpeg, cifar10-subset, cifar100, ...
    #[arg(long, default_value = MeasureConfig::DEFAULT_DATA, conflicts_with = "config")]
    data: String,
    /// Resize images to SxS (or HxW) by area averaging.
    #[arg(long, conflicts_with = "config")]
    resize: Option<String>,
    /// Keep the first K classes, or a list A,B,C.
    #[arg(long, conflicts_with = "config")]
    classes: Option<String>,
    /// Labels: real, random, or noisy:P.
    #[arg(long, default_value = "real", conflicts_with = "config")]
    labels: String,
    /// Inputs: real, gaussian, uniform or shuffled (fixed pixel permutation).
    #[arg(long, default_value = "real", conflicts_with = "config")]
    inputs: String,
    /// Optimizer: sgd, gd (full-batch gradient descent), adam, adamw or shampoo
    /// (torch-optimizer's Shampoo; --graft and --update-freq set its variant).
    #[arg(long, default_value = "sgd", conflicts_with = "config")]
    optimizer: String,
    /// Learning rate (default: 0.01 for sgd/gd, 0.001 for adam/adamw, 0.1 for shampoo).
    #[arg(long, conflicts_with = "config")]
    lr: Option<f64>,
    /// Momentum of sgd or shampoo (default 0.9 for sgd, 0 for gd and shampoo); refused for
    /// adam/adamw, whose betas play that part.
    #[arg(long, conflicts_with = "config")]
    momentum: Option<f64>,
    /// Shampoo's step size: none (torch-optimizer's, the default) or sgd (each var's
    /// preconditioned direction rescaled to SGD's step size, lr·‖g‖); shampoo only.
    #[arg(long, value_name = "none|sgd", conflicts_with = "config")]
    graft: Option<String>,
    /// Steps between recomputations of Shampoo's matrix roots (default 1); shampoo only.
    #[arg(long, value_name = "STEPS", conflicts_with = "config")]
    update_freq: Option<usize>,
    /// Weight decay (L2 for sgd/gd/adam, decoupled for adamw).
    #[arg(long, default_value_t = 0.0, conflicts_with = "config")]
    weight_decay: f64,
    /// Label smoothing EPS in [0, 1) of the training loss (targets 1 - EPS on the label plus
    /// EPS/classes on every class); evaluation and the fit use the plain labels.
    #[arg(
        long,
        value_name = "EPS",
        default_value_t = 0.0,
        conflicts_with = "config"
    )]
    label_smoothing: f64,
    /// Dropout rate P in [0, 1) on hidden activations while training (every family but
    /// softmax regression; masks seeded by the probe's seed); evaluation and the fit run
    /// without it. Probes with dropout never train in lockstep.
    #[arg(
        long,
        value_name = "P",
        default_value_t = 0.0,
        conflicts_with = "config"
    )]
    dropout: f64,
    /// Data augmentation: random crop with P pixels of padding (0 in the normalised input,
    /// the channel mean) on each side, drawn per seed, epoch and sample; images only. The
    /// fit is judged on the un-augmented samples. Probes with augmentation never train in
    /// lockstep.
    #[arg(long, value_name = "P", default_value_t = 0, conflicts_with = "config")]
    crop_padding: usize,
    /// Data augmentation: mirror each training image left to right with probability 1/2
    /// (drawn per seed, epoch and sample); images only, the fit judged on the originals.
    #[arg(long, conflicts_with = "config")]
    hflip: bool,
    /// Learning-rate schedule: `constant`, `step(STEP_SIZE,GAMMA)`, `cosine(TOTAL_STEPS[,MIN_LR])`
    /// or `cosine-budget[(MIN_LR)]` (a cosine over each probe's whole step budget).
    #[arg(long, default_value = "constant", conflicts_with = "config")]
    schedule: String,
    /// Minibatch size (ignored by gd).
    #[arg(long, default_value_t = MeasureConfig::DEFAULT_BATCH, conflicts_with = "config")]
    batch: usize,
    /// Epoch budget of each probe (gd: one step per epoch, so equal epochs by default).
    #[arg(long, default_value_t = MeasureConfig::DEFAULT_MAX_EPOCHS, conflicts_with = "config")]
    max_epochs: usize,
    /// Optional step budget of each probe (to compare optimizers at equal steps).
    #[arg(long, conflicts_with = "config")]
    max_steps: Option<usize>,
    /// Plateau patience in epochs (0 disables the plateau stop).
    #[arg(long, default_value_t = MeasureConfig::DEFAULT_PATIENCE, conflicts_with = "config")]
    patience: usize,
    /// First probe size (default: power of two near params/64, at least 4 x classes).
    #[arg(long, conflicts_with = "config")]
    n0: Option<usize>,
    /// Bisection stops when upper - lower <= max(abs-tol, rel-tol * lower).
    #[arg(long, default_value_t = 8, conflicts_with = "config")]
    abs_tol: usize,
    /// Relative bisection tolerance (see --abs-tol).
    #[arg(long, default_value_t = 0.02, conflicts_with = "config")]
    rel_tol: f64,
    /// Budget convergence: search again at up to this many doublings of the epoch (and
    /// step) budget, until EMC moves by at most --budget-tol; 0 = off.
    #[arg(long, default_value_t = 0, conflicts_with = "config")]
    budget_doublings: usize,
    /// Search every seed at least this many doublings (at most --budget-doublings) even when
    /// its EMC moved by at most --budget-tol earlier: EMC can stall for a doubling and grow
    /// again, and seeds at one budget are comparable.
    #[arg(long, default_value_t = 0, conflicts_with = "config")]
    min_doublings: usize,
    /// Largest relative change of EMC per budget doubling counted as converged.
    #[arg(long, default_value_t = emc_search::DEFAULT_BUDGET_TOL, conflicts_with = "config")]
    budget_tol: f64,
    /// Adaptive seeds: add seeds until the 95% bootstrap interval of the median EMC is
    /// within --seed-ci-width of the median, up to this many seeds in all; 0 = off.
    #[arg(long, default_value_t = 0, conflicts_with = "config")]
    max_seeds: usize,
    /// Transition band: probes this many tolerance steps below the EMC and above the first
    /// failure after the search, for n50 and the band (EMC unchanged); 0 = off.
    #[arg(long, default_value_t = 0, conflicts_with = "config")]
    band_probes: usize,
    /// Target relative width of the median's 95% interval for --max-seeds.
    #[arg(long, default_value_t = emc_search::DEFAULT_SEED_CI_WIDTH, conflicts_with = "config")]
    seed_ci_width: f64,
    /// Seeds: a count N (seeds 0..N) or a list such as 3,7,11.
    #[arg(long, default_value_t = MeasureConfig::DEFAULT_SEEDS.to_string(), conflicts_with = "config")]
    seeds: String,
    /// Probes trained concurrently (each single-threaded when > 1).
    #[arg(long, default_value_t = 2, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    jobs: usize,
    /// Up to this many probes of different seeds train together, stacked, in one
    /// lockstep group per job (MLPs, softmax regression and CNNs without batch norm;
    /// bit-identical results); 1: off.
    #[arg(long, default_value_t = emc_search::DEFAULT_LOCKSTEP, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    lockstep: usize,
    /// The most memory the measurement may allocate (e.g. 8GiB); by default the memory
    /// available. A measurement whose estimate (data after resize, weights, gradients,
    /// optimizer state, activations at the batch size, times the probes run at once)
    /// exceeds it is refused before anything is allocated.
    #[arg(long, value_name = "SIZE", value_parser = emc_search::parse_memory_size)]
    max_memory: Option<u64>,
    /// Exit with status 0 even when every probe that did not fit diverged (the EMC then
    /// measures the learning rate, not the model; by default that is an error, exit status
    /// 2).
    #[arg(long)]
    allow_diverged: bool,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Output directory (rerunning into it resumes).
    #[arg(long)]
    out: PathBuf,
    /// Measure only shard I of N of the seeds (every N-th from the I-th; refused with
    /// --max-seeds) into `<out>/shards/<I>-of-<N>/`. Defaults, in a Slurm array task, to
    /// SLURM_ARRAY_TASK_ID (less SLURM_ARRAY_TASK_MIN) of SLURM_ARRAY_TASK_COUNT. Measuring
    /// without it into the same --out merges the finished shards and resumes from them.
    #[arg(long, value_name = "I/N")]
    shard: Option<emc_search::Shard>,
    /// Directory of canonical dataset files.
    #[arg(long, env = "EMC_DATA_DIR", value_parser = crate::data::data_dir)]
    data_dir: Option<PathBuf>,
}

impl MeasureArgs {
    /// Seeds run concurrently (the CLI sets candle to one thread each when > 1).
    pub fn jobs(&self) -> usize {
        self.jobs
    }

    fn seeds(&self) -> Result<Vec<u64>> {
        let s = self.seeds.trim();
        if s.contains(',') {
            return s
                .split(',')
                .map(|x| {
                    x.trim()
                        .parse::<u64>()
                        .with_context(|| format!("--seeds: `{x}` is not a seed"))
                })
                .collect();
        }
        let n: u64 = s
            .parse()
            .with_context(|| format!("--seeds {s}: expected a count or a list A,B,C"))?;
        if n == 0 {
            bail!("--seeds 0: expected at least one seed");
        }
        Ok((0..n).collect())
    }

    fn variants(&self) -> Result<Vec<String>> {
        let mut v = vec![];
        if let Some(c) = &self.classes {
            v.push(format!("classes:{c}"));
        }
        if let Some(r) = &self.resize {
            v.push(format!("resize:{r}"));
        }
        match self.inputs.as_str() {
            "real" => {}
            "gaussian" => v.push("gaussian-inputs".into()),
            "uniform" => v.push("uniform-inputs".into()),
            "shuffled" => v.push("shuffled-pixels".into()),
            other => bail!("--inputs {other}: expected real, gaussian, uniform or shuffled"),
        }
        match self.labels.as_str() {
            "real" => {}
            "random" => v.push("random-labels".into()),
            other => match other.strip_prefix("noisy:") {
                Some(p) => v.push(format!("noise:{p}")),
                None => bail!("--labels {other}: expected real, random or noisy:P"),
            },
        }
        Ok(v)
    }

    /// The training procedure: `--optimizer`'s defaults
    /// ([`MeasureConfig::measure_default`]) with the flags' values.
    fn train(&self) -> Result<TrainConfig> {
        if !MeasureConfig::OPTIMIZERS.contains(&self.optimizer.as_str()) {
            bail!(
                "--optimizer {}: expected sgd, gd, adam, adamw or shampoo",
                self.optimizer
            );
        }
        let mut cfg = MeasureConfig::measure_default(&self.optimizer)?.train;
        if let Some(lr) = self.lr {
            cfg.optim.lr = lr;
        }
        match (self.momentum, &mut cfg.optim.kind) {
            (None, _) => {}
            (Some(m), OptimKind::Sgd { momentum, .. } | OptimKind::Shampoo { momentum, .. }) => {
                *momentum = m
            }
            (Some(_), _) => bail!(
                "--momentum applies to sgd, gd and shampoo; {} has betas instead",
                self.optimizer
            ),
        }
        if self.graft.is_some() || self.update_freq.is_some() {
            let OptimKind::Shampoo {
                graft, update_freq, ..
            } = &mut cfg.optim.kind
            else {
                bail!(
                    "--graft and --update-freq apply to shampoo only, not {}",
                    self.optimizer
                );
            };
            if let Some(g) = &self.graft {
                *graft = match g.to_ascii_lowercase().as_str() {
                    "none" => Graft::None,
                    "sgd" => Graft::Sgd,
                    other => bail!("--graft {other}: expected none or sgd"),
                };
            }
            if let Some(k) = self.update_freq {
                *update_freq = k;
            }
        }
        cfg.optim.weight_decay = self.weight_decay;
        cfg.label_smoothing = self.label_smoothing;
        cfg.dropout = self.dropout;
        cfg.augment = Augment {
            crop_padding: self.crop_padding,
            hflip: self.hflip,
        };
        cfg.optim.schedule = self
            .schedule
            .parse()
            .with_context(|| format!("--schedule {}", self.schedule))?;
        if let Batching::Mini(b) = &mut cfg.batching {
            *b = self.batch;
        }
        cfg.stop.max_epochs = self.max_epochs;
        cfg.stop.max_steps = self.max_steps;
        cfg.stop.plateau_patience = self.patience;
        Ok(cfg)
    }

    /// Where and how the measurement runs: output directory, concurrent seeds, device,
    /// dataset location.
    pub(crate) fn run_options(&self) -> Result<RunOptions> {
        Ok(RunOptions {
            out: self.out.clone(),
            jobs: self.jobs,
            lockstep: self.lockstep,
            device: emc_train::parse_device(&self.device)?,
            load: emc_data::LoadOptions::from_env().with_data_dir(self.data_dir.clone()),
            max_memory: self.max_memory,
            recorded_only: false,
            write_summary: true,
        })
    }

    pub(crate) fn config(&self) -> Result<MeasureConfig> {
        if let Some(path) = &self.config {
            return crate::config_file::load(path);
        }
        let mut cfg = MeasureConfig {
            model: self.model.clone(),
            data: self.data.clone(),
            variants: self.variants()?,
            train: self.train()?,
            seeds: self.seeds()?,
            ..MeasureConfig::measure_default(&self.optimizer)?
        };
        cfg.search.n0 = self.n0;
        cfg.search.abs_tol = self.abs_tol;
        cfg.search.rel_tol = self.rel_tol;
        cfg.search.budget_doublings = self.budget_doublings;
        cfg.search.min_doublings = self.min_doublings;
        cfg.search.budget_tol = self.budget_tol;
        cfg.search.max_seeds = self.max_seeds;
        cfg.search.band_probes = self.band_probes;
        cfg.search.seed_ci_width = self.seed_ci_width;
        Ok(cfg)
    }
}

/// Runs `emc measure`.
pub fn run(args: MeasureArgs) -> Result<()> {
    let (whole, out) = (args.config()?, args.out.clone());
    let shard = match args.shard {
        Some(shard) => Some(shard),
        None => emc_search::Shard::from_slurm(|k| std::env::var(k).ok())?,
    };
    let (cfg, opts) = match shard {
        Some(shard) => crate::shard::plan(&whole, &args.run_options()?, shard)?,
        None => {
            if let Some(added) = crate::shard::merge(&whole, &out)? {
                eprintln!(
                    "merged the shards of {}: {added} probe rows added",
                    out.display()
                );
            }
            (whole.clone(), args.run_options()?)
        }
    };
    eprintln!(
        "measuring EMC of {} on {} [{}] with {} over seeds {:?} -> {}",
        cfg.model,
        cfg.data,
        cfg.variants.join(" "),
        cfg.train.optim,
        cfg.seeds,
        opts.out.display()
    );
    let start = Instant::now();
    let progress = Progress::new();
    let on_event = |e: &Event| progress.event(e);
    let m = measure(&cfg, &opts, &on_event)?;
    progress.clear();
    let s = &m.stats;
    println!(
        "model {}  params {}  config {}",
        cfg.model, m.params, m.config_hash
    );
    println!(
        "{:>6} {:>8} {:>8} {:>7}  flags",
        "seed", "EMC", "upper", "probes"
    );
    for (seed, o) in &m.per_seed {
        let budget = m.budgets.iter().find(|(s, _)| s == seed).map(|(_, b)| b);
        let mut flags = [(o.non_monotone, "non-monotone"), (o.saturated, "saturated")]
            .iter()
            .filter(|f| f.0)
            .map(|f| f.1.to_string())
            .collect::<Vec<_>>();
        if let Some(b) = budget.filter(|b| b.converged.is_some()) {
            let state = if b.converged == Some(true) {
                "budget-converged"
            } else {
                "budget-limited"
            };
            flags.push(format!("{state} ({})", b.describe()));
        }
        let flags = flags.join(", ");
        let upper = o.upper.map(|u| u.to_string()).unwrap_or_else(|| "-".into());
        println!(
            "{seed:>6} {:>8} {upper:>8} {:>7}  {flags}",
            o.emc,
            o.probes.len()
        );
    }
    println!(
        "EMC median {:.1}  mean {:.1}  std {:.1}  min {}  max {}  mean log {:.3}  EMC/params {:.4}",
        s.median, s.mean, s.std, s.min, s.max, s.mean_log_emc, s.efficiency
    );
    println!(
        "{} probes trained in {:.1} s; results in {}",
        m.probes_trained,
        start.elapsed().as_secs_f64(),
        opts.out.display()
    );
    for line in budget_lines(&m, &cfg) {
        println!("{line}");
    }
    if let Some(shard) = shard {
        crate::shard::finish(&whole, &out, shard)?;
        println!(
            "shard {shard} finished; once every shard has, measure without --shard into {} \
             to merge them",
            out.display()
        );
    }
    if m.failures_all_diverged() {
        let what = format!(
            "DEGENERATE: all {} probes that did not fit diverged (the loss became \
             non-finite), so the EMC measures the learning rate ({}), not the model; lower --lr",
            m.probes_failed(),
            cfg.train.optim.lr
        );
        println!("{what}");
        if !args.allow_diverged {
            return Err(crate::Degenerate(what).into());
        }
    }
    Ok(())
}

/// What the failures say of the EMC: the failed probes by stop reason, and, when some
/// seed's first failure above its EMC was not certified (it ran out of epochs or steps, or
/// plateaued with a gradient that was not small), that the EMC is a lower bound and how to
/// get a budget-converged one.
fn budget_lines(m: &emc_search::Measurement, cfg: &MeasureConfig) -> Vec<String> {
    let mut lines = vec![];
    if m.failures.is_empty() {
        return lines;
    }
    let counts: Vec<String> = m.failures.iter().map(|(s, k)| format!("{s} {k}")).collect();
    lines.push(format!(
        "failed probes by stop reason: {}",
        counts.join(", ")
    ));
    if m.uncertified.is_empty() {
        return lines;
    }
    let seeds: Vec<String> = m
        .uncertified
        .iter()
        .map(|(seed, n, stop)| format!("seed {seed} (n = {n}: {stop})"))
        .collect();
    let doublings = cfg.search.budget_doublings;
    let advice = if doublings == 0 {
        "for a budget-converged EMC, rerun into the same directory with --budget-doublings 2 \
         (searches again at 2x and 4x the epochs, steps and patience, reusing every probe \
         that more budget cannot change)"
            .to_string()
    } else {
        format!(
            "still so after {doublings} budget doubling(s) ({}x the configured budget); more \
             --budget-doublings may raise it",
            1usize << doublings
        )
    };
    lines.push(format!(
        "EMC is a lower bound: the first failure above the EMC was not certified (more \
         budget may fit it) for {}; {advice}",
        seeds.join(", ")
    ));
    lines
}

/// Progress of a measurement: one bar per seed on a terminal (probe size, epoch out of the
/// budget, training accuracy), plain log lines otherwise.
struct Progress {
    bars: Option<(MultiProgress, Mutex<HashMap<u64, ProgressBar>>)>,
}

impl Progress {
    fn new() -> Self {
        let bars = std::io::stderr()
            .is_terminal()
            .then(|| (MultiProgress::new(), Mutex::new(HashMap::new())));
        Progress { bars }
    }

    /// Prints a line above the bars (or plainly).
    fn line(&self, text: String) {
        match &self.bars {
            Some((multi, _)) => {
                let _ = multi.println(text);
            }
            None => eprintln!("{text}"),
        }
    }

    fn bar(&self, seed: u64, f: impl FnOnce(&ProgressBar)) {
        if let Some((multi, bars)) = &self.bars {
            let Ok(mut bars) = bars.lock() else { return };
            let bar = bars.entry(seed).or_insert_with(|| {
                let style = ProgressStyle::with_template(
                    "seed {prefix:>3} [{elapsed_precise}] {bar:30} epoch {pos}/{len} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar());
                let b = multi.add(ProgressBar::new(1).with_style(style));
                b.set_prefix(seed.to_string());
                b
            });
            f(bar);
        }
    }

    fn event(&self, e: &Event) {
        match e {
            Event::Epoch {
                seed,
                n,
                epoch,
                max_epochs,
                train_accuracy,
            } => self.bar(*seed, |b| {
                b.set_length(*max_epochs as u64);
                b.set_position(*epoch as u64);
                b.set_message(format!("n={n} train acc {train_accuracy:.4}"));
            }),
            Event::Probe { seed, row, resumed } => self.line(format!(
                "  seed {seed:<3} {}{}",
                row.describe(),
                if *resumed { "  (resumed)" } else { "" }
            )),
            Event::SeedDone { seed, outcome } => {
                self.bar(*seed, |b| {
                    b.finish_with_message(format!("EMC {}", outcome.emc))
                });
                self.line(format!(
                    "  seed {seed}: EMC {} (first failure {}){}",
                    outcome.emc,
                    outcome
                        .upper
                        .map(|u| u.to_string())
                        .unwrap_or_else(|| "none".into()),
                    if outcome.non_monotone {
                        "  NON-MONOTONE"
                    } else {
                        ""
                    }
                ))
            }
        }
    }

    fn clear(&self) {
        if let Some((multi, _)) = &self.bars {
            let _ = multi.clear();
        }
    }
}
