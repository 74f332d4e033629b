//! `emc data info | fetch | preview`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use emc_data::{hub, load, Dataset, DatasetId, LoadOptions, Split, Variant};

/// Where datasets are looked for (shared by every data command).
#[derive(Debug, Args)]
pub struct Source {
    /// Directory of canonical dataset files (IDX, CIFAR binary, ...).
    #[arg(long, env = "EMC_DATA_DIR", global = true, value_parser = data_dir)]
    data_dir: Option<PathBuf>,
}

/// Parses `--data-dir` / `EMC_DATA_DIR` (every command's): an empty value is refused by
/// name. It is most often a script's unset variable (`EMC_DATA_DIR=$DATA`), and reading it
/// as "no directory" would silently take the data from the Hub cache instead.
pub(crate) fn data_dir(value: &str) -> std::result::Result<PathBuf, String> {
    if !value.is_empty() {
        return Ok(PathBuf::from(value));
    }
    let env = emc_data::DATA_DIR_ENV;
    let from_env = std::env::var_os(env).is_some_and(|v| v.is_empty());
    Err(if from_env {
        format!(
            "the environment variable {env} is set but empty; unset it (to use the Hugging \
             Face Hub cache) or set it to a folder of dataset files"
        )
    } else {
        "an empty path; expected a folder of dataset files".to_string()
    })
}

impl Source {
    fn options(&self) -> LoadOptions {
        LoadOptions::from_env().with_data_dir(self.data_dir.clone())
    }
}

/// The `data` command group.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Where a dataset is read from, split sizes, shape, label histogram, file digests.
    Info {
        /// mnist, fashion-mnist, cifar10, cifar10-jpeg, cifar10-subset, cifar100,
        /// cifar100-coarse, `folder:PATH[@RES]`.
        dataset: String,
        /// Variants applied to the train split before the histogram (repeatable), e.g.
        /// `--variant random-labels --variant subset:1000`.
        #[arg(long = "variant")]
        variants: Vec<String>,
        /// Seed of the random variants.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[command(flatten)]
        source: Source,
    },
    /// Download a dataset's Hugging Face parquet files into the hub cache.
    Fetch {
        /// mnist, fashion-mnist, cifar10, cifar100 or cifar100-coarse.
        dataset: String,
    },
    /// Write a PNG grid of samples with their labels drawn under each image.
    Preview {
        /// The dataset (as for `info`).
        dataset: String,
        /// Variants applied before sampling (repeatable).
        #[arg(long = "variant")]
        variants: Vec<String>,
        /// Seed of the random variants and of the sample choice.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// train or test.
        #[arg(long, default_value = "train")]
        split: Split,
        /// Number of samples shown (the first ones of the dataset after the variants).
        #[arg(long, default_value_t = 64)]
        count: usize,
        /// Pixel magnification of each tile.
        #[arg(long, default_value_t = 2)]
        scale: usize,
        /// Output PNG.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        source: Source,
    },
}

/// Runs one data command.
pub fn run(cmd: DataCommand) -> Result<()> {
    match cmd {
        DataCommand::Info {
            dataset,
            variants,
            seed,
            source,
        } => info(&dataset, &variants, seed, &source.options()),
        DataCommand::Fetch { dataset } => fetch(&dataset),
        DataCommand::Preview {
            dataset,
            variants,
            seed,
            split,
            count,
            scale,
            out,
            source,
        } => {
            let ds = load_with_variants(&dataset, split, &variants, seed, &source.options())?;
            let shown = ds.len().min(count);
            crate::preview::write_grid(&ds, shown, scale, &out)?;
            println!(
                "wrote {} ({shown} samples of {} {split})",
                out.display(),
                ds.metadata().name
            );
            println!("labels: {}", legend(&ds));
            Ok(())
        }
    }
}

fn parse_dataset(name: &str) -> Result<DatasetId> {
    name.parse().with_context(|| "parsing the dataset name")
}

fn parse_variants(variants: &[String]) -> Result<Vec<Variant>> {
    variants
        .iter()
        .map(|v| v.parse().with_context(|| format!("parsing --variant {v}")))
        .collect()
}

fn load_with_variants(
    name: &str,
    split: Split,
    variants: &[String],
    seed: u64,
    opts: &LoadOptions,
) -> Result<Dataset> {
    let id = parse_dataset(name)?;
    let variants = parse_variants(variants)?;
    let ds = load(&id, split, opts)?;
    Ok(Variant::apply_all(&variants, ds, seed)?)
}

fn legend(ds: &Dataset) -> String {
    ds.class_names()
        .iter()
        .enumerate()
        .map(|(k, n)| format!("{k}={n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn info(name: &str, variants: &[String], seed: u64, opts: &LoadOptions) -> Result<()> {
    let id = parse_dataset(name)?;
    let variants = parse_variants(variants)?;
    let start = Instant::now();
    let train = load(&id, Split::Train, opts)?;
    let train_secs = start.elapsed().as_secs_f64();
    let test = match load(&id, Split::Test, opts) {
        Ok(t) => Some(t),
        Err(e) => {
            eprintln!("note: test split unavailable: {e}");
            None
        }
    };
    let train = Variant::apply_all(&variants, train, seed)?;
    let meta = train.metadata();
    println!("dataset   {id}");
    println!("source    {}", meta.origin);
    println!(
        "splits    train {}{}",
        train.len(),
        test.as_ref()
            .map(|t| format!(", test {}", t.len()))
            .unwrap_or_default()
    );
    let shape = train.shape();
    if shape.height == 1 && shape.width == 1 {
        println!(
            "features  {} (a table: test split = a seeded, stratified {:.0}% holdout of the file)",
            shape.channels,
            emc_data::tabular::TEST_FRACTION * 100.0
        );
    } else {
        println!("shape     {shape} (channels x height x width)");
    }
    println!("classes   {}", train.num_classes());
    for v in &meta.variants {
        match v.seed {
            Some(s) => println!("variant   {} (seed {s})", v.spec),
            None => println!("variant   {}", v.spec),
        }
    }
    println!("train label histogram:");
    let hist = train.label_histogram();
    let width = train
        .class_names()
        .iter()
        .map(|n| n.len())
        .max()
        .unwrap_or(0);
    for (k, (count, name)) in hist.iter().zip(train.class_names()).enumerate() {
        println!("  {k:>3} {name:<width$} {count}");
    }
    println!("files:");
    let mut seen = vec![];
    for f in meta
        .files
        .iter()
        .chain(test.iter().flat_map(|t| t.metadata().files.iter()))
    {
        // Both splits of a table come from one file: list it once.
        if seen.contains(&f) {
            continue;
        }
        seen.push(f);
        println!("  {}  {} ({} bytes)", f.sha256, f.path.display(), f.bytes);
    }
    println!("loaded train split in {train_secs:.3} s");
    Ok(())
}

fn fetch(name: &str) -> Result<()> {
    let id = parse_dataset(name)?;
    let Some(hd) = id.hub() else {
        bail!(
            "`{id}` has no Hugging Face source; it is read from local files only \
             (set EMC_DATA_DIR or pass --data-dir)"
        );
    };
    let opts = hub::HubOptions::from_env();
    for split in [Split::Train, Split::Test] {
        let path = hub::fetch(&hd, split, &opts)
            .with_context(|| format!("fetching {id} {split} from {}", hd.repo))?;
        println!("{id} {split}: {}", path.display());
    }
    Ok(())
}
