//! A finding of arXiv:2406.11463 known from its reviews, beyond finding (3): the paper
//! measures EMC under the optimizers SGD, Adam and Shampoo; no ordering is quoted, so the
//! claim is **exploratory**: it measures the ordering and states it with intervals.
//!
//! Grid: the same models (an MLP and a CNN of about the same size) trained by six
//! procedures, each over a small learning-rate grid (the best learning rate per procedure
//! is kept, so an optimizer is not judged at a step size that suits another): plain SGD,
//! SGD with momentum 0.9, Adam, AdamW (PyTorch's defaults, decoupled weight decay 0.01),
//! Shampoo with SGD grafting (`torch-optimizer`'s preconditioner, roots recomputed every
//! [`SHAMPOO_UPDATE_FREQ`] steps, each var's step rescaled to SGD's size) and, as a control,
//! `torch-optimizer`'s Shampoo as published (no grafting, roots every step) at the same
//! minibatch size, and full-batch gradient descent (plain SGD's update on the exact
//! gradient, one step per epoch), all at the same epoch budget; real and random labels.
//! Shampoo without grafting takes steps of size `lr/‖g‖` on a rank-one statistic (its
//! `-1/k` root), which blow up as the gradients shrink near a fit: in a pilot on the smoke
//! problem it fitted at most 60-90 samples at its best learning rate where the grafted
//! variant fitted all 512, so the grafted one stands for Shampoo and the other shows what
//! the variant costs. Analysis: per model and labelling, the procedures ordered
//! by EMC, and each adjacent pair of that ordering judged by EMC(ahead) / EMC(behind) with a
//! bootstrap interval, robust to the budget (an arm behind that is still growing with the
//! budget is searched again at further doublings; a pair whose interval contains 1 gets more
//! seeds). Beside it, finding (3)'s comparison in this grid: EMC(best minibatch SGD, with or
//! without momentum) / EMC(GD).

use emc_claims::{
    architectures, best_per_procedure, budget_robust_effect, Align, Arm, ArmResult, Claim,
    ClaimSpec, Data, Expectation, Judgements, Outcome, Protocol, Scale, Section, Standard, Table,
    Verdict, WorkBound,
};
use emc_optim::{Graft, OptimConfig, OptimKind};
use emc_train::Batching;

/// The claim, its grid and its analysis.
pub const SPEC: ClaimSpec = ClaimSpec {
    claim: Claim {
        id: "optimizers",
        statement: "How does the optimizer change how many samples a network fits? (The \
                    paper compares SGD, Adam and Shampoo; beyond finding (3), SGD against \
                    full-batch GD, no ordering is quoted: exploratory.)",
        location: "experiments mentioned by the paper's reviews (ICLR 2024/2025); finding (3) \
                   of the abstract for SGD against GD",
        expectation: Expectation {
            effect: "the ordering of SGD, SGD with momentum, Adam, AdamW, Shampoo (grafted and \
                     not) and full-batch GD by EMC (best learning rate each), per model and \
                     labelling, each adjacent pair as EMC(ahead) / EMC(behind),",
            direction: "not stated (exploratory)",
        },
    },
    grid,
    analyse,
    adaptive_work: WorkBound::cpu(WORK_CPU),
};

/// The training work the adaptive rounds may spend at cpu scale, in parameter-sample-epochs.
/// Unbounded at cpu scale (32x, 8 seeds) the rounds trained 2.61e12, about 96 minutes from
/// scratch on 2 cores (estimated from a partial run; the unbounded run is kept in
/// `artifacts/optimizers/cpu-unbounded`). With 3e11 the run took 44 minutes from scratch
/// (grid 18, three rounds 26) and decides 4 of the 24 adjacent pairs the unbounded rounds
/// decide 6 of (replays: 4.5e11 decides 5, about 52 minutes; 1e12 all 6, about 87), each
/// refusal named in verdict.md's Extensions.
const WORK_CPU: f64 = 3e11;

/// Steps between recomputations of grafted Shampoo's matrix roots (its statistics
/// accumulate every step). `torch-optimizer` defaults to 1; the practical Shampoo recomputes
/// every few steps, and a root of the MLP's 100 × 100 input statistic every step costs more
/// than the rest of the step. With grafting a stale root only turns the direction (in the
/// smoke pilot every 10 steps fitted as many samples as every step); without it, stale
/// roots diverge, so the ungrafted control recomputes every step.
pub const SHAMPOO_UPDATE_FREQ: usize = 10;

/// The procedures compared, in grid order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Procedure {
    Sgd,
    SgdMomentum,
    Adam,
    AdamW,
    Shampoo,
    ShampooUngrafted,
    Gd,
}

impl Procedure {
    /// The procedure label of its arms.
    fn name(self) -> &'static str {
        match self {
            Procedure::Sgd => "sgd",
            Procedure::SgdMomentum => "sgd-momentum",
            Procedure::Adam => "adam",
            Procedure::AdamW => "adamw",
            Procedure::Shampoo => "shampoo",
            Procedure::ShampooUngrafted => "shampoo-ungrafted",
            Procedure::Gd => "gd",
        }
    }

    /// The optimizer at learning rate `lr`.
    fn optim(self, lr: f64) -> OptimConfig {
        match self {
            Procedure::Sgd | Procedure::Gd => OptimConfig::sgd(lr, 0.0),
            Procedure::SgdMomentum => OptimConfig::sgd(lr, 0.9),
            Procedure::Adam => OptimConfig::adam(lr),
            Procedure::AdamW => OptimConfig::adamw(lr, 0.01),
            Procedure::Shampoo => OptimConfig {
                kind: OptimKind::Shampoo {
                    momentum: 0.0,
                    eps: 1e-4,
                    update_freq: SHAMPOO_UPDATE_FREQ,
                    graft: Graft::Sgd,
                },
                ..OptimConfig::shampoo(lr)
            },
            Procedure::ShampooUngrafted => OptimConfig::shampoo(lr),
        }
    }

    /// Minibatches of `batch` samples, or the full batch for GD.
    fn batching(self, batch: usize) -> Batching {
        match self {
            Procedure::Gd => Batching::Full { chunk: 4096 },
            _ => Batching::Mini(batch),
        }
    }

    /// Whether this is minibatch SGD (with or without momentum), finding (3)'s side.
    fn is_sgd(name: &str) -> bool {
        name == Procedure::Sgd.name() || name == Procedure::SgdMomentum.name()
    }
}

/// What is trained at a scale.
struct Setting {
    /// (dataset, variants, training-set cap)
    data: Data,
    /// (name, model spec)
    models: &'static [(&'static str, &'static str)],
    /// Whether random labels are measured beside the real ones.
    random_labels: bool,
    /// Each procedure with its learning-rate grid (replacing `train.lr`).
    procedures: &'static [(Procedure, &'static [f64])],
    /// The minibatch size, budget, stop rules, search tolerance and seeds every procedure
    /// shares.
    train: Standard,
}

fn setting(scale: Scale) -> Setting {
    match scale {
        // Seconds in the dev profile; deterministic (CI compares it to a reference file).
        Scale::Smoke => Setting {
            data: ("mnist", &["resize:7"], Some(512)),
            models: &[("mlp", "mlp:8")],
            random_labels: false,
            procedures: &[
                (Procedure::Sgd, &[0.2]),
                (Procedure::SgdMomentum, &[0.05]),
                (Procedure::Adam, &[0.01]),
                (Procedure::AdamW, &[0.01]),
                (Procedure::Shampoo, &[0.2]),
                (Procedure::ShampooUngrafted, &[1.0]),
                (Procedure::Gd, &[1.0]),
            ],
            train: Standard::SMOKE,
        },
        // MNIST at 10×10 with the MLP and CNN of claim-activations (898 and 666 parameters),
        // real and random labels, two learning rates per procedure around the ones that
        // work for these models in the other claims (SGD 0.05-0.2 plain, 0.01-0.05 with
        // momentum; GD 0.3-1.0; Adam 1e-3-3e-3) and, for Shampoo, in the smoke pilot
        // (grafted 0.2-0.5; ungrafted 0.3-1.0, where 0.001-0.1 fitted 0-15 samples).
        Scale::Cpu => Setting {
            data: ("mnist", &["resize:10"], Some(8192)),
            models: &[("mlp", "mlp:8"), ("cnn", "cnn:4,8:relu:pool=all:flatten")],
            random_labels: true,
            procedures: &[
                (Procedure::Sgd, &[0.05, 0.2]),
                (Procedure::SgdMomentum, &[0.01, 0.05]),
                (Procedure::Adam, &[0.001, 0.003]),
                (Procedure::AdamW, &[0.001, 0.003]),
                (Procedure::Shampoo, &[0.2, 0.5]),
                (Procedure::ShampooUngrafted, &[0.3, 1.0]),
                (Procedure::Gd, &[0.3, 1.0]),
            ],
            train: Standard::CPU,
        },
        // Full CIFAR-10, paper-sized models, three learning rates each, five seeds: a GPU.
        // Shampoo keeps its statistics on the host in f64 (emc-optim); the MLP's 3,072 × 3,072
        // input statistic makes its arms the costliest of the grid.
        Scale::Paper => Setting {
            data: ("cifar10", &[], None),
            models: &[
                ("mlp", "mlp:512x512"),
                ("cnn", "cnn:32,64,128:relu:pool=all:flatten"),
            ],
            random_labels: true,
            procedures: &[
                (Procedure::Sgd, &[0.01, 0.03, 0.1]),
                (Procedure::SgdMomentum, &[0.003, 0.01, 0.03]),
                (Procedure::Adam, &[3e-4, 1e-3, 3e-3]),
                (Procedure::AdamW, &[3e-4, 1e-3, 3e-3]),
                (Procedure::Shampoo, &[0.1, 0.2, 0.5]),
                (Procedure::ShampooUngrafted, &[0.1, 0.3, 1.0]),
                (Procedure::Gd, &[0.1, 0.3, 1.0]),
            ],
            train: Standard {
                batch: 64,
                ..Standard::PAPER
            },
        },
    }
}

/// Per model, labelling and procedure, one arm per learning rate.
fn grid(scale: Scale) -> Vec<Arm> {
    let s = setting(scale);
    let base = Protocol::standard(s.data, &s.train);
    let labellings = base.labellings();
    let labellings = &labellings[..if s.random_labels { 2 } else { 1 }];
    let mut arms = vec![];
    for &(family, model) in s.models {
        for (labels, protocol) in labellings {
            let group = format!("{family} {labels}");
            for &(proc, lrs) in s.procedures {
                let p = Protocol {
                    optim: proc.optim(lrs[0]),
                    batching: proc.batching(s.train.batch),
                    ..protocol.clone()
                };
                for (setting, p) in p.at_settings(lrs, &[emc_optim::Schedule::Constant]) {
                    arms.push(p.arm(
                        format!("{group} {}{setting}", proc.name()),
                        &group,
                        proc.name(),
                        model,
                    ));
                }
            }
        }
    }
    arms
}

/// `ahead` over `behind` as an ordering link: `>` when decided, `≳` when not.
fn link(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Holds => ">",
        Outcome::DoesNotHold => "<",
        _ => "≳",
    }
}

fn analyse(results: &[ArmResult]) -> Verdict {
    let best = best_per_procedure(results);
    let mut judged = Judgements::default();
    let mut orderings = vec![];
    let mut table = Table::new(&[
        ("model and labels", Align::Left),
        (
            "procedures by median EMC (best learning rate; > decided, ≳ undecided)",
            Align::Left,
        ),
        ("best SGD / GD [95% CI]", Align::Left),
    ]);
    let mut chosen = Table::new(&[
        ("model and labels", Align::Left),
        ("procedure", Align::Left),
        ("chosen arm", Align::Left),
        ("EMC per seed", Align::Left),
        ("bound", Align::Left),
    ]);
    for (g, group) in architectures(best.iter().copied()).iter().enumerate() {
        let mut arms: Vec<&ArmResult> = best
            .iter()
            .copied()
            .filter(|r| r.arm.architecture == *group)
            .collect();
        arms.sort_by(|a, b| b.cmp_emc(a));
        let mut order = String::new();
        for (k, r) in arms.iter().enumerate() {
            let st = &r.measurement.stats;
            if let Some(prev) = k.checked_sub(1).map(|j| arms[j]) {
                let e = budget_robust_effect(
                    &format!("{group}: EMC({}) / EMC({})", prev.arm.label, r.arm.label),
                    prev,
                    r,
                    (g * 10 + k) as u64,
                    true,
                );
                let part = e.part(&format!(
                    "{group}: {} vs {}",
                    prev.arm.procedure, r.arm.procedure
                ));
                order += &format!(" {} ", link(judged.record(&part, e)));
            }
            order += &format!("{} {}{}", r.arm.procedure, st.median, r.bound_note());
            chosen.row(&[
                group,
                &r.arm.procedure,
                &r.arm.label,
                &r.emcs()
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
                &r.bound_note().trim(),
            ]);
        }
        let sgd = arms
            .iter()
            .find(|r| Procedure::is_sgd(&r.arm.procedure))
            .copied();
        let gd = arms
            .iter()
            .find(|r| r.arm.procedure == Procedure::Gd.name())
            .copied();
        let finding3 = match (sgd, gd) {
            (Some(sgd), Some(gd)) => {
                let e = budget_robust_effect(
                    &format!(
                        "{group} (finding 3): EMC({}) / EMC({})",
                        sgd.arm.label, gd.arm.label
                    ),
                    sgd,
                    gd,
                    (g * 10 + 9) as u64,
                    true,
                );
                let text = format!(
                    "{:.2} [{:.2}, {:.2}]: {}",
                    e.effect.ratio, e.effect.lo, e.effect.hi, e.outcome
                );
                judged.record(&format!("{group}: finding (3)"), e);
                text
            }
            _ => "-".into(),
        };
        table.row(&[group, &order, &finding3]);
        orderings.push(format!("{group}: {order}"));
    }
    let reason = format!(
        "exploratory (no ordering is quoted from the paper); measured, best learning rate \
         each, `>` where the 95% interval of EMC(ahead) / EMC(behind) lies above 1 at a \
         budget that cannot overturn it, `≳` where it does not: {}",
        orderings.join("; ")
    );
    Verdict {
        outcome: Outcome::Exploratory,
        reason,
        chosen: best.iter().map(|r| r.arm.label.clone()).collect(),
        sections: vec![
            Section {
                title: "Ordering of procedures (best learning rate each)".into(),
                body: table.into_string(),
            },
            Section {
                title: "Chosen learning rate per procedure".into(),
                body: chosen.into_string(),
            },
        ],
        ..judged.into_verdict()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_procedure_is_trained_at_every_learning_rate_on_every_group_at_every_scale() {
        for scale in [Scale::Smoke, Scale::Cpu, Scale::Paper] {
            let s = setting(scale);
            let arms = grid(scale);
            let groups = s.models.len() * if s.random_labels { 2 } else { 1 };
            let per_group: usize = s.procedures.iter().map(|(_, lrs)| lrs.len()).sum();
            assert_eq!(arms.len(), groups * per_group, "{scale:?}");
            for arm in &arms {
                let t = &arm.measure.train;
                let full = matches!(t.batching, Batching::Full { .. });
                assert_eq!(full, arm.procedure == "gd", "{}", arm.label);
                assert!(
                    arm.label.contains(&format!("lr={}", t.optim.lr)),
                    "{}",
                    arm.label
                );
                let random = arm.measure.variants.iter().any(|v| v == "random-labels");
                assert_eq!(
                    random,
                    arm.architecture.ends_with("random"),
                    "{}",
                    arm.label
                );
                if arm.procedure == "shampoo" {
                    assert!(matches!(
                        t.optim.kind,
                        OptimKind::Shampoo {
                            update_freq: SHAMPOO_UPDATE_FREQ,
                            graft: Graft::Sgd,
                            ..
                        }
                    ));
                }
                if arm.procedure == "shampoo-ungrafted" {
                    assert_eq!(t.optim.kind, OptimKind::SHAMPOO);
                }
            }
            // Every model sees the same data and budget whatever the procedure.
            let first = &arms[0].measure;
            for arm in &arms {
                assert_eq!(arm.measure.train.stop, first.train.stop, "{}", arm.label);
                assert_eq!(arm.measure.search, first.search, "{}", arm.label);
            }
        }
    }

    #[test]
    fn procedures_have_distinct_optimizers() {
        let all = [
            Procedure::Sgd,
            Procedure::SgdMomentum,
            Procedure::Adam,
            Procedure::AdamW,
            Procedure::Shampoo,
            Procedure::ShampooUngrafted,
            Procedure::Gd,
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                let same = a.optim(0.1) == b.optim(0.1) && a.batching(32) == b.batching(32);
                assert!(!same, "{a:?} and {b:?} train alike");
                assert_ne!(a.name(), b.name());
            }
        }
        assert!(Procedure::is_sgd("sgd") && Procedure::is_sgd("sgd-momentum"));
        assert!(!Procedure::is_sgd("gd") && !Procedure::is_sgd("shampoo"));
    }
}
