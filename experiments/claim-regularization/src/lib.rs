//! A finding of arXiv:2406.11463 known from its reviews: the paper measures EMC under
//! regularization; no direction is quoted, so the claim is **exploratory**: per regularizer
//! and strength it states the direction and size of the effect with an interval.
//!
//! Grid: per model (an MLP and a CNN of about 1k parameters), dataset (MNIST and the
//! CIFAR-10 subset, downsized) and labelling (real, random), the standard procedure without
//! regularization against the same procedure with one regularizer at three strengths:
//! weight decay (L2 added to the gradient, as PyTorch's `SGD(weight_decay=…)`), label
//! smoothing ε of the training loss, dropout p after every hidden layer (MLP) or block
//! (CNN), and data augmentation (random crop with padding, then also a horizontal flip).
//! Everything else (optimizer, learning rate, batch, budget, seeds) is shared, so each
//! effect is that of the regularizer alone at this procedure's learning rate. A fit is
//! always 100% eval-mode accuracy on the un-augmented training samples with the plain
//! labels.
//!
//! Analysis: per group, EMC(regularized) / EMC(none) with a bootstrap interval, robust to
//! the budget (a regularized arm still growing with the budget is searched again at
//! further doublings; an undecided pair gets more seeds). The prior it states and tests —
//! *regularizers lower EMC on random labels more than on real labels* — is judged per
//! model, dataset, regularizer and strength by the interaction
//! `[EMC(reg, random) / EMC(none, random)] / [EMC(reg, real) / EMC(none, real)]`: below 1
//! (its interval excluding 1) supports the prior. An interaction one of whose four arms is
//! only a lower bound (budget-limited or saturated) decides nothing.

use emc_claims::{
    architectures, bootstrap_log_contrast, budget_robust_effect, lower_bound_only, Align, Arm,
    ArmResult, Claim, ClaimSpec, Data, Effect, Expectation, Judgements, Outcome, PartOutcomes,
    Protocol, Scale, Section, Standard, Table, Verdict, WorkBound,
};
use emc_train::Augment;

/// The claim, its grid and its analysis.
pub const SPEC: ClaimSpec = ClaimSpec {
    claim: Claim {
        id: "regularization",
        statement: "How does regularization (weight decay, label smoothing, dropout, data \
                    augmentation) change how many samples a network fits, with real and with \
                    random labels? (The paper studies regularization; no direction is \
                    quoted: exploratory. Prior tested: regularizers lower EMC on random \
                    labels more than on real labels.)",
        location: "experiments mentioned by the paper's reviews (ICLR 2024/2025)",
        expectation: Expectation {
            effect: "EMC(regularized) / EMC(unregularized) per regularizer and strength, model, \
                     dataset and labelling; and the interaction (random-label ratio) / \
                     (real-label ratio),",
            direction: "not stated (exploratory); prior: the interaction is below 1",
        },
    },
    grid,
    analyse,
    adaptive_work: WorkBound::cpu(WORK_CPU),
};

/// The training work the adaptive rounds may spend at cpu scale, in parameter-sample-epochs.
/// Unbounded at cpu scale (32x, 8 seeds) the rounds trained 1.66e12, and a run from scratch
/// would take about 2 h 15 min on 2 cores (estimated from the probes of the bounded run);
/// with 4e11 it took 46 minutes (the grid 13, four rounds 33) and decides 55 of the 96
/// regularized settings (unbounded: 71; the unbounded run is kept in
/// `artifacts/regularization/cpu-unbounded`). The rounds are slow for their work because the
/// count weighs a parameter the same in both families, while a CNN's costs about 25 times
/// an MLP's in seconds here (its weights are reused at every position): the cheapest
/// requests by the count are the CNN's. A count any machine reproduces, not a clock.
const WORK_CPU: f64 = 4e11;

/// The procedure name of the unregularized arms (every group's baseline).
const NONE: &str = "none";

/// One regularizer at one strength.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Reg {
    WeightDecay(f64),
    LabelSmoothing(f64),
    Dropout(f64),
    /// Random crop with this padding, and a horizontal flip when `true`.
    Augment(usize, bool),
}

impl Reg {
    /// The regularizer's name: the arms' procedure.
    fn name(self) -> &'static str {
        match self {
            Reg::WeightDecay(_) => "weight-decay",
            Reg::LabelSmoothing(_) => "label-smoothing",
            Reg::Dropout(_) => "dropout",
            Reg::Augment(..) => "augmentation",
        }
    }

    /// Its strength as the arm labels write it: `wd=0.0005`, `ls=0.1`, `dropout=0.2`,
    /// `crop=2`, `crop=2+flip`.
    fn setting(self) -> String {
        match self {
            Reg::WeightDecay(wd) => format!("wd={wd}"),
            Reg::LabelSmoothing(eps) => format!("ls={eps}"),
            Reg::Dropout(p) => format!("dropout={p}"),
            Reg::Augment(pad, false) => format!("crop={pad}"),
            Reg::Augment(pad, true) => format!("crop={pad}+flip"),
        }
    }

    /// `arm` with this regularizer added to its training.
    fn apply(self, arm: &mut Arm) {
        let t = &mut arm.measure.train;
        match self {
            Reg::WeightDecay(wd) => t.optim.weight_decay = wd,
            Reg::LabelSmoothing(eps) => t.label_smoothing = eps,
            Reg::Dropout(p) => t.dropout = p,
            Reg::Augment(crop_padding, hflip) => {
                t.augment = Augment {
                    crop_padding,
                    hflip,
                }
            }
        }
    }
}

/// What is trained at a scale.
struct Setting {
    /// Datasets (dataset, variants, training-set cap) with their short names.
    datasets: &'static [(&'static str, Data)],
    /// (family, model spec)
    models: &'static [(&'static str, &'static str)],
    /// Every regularizer at its strengths (weakest first).
    regs: Vec<Reg>,
    /// The procedure every arm shares.
    train: Standard,
}

/// Weight decay 5e-4, 5e-3, 5e-2 (5e-4 is the common CIFAR setting), label smoothing 0.05,
/// 0.1, 0.2, dropout at `dropouts`, and crops with the paddings `pads` then the larger one
/// with a flip: three strengths each, weakest first.
fn three_strengths(dropouts: [f64; 3], [small, large]: [usize; 2]) -> Vec<Reg> {
    let mut regs: Vec<Reg> = [5e-4, 5e-3, 5e-2].map(Reg::WeightDecay).to_vec();
    regs.extend([0.05, 0.1, 0.2].map(Reg::LabelSmoothing));
    regs.extend(dropouts.map(Reg::Dropout));
    regs.extend([(small, false), (large, false), (large, true)].map(|(p, f)| Reg::Augment(p, f)));
    regs
}

fn setting(scale: Scale) -> Setting {
    match scale {
        // Seconds in the dev profile; deterministic (CI compares it to a reference file).
        Scale::Smoke => Setting {
            datasets: &[("mnist", ("mnist", &["resize:7"], Some(512)))],
            models: &[("mlp", "mlp:8")],
            regs: vec![
                Reg::WeightDecay(5e-3),
                Reg::LabelSmoothing(0.1),
                Reg::Dropout(0.1),
                Reg::Augment(1, false),
            ],
            train: Standard::SMOKE,
        },
        // The ~1k-parameter MLP and CNN of the other cpu claims on 10×10 MNIST and the 8×8
        // CIFAR-10 subset; strengths from weak to strong for these small networks (0.2 label
        // smoothing and 0.2 dropout are strong for a width of 8; a 2-pixel crop shifts a
        // 10×10 image by a fifth).
        Scale::Cpu => Setting {
            datasets: &[
                ("mnist", ("mnist", &["resize:10"], Some(8192))),
                ("cifar", ("cifar10-subset", &["resize:8"], None)),
            ],
            models: &[("mlp", "mlp:8"), ("cnn", "cnn:4,8:pool=all:flatten")],
            regs: three_strengths([0.05, 0.1, 0.2], [1, 2]),
            train: Standard::CPU,
        },
        // Full-size MNIST and CIFAR-10 with paper-sized models: a GPU.
        Scale::Paper => Setting {
            datasets: &[
                ("mnist", ("mnist", &[], None)),
                ("cifar", ("cifar10", &[], None)),
            ],
            models: &[
                ("mlp", "mlp:512x512"),
                ("cnn", "cnn:32,64,128:relu:pool=all:flatten"),
            ],
            regs: three_strengths([0.1, 0.2, 0.5], [2, 4]),
            train: Standard::PAPER,
        },
    }
}

/// Per model, dataset and labelling: the unregularized arm, then one arm per regularizer
/// and strength. Labels are `{family} {dataset} {labels} {setting}`; the group
/// (`{family} {dataset} {labels}`) is the architecture, the regularizer the procedure.
fn grid(scale: Scale) -> Vec<Arm> {
    let s = setting(scale);
    let mut arms = vec![];
    for &(family, model) in s.models {
        for &(dataset, data) in s.datasets {
            for (labels, protocol) in Protocol::standard(data, &s.train).labellings() {
                let group = format!("{family} {dataset} {labels}");
                arms.push(protocol.arm(format!("{group} {NONE}"), &group, NONE, model));
                for &reg in &s.regs {
                    let label = format!("{group} {}", reg.setting());
                    let mut arm = protocol.arm(label, &group, reg.name(), model);
                    reg.apply(&mut arm);
                    arms.push(arm);
                }
            }
        }
    }
    arms
}

/// The setting an arm's label names after its group (`wd=0.0005`, `none`).
fn setting_of(r: &ArmResult) -> &str {
    r.arm
        .label
        .strip_prefix(&r.arm.architecture)
        .unwrap_or(&r.arm.label)
        .trim()
}

/// `×0.62 [0.50, 0.77] lowers` / `raises` / `no direction excluded`, with the bound note of
/// an undecided comparison.
fn describe(e: &Effect, outcome: Outcome, note: &str) -> String {
    let dir = match outcome {
        Outcome::Holds => "lowers",
        Outcome::DoesNotHold => "raises",
        _ => "no direction excluded",
    };
    let note = if note.is_empty() {
        String::new()
    } else {
        format!(" ({note})")
    };
    format!("×{:.2} [{:.2}, {:.2}] {dir}{note}", e.ratio, e.lo, e.hi)
}

/// The interaction of one regularized setting: (random ratio) / (real ratio), judged for
/// the prior (below 1), with why it decides nothing and which arms could decide it.
///
/// An arm whose EMC is only a lower bound (budget-limited or saturated) can only grow, and
/// its growth moves the interaction one way: up for the arms in the numerator (regularized
/// random, none real), down for those in the denominator. A decided interaction stands
/// when every lower-bound arm would move it further from 1 (the rule of
/// [`emc_claims::budget_robust_effect`], where only the arm behind matters, for a
/// four-term contrast); otherwise it is undecided. The budget-limited arms that could
/// decide it are asked for more budget, and the four arms for more seeds when its interval
/// contains 1 and none is a lower bound.
fn interaction(what: &str, arms: [&ArmResult; 4], seed: u64) -> Interaction {
    let [reg_random, none_random, reg_real, none_real] = arms;
    let effect = bootstrap_log_contrast(
        &format!("{what}: [EMC(reg) / EMC(none)] random / real"),
        &[
            (&reg_random.emcs(), 1.0),
            (&none_random.emcs(), -1.0),
            (&reg_real.emcs(), -1.0),
            (&none_real.emcs(), 1.0),
        ],
        seed,
    );
    // Whether an arm's growth raises the interaction (numerator) or lowers it.
    const RAISES: [bool; 4] = [true, false, false, true];
    let decided = effect.outcome(false);
    let above = effect.lo > 1.0;
    let blocking: Vec<&ArmResult> = arms
        .into_iter()
        .zip(RAISES)
        .filter(|(a, raises)| {
            lower_bound_only(a).is_some() && (decided == Outcome::Inconclusive || *raises != above)
        })
        .map(|(a, _)| a)
        .collect();
    let outcome = if blocking.is_empty() {
        decided
    } else {
        Outcome::Inconclusive
    };
    let undecided = effect.ratio.is_finite() && decided == Outcome::Inconclusive;
    let more_seeds = if undecided && arms.iter().all(|a| lower_bound_only(a).is_none()) {
        arms.iter().map(|a| a.arm.label.clone()).collect()
    } else {
        vec![]
    };
    Interaction {
        note: blocking
            .first()
            .and_then(|a| lower_bound_only(a))
            .unwrap_or_default(),
        extend: blocking
            .iter()
            .filter(|a| a.budget_limited())
            .map(|a| a.arm.label.clone())
            .collect(),
        more_seeds,
        effect,
        outcome,
    }
}

/// One setting's interaction, judged.
struct Interaction {
    effect: Effect,
    outcome: Outcome,
    /// Why it decides nothing, when a lower-bound arm could overturn it.
    note: String,
    /// Budget-limited arms whose larger budget could decide it.
    extend: Vec<String>,
    /// Arms whose further seeds could decide it.
    more_seeds: Vec<String>,
}

fn analyse(results: &[ArmResult]) -> Verdict {
    let mut judged = Judgements::default();
    let mut effects_table = Table::new(&[
        ("model, data, labels", Align::Left),
        ("regularizer", Align::Left),
        ("EMC(none)", Align::Right),
        (
            "EMC(regularized) / EMC(none) per strength [95% CI], direction",
            Align::Left,
        ),
    ]);
    let groups = architectures(results.iter());
    let find = |group: &str, setting: &str| {
        results
            .iter()
            .find(|r| r.arm.architecture == group && setting_of(r) == setting)
    };
    for (g, group) in groups.iter().enumerate() {
        let Some(none) = find(group, NONE) else {
            continue;
        };
        let mut regs: Vec<&str> = vec![];
        for r in results.iter().filter(|r| r.arm.architecture == *group) {
            if r.arm.procedure != NONE && !regs.contains(&r.arm.procedure.as_str()) {
                regs.push(&r.arm.procedure);
            }
        }
        for reg in regs {
            let mut cells = vec![];
            for (k, r) in results
                .iter()
                .filter(|r| r.arm.architecture == *group && r.arm.procedure == reg)
                .enumerate()
            {
                let e = budget_robust_effect(
                    &format!("{group}: EMC({}) / EMC(none)", setting_of(r)),
                    r,
                    none,
                    (g * 100 + k) as u64,
                    false,
                );
                let text = describe(&e.effect, e.outcome, &e.note);
                let labels = group.rsplit(' ').next().unwrap_or(group);
                judged.record(&e.part(&format!("{reg} on {labels} labels")), e);
                cells.push(format!("{}: {text}", setting_of(r)));
            }
            effects_table.row(&[
                group,
                &reg,
                &format!("{}{}", none.measurement.stats.median, none.bound_note()),
                &cells.join("; "),
            ]);
        }
    }

    // The prior: per model and dataset (the group without its labelling) and setting.
    let mut prior = PartOutcomes::default();
    let mut all_prior = vec![];
    let mut prior_table = Table::new(&[
        ("model, data", Align::Left),
        ("setting", Align::Left),
        ("ratio, random labels", Align::Left),
        ("ratio, real labels", Align::Left),
        ("random / real [95% CI]", Align::Left),
        ("prior (random lowered more)", Align::Left),
    ]);
    let mut interactions = vec![];
    let real_groups = groups.iter().filter_map(|g| g.strip_suffix(" real"));
    for (g, base) in real_groups.enumerate() {
        let (real, random) = (format!("{base} real"), format!("{base} random"));
        let (Some(none_real), Some(none_random)) = (find(&real, NONE), find(&random, NONE)) else {
            continue;
        };
        let settings = results
            .iter()
            .filter(|r| r.arm.architecture == real && r.arm.procedure != NONE);
        for (k, reg_real) in settings.enumerate() {
            let setting = setting_of(reg_real);
            let Some(reg_random) = find(&random, setting) else {
                continue;
            };
            let ratio = |a: &ArmResult, b: &ArmResult| {
                let e = bootstrap_log_contrast("", &[(&a.emcs(), 1.0), (&b.emcs(), -1.0)], 0);
                format!("×{:.2}", e.ratio)
            };
            let Interaction {
                effect: e,
                outcome,
                note,
                extend,
                more_seeds,
            } = interaction(
                &format!("{base} {setting}"),
                [reg_random, none_random, reg_real, none_real],
                (10_000 + g * 100 + k) as u64,
            );
            judged.extend.extend(extend);
            judged.more_seeds.extend(more_seeds);
            prior.push(&reg_real.arm.procedure, outcome);
            all_prior.push(outcome);
            let verdict = match outcome {
                Outcome::Holds => "supports".to_string(),
                Outcome::DoesNotHold => "against".to_string(),
                _ if !note.is_empty() => format!("undecided: {note}"),
                _ => "undecided".to_string(),
            };
            prior_table.row(&[
                &base,
                &setting,
                &ratio(reg_random, none_random),
                &ratio(reg_real, none_real),
                &format!("{:.2} [{:.2}, {:.2}]", e.ratio, e.lo, e.hi),
                &verdict,
            ]);
            interactions.push(Effect {
                judged: Some(outcome),
                ..e
            });
        }
    }
    let (prior_outcome, prior_text) = prior.combine(
        "regularizers",
        "supported by every regularizer",
        "contradicted by every regularizer",
    );
    let lowers = judged
        .effects
        .iter()
        .filter(|e| e.judged == Some(Outcome::Holds))
        .count();
    let raises = judged
        .effects
        .iter()
        .filter(|e| e.judged == Some(Outcome::DoesNotHold))
        .count();
    let reason = format!(
        "exploratory (no direction is quoted from the paper): of {} regularized settings, \
         {lowers} lower EMC and {raises} raise it with a 95% interval that excludes 1 at a \
         budget that cannot overturn it, the rest undecided (per setting below). Prior \
         (regularizers lower EMC on random labels more than on real labels, {} \
         interactions): {prior_outcome}: {prior_text}.",
        judged.effects.len(),
        all_prior.len(),
    );
    let mut verdict = Verdict {
        outcome: Outcome::Exploratory,
        reason,
        sections: vec![
            Section {
                title: "Effect of each regularizer (EMC(regularized) / EMC(none))".into(),
                body: effects_table.into_string(),
            },
            Section {
                title: "Prior: regularizers lower EMC on random labels more than on real \
                        labels"
                    .into(),
                body: prior_table.into_string(),
            },
        ],
        ..judged.into_verdict()
    };
    verdict.effects.extend(interactions);
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;
    use emc_claims::testing::arm;

    /// A lower-bound arm blocks a decided interaction only when its growth could move it
    /// toward 1, and is then asked for more budget; an undecided one asks for seeds.
    #[test]
    fn an_interaction_is_blocked_only_by_arms_whose_growth_could_overturn_it() {
        // Random labels lowered to half, real ones to a tenth: 5x, against the prior.
        let grown = |label: &str, emcs: [usize; 3], converged: bool| {
            let seeds: Vec<[usize; 2]> = emcs.iter().map(|&e| [e, e]).collect();
            let seeds: Vec<(&[usize], Option<bool>)> =
                seeds.iter().map(|s| (&s[..], Some(converged))).collect();
            arm(label, &seeds)
        };
        let reg_random = grown("reg random", [200, 210, 190], true);
        let none_random = grown("none random", [400, 420, 380], true);
        let reg_real = |converged| grown("reg real", [100, 105, 95], converged);
        let none_real = |converged| grown("none real", [1000, 1050, 950], converged);
        let judge = |reg_real: &ArmResult, none_real: &ArmResult| {
            interaction("x", [&reg_random, &none_random, reg_real, none_real], 0)
        };
        let i = judge(&reg_real(true), &none_real(true));
        assert!(i.effect.lo > 1.0, "{:?}", i.effect);
        assert_eq!((i.outcome, i.extend.len()), (Outcome::DoesNotHold, 0));
        // `none real` still growing only raises the interaction further: still decided.
        let i = judge(&reg_real(true), &none_real(false));
        assert_eq!((i.outcome, i.extend.len()), (Outcome::DoesNotHold, 0));
        assert!(i.note.is_empty());
        // `reg real` still growing could bring it down to 1: undecided, extend it.
        let i = judge(&reg_real(false), &none_real(false));
        assert_eq!(i.outcome, Outcome::Inconclusive);
        assert_eq!(i.extend, vec!["reg real".to_string()]);
        assert!(
            i.note.contains("`reg real` is budget-limited"),
            "{}",
            i.note
        );
        // An interval containing 1 with every arm converged asks for seeds for all four.
        let wide = grown("reg real", [30, 900, 100], true);
        let i = judge(&wide, &none_real(true));
        assert_eq!(i.outcome, Outcome::Inconclusive);
        assert_eq!(i.more_seeds.len(), 4);
        assert!(i.extend.is_empty());
    }

    #[test]
    fn every_regularizer_is_trained_at_three_strengths_on_every_group_beside_none() {
        for scale in [Scale::Smoke, Scale::Cpu, Scale::Paper] {
            let s = setting(scale);
            let arms = grid(scale);
            let groups = s.models.len() * s.datasets.len() * 2;
            assert_eq!(arms.len(), groups * (1 + s.regs.len()), "{scale:?}");
            if scale != Scale::Smoke {
                for name in ["weight-decay", "label-smoothing", "dropout", "augmentation"] {
                    let n = s.regs.iter().filter(|r| r.name() == name).count();
                    assert!(n >= 3, "{scale:?}: {name} at {n} strengths");
                }
            }
            for arm in &arms {
                // The group's unregularized arm.
                let base = &arms
                    .iter()
                    .find(|a| a.architecture == arm.architecture && a.procedure == NONE)
                    .expect("every group has its baseline")
                    .measure;
                assert_eq!(arm.measure.data, base.data, "{}", arm.label);
                assert_eq!(arm.measure.variants, base.variants, "{}", arm.label);
                let t = &arm.measure.train;
                let changed = [
                    t.optim.weight_decay != base.train.optim.weight_decay,
                    t.label_smoothing != 0.0,
                    t.dropout != 0.0,
                    !t.augment.is_none(),
                ];
                let expected = match arm.procedure.as_str() {
                    NONE => [false; 4],
                    "weight-decay" => [true, false, false, false],
                    "label-smoothing" => [false, true, false, false],
                    "dropout" => [false, false, true, false],
                    "augmentation" => [false, false, false, true],
                    other => panic!("unknown procedure {other}"),
                };
                assert_eq!(changed, expected, "{}", arm.label);
                // Everything else is the baseline's.
                assert_eq!(t.stop, base.train.stop, "{}", arm.label);
                assert_eq!(t.optim.lr, base.train.optim.lr, "{}", arm.label);
                assert_eq!(t.batching, base.train.batching, "{}", arm.label);
                assert_eq!(arm.measure.search, base.search, "{}", arm.label);
                assert_eq!(arm.measure.seeds, base.seeds, "{}", arm.label);
                let random = arm.measure.variants.iter().any(|v| v == "random-labels");
                assert_eq!(
                    random,
                    arm.architecture.ends_with(" random"),
                    "{}",
                    arm.label
                );
                assert!(arm.label.starts_with(&arm.architecture), "{}", arm.label);
            }
            let mut labels: Vec<&str> = arms.iter().map(|a| a.label.as_str()).collect();
            labels.sort();
            labels.dedup();
            assert_eq!(labels.len(), arms.len(), "{scale:?}: duplicate labels");
        }
    }
}
