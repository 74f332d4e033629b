//! Finding (5) of arXiv:2406.11463: "ReLU activation functions result in finding minima
//! that fit more data".
//!
//! Grid: the same MLP and CNN with each of seven activations, on real and on random labels,
//! each over a small learning-rate grid, and at paper scale with a constant and a
//! cosine-decayed schedule (the best learning rate and schedule per activation is kept, so
//! an activation is not judged at a setting that suits another). Analysis: per model
//! and labelling, the ordering of activations by EMC, and the effect EMC(ReLU) / EMC(best
//! other activation) with a bootstrap interval. A library so the workspace test runs the
//! smoke scale through it.

use emc_claims::{
    architectures, best_per_procedure, budget_robust_effect, combine_outcomes, Align, Arm,
    ArmResult, Claim, ClaimSpec, Data, Expectation, Protocol, Scale, Section, Standard, Table,
    Verdict, COSINE_BUDGET,
};
use emc_optim::Schedule;

/// The claim, its grid and its analysis.
pub const SPEC: ClaimSpec = ClaimSpec {
    claim: Claim {
        id: "activations",
        statement: "ReLU activation functions result in finding minima that fit more data.",
        location: "abstract, finding (5)",
        expectation: Expectation {
            effect: "EMC(relu) / EMC(best other activation), per model and labelling,",
            direction: "> 1",
        },
    },
    grid,
    analyse,
    // Up to 128x at cpu scale (the default is 32x): the MLP on real labels, ReLU against
    // SiLU, is level at 32x with both arms still growing, and a doubling of those two
    // 898-parameter arms costs CPU-minutes (ReLU's 64x round: about 1,400 CPU-s).
    adaptive_work: emc_claims::WorkBound::UNBOUNDED.with_cpu_doublings(7),
};

/// The activations compared, ReLU first.
pub const ACTIVATIONS: [&str; 7] = [
    "relu",
    "leaky_relu",
    "gelu",
    "silu",
    "elu",
    "tanh",
    "sigmoid",
];

/// What is trained at a scale.
struct Setting {
    /// (dataset, variants, training-set cap)
    data: Data,
    /// (name, model spec with `{act}` for the activation, learning-rate grid); the grid
    /// replaces `train.lr`.
    families: &'static [(&'static str, &'static str, &'static [f64])],
    /// Learning-rate schedules each (activation, learning rate) is trained with; the best
    /// learning rate and schedule per activation is compared.
    schedules: &'static [Schedule],
    /// The training procedure (SGD with momentum), budget, search tolerance and seeds.
    train: Standard,
}

fn setting(scale: Scale) -> Setting {
    match scale {
        // Seconds in the dev profile; deterministic (CI compares it to a reference file).
        Scale::Smoke => Setting {
            data: ("mnist", &["resize:7"], Some(512)),
            families: &[("mlp", "mlp:8:{act}", &[0.05])],
            schedules: &[Schedule::Constant],
            train: Standard::SMOKE,
        },
        // MNIST at 10×10, an MLP and a CNN of 898 and 666 parameters, so that 126 searches
        // (two budgets each) fit a 2-core machine within the hour. The MLP is judged at its
        // better of two learning rates; the CNN, several times costlier per sample, at one
        // (a threat to the CNN's verdict: an activation that needs another learning rate,
        // sigmoid here, is judged at one that does not suit it).
        Scale::Cpu => Setting {
            data: ("mnist", &["resize:10"], Some(8192)),
            families: &[
                ("mlp", "mlp:8:{act}", &[0.01, 0.05]),
                ("cnn", "cnn:4,8:{act}:pool=all:flatten", &[0.02]),
            ],
            schedules: &[Schedule::Constant],
            train: Standard::CPU,
        },
        // Full CIFAR-10, paper-sized models, five seeds: a GPU.
        Scale::Paper => Setting {
            data: ("cifar10", &[], None),
            families: &[
                ("mlp", "mlp:512x512:{act}", &[0.003, 0.01, 0.03]),
                (
                    "cnn",
                    "cnn:32,64,128:{act}:pool=all:flatten",
                    &[0.003, 0.01, 0.03],
                ),
            ],
            // Constant and decayed: an activation is not judged at a schedule that suits
            // another.
            schedules: &[Schedule::Constant, COSINE_BUDGET],
            train: Standard::PAPER,
        },
    }
}

/// Per family, labelling (real, then random) and activation, one arm per learning rate and
/// schedule.
fn grid(scale: Scale) -> Vec<Arm> {
    let s = setting(scale);
    let mut arms = vec![];
    for &(family, template, lrs) in s.families {
        let real = Protocol::standard(
            s.data,
            &Standard {
                lr: lrs[0],
                ..s.train
            },
        );
        for (labels, protocol) in real.labellings() {
            for act in ACTIVATIONS {
                for (setting, p) in protocol.at_settings(lrs, s.schedules) {
                    arms.push(p.arm(
                        format!("{family} {labels} {act}{setting}"),
                        format!("{family} {labels}"),
                        act,
                        &template.replace("{act}", act),
                    ));
                }
            }
        }
    }
    arms
}

fn analyse(results: &[ArmResult]) -> Verdict {
    let best = best_per_procedure(results);
    let (mut effects, mut parts, mut extend) = (vec![], vec![], vec![]);
    let mut more_seeds = vec![];
    let mut table = Table::new(&[
        ("model and labels", Align::Left),
        ("ReLU's rank", Align::Center),
        (
            "activations by median EMC (min–max over seeds)",
            Align::Left,
        ),
    ]);
    for (i, group) in architectures(best.iter().copied()).iter().enumerate() {
        let mut arms: Vec<&ArmResult> = best
            .iter()
            .copied()
            .filter(|r| r.arm.architecture == *group)
            .collect();
        arms.sort_by(|a, b| b.cmp_emc(a));
        let order = arms
            .iter()
            .map(|r| {
                let st = &r.measurement.stats;
                format!("{} {} ({}–{})", r.arm.procedure, st.median, st.min, st.max)
            })
            .collect::<Vec<_>>()
            .join(" > ");
        let rank = arms.iter().position(|r| r.arm.procedure == "relu");
        let rank = rank.map_or("-".into(), |k| (k + 1).to_string());
        table.row(&[group, &format!("{rank} of {}", arms.len()), &order]);
        let relu = arms.iter().find(|r| r.arm.procedure == "relu");
        let other = arms.iter().find(|r| r.arm.procedure != "relu");
        let (Some(relu), Some(other)) = (relu, other) else {
            continue;
        };
        let e = budget_robust_effect(
            &format!(
                "{group}: EMC({}) / EMC({}, the best other)",
                relu.arm.label, other.arm.label
            ),
            relu,
            other,
            i as u64,
            true,
        );
        parts.push((e.part(group), e.outcome));
        extend.extend(e.extend.clone());
        more_seeds.extend(e.more_seeds.clone());
        effects.push(e.effect);
    }
    let (outcome, reason) = combine_outcomes(
        &parts,
        "models and labellings",
        "for every model and labelling ReLU fits more samples than every other activation \
         (the 95% interval of EMC(ReLU) / EMC(best other) lies above 1)",
        "for every model and labelling another activation fits more samples than ReLU (the 95% \
         interval of EMC(ReLU) / EMC(best other) lies below 1)",
    );
    Verdict {
        outcome,
        reason,
        effects,
        extend,
        more_seeds,
        chosen: best.iter().map(|r| r.arm.label.clone()).collect(),
        sections: vec![Section {
            title: "Ordering of activations (best learning rate each)".into(),
            body: table.into_string(),
        }],
        ..Verdict::default()
    }
}
