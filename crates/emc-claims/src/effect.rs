//! Effect sizes with a bootstrap confidence interval.
//!
//! The effect of A over B is the ratio of geometric means, `exp(mean ln EMC_A − mean ln
//! EMC_B)` (the paper averages log EMC). Its 95% interval is the percentile interval of the
//! same statistic over seeded (ChaCha8) resamples of the per-seed EMCs of each arm, drawn
//! independently. An interval that contains 1 means no effect can be excluded.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{ArmResult, Judged, Outcome};

/// Bootstrap resamples per effect.
pub const RESAMPLES: usize = 10_000;

/// A ratio of EMCs with its bootstrap interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Effect {
    /// What is compared, e.g. `mlp: EMC(sgd b=32 lr=0.1) / EMC(gd lr=0.5)`.
    pub label: String,
    /// Ratio of geometric means of the per-seed EMCs.
    pub ratio: f64,
    /// 2.5th percentile of the bootstrap ratios.
    pub lo: f64,
    /// 97.5th percentile of the bootstrap ratios.
    pub hi: f64,
    /// How the analysis judged this comparison on its own (robust to the budget, see
    /// [`budget_robust_effect`]), when it did: shown beside the interval, and how a MIXED
    /// verdict says where the claim holds and where it does not.
    pub judged: Option<Outcome>,
    /// How the ratio moves with the budget, when the arms were searched at several.
    pub trend: Option<Trend>,
}

/// How an effect moves across budget doublings: the least-squares slope of the log ratio
/// against log2 of the budget, as a factor per doubling, with a 95% percentile bootstrap
/// interval over resampled seeds (each seed's EMCs at every budget kept together).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    /// Budget levels the slope is fitted over (1×, 2×, ... 2^(levels-1)×).
    pub levels: usize,
    /// exp(slope): the factor the ratio is multiplied by per budget doubling.
    pub per_doubling: f64,
    /// 2.5th percentile of the bootstrap factors.
    pub lo: f64,
    /// 97.5th percentile of the bootstrap factors.
    pub hi: f64,
}

impl Trend {
    /// `×0.71 [0.60, 0.85] per doubling (1x-16x)`.
    pub fn describe(&self) -> String {
        format!(
            "×{:.2} [{:.2}, {:.2}] per doubling (1x–{}x)",
            self.per_doubling,
            self.lo,
            self.hi,
            1usize << (self.levels - 1)
        )
    }

    /// Further doublings after which a ratio of `ratio` reaches 1 if it kept moving at
    /// this rate (a straight-line extrapolation in log–log): `None` when it moves away
    /// from 1 or not at all.
    pub fn doublings_to_one(&self, ratio: f64) -> Option<f64> {
        let (gap, slope) = (ratio.ln(), self.per_doubling.ln());
        (gap * slope < 0.0 && slope.abs() > 1e-12).then(|| -gap / slope)
    }
}

impl Effect {
    /// The outcome for a claim that expects a ratio above 1 (`expect_above_one`) or below.
    pub fn outcome(&self, expect_above_one: bool) -> Outcome {
        let (above, below) = (self.lo > 1.0, self.hi < 1.0);
        match (above, below, expect_above_one) {
            (true, _, true) | (_, true, false) => Outcome::Holds,
            (true, _, false) | (_, true, true) => Outcome::DoesNotHold,
            _ => Outcome::Inconclusive,
        }
    }
}

fn mean_log(v: &[usize]) -> f64 {
    // EMC 0 (nothing fitted) counts as 1 so the logarithm stays finite.
    v.iter().map(|&e| (e.max(1) as f64).ln()).sum::<f64>() / v.len() as f64
}

/// The effect of `a` over `b` (per-seed EMCs) with a 95% percentile bootstrap interval over
/// [`RESAMPLES`] resamples drawn from ChaCha8 seeded with `seed` (deterministic).
///
/// ```
/// let e = emc_claims::bootstrap_log_ratio("a/b", &[400, 420, 440], &[100, 110, 90], 0);
/// assert!(e.lo > 1.0 && (e.ratio - 4.0).abs() < 0.5);
/// ```
pub fn bootstrap_log_ratio(label: &str, a: &[usize], b: &[usize], seed: u64) -> Effect {
    bootstrap_log_contrast(label, &[(a, 1.0), (b, -1.0)], seed)
}

/// `exp(Σ cᵢ · mean ln EMCᵢ)` over `terms` (per-seed EMCs, coefficient) with a 95%
/// percentile bootstrap interval, each term's seeds resampled independently ([`RESAMPLES`]
/// resamples, ChaCha8 seeded with `seed`, terms drawn in order). `[(a, 1), (b, -1)]` is
/// [`bootstrap_log_ratio`]; `[(a, 1), (b, -1), (c, -1), (d, 1)]` is the ratio of ratios
/// `(a/b) / (c/d)`, an interaction: how much more `a` differs from `b` than `c` from `d`.
///
/// ```
/// let e = emc_claims::bootstrap_log_contrast(
///     "(a/b)/(c/d)",
///     &[(&[100, 110, 90], 1.0), (&[400, 420, 380], -1.0), (&[800, 820, 790], -1.0),
///       (&[800, 810, 780], 1.0)],
///     0,
/// );
/// assert!(e.hi < 1.0 && (e.ratio - 0.25).abs() < 0.05);
/// ```
pub fn bootstrap_log_contrast(label: &str, terms: &[(&[usize], f64)], seed: u64) -> Effect {
    let ratio = terms
        .iter()
        .map(|(v, c)| c * mean_log(v))
        .sum::<f64>()
        .exp();
    if terms.is_empty() || terms.iter().any(|(v, _)| v.is_empty()) {
        return Effect {
            label: label.into(),
            ratio: f64::NAN,
            lo: f64::NAN,
            hi: f64::NAN,
            judged: None,
            trend: None,
        };
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut draw = |v: &[usize]| -> f64 {
        let s: Vec<usize> = (0..v.len())
            .map(|_| v[rng.random_range(0..v.len())])
            .collect();
        mean_log(&s)
    };
    let mut stats: Vec<f64> = (0..RESAMPLES)
        .map(|_| terms.iter().map(|(v, c)| c * draw(v)).sum::<f64>().exp())
        .collect();
    stats.sort_by(f64::total_cmp);
    let at = |q: f64| stats[((q * (RESAMPLES - 1) as f64).round() as usize).min(RESAMPLES - 1)];
    Effect {
        label: label.into(),
        ratio,
        lo: at(0.025),
        hi: at(0.975),
        judged: None,
        trend: None,
    }
}

/// The [`Trend`] of `ln(EMC_a / EMC_b)` over `levels` budget levels (`None` below 2
/// levels or without seeds), bootstrapped over [`RESAMPLES`] resamples of each arm's seeds
/// from ChaCha8 seeded with `seed`.
pub fn budget_trend(a: &ArmResult, b: &ArmResult, levels: usize, seed: u64) -> Option<Trend> {
    // Per seed, ln EMC at each level (a seed that converged early keeps its last EMC).
    let paths = |r: &ArmResult| -> Vec<Vec<f64>> {
        let per_level: Vec<Vec<usize>> = (0..levels).map(|l| r.emcs_at(l)).collect();
        (0..per_level[0].len())
            .map(|s| {
                per_level
                    .iter()
                    .map(|e| (e[s].max(1) as f64).ln())
                    .collect()
            })
            .collect()
    };
    let (pa, pb) = (paths(a), paths(b));
    if levels < 2 || pa.is_empty() || pb.is_empty() {
        return None;
    }
    // Least-squares slope of the mean-log difference against the level index.
    let slope = |ia: &[usize], ib: &[usize]| -> f64 {
        let mean = |p: &[Vec<f64>], idx: &[usize], l: usize| {
            idx.iter().map(|&i| p[i][l]).sum::<f64>() / idx.len() as f64
        };
        let y: Vec<f64> = (0..levels)
            .map(|l| mean(&pa, ia, l) - mean(&pb, ib, l))
            .collect();
        let xm = (levels - 1) as f64 / 2.0;
        let ym = y.iter().sum::<f64>() / levels as f64;
        let (mut sxy, mut sxx) = (0.0, 0.0);
        for (l, v) in y.iter().enumerate() {
            sxy += (l as f64 - xm) * (v - ym);
            sxx += (l as f64 - xm).powi(2);
        }
        sxy / sxx
    };
    let all = |n: usize| (0..n).collect::<Vec<_>>();
    let point = slope(&all(pa.len()), &all(pb.len())).exp();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut draw = |n: usize| -> Vec<usize> { (0..n).map(|_| rng.random_range(0..n)).collect() };
    let mut stats: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let (ia, ib) = (draw(pa.len()), draw(pb.len()));
            slope(&ia, &ib).exp()
        })
        .collect();
    stats.sort_by(f64::total_cmp);
    let at = |q: f64| stats[((q * (RESAMPLES - 1) as f64).round() as usize).min(RESAMPLES - 1)];
    Some(Trend {
        levels,
        per_doubling: point,
        lo: at(0.025),
        hi: at(0.975),
    })
}

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
    let extend = (outcome == Outcome::Inconclusive && smaller.budget_limited())
        .then(|| smaller.arm.label.clone());
    let more_seeds =
        if interval_undecided(&effect, expect_above_one) && lower_bound_only(smaller).is_none() {
            vec![a.arm.label.clone(), b.arm.label.clone()]
        } else {
            vec![]
        };
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
    let extend = (outcome == Outcome::Inconclusive && smaller.budget_limited())
        .then(|| smaller.arm.label.clone());
    let more_seeds = if effect.ratio.is_finite()
        && effect.outcome(true) == Outcome::Inconclusive
        && lower_bound_only(smaller).is_none()
    {
        vec![a.arm.label.clone(), b.arm.label.clone()]
    } else {
        vec![]
    };
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

/// Whether the interval of a finite effect contains 1: more seeds could narrow it.
pub(crate) fn interval_undecided(e: &Effect, expect_above_one: bool) -> bool {
    e.ratio.is_finite() && e.outcome(expect_above_one) == Outcome::Inconclusive
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
    use crate::test_support::arm;

    /// The two-term contrast is the ratio, bit for bit (its resamples too); a ratio of
    /// ratios without interaction straddles 1, one with a clear interaction excludes it.
    #[test]
    fn a_contrast_generalises_the_ratio() {
        let (a, b) = ([100, 200, 300], [150, 250, 120]);
        let r = bootstrap_log_ratio("x", &a, &b, 7);
        let c = bootstrap_log_contrast("x", &[(&a, 1.0), (&b, -1.0)], 7);
        assert_eq!(r, c);
        let same = bootstrap_log_contrast(
            "none",
            &[
                (&[50, 60, 55], 1.0),
                (&[100, 120, 110], -1.0),
                (&[500, 600, 550], -1.0),
                (&[1000, 1200, 1100], 1.0),
            ],
            1,
        );
        assert!(
            same.lo < 1.0 && same.hi > 1.0 && (same.ratio - 1.0).abs() < 1e-9,
            "{same:?}"
        );
        let empty = bootstrap_log_contrast("e", &[(&[1], 1.0), (&[], -1.0)], 0);
        assert!(empty.ratio.is_nan() && empty.lo.is_nan());
    }

    #[test]
    fn interval_straddles_one_for_overlapping_samples() {
        let e = bootstrap_log_ratio("x", &[100, 200, 300], &[150, 250, 120], 7);
        assert!(e.lo < 1.0 && e.hi > 1.0, "{e:?}");
        assert_eq!(e.outcome(true), Outcome::Inconclusive);
        assert_eq!(
            e,
            bootstrap_log_ratio("x", &[100, 200, 300], &[150, 250, 120], 7)
        );
    }

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

    #[test]
    fn the_trend_is_the_slope_of_the_log_ratio_per_doubling() {
        // SGD flat at 400; GD doubles its EMC with every doubling of the budget: the ratio
        // halves per doubling, exactly, whichever seeds are resampled.
        let sgd = arm(
            "sgd",
            &[
                (&[400, 400, 400], Some(true)),
                (&[400, 400, 400], Some(true)),
            ],
        );
        let gd = arm(
            "gd",
            &[
                (&[50, 100, 200], Some(false)),
                (&[25, 50, 100], Some(false)),
            ],
        );
        let t = budget_trend(&sgd, &gd, 3, 0).unwrap();
        assert!((t.per_doubling - 0.5).abs() < 1e-12, "{t:?}");
        assert!(
            (t.lo - 0.5).abs() < 1e-12 && (t.hi - 0.5).abs() < 1e-12,
            "{t:?}"
        );
        // The ratio is 2√2 at 4x (sqrt(200 * 100) = 141.4): one and a half doublings more.
        let e = budget_robust_effect("x", &sgd, &gd, 0, true);
        assert_eq!(e.effect.trend, Some(t));
        assert_eq!(e.outcome, Outcome::Inconclusive);
        assert!(
            e.note.ends_with(
                "the ratio moves ×0.50 [0.50, 0.50] per doubling (1x–4x): at that rate it \
                 would reach 1 after about 1.5 more doublings"
            ),
            "{}",
            e.note
        );
        // Seeds that disagree give an interval; a gap that widens moves away from 1.
        let gd = arm(
            "gd",
            &[
                (&[100, 90, 80], Some(false)),
                (&[100, 100, 70], Some(false)),
            ],
        );
        let t = budget_trend(&sgd, &gd, 3, 0).unwrap();
        assert!(t.lo < t.per_doubling && t.per_doubling < t.hi, "{t:?}");
        assert!(t.per_doubling > 1.0 && t.doublings_to_one(4.5).is_none());
        // One level has no trend.
        assert_eq!(budget_trend(&sgd, &gd, 1, 0), None);
    }

    #[test]
    fn clear_effects_hold_or_not_by_direction() {
        let e = bootstrap_log_ratio("x", &[50, 60], &[400, 410], 1);
        assert!(e.hi < 1.0);
        assert_eq!(e.outcome(true), Outcome::DoesNotHold);
        assert_eq!(e.outcome(false), Outcome::Holds);
    }
}
