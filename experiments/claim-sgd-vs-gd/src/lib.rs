//! Finding (3) of arXiv:2406.11463: "SGD actually finds minima that fit more training data
//! than full-batch gradient descent".
//!
//! Grid: per architecture, plain SGD (no momentum) at two batch sizes, full-batch gradient
//! descent (the same update on the exact gradient, one step per epoch) and Adam, each over
//! a small learning-rate grid, all at the same epoch budget. Analysis: per procedure the
//! learning rate with the best EMC; per architecture the effect EMC(best SGD) / EMC(GD) with
//! a bootstrap interval. A library (not only a binary) so the workspace test runs the smoke
//! scale through it.

use emc_claims::{
    best_per_procedure, bootstrap_log_ratio, Arm, ArmResult, Claim, ClaimSpec, Expectation,
    Outcome, Scale, Verdict,
};
use emc_optim::OptimConfig;
use emc_search::{MeasureConfig, SearchConfig};
use emc_train::{Batching, TrainConfig};

/// The claim, its grid and its analysis.
pub const SPEC: ClaimSpec = ClaimSpec {
    claim: Claim {
        id: "sgd-vs-gd",
        statement: "While stochastic training is thought to have a regularizing effect, SGD \
                    actually finds minima that fit more training data than full-batch gradient \
                    descent.",
        location: "abstract, finding (3); Section 5 (optimizers)",
        expectation: Expectation {
            effect: "EMC(best SGD) / EMC(full-batch GD), per architecture,",
            direction: "> 1",
        },
    },
    grid,
    analyse,
};

/// What is trained at a scale.
struct Setting {
    data: &'static str,
    variants: &'static [&'static str],
    architectures: &'static [(&'static str, &'static str)],
    batch_sizes: [usize; 2],
    sgd_lrs: &'static [f64],
    gd_lrs: &'static [f64],
    adam_lrs: &'static [f64],
    seeds: u64,
    max_epochs: usize,
    patience: usize,
    max_n: Option<usize>,
}

fn setting(scale: Scale) -> Setting {
    match scale {
        // Seconds in the dev profile; deterministic (CI compares it to a reference file).
        Scale::Smoke => Setting {
            data: "mnist",
            variants: &["resize:7"],
            architectures: &[("linear", "linear"), ("mlp", "mlp:8:relu")],
            batch_sizes: [16, 64],
            sgd_lrs: &[0.05],
            gd_lrs: &[0.5, 2.0],
            adam_lrs: &[0.01],
            seeds: 2,
            max_epochs: 200,
            patience: 40,
            max_n: Some(1024),
        },
        // Real MNIST downsampled to 14×14, an MLP and a small CNN: a 2-core machine.
        Scale::Cpu => Setting {
            data: "mnist",
            variants: &["resize:14"],
            architectures: &[
                ("mlp", "mlp:32:relu"),
                ("cnn", "cnn:4,8:relu:pool=all:flatten"),
            ],
            batch_sizes: [32, 256],
            sgd_lrs: &[0.02, 0.1],
            gd_lrs: &[0.5, 2.0],
            adam_lrs: &[0.003],
            seeds: 3,
            max_epochs: 300,
            patience: 50,
            max_n: Some(8192),
        },
        // CIFAR-10 at full size, wider models, five seeds: a GPU.
        Scale::Paper => Setting {
            data: "cifar10",
            variants: &[],
            architectures: &[
                ("mlp", "mlp:512x512:relu"),
                ("cnn", "cnn:32,64,128:relu:pool=all:flatten"),
                ("resnet18", "resnet18:k=16"),
            ],
            batch_sizes: [64, 512],
            sgd_lrs: &[0.01, 0.03, 0.1],
            gd_lrs: &[0.1, 0.3, 1.0],
            adam_lrs: &[3e-4, 1e-3],
            seeds: 5,
            max_epochs: 1000,
            patience: 100,
            max_n: None,
        },
    }
}

fn grid(scale: Scale) -> Vec<Arm> {
    let s = setting(scale);
    let mut procedures: Vec<(String, OptimConfig, Batching, &[f64])> = vec![];
    for b in s.batch_sizes {
        procedures.push((
            format!("sgd b={b}"),
            OptimConfig::sgd(0.0, 0.0),
            Batching::Mini(b),
            s.sgd_lrs,
        ));
    }
    procedures.push((
        "gd".into(),
        OptimConfig::sgd(0.0, 0.0),
        Batching::Full { chunk: 4096 },
        s.gd_lrs,
    ));
    procedures.push((
        "adam b=".to_string() + &s.batch_sizes[0].to_string(),
        OptimConfig::adam(0.0),
        Batching::Mini(s.batch_sizes[0]),
        s.adam_lrs,
    ));
    let mut arms = vec![];
    for &(arch, model) in s.architectures {
        for (procedure, optim, batching, lrs) in &procedures {
            for &lr in *lrs {
                let mut train = TrainConfig {
                    optim: OptimConfig {
                        lr,
                        ..optim.clone()
                    },
                    batching: *batching,
                    ..TrainConfig::default()
                };
                train.stop.max_epochs = s.max_epochs;
                train.stop.plateau_patience = s.patience;
                arms.push(Arm {
                    label: format!("{arch} {procedure} lr={lr}"),
                    architecture: arch.into(),
                    procedure: procedure.clone(),
                    measure: MeasureConfig {
                        model: model.into(),
                        data: s.data.into(),
                        variants: s.variants.iter().map(|v| v.to_string()).collect(),
                        train,
                        search: SearchConfig {
                            max_n: s.max_n,
                            ..SearchConfig::default()
                        },
                        seeds: (0..s.seeds).collect(),
                    },
                });
            }
        }
    }
    arms
}

fn analyse(results: &[ArmResult]) -> Verdict {
    let best = best_per_procedure(results);
    let mut architectures: Vec<&str> = vec![];
    for r in results {
        if !architectures.contains(&r.arm.architecture.as_str()) {
            architectures.push(&r.arm.architecture);
        }
    }
    let top = |arch: &str, sgd: bool| {
        best.iter()
            .filter(|r| r.arm.architecture == arch && r.arm.procedure.starts_with("sgd") == sgd)
            .filter(|r| sgd || r.arm.procedure == "gd")
            .max_by(|a, b| {
                let (s, t) = (&a.measurement.stats, &b.measurement.stats);
                (s.median, s.mean_log_emc)
                    .partial_cmp(&(t.median, t.mean_log_emc))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .copied()
    };
    let (mut effects, mut outcomes) = (vec![], vec![]);
    for (i, arch) in architectures.iter().enumerate() {
        let (Some(sgd), Some(gd)) = (top(arch, true), top(arch, false)) else {
            continue;
        };
        let e = bootstrap_log_ratio(
            &format!("{arch}: EMC({}) / EMC({})", sgd.arm.label, gd.arm.label),
            &sgd.emcs(),
            &gd.emcs(),
            i as u64,
        );
        outcomes.push((arch.to_string(), e.outcome(true)));
        effects.push(e);
        for adam in best
            .iter()
            .filter(|r| r.arm.architecture == *arch && r.arm.procedure.starts_with("adam"))
        {
            effects.push(bootstrap_log_ratio(
                &format!(
                    "{arch} (context): EMC({}) / EMC({})",
                    adam.arm.label, gd.arm.label
                ),
                &adam.emcs(),
                &gd.emcs(),
                100 + i as u64,
            ));
        }
    }
    let all = |o: Outcome| !outcomes.is_empty() && outcomes.iter().all(|(_, x)| *x == o);
    let list = outcomes
        .iter()
        .map(|(a, o)| format!("{a}: {o}"))
        .collect::<Vec<_>>()
        .join(", ");
    let (outcome, reason) = if all(Outcome::Holds) {
        (Outcome::Holds, format!("for every architecture the best SGD fits more samples than GD and the 95% interval excludes 1 ({list})"))
    } else if all(Outcome::DoesNotHold) {
        (Outcome::DoesNotHold, format!("for every architecture GD fits more samples than the best SGD, the 95% interval excluding 1 ({list})"))
    } else {
        (
            Outcome::Inconclusive,
            format!("the architectures do not agree or an interval contains 1 ({list})"),
        )
    };
    Verdict {
        outcome,
        reason,
        effects,
        chosen: best.iter().map(|r| r.arm.label.clone()).collect(),
    }
}
