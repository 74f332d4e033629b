//! Finding (1) of arXiv:2406.11463: "standard optimizers find minima where the model can
//! only fit training sets with significantly fewer samples than it has parameters".
//!
//! Grid: MLPs and CNNs over two orders of magnitude of parameter count, and the linear
//! (softmax-regression) reference, on MNIST and CIFAR-10 with real and with random labels,
//! all trained by one standard procedure (SGD with momentum). Analysis: EMC / parameters
//! per model with a bootstrap interval; a network supports the claim when the interval lies
//! below 1, contradicts it when above (or when it fits the whole capped training set and the
//! cap already exceeds its parameter count). A search that fitted everything up to its cap
//! says only EMC ≥ cap, so it decides nothing when the cap is below the parameter count;
//! a network below 1 whose EMC still grows with the budget is extended (searched again at
//! further budget doublings) until it converges or reaches the cap of doublings. Each
//! network is judged on its own: where some hold and others do not, the verdict is MIXED
//! and says which.
//! Context: with random labels, networks' EMC per parameter against the linear model's
//! (the paper's later observation that networks fit fewer samples per parameter).

use emc_claims::{
    architectures, bootstrap_log_ratio, combine_outcomes, Align, Arm, ArmResult, Claim, ClaimSpec,
    Data, Effect, Expectation, Outcome, Protocol, Scale, Section, Standard, Table, Verdict,
};

/// The claim, its grid and its analysis.
pub const SPEC: ClaimSpec = ClaimSpec {
    claim: Claim {
        id: "params-vs-samples",
        statement: "Standard optimizers find minima where the model can only fit training sets \
                    with significantly fewer samples than it has parameters.",
        location: "abstract, finding (1)",
        expectation: Expectation {
            effect: "EMC / parameters, per network, dataset and labelling,",
            direction: "< 1",
        },
    },
    grid,
    analyse,
    adaptive_work: emc_claims::WorkBound::UNBOUNDED,
};

/// The model label of the linear reference.
const LINEAR: &str = "linear";

/// What is trained at a scale.
struct Setting {
    /// (dataset, variants, training-set cap)
    datasets: &'static [Data],
    /// (label, model spec); the linear reference is added to every dataset.
    models: &'static [(&'static str, &'static str)],
    /// The training procedure, budget, search tolerance and seeds.
    train: Standard,
}

fn setting(scale: Scale) -> Setting {
    match scale {
        // Seconds in the dev profile; deterministic (CI compares it to a reference file).
        Scale::Smoke => Setting {
            datasets: &[("mnist", &["resize:7"], Some(512))],
            models: &[("mlp:4", "mlp:4"), ("mlp:32", "mlp:32")],
            train: Standard::SMOKE,
        },
        // MNIST at 14×14 (capped at 8,192 samples) and the exact 4,000-image CIFAR-10
        // subset at 8×8 (192 inputs, about MNIST's 196); networks from ~400 to ~50k
        // parameters (125×), EMC checked at 2× the epochs.
        Scale::Cpu => Setting {
            datasets: &[
                ("mnist", &["resize:14"], Some(8192)),
                ("cifar10-subset", &["resize:8"], None),
            ],
            models: &[
                ("mlp:2", "mlp:2"),
                ("cnn:2,4", "cnn:2,4:pool=all:flatten"),
                ("mlp:8", "mlp:8"),
                ("cnn:4,8", "cnn:4,8:pool=all:flatten"),
                ("mlp:32", "mlp:32"),
                ("mlp:256", "mlp:256"),
            ],
            train: Standard::CPU,
        },
        // The paper's datasets at full size and models up to millions of parameters.
        Scale::Paper => Setting {
            datasets: &[("mnist", &[], None), ("cifar10", &[], None)],
            models: &[
                ("mlp:64", "mlp:64"),
                ("mlp:512x512", "mlp:512x512"),
                ("mlp:2048x2048", "mlp:2048x2048"),
                ("cnn:16,32,64", "cnn:16,32,64:pool=all:flatten"),
                ("cnn:64,128,256", "cnn:64,128,256:pool=all:flatten"),
                ("resnet18:k=16", "resnet18:k=16"),
                ("resnet18:k=64", "resnet18:k=64"),
            ],
            train: Standard::PAPER,
        },
    }
}

fn grid(scale: Scale) -> Vec<Arm> {
    let s = setting(scale);
    let mut arms = vec![];
    for &spec in s.datasets {
        let data = spec.0;
        let real = Protocol::standard(spec, &s.train);
        for (labels, p) in real.labellings() {
            let models = std::iter::once(&(LINEAR, LINEAR)).chain(s.models);
            for &(name, model) in models {
                arms.push(p.arm(
                    format!("{data} {labels} {name}"),
                    format!("{data} {labels}"),
                    name,
                    model,
                ));
            }
        }
    }
    arms
}

/// EMC / parameters of one arm, and what it says about the claim.
struct PerParam {
    effect: Effect,
    /// Some seed fitted every sample up to the cap: EMC is only a lower bound.
    saturated: bool,
    outcome: Outcome,
}

fn per_param(r: &ArmResult, seed: u64) -> PerParam {
    let params = r.measurement.params;
    let effect = bootstrap_log_ratio(
        &format!("{}: EMC / parameters", r.arm.label),
        &r.emcs(),
        &[params],
        seed,
    );
    let saturated = r.saturated();
    let outcome = if saturated {
        // EMC ≥ cap: contradicts the claim only when the cap already reaches the parameters.
        let cap = r.measurement.stats.max;
        if cap >= params {
            Outcome::DoesNotHold
        } else {
            Outcome::Inconclusive
        }
    } else if r.budget_limited() && effect.outcome(false) == Outcome::Holds {
        // EMC still grew at the largest budget: below the parameters only so far.
        Outcome::Inconclusive
    } else {
        effect.outcome(false)
    };
    PerParam {
        effect,
        saturated,
        outcome,
    }
}

fn analyse(results: &[ArmResult]) -> Verdict {
    let (mut parts, mut effects, mut extend) = (vec![], vec![], vec![]);
    let mut more_seeds = vec![];
    let mut table = Table::new(&[
        ("data and labels", Align::Left),
        ("model", Align::Left),
        ("params", Align::Right),
        ("median EMC", Align::Right),
        ("EMC / params [95% CI]", Align::Left),
        ("supports", Align::Center),
    ]);
    let mut context = Table::new(&[
        ("data", Align::Left),
        ("network", Align::Left),
        (
            "(EMC/params of network) / (EMC/params of linear) [95% CI]",
            Align::Left,
        ),
    ]);
    for (g, group) in architectures(results).iter().enumerate() {
        let arms: Vec<&ArmResult> = results
            .iter()
            .filter(|r| r.arm.architecture == *group)
            .collect();
        let linear = arms.iter().find(|r| r.arm.procedure == LINEAR);
        for (i, r) in arms.iter().enumerate() {
            let p = per_param(r, (g * 100 + i) as u64);
            let is_network = r.arm.procedure != LINEAR;
            let bound = match (p.saturated, r.budget_limited()) {
                (true, _) => " (≥, hit the cap)",
                (false, true) => " (≥, budget-limited)",
                _ => "",
            };
            let supports = match (is_network, p.outcome) {
                (false, _) => "(reference)",
                (true, Outcome::Holds) => "yes",
                (true, Outcome::DoesNotHold) => "no",
                (true, Outcome::Inconclusive | Outcome::Mixed | Outcome::Exploratory) => "?",
            };
            table.row(&[
                group,
                &r.arm.procedure,
                &r.measurement.params,
                &format!("{}{bound}", r.measurement.stats.median),
                &format!(
                    "{:.3} [{:.3}, {:.3}]",
                    p.effect.ratio, p.effect.lo, p.effect.hi
                ),
                &supports,
            ]);
            if is_network {
                parts.push((r.arm.label.clone(), p.outcome));
                // Below 1 so far but still growing: a larger budget decides it.
                if p.outcome == Outcome::Inconclusive && !p.saturated && r.budget_limited() {
                    extend.push(r.arm.label.clone());
                }
                // Converged, and the interval contains 1: more seeds decide it.
                if p.outcome == Outcome::Inconclusive && !p.saturated && !r.budget_limited() {
                    more_seeds.push(r.arm.label.clone());
                }
                effects.push(Effect {
                    judged: Some(p.outcome),
                    ..p.effect
                });
            }
            // Random labels: a network's EMC per parameter against the linear model's.
            if let (true, true, Some(lin)) = (is_network, group.ends_with("random"), linear) {
                let e = bootstrap_log_ratio("", &r.emcs(), &lin.emcs(), (g * 100 + i) as u64);
                let scale = lin.measurement.params as f64 / r.measurement.params as f64;
                context.row(&[
                    group,
                    &r.arm.procedure,
                    &format!(
                        "{:.3} [{:.3}, {:.3}]",
                        e.ratio * scale,
                        e.lo * scale,
                        e.hi * scale
                    ),
                ]);
            }
        }
    }
    let (outcome, reason) = combine_outcomes(
        &parts,
        "networks",
        "every network fits fewer samples than it has parameters, the 95% interval of EMC / \
         parameters below 1",
        "every network fits more samples than it has parameters",
    );
    Verdict {
        outcome,
        reason,
        // Each network's EMC / parameters, judged; the first section adds the bounds.
        effects,
        chosen: vec![],
        extend,
        more_seeds,
        sections: vec![
            Section {
                title: "EMC per parameter".into(),
                body: table.into_string(),
            },
            Section {
                title: "Random labels: networks against the linear model, per parameter".into(),
                body: context.into_string(),
            },
        ],
        ..Verdict::default()
    }
}
