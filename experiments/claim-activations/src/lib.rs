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

use std::fmt::Write as _;

use emc_claims::{
    best_per_procedure, budget_robust_effect, combine_outcomes, Arm, ArmResult, Claim, ClaimSpec,
    Expectation, Protocol, Scale, Section, Verdict, COSINE_BUDGET,
};
use emc_optim::{OptimConfig, Schedule};
use emc_search::SearchConfig;
use emc_train::Batching;

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
    data: &'static str,
    variants: &'static [&'static str],
    /// (name, model spec with `{act}` for the activation, learning-rate grid)
    families: &'static [(&'static str, &'static str, &'static [f64])],
    /// Learning-rate schedules each (activation, learning rate) is trained with; the best
    /// learning rate and schedule per activation is compared.
    schedules: &'static [Schedule],
    /// Real labels, and random labels when true.
    random_labels: bool,
    batch: usize,
    seeds: u64,
    max_epochs: usize,
    patience: usize,
    max_n: Option<usize>,
    rel_tol: f64,
    budget_doublings: usize,
    band_probes: usize,
}

fn setting(scale: Scale) -> Setting {
    match scale {
        // Seconds in the dev profile; deterministic (CI compares it to a reference file).
        Scale::Smoke => Setting {
            data: "mnist",
            variants: &["resize:7"],
            families: &[("mlp", "mlp:8:{act}", &[0.05])],
            schedules: &[Schedule::Constant],
            random_labels: true,
            batch: 32,
            seeds: 2,
            max_epochs: 100,
            patience: 25,
            max_n: Some(512),
            rel_tol: 0.05,
            budget_doublings: 0,
            band_probes: 0,
        },
        // MNIST at 10×10, an MLP and a CNN of 898 and 666 parameters, so that 126 searches
        // (two budgets each) fit a 2-core machine within the hour. The MLP is judged at its
        // better of two learning rates; the CNN, several times costlier per sample, at one
        // (a threat to the CNN's verdict: an activation that needs another learning rate,
        // sigmoid here, is judged at one that does not suit it).
        Scale::Cpu => Setting {
            data: "mnist",
            variants: &["resize:10"],
            families: &[
                ("mlp", "mlp:8:{act}", &[0.01, 0.05]),
                ("cnn", "cnn:4,8:{act}:pool=all:flatten", &[0.02]),
            ],
            schedules: &[Schedule::Constant],
            random_labels: true,
            batch: 32,
            seeds: 3,
            max_epochs: 200,
            patience: 40,
            max_n: Some(8192),
            rel_tol: 0.05,
            budget_doublings: 1,
            band_probes: 0,
        },
        // Full CIFAR-10, paper-sized models, five seeds: a GPU.
        Scale::Paper => Setting {
            data: "cifar10",
            variants: &[],
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
            random_labels: true,
            batch: 128,
            seeds: 5,
            max_epochs: 1000,
            patience: 100,
            max_n: None,
            rel_tol: 0.02,
            budget_doublings: 2,
            band_probes: 1,
        },
    }
}

fn grid(scale: Scale) -> Vec<Arm> {
    let s = setting(scale);
    let real = Protocol {
        data: s.data.into(),
        variants: s.variants.iter().map(|v| v.to_string()).collect(),
        batching: Batching::Mini(s.batch),
        max_epochs: s.max_epochs,
        patience: s.patience,
        search: SearchConfig {
            max_n: s.max_n,
            rel_tol: s.rel_tol,
            budget_doublings: s.budget_doublings,
            band_probes: s.band_probes,
            ..SearchConfig::default()
        },
        seeds: s.seeds,
        ..Protocol::default()
    };
    let mut labellings = vec![("real", real.clone())];
    if s.random_labels {
        labellings.push(("random", real.with_variant("random-labels")));
    }
    let mut arms = vec![];
    for &(family, template, lrs) in s.families {
        for (labels, protocol) in &labellings {
            for act in ACTIVATIONS {
                let sgd = Protocol {
                    optim: OptimConfig::sgd(lrs[0], 0.9),
                    ..protocol.clone()
                };
                for (setting, p) in sgd.at_settings(lrs, s.schedules) {
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
    let mut groups: Vec<&str> = vec![];
    for r in &best {
        if !groups.contains(&r.arm.architecture.as_str()) {
            groups.push(&r.arm.architecture);
        }
    }
    let (mut effects, mut parts) = (vec![], vec![]);
    let mut table = String::from(
        "| model and labels | ReLU's rank | activations by median EMC (min–max over seeds) |\n\
         |---|:-:|---|\n",
    );
    for (i, group) in groups.iter().enumerate() {
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
        let _ = writeln!(
            table,
            "| {group} | {} of {} | {order} |",
            rank.map_or("-".into(), |k| (k + 1).to_string()),
            arms.len()
        );
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
        chosen: best.iter().map(|r| r.arm.label.clone()).collect(),
        sections: vec![Section {
            title: "Ordering of activations (best learning rate each)".into(),
            body: table,
        }],
        ..Verdict::default()
    }
}
