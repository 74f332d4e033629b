//! The `--dry-run` plan: the grid of a claim at a scale and an upper bound on its training
//! cost, from the grid alone (shapes and class counts from `emc-data`, parameter counts
//! from `emc-models`); loads no data and trains nothing.

use std::fmt::Write as _;
use std::path::Path;

use emc_data::{ClassSelection, DatasetId, Variant};
use emc_models::{InputShape, ModelSpec};
use emc_search::{default_n0, MeasureConfig};

use crate::{first_seen, ClaimSpec, Scale};

/// Input shape, classes and training-split size of `data` after its `resize:`,
/// `grayscale` and class variants, from `emc-data` without loading anything (a class
/// subset's size is estimated as its share of the classes); `None` for a dataset known only
/// from its files or a variant that does not parse.
fn input_of(data: &str, variants: &[String]) -> Option<(InputShape, usize, usize)> {
    let known = data.parse::<DatasetId>().ok()?.train_shape()?;
    let mut image = known.image;
    let (mut classes, mut len) = (known.classes, known.len);
    for v in variants {
        match v.parse::<Variant>().ok()? {
            Variant::Resize { height, width } => (image.height, image.width) = (height, width),
            Variant::Grayscale => image.channels = 1,
            Variant::Classes(sel) => {
                let k = match sel {
                    ClassSelection::First(k) => k,
                    ClassSelection::List(list) => list.len(),
                };
                len = len * k / classes.max(1);
                classes = k;
            }
            Variant::RandomLabelsOver(k) | Variant::MergeClasses(k) => classes = k,
            _ => {}
        }
    }
    let input = InputShape {
        channels: image.channels,
        height: image.height,
        width: image.width,
    };
    Some((input, classes, len))
}

/// One arm's line of the plan and its share of the cost bound.
struct ArmPlan {
    /// Parameter count, when the model and the data's shape are known.
    params: Option<usize>,
    /// The network's own weights (D of a subspace model, whose count is d), for the FLOPs.
    network_params: Option<usize>,
    /// First subset size of the search (0 when unknown).
    n0: usize,
    /// Largest subset size (0 when unknown).
    cap: usize,
    /// Probes per seed at most.
    probes: usize,
    /// Sample-epochs at most, every seed and budget level.
    sample_epochs: f64,
}

impl ArmPlan {
    fn new(m: &MeasureConfig) -> ArmPlan {
        let shape = input_of(&m.data, &m.variants);
        let spec = m.model.parse::<ModelSpec>().ok();
        let count = |network: bool| {
            let (spec, (input, classes, _)) = (spec.as_ref()?, shape?);
            let spec = if network { spec.network() } else { spec };
            spec.num_params(input, classes).ok()
        };
        let (params, network_params) = (count(false), count(true));
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
        // Upper bound: EMC reaches the cap and every probe runs its whole epoch budget, at
        // every budget level (1x + 2x + ... = 2^(d+1) - 1 times the configured budget) and
        // for the most seeds adaptive seeding may add.
        let levels = ((1usize << (m.search.budget_doublings + 1)) - 1) as f64;
        let seeds = m.seeds.len().max(m.search.max_seeds) as f64;
        let sample_epochs =
            seeds * levels * m.train.stop.max_epochs as f64 * (2 * cap + bisect * cap) as f64;
        ArmPlan {
            params,
            network_params,
            n0,
            cap,
            probes: doubling + bisect,
            sample_epochs,
        }
    }
}

/// The cost bound of one (arm, seed) search of `m`, in FLOPs at 6·params per sample
/// (sample-epochs when the parameter count is unknown): what shards are balanced by.
pub(crate) fn search_cost(m: &MeasureConfig) -> f64 {
    let plan = ArmPlan::new(m);
    let seeds = m.seeds.len().max(m.search.max_seeds).max(1) as f64;
    plan.sample_epochs / seeds * 6.0 * plan.network_params.unwrap_or(1).max(1) as f64
}

/// The array size to suggest for `arms`: the largest N (at most the number of searches,
/// and 512) whose longest shard costs at most 1.25× the mean — beyond it one search
/// dominates its shard and more tasks barely shorten the run; with that shard's cost and
/// the mean.
pub(crate) fn suggested_shards(arms: &[crate::Arm]) -> (usize, f64, f64) {
    let searches: usize = arms.iter().map(|a| a.measure.seeds.len()).sum();
    let cost = |a: &crate::Arm| search_cost(&a.measure);
    let total: f64 = arms
        .iter()
        .map(|a| cost(a) * a.measure.seeds.len() as f64)
        .sum();
    let longest = |n: usize| -> f64 {
        crate::shard::partition(arms, n, cost)
            .iter()
            .map(|p| p.iter().map(|&(a, _)| cost(&arms[a])).sum::<f64>())
            .fold(0.0, f64::max)
    };
    let mut best = (1, total, total);
    for n in 2..=searches.clamp(1, 512) {
        let (max, mean) = (longest(n), total / n as f64);
        if max <= 1.25 * mean {
            best = (n, max, mean);
        }
    }
    best
}

/// The grid and an upper bound on its training cost, as text; loads no data and trains
/// nothing.
pub fn dry_run(spec: &ClaimSpec, scale: Scale, seeds: Option<u64>, out: &Path) -> String {
    let arms = spec.arms(scale, seeds);
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
        let plan = ArmPlan::new(m);
        total_se += plan.sample_epochs;
        total_flops += plan.sample_epochs * 6.0 * plan.network_params.unwrap_or(0) as f64;
        total_probes += plan.probes * m.seeds.len();
        let _ = writeln!(
            s,
            "{:<34} {:>8} {:>6} {:>6} {:>7} {:>7} {:>9}  {} [{}]",
            a.label,
            plan.params.map_or("?".into(), |p| p.to_string()),
            m.seeds.len(),
            m.train.stop.max_epochs,
            plan.n0,
            plan.cap,
            plan.probes * m.seeds.len(),
            m.data,
            m.variants.join(" ")
        );
    }
    // Generalization: one more training per seed of the arms that ask for it.
    let asking: Vec<_> = arms.iter().filter(|a| a.generalization.is_some()).collect();
    if !asking.is_empty() {
        let runs: usize = asking.iter().map(|a| a.measure.seeds.len()).sum();
        let sizes = first_seen(
            asking
                .iter()
                .filter_map(|a| Some(a.generalization.as_ref()?.train_size)),
        );
        let sizes: Vec<String> = sizes.iter().map(|n| n.to_string()).collect();
        let _ = writeln!(
            s,
            "generalization: {} arms also train {runs} models (one per seed) on the \
             first n = {} samples and evaluate them on the test split",
            asking.len(),
            sizes.join(" or ")
        );
    }
    let _ = writeln!(
        s,
        "{} arms, at most {total_probes} probes; cost upper bound (EMC at the cap, full epoch \
         budgets): {total_se:.2e} sample-epochs, ≈ {total_flops:.2e} FLOPs at 6·params per \
         sample (exact for MLPs; convolutions cost more; a subspace model counts its network's \
         weights, not d, and its projection adds 4·D·d per step). Plateau and fit stops make real runs \
         far cheaper.",
        arms.len()
    );
    let searches: usize = arms.iter().map(|a| a.measure.seeds.len()).sum();
    let (n, longest, mean) = suggested_shards(&arms);
    let _ = writeln!(
        s,
        "sharding (--shard I/N, e.g. a Slurm array): {searches} (arm, seed) searches; suggested \
         N = {n} (`sbatch --array=0-{}`), the most tasks whose longest costs at most 1.25x \
         the mean; per task at most ≈ {longest:.2e} FLOPs (mean {mean:.2e}), the bound above \
         split by the searches' own bounds. The adaptive rounds and generalization runs \
         follow in the analysing process after the merge.",
        n - 1
    );
    let cap = spec.adaptive_work.doublings_at(scale);
    if cap > 0 {
        let _ = writeln!(
            s,
            "not in this bound: adaptive extensions. An arm a comparison hinges on (undecided, \
             the arm behind budget-limited) may be searched again up to {cap} budget doublings \
             in all ({}x its epochs; --extend-up-to), each doubling costing about twice the \
             arm's previous budget level.",
            1usize << cap
        );
    }
    let seeds = scale.seed_cap();
    if seeds > 0 {
        let _ = writeln!(
            s,
            "not in this bound: adaptive seeds. Both arms of a comparison undecided only \
             because its interval contains 1 may be given {} more seeds per round, up to \
             {seeds} seeds in all (--max-seeds), each seed costing what one of the grid's does.",
            crate::extend::SEED_STEP
        );
    }
    if let Some(work) = spec.adaptive_work.at(scale) {
        let _ = writeln!(
            s,
            "adaptive rounds bounded: together they train at most {work:.2e} \
             parameter-sample-epochs (params × n × epochs; --adaptive-work), the claim's bound \
             at this scale; a request whose estimate exceeds what is left is refused."
        );
    }
    s
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
        let (shape, _, _) = input_of("cifar10", &v(&["resize:8x12", "random-labels"])).unwrap();
        assert_eq!((shape.channels, shape.height, shape.width), (3, 8, 12));
        let (_, classes, len) = input_of("cifar10-subset", &v(&["classes:2"])).unwrap();
        assert_eq!((classes, len), (2, 800));
        let (_, classes, len) = input_of("mnist", &v(&["random-labels:5"])).unwrap();
        assert_eq!((classes, len), (5, 60_000));
        let (_, classes, _) = input_of("mnist", &v(&["merge-classes:2"])).unwrap();
        assert_eq!(classes, 2);
        let (shape, classes, len) = input_of("mnist", &[]).unwrap();
        assert_eq!((shape.channels, shape.height, shape.width), (1, 28, 28));
        assert_eq!((classes, len), (10, 60_000));
        assert!(input_of("imagenet", &[]).is_none());
    }
}
