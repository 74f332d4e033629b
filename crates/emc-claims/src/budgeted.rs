//! Effects judged robustly to the training budget: an ordering decided only where the arm
//! behind is neither budget-limited nor saturated, with the extensions (more budget, more
//! seeds) that could decide an undecided comparison.

use crate::effect::{bootstrap_log_ratio, budget_trend, Effect, Trend};
use crate::{ArmResult, Judged, Outcome};

/// An effect judged at every budget the arms were searched at.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetedEffect {
    /// The effect at the largest budget (the reported EMCs).
    pub effect: Effect,
    /// The effect at each budget level (1×, 2×, 4× ...); one entry without budget levels.
    pub per_level: Vec<Effect>,
    /// The outcome made robust to the budget (see [`budget_robust_effect`]).
    pub outcome: Outcome,
    /// Why the outcome is what it is, when the budget decided it.
    pub note: String,
    /// The arm whose larger budget could decide the comparison: INCONCLUSIVE, and the arm
    /// behind (smaller EMC at the largest budget) is budget-limited. The claim runner
    /// extends such arms ([`crate::Verdict::extend`]).
    pub extend: Option<String>,
    /// The arms whose further seeds could decide the comparison: INCONCLUSIVE only because
    /// the interval contains 1 (the arm behind is neither budget-limited nor saturated), so
    /// both arms are asked for ([`crate::Verdict::more_seeds`]).
    pub more_seeds: Vec<String>,
}

impl BudgetedEffect {
    /// `part` with the budget's note in parentheses, when there is one (for
    /// [`crate::combine_outcomes`]).
    pub fn part(&self, part: &str) -> String {
        if self.note.is_empty() {
            part.to_string()
        } else {
            format!("{part} ({})", self.note)
        }
    }
}

/// The effect of `a` over `b` ([`bootstrap_log_ratio`]) at each budget level, with an
/// outcome that the budget cannot overturn: the interval at the largest budget must exclude
/// 1 and the arm with the smaller EMC there must be neither budget-limited (its EMC still
/// growing with the budget could close the gap) nor saturated (it fitted everything up to
/// the cap: its EMC is only a lower bound). Otherwise INCONCLUSIVE, with the reason in
/// `note` and, for a budget-limited arm behind, where the [`Trend`] is heading. An ordering
/// that flipped between budgets is a result: the note says at which budgets, and the
/// largest budget decides under the same rule (more budget can only raise the winner).
pub fn budget_robust_effect(
    label: &str,
    a: &ArmResult,
    b: &ArmResult,
    seed: u64,
    expect_above_one: bool,
) -> BudgetedEffect {
    let levels = a.budget_levels().max(b.budget_levels());
    let per_level: Vec<Effect> = (0..levels)
        .map(|l| {
            let tag = if levels > 1 {
                format!("{label} at {}x budget", 1usize << l)
            } else {
                label.to_string()
            };
            bootstrap_log_ratio(&tag, &a.emcs_at(l), &b.emcs_at(l), seed)
        })
        .collect();
    let trend = budget_trend(a, b, levels, seed);
    let effect = Effect {
        label: label.to_string(),
        trend,
        ..per_level.last().expect("at least one level").clone()
    };
    let mut outcome = effect.outcome(expect_above_one);
    let mut note = String::new();
    let above = effect.ratio > 1.0;
    let smaller = if above { b } else { a };
    if outcome != Outcome::Inconclusive {
        if let Some(why) = lower_bound_only(smaller) {
            outcome = Outcome::Inconclusive;
            note = why;
            if let Some(t) = trend.filter(|_| smaller.budget_limited()) {
                note += &heading(&t, effect.ratio);
            }
        }
    }
    let flips: Vec<String> = per_level
        .iter()
        .enumerate()
        .filter(|(_, e)| (e.ratio > 1.0) != above)
        .map(|(l, e)| format!("{:.2} at {}x", e.ratio, 1usize << l))
        .collect();
    if !flips.is_empty() {
        let flipped = format!(
            "the ordering flipped with the budget ({}; {:.2} at {}x)",
            flips.join(", "),
            effect.ratio,
            1usize << (levels - 1)
        );
        note = match (outcome, note.is_empty()) {
            (Outcome::Inconclusive, true) => flipped,
            (Outcome::Inconclusive, false) => format!("{flipped}; {note}"),
            _ => format!(
                "{flipped}: decided at the largest budget, where the arm behind is neither \
                 budget-limited nor saturated"
            ),
        };
    }
    let (extend, more_seeds) = requests(outcome, &effect, expect_above_one, (a, b));
    let mut per_level = per_level;
    if let Some(last) = per_level.last_mut() {
        last.judged = Some(outcome);
        last.trend = trend;
    }
    BudgetedEffect {
        effect: Effect {
            judged: Some(outcome),
            ..effect
        },
        per_level,
        outcome,
        note,
        extend,
        more_seeds,
    }
}

/// (EMC/params of `a`) / (EMC/params of `b`) with a bootstrap interval, and its outcome
/// robust to the budget under the rule of [`budget_robust_effect`], judged on the
/// per-parameter ratio (the parameter ratio is a constant factor): the interval at the
/// largest budget must exclude 1 and the arm behind there must be neither budget-limited nor
/// saturated; an ordering that flipped between budgets is decided at the largest budget
/// under that same rule. With the extensions that could decide it when undecided.
pub fn per_param_ratio(label: String, a: &ArmResult, b: &ArmResult, seed: u64) -> Judged {
    let (pa, pb) = (a.measurement.params, b.measurement.params);
    per_size_ratio(label, (a, pa as f64), (b, pb as f64), seed)
}

/// [`per_param_ratio`] for any size of the two models (e.g. parameters × bits of
/// quantised weights): (EMC/size of `a`) / (EMC/size of `b`), judged by the same rule.
pub fn per_size_ratio(
    label: String,
    (a, size_a): (&ArmResult, f64),
    (b, size_b): (&ArmResult, f64),
    seed: u64,
) -> Judged {
    let k = size_b / size_a.max(f64::MIN_POSITIVE);
    let scale = |e: &Effect| Effect {
        ratio: e.ratio * k,
        lo: e.lo * k,
        hi: e.hi * k,
        ..e.clone()
    };
    let robust = budget_robust_effect(&label, a, b, seed, true);
    let effect = scale(&robust.effect);
    let mut outcome = effect.outcome(true);
    // The arm with fewer samples per parameter at the largest budget must not be a lower
    // bound only (budget-limited or saturated at the cap: when both hit the cap the ratio is
    // only the parameter ratio). More budget can only raise the other arm.
    let smaller = if effect.ratio > 1.0 { b } else { a };
    if outcome != Outcome::Inconclusive && lower_bound_only(smaller).is_some() {
        outcome = Outcome::Inconclusive;
    }
    let (extend, more_seeds) = requests(outcome, &effect, true, (a, b));
    Judged {
        effect: Effect {
            judged: Some(outcome),
            ..effect
        },
        outcome,
        extend,
        more_seeds,
    }
}

/// What could decide the comparison of `a` and `b` judged `outcome` with `effect`: the arm
/// behind (the smaller side of the ratio) searched at a larger budget when the outcome is
/// undecided and that arm is budget-limited; both arms given more seeds when the finite
/// effect's interval contains 1 and the arm behind is not a lower bound only.
fn requests(
    outcome: Outcome,
    effect: &Effect,
    expect_above_one: bool,
    (a, b): (&ArmResult, &ArmResult),
) -> (Option<String>, Vec<String>) {
    let smaller = if effect.ratio > 1.0 { b } else { a };
    let extend = (outcome == Outcome::Inconclusive && smaller.budget_limited())
        .then(|| smaller.arm.label.clone());
    let interval_undecided =
        effect.ratio.is_finite() && effect.outcome(expect_above_one) == Outcome::Inconclusive;
    let more_seeds = if interval_undecided && lower_bound_only(smaller).is_none() {
        vec![a.arm.label.clone(), b.arm.label.clone()]
    } else {
        vec![]
    };
    (extend, more_seeds)
}

/// Where a trend heads, for a note: `; the ratio moves ×0.71 [0.60, 0.85] per doubling
/// (1x–16x): at that rate it would reach 1 after about 3.2 more doublings`.
fn heading(t: &Trend, ratio: f64) -> String {
    let toward = match t.doublings_to_one(ratio) {
        Some(k) => format!(": at that rate it would reach 1 after about {k:.1} more doublings"),
        None => ": at that rate it moves away from 1".into(),
    };
    format!("; the ratio moves {}{toward}", t.describe())
}

/// Why the EMC of `arm` is only a lower bound (budget-limited or saturated at the cap), or
/// `None` when it is not: an arm that lost a comparison for such a reason may not lose it.
pub fn lower_bound_only(arm: &ArmResult) -> Option<String> {
    if arm.saturated() {
        Some(format!(
            "`{}` fitted every sample up to the cap: its EMC is only a lower bound",
            arm.arm.label
        ))
    } else if arm.lagging_seeds() {
        Some(format!(
            "`{}` is budget-limited: some of its seeds were searched only at a smaller budget \
             than another, and EMC can grow again after a doubling that moved it little",
            arm.arm.label
        ))
    } else if arm.budget_limited() {
        Some(format!(
            "`{}` is budget-limited: its EMC still grew at the largest budget, so the gap may \
             close",
            arm.arm.label
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::arm;

    #[test]
    fn a_budget_limited_loser_is_inconclusive_and_a_flip_is_decided_at_the_largest_budget() {
        let sgd = arm(
            "sgd",
            &[(&[400, 410], Some(true)), (&[420, 430], Some(true))],
        );
        // GD converged well below SGD: holds.
        let gd = arm(
            "gd",
            &[(&[100, 104], Some(true)), (&[110, 112], Some(true))],
        );
        let e = budget_robust_effect("x", &sgd, &gd, 0, true);
        assert_eq!((e.outcome, e.per_level.len()), (Outcome::Holds, 2), "{e:?}");
        // GD still growing at the largest budget: the gap may close.
        let gd = arm(
            "gd",
            &[(&[100, 200], Some(false)), (&[110, 230], Some(false))],
        );
        let e = budget_robust_effect("x", &sgd, &gd, 0, true);
        assert_eq!(e.outcome, Outcome::Inconclusive);
        assert!(e.note.contains("budget-limited"), "{}", e.note);
        // GD overtakes SGD at the larger budget, where SGD (now behind) has converged: the
        // flip is the result, decided at the largest budget, and the note says so.
        let gd = arm(
            "gd",
            &[(&[100, 900], Some(true)), (&[110, 950], Some(true))],
        );
        let e = budget_robust_effect("x", &sgd, &gd, 0, true);
        assert_eq!(e.outcome, Outcome::DoesNotHold);
        assert!(
            e.note
                .starts_with("the ordering flipped with the budget (3.91 at 1x; 0.45 at 2x)"),
            "{}",
            e.note
        );
        // A flip whose largest budget straddles 1 decides nothing.
        let gd = arm(
            "gd",
            &[(&[100, 300], Some(true)), (&[110, 600], Some(true))],
        );
        let e = budget_robust_effect("x", &sgd, &gd, 0, true);
        assert_eq!(e.outcome, Outcome::Inconclusive);
        assert!(e.note.starts_with("the ordering flipped"), "{}", e.note);
        // GD fitted everything up to the cap: its EMC is a lower bound, nothing is decided.
        let mut gd = arm(
            "gd",
            &[(&[100, 104], Some(true)), (&[110, 112], Some(true))],
        );
        gd.measurement.per_seed[1].1.saturated = true;
        let e = budget_robust_effect("x", &sgd, &gd, 0, true);
        assert_eq!(e.outcome, Outcome::Inconclusive);
        assert!(e.note.contains("up to the cap"), "{}", e.note);
        // The winner at the cap is only more of a winner: still holds.
        let gd = arm(
            "gd",
            &[(&[100, 104], Some(true)), (&[110, 112], Some(true))],
        );
        let mut sgd = sgd;
        sgd.measurement.per_seed[0].1.saturated = true;
        let e = budget_robust_effect("x", &sgd, &gd, 0, true);
        assert_eq!(e.outcome, Outcome::Holds, "{e:?}");
    }

    #[test]
    fn a_per_parameter_flip_is_decided_at_the_largest_budget_like_any_other() {
        // Both arms have 100 parameters. `b` ahead at 1x, `a` ahead at 2x.
        let a = arm(
            "a",
            &[(&[100, 400], Some(false)), (&[110, 420], Some(false))],
        );
        let b = arm("b", &[(&[200, 200], Some(true)), (&[210, 210], Some(true))]);
        // `b`, behind at the largest budget, converged; `a` still growing only widens it.
        let r = per_param_ratio("x".into(), &a, &b, 0);
        assert_eq!(r.outcome, Outcome::Holds, "{:?}", r.effect);
        assert_eq!(r.extend, None);
        // The same comparison the other way round is decided against.
        let r = per_param_ratio("x".into(), &b, &a, 0);
        assert_eq!(r.outcome, Outcome::DoesNotHold);
        // Behind and still growing: undecided, and the arm behind is the one to extend.
        let b_limited = arm(
            "b",
            &[(&[200, 200], Some(false)), (&[210, 210], Some(false))],
        );
        let r = per_param_ratio("x".into(), &a, &b_limited, 0);
        assert_eq!(r.outcome, Outcome::Inconclusive);
        assert_eq!(r.extend.as_deref(), Some("b"));
    }

    #[test]
    fn a_per_size_ratio_scales_the_emc_ratio_by_the_size_ratio() {
        // Equal EMCs at 100 parameters: per bit, 8-bit weights are 4x as efficient as 32-bit.
        let q = arm("q", &[(&[200, 200], Some(true)), (&[210, 210], Some(true))]);
        let f = arm("f", &[(&[200, 200], Some(true)), (&[210, 210], Some(true))]);
        let r = per_size_ratio("x".into(), (&q, 800.0), (&f, 3200.0), 0);
        assert!((r.effect.ratio - 4.0).abs() < 1e-12, "{:?}", r.effect);
        assert!(r.effect.lo <= 4.0 && r.effect.hi >= 4.0);
        assert_eq!(r.outcome, Outcome::Holds);
        // At equal sizes it is per_param_ratio itself.
        let same = per_size_ratio("x".into(), (&q, 100.0), (&f, 100.0), 0);
        let params = per_param_ratio("x".into(), &q, &f, 0);
        assert_eq!(same.effect.ratio, params.effect.ratio);
        assert_eq!(same.outcome, params.outcome);
    }
}
