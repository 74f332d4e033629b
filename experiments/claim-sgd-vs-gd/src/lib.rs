//! Finding (3) of arXiv:2406.11463: "SGD actually finds minima that fit more training data
//! than full-batch gradient descent".
//!
//! Grid: per architecture, plain SGD (no momentum) at two batch sizes, full-batch gradient
//! descent (the same update on the exact gradient, one step per epoch) and Adam, each over
//! a small learning-rate grid, all at the same epoch budget; at paper scale SGD (smaller
//! batch) and GD also with a cosine schedule decayed to 0 over each probe's budget.
//! Analysis: per procedure the learning rate and schedule with the best EMC; per
//! architecture the effect EMC(best SGD) / EMC(GD) with a bootstrap interval. A library (not only a binary) so the workspace test
//! runs the smoke scale through it.

use emc_claims::{
    architectures, best_per_procedure, bootstrap_log_ratio, budget_robust_effect, combine_outcomes,
    Arm, ArmResult, Claim, ClaimSpec, Data, Expectation, Protocol, Scale, Standard, Verdict,
    COSINE_BUDGET,
};
use emc_optim::{OptimConfig, Schedule};
use emc_train::Batching;

/// The claim, its grid and its analysis.
pub const SPEC: ClaimSpec = ClaimSpec {
    claim: Claim {
        id: "sgd-vs-gd",
        statement: "While stochastic training is thought to have a regularizing effect, SGD \
                    actually finds minima that fit more training data than full-batch gradient \
                    descent.",
        location: "abstract, finding (3)",
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
    /// (dataset, variants, training-set cap)
    data: Data,
    architectures: &'static [(&'static str, &'static str)],
    /// The budget, stop rules, search tolerance and seeds every procedure shares, and the
    /// smaller SGD batch size (also Adam's); each procedure has its own optimizer and
    /// learning-rate grid, which replace `train.lr`. At equal epochs GD takes one step per
    /// epoch against n/b for SGD, so whether GD's lower EMC is only a shorter budget is
    /// checked at 2x, 4x ... the epochs (`train.budget_doublings`).
    train: Standard,
    /// The larger SGD batch size.
    large_batch: usize,
    sgd_lrs: &'static [f64],
    gd_lrs: &'static [f64],
    adam_lrs: &'static [f64],
    /// Learning-rate schedules of the SGD (smaller batch) and GD arms: `constant` and, for
    /// robustness, `cosine-budget` (decayed to 0 over each probe's whole budget). The best
    /// learning rate and schedule per procedure is compared.
    schedules: &'static [Schedule],
    /// Budget doublings of the larger SGD batch size (its probes are the costliest per
    /// doubling at cpu scale). Enough for the verdict: a budget-limited SGD arm can only
    /// understate SGD, and budget_robust_effect refuses a verdict against SGD then.
    large_batch_doublings: usize,
}

fn setting(scale: Scale) -> Setting {
    match scale {
        // Seconds in the dev profile; deterministic (CI compares it to a reference file).
        Scale::Smoke => Setting {
            data: ("mnist", &["resize:7"], Some(1024)),
            architectures: &[("linear", "linear"), ("mlp", "mlp:8:relu")],
            train: Standard {
                lr: 0.05,
                batch: 16,
                seeds: 2,
                max_epochs: 200,
                patience: 40,
                rel_tol: 0.02,
                budget_doublings: 0,
                band_probes: 0,
            },
            large_batch: 64,
            sgd_lrs: &[0.05],
            gd_lrs: &[0.5, 2.0],
            adam_lrs: &[0.01],
            schedules: &[Schedule::Constant],
            large_batch_doublings: 0,
        },
        // Real MNIST downsampled to 14×14, an MLP and a small CNN of similar size (1.7k and
        // 1.1k parameters) so that whole searches fit a 2-core machine; EMC checked for
        // convergence at 2× and 4× the epochs for GD and SGD b=32. SGD b=256 is measured at
        // the base budget only: its 2× check cost 76 of 135 probe-minutes and never decides
        // the verdict (best SGD is b=32; a budget-limited b=256 can only understate SGD).
        // The committed cpu artifacts were measured before band probes existed (none here).
        Scale::Cpu => Setting {
            data: ("mnist", &["resize:14"], Some(16384)),
            architectures: &[
                ("mlp", "mlp:8:relu"),
                ("cnn", "cnn:4,8:relu:pool=all:flatten"),
            ],
            train: Standard {
                max_epochs: 300,
                patience: 50,
                budget_doublings: 2,
                ..Standard::CPU
            },
            large_batch: 256,
            sgd_lrs: &[0.05, 0.2],
            gd_lrs: &[0.1, 0.3, 1.0],
            adam_lrs: &[0.003],
            // cosine-budget is left to the paper scale: on the CNN, SGD b=32 lr 0.05 with it
            // fits beyond n = 13,000 at 2x, and its 4x probes (up to 1,200 epochs at the
            // 16,384 cap) alone would take the run past an hour on 2 cores.
            schedules: &[Schedule::Constant],
            large_batch_doublings: 0,
        },
        // CIFAR-10 at full size, wider models, five seeds: a GPU.
        Scale::Paper => Setting {
            data: ("cifar10", &[], None),
            architectures: &[
                ("mlp", "mlp:512x512:relu"),
                ("cnn", "cnn:32,64,128:relu:pool=all:flatten"),
                ("resnet18", "resnet18:k=16"),
            ],
            train: Standard {
                batch: 64,
                ..Standard::PAPER
            },
            large_batch: 512,
            sgd_lrs: &[0.01, 0.03, 0.1],
            gd_lrs: &[0.1, 0.3, 1.0],
            adam_lrs: &[3e-4, 1e-3],
            schedules: &[Schedule::Constant, COSINE_BUDGET],
            large_batch_doublings: 2,
        },
    }
}

/// A training procedure of the grid, run at each of its learning rates.
#[derive(Clone)]
struct Procedure {
    name: String,
    optim: fn(f64) -> OptimConfig,
    batching: Batching,
    lrs: &'static [f64],
    /// Schedules tried (each with every learning rate).
    schedules: &'static [Schedule],
    /// Budget doublings for this procedure (the verdict's SGD and GD arms use the scale's).
    budget_doublings: usize,
}

/// Plain SGD (no momentum) at the two batch sizes, full-batch GD (the same update on the
/// exact gradient) and Adam, in that order.
fn procedures(s: &Setting) -> Vec<Procedure> {
    let sgd = |lr| OptimConfig::sgd(lr, 0.0);
    let small = s.train.batch;
    let mut procedures = vec![Procedure {
        name: format!("sgd b={small}"),
        optim: sgd,
        batching: Batching::Mini(small),
        lrs: s.sgd_lrs,
        schedules: s.schedules,
        budget_doublings: s.train.budget_doublings,
    }];
    // The larger batch is a second SGD data point, at the constant schedule only.
    procedures.push(Procedure {
        name: format!("sgd b={}", s.large_batch),
        optim: sgd,
        batching: Batching::Mini(s.large_batch),
        lrs: s.sgd_lrs,
        schedules: &[Schedule::Constant],
        budget_doublings: s.large_batch_doublings,
    });
    procedures.push(Procedure {
        name: "gd".into(),
        optim: sgd,
        batching: Batching::Full { chunk: 4096 },
        lrs: s.gd_lrs,
        schedules: s.schedules,
        budget_doublings: s.train.budget_doublings,
    });
    procedures.push(Procedure {
        name: format!("adam b={small}"),
        optim: OptimConfig::adam,
        batching: Batching::Mini(small),
        lrs: s.adam_lrs,
        schedules: &[Schedule::Constant],
        // Adam is context, not part of the verdict: measured at the configured budget only
        // (at cpu scale its CNN searches near n = 10,000 would dominate the run at 2x, 4x).
        budget_doublings: 0,
    });
    procedures
}

fn grid(scale: Scale) -> Vec<Arm> {
    let s = setting(scale);
    let base = Protocol::standard(s.data, &s.train);
    let procedures = procedures(&s);
    let mut arms = vec![];
    for &(arch, model) in s.architectures {
        for proc in &procedures {
            let mut p = Protocol {
                optim: (proc.optim)(proc.lrs[0]),
                batching: proc.batching,
                ..base.clone()
            };
            p.search.budget_doublings = proc.budget_doublings;
            for (setting, p) in p.at_settings(proc.lrs, proc.schedules) {
                arms.push(p.arm(
                    format!("{arch} {}{setting}", proc.name),
                    arch,
                    &proc.name,
                    model,
                ));
            }
        }
    }
    arms
}

fn analyse(results: &[ArmResult]) -> Verdict {
    let best = best_per_procedure(results);
    let top = |arch: &str, sgd: bool| {
        best.iter()
            .filter(|r| r.arm.architecture == arch && r.arm.procedure.starts_with("sgd") == sgd)
            .filter(|r| sgd || r.arm.procedure == "gd")
            .max_by(|a, b| a.cmp_emc(b))
            .copied()
    };
    let (mut effects, mut outcomes, mut extend) = (vec![], vec![], vec![]);
    for (i, arch) in architectures(results).iter().enumerate() {
        let (Some(sgd), Some(gd)) = (top(arch, true), top(arch, false)) else {
            continue;
        };
        let e = budget_robust_effect(
            &format!("{arch}: EMC({}) / EMC({})", sgd.arm.label, gd.arm.label),
            sgd,
            gd,
            i as u64,
            true,
        );
        outcomes.push((e.part(arch), e.outcome));
        extend.extend(e.extend.clone());
        if e.per_level.len() > 1 {
            effects.extend(e.per_level);
        } else {
            effects.push(e.effect);
        }
        for adam in best
            .iter()
            .filter(|r| r.arm.architecture == *arch && r.arm.procedure.starts_with("adam"))
        {
            effects.push(bootstrap_log_ratio(
                &format!(
                    "{arch} (context; Adam at the configured budget only): EMC({}) / EMC({})",
                    adam.arm.label, gd.arm.label
                ),
                &adam.emcs(),
                &gd.emcs(),
                100 + i as u64,
            ));
        }
    }
    let (outcome, reason) = combine_outcomes(
        &outcomes,
        "architectures",
        "for every architecture the best SGD fits more samples than GD and the 95% interval \
         excludes 1",
        "for every architecture GD fits more samples than the best SGD, the 95% interval \
         excluding 1",
    );
    Verdict {
        outcome,
        reason,
        effects,
        chosen: best.iter().map(|r| r.arm.label.clone()).collect(),
        sections: vec![],
        extend,
        ..Verdict::default()
    }
}
