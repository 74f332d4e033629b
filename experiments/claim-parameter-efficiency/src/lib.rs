//! A finding of arXiv:2406.11463 known from its reviews: "subspace training and
//! low-precision parameters can substantially boost parameter efficiency" — networks are
//! "often parameter-wasteful".
//!
//! Grid: per model (an MLP and a CNN) and labelling (real, random), the full network (D
//! trainable parameters at 32 bits) against
//! - **subspace training** (`subspace:d=<d>(...)`, Li et al. 2018: θ = θ₀ + P z, only
//!   z ∈ ℝᵈ trained, P a seeded random frame, see `emc_models::subspace`) at d = D/f for each
//!   fraction f of the setting, each at two learning rates (the standard one and the
//!   standard one × √(D/d): the projected gradient of a random d-frame is about √(d/D) of
//!   the full gradient's length, so the second gives steps of the full network's length;
//!   the better one is kept);
//! - **low-precision weights** (`quant:<b>(...)`: quantisation-aware training, per-tensor
//!   symmetric fake quantisation of every trainable tensor, straight-through gradients onto
//!   full-precision master weights, a fit judged on the quantised model) at each bit width
//!   of the setting, at the standard learning rate.
//!
//! Analysis: per model, labelling and method, the budget-robust effect with a bootstrap
//! interval (see `emc_claims::per_size_ratio`): (EMC/d) / (EMC/D) for subspace training,
//! (EMC/(D·b)) / (EMC/(D·32)) for b-bit weights; above 1 supports the claim. Judged per
//! model, labelling and method (subspace, low precision): where some hold and others do not,
//! the verdict is MIXED and says where.

use emc_claims::{
    best_per_procedure, by_architecture, per_size_ratio, Align, Arm, ArmResult, Claim, ClaimSpec,
    Data, Expectation, Judgements, Protocol, Scale, Section, Standard, Table, Verdict,
};
use emc_models::{InputShape, ModelSpec};
use emc_optim::Schedule;

/// The claim, its grid and its analysis.
pub const SPEC: ClaimSpec = ClaimSpec {
    claim: Claim {
        id: "parameter-efficiency",
        statement: "Subspace training and low-precision parameters can substantially boost \
                    parameter efficiency: networks are often parameter-wasteful.",
        location: "a finding quoted by the paper's reviews (ICLR 2024/2025), not its abstract",
        expectation: Expectation {
            effect: "(EMC/d of subspace training) / (EMC/D of the full network), and (EMC per \
                     bit of b-bit weights) / (EMC per bit at 32 bits), per model, labelling \
                     and method,",
            direction: "> 1",
        },
    },
    grid,
    analyse,
    adaptive_work: emc_claims::WorkBound::UNBOUNDED,
};

/// The procedure label of the full network in each group.
const FULL: &str = "full";

/// What is trained at a scale.
struct Setting {
    /// (dataset, variants, training-set cap)
    data: Data,
    /// The input after the variants (for the parameter counts the subspace dimensions
    /// derive from; a test checks it against the variants).
    input: InputShape,
    /// (name, model spec)
    models: &'static [(&'static str, &'static str)],
    /// Whether random labels are measured beside the real ones.
    random_labels: bool,
    /// Subspace dimensions as fractions of D: d = round(D / f).
    fractions: &'static [usize],
    /// Whether subspace arms also train at the standard learning rate × √(D/d).
    scaled_lr: bool,
    /// Bit widths of the quantised weights.
    bits: &'static [u32],
    /// The procedure, budget, search tolerance and seeds every arm shares.
    train: Standard,
}

fn setting(scale: Scale) -> Setting {
    match scale {
        // Seconds in the dev profile; deterministic (CI compares it to a reference file).
        Scale::Smoke => Setting {
            data: ("mnist", &["resize:7"], Some(512)),
            input: InputShape::new(1, 7, 7),
            models: &[("mlp", "mlp:8")],
            random_labels: false,
            fractions: &[8, 2],
            scaled_lr: false,
            bits: &[4, 2],
            train: Standard::SMOKE,
        },
        // MNIST at 10×10 with the MLP and CNN of claims activations and optimizers (898 and
        // 666 parameters), real and random labels; d = D/32, D/8, D/2; 8, 4 and 2 bits.
        Scale::Cpu => Setting {
            data: ("mnist", &["resize:10"], Some(8192)),
            input: InputShape::new(1, 10, 10),
            models: &[("mlp", "mlp:8"), ("cnn", "cnn:4,8:relu:pool=all:flatten")],
            random_labels: true,
            fractions: &[32, 8, 2],
            scaled_lr: true,
            bits: &[8, 4, 2],
            train: Standard::CPU,
        },
        // Full CIFAR-10 and larger networks (the sparse projection above 2^24 entries):
        // d = D/64 ... D/2, 8, 4 and 2 bits.
        Scale::Paper => Setting {
            data: ("cifar10", &[], None),
            input: InputShape::new(3, 32, 32),
            models: &[
                ("mlp", "mlp:512"),
                ("cnn", "cnn:16,32,64:relu:pool=all:flatten"),
            ],
            random_labels: true,
            fractions: &[64, 16, 4, 2],
            scaled_lr: true,
            bits: &[8, 4, 2],
            train: Standard::PAPER,
        },
    }
}

/// The full network's trainable parameters D.
fn full_params(model: &str, input: InputShape) -> usize {
    let spec: ModelSpec = model.parse().expect("the grid's model specs parse");
    spec.num_params(input, 10)
        .expect("the grid's models suit their input")
}

/// Per model and labelling: the full network, the subspace arms, the quantised arms.
fn grid(scale: Scale) -> Vec<Arm> {
    let s = setting(scale);
    let base = Protocol::standard(s.data, &s.train);
    let labellings = base.labellings();
    let labellings = &labellings[..if s.random_labels { 2 } else { 1 }];
    let mut arms = vec![];
    for &(family, model) in s.models {
        let full = full_params(model, s.input);
        for (labels, p) in labellings {
            let group = format!("{family} {labels}");
            arms.push(p.arm(format!("{group} {FULL}"), &group, FULL, model));
            for &f in s.fractions {
                let d = (full as f64 / f as f64).round().max(1.0) as usize;
                let procedure = format!("subspace d={d}");
                let spec = format!("subspace:d={d}({model})");
                let mut lrs = vec![s.train.lr];
                if s.scaled_lr {
                    let scaled = s.train.lr * (full as f64 / d as f64).sqrt();
                    lrs.push((scaled * 1e4).round() / 1e4);
                }
                for (suffix, p) in p.at_settings(&lrs, &[Schedule::Constant]) {
                    let label = format!("{group} {procedure}{suffix}");
                    arms.push(p.arm(label, &group, &procedure, &spec));
                }
            }
            for &b in s.bits {
                let procedure = format!("{b}-bit");
                let spec = format!("quant:{b}({model})");
                arms.push(p.arm(format!("{group} {procedure}"), &group, &procedure, &spec));
            }
        }
    }
    arms
}

/// The spec of an arm's model.
fn spec_of(r: &ArmResult) -> ModelSpec {
    r.arm
        .measure
        .model
        .parse()
        .expect("a measured model's spec parses")
}

fn analyse(results: &[ArmResult]) -> Verdict {
    let best = best_per_procedure(results);
    let mut judged = Judgements::default();
    let mut table = Table::new(&[
        ("model and labels", Align::Left),
        ("method", Align::Left),
        ("trainable params", Align::Right),
        ("bits", Align::Right),
        ("median EMC", Align::Right),
        ("EMC per 1k params", Align::Right),
        ("efficiency / full network [95% CI]", Align::Left),
        ("supports", Align::Center),
    ]);
    for (g, (group, arms)) in by_architecture(best.iter().copied())
        .into_iter()
        .enumerate()
    {
        let full = arms.iter().find(|r| r.arm.procedure == FULL).copied();
        for (i, r) in arms.iter().enumerate() {
            let spec = spec_of(r);
            let bits = spec.bits_per_param();
            let params = r.measurement.params;
            let st = &r.measurement.stats;
            let per_k = format!("{:.1}", 1e3 * st.median / params.max(1) as f64);
            let (cell, supports) = match full.filter(|_| r.arm.procedure != FULL) {
                None => (String::new(), "(reference)"),
                Some(full) => {
                    let size = |r: &ArmResult| {
                        r.measurement.params as f64 * f64::from(spec_of(r).bits_per_param())
                    };
                    let (what, method) = match spec {
                        ModelSpec::Quant(_) => ("EMC per bit", "low precision"),
                        _ => ("EMC per trainable parameter", "subspace"),
                    };
                    let e = per_size_ratio(
                        format!("{group}: {what} of {} / of the full network", r.arm.label),
                        (r, size(r)),
                        (full, size(full)),
                        (g * 100 + i) as u64,
                    );
                    judged.record_cells(&format!("{group} {method}"), e)
                }
            };
            table.row(&[
                &group,
                &r.arm.label,
                &params,
                &bits,
                &format!("{}{}", st.median, r.bound_note()),
                &per_k,
                &cell,
                &supports,
            ]);
        }
    }
    let (outcome, reason) = judged.parts.combine(
        "models, labellings and methods",
        "subspace training fits more samples per trainable parameter, and low-precision \
         weights more samples per bit, than the full network (95% intervals above 1)",
        "subspace training fits fewer samples per trainable parameter, and low-precision \
         weights fewer per bit, than the full network (95% intervals below 1)",
    );
    Verdict {
        outcome,
        reason,
        chosen: best.iter().map(|r| r.arm.label.clone()).collect(),
        sections: vec![Section {
            title: "Samples fitted per trainable parameter and per bit, against the full \
                    network"
                .into(),
            body: table.into_string(),
        }],
        ..judged.into_verdict()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_has_the_full_network_each_subspace_and_each_bit_width() {
        for scale in [Scale::Smoke, Scale::Cpu, Scale::Paper] {
            let s = setting(scale);
            let arms = grid(scale);
            let lrs = if s.scaled_lr { 2 } else { 1 };
            let per_group = 1 + s.fractions.len() * lrs + s.bits.len();
            let groups = s.models.len() * if s.random_labels { 2 } else { 1 };
            assert_eq!(arms.len(), groups * per_group, "{scale}");
            for arm in &arms {
                let spec: ModelSpec = arm.measure.model.parse().unwrap();
                let network = spec.network().to_string();
                let (_, model) = s
                    .models
                    .iter()
                    .find(|(_, m)| m.parse::<ModelSpec>().unwrap().to_string() == network)
                    .expect("a model of the setting");
                let full = full_params(model, s.input);
                match &spec {
                    ModelSpec::Subspace(cfg) => {
                        assert!(s
                            .fractions
                            .iter()
                            .any(|f| cfg.dim == (full as f64 / *f as f64).round() as usize));
                        assert!(cfg.dim < full, "{}", arm.label);
                    }
                    ModelSpec::Quant(cfg) => assert!(s.bits.contains(&cfg.bits)),
                    _ => assert_eq!(arm.procedure, FULL),
                }
                let random = arm.measure.variants.iter().any(|v| v == "random-labels");
                assert_eq!(
                    random,
                    arm.architecture.ends_with("random"),
                    "{}",
                    arm.label
                );
            }
            // Every arm sees the same data, budget and search.
            let first = &arms[0].measure;
            for arm in &arms {
                assert_eq!(arm.measure.train.stop, first.train.stop, "{}", arm.label);
                assert_eq!(arm.measure.search, first.search, "{}", arm.label);
                let base = |v: &[String]| -> Vec<String> {
                    v.iter()
                        .filter(|v| *v != "random-labels")
                        .cloned()
                        .collect()
                };
                assert_eq!(base(&arm.measure.variants), base(&first.variants));
            }
        }
    }

    #[test]
    fn the_input_shape_is_that_of_the_variants() {
        for scale in [Scale::Smoke, Scale::Cpu, Scale::Paper] {
            let s = setting(scale);
            let side = match s.data.1.first() {
                Some(v) => v.strip_prefix("resize:").unwrap().parse().unwrap(),
                None => 32,
            };
            assert_eq!((s.input.height, s.input.width), (side, side), "{scale}");
            let channels = if s.data.0.starts_with("cifar") { 3 } else { 1 };
            assert_eq!(s.input.channels, channels);
        }
    }
}
