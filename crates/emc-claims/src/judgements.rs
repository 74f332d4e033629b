//! What an analysis has judged so far: the effects in the order they were judged, each
//! comparison's outcome under its part of the verdict, and the arms the runner is asked to
//! extend or to give more seeds. Every claim that judges comparisons one by one with
//! [`crate::budget_robust_effect`] or [`crate::per_param_ratio`] collects them here.

use crate::{BudgetedEffect, Effect, Outcome, PartOutcomes, Verdict};

/// One judged comparison as [`Judgements::record`] takes it: from a [`BudgetedEffect`], or
/// as [`crate::per_param_ratio`] returns it.
#[derive(Debug, Clone)]
pub struct Judged {
    /// The effect, judged.
    pub effect: Effect,
    /// Its outcome.
    pub outcome: Outcome,
    /// The arm whose larger budget could decide it.
    pub extend: Option<String>,
    /// The arms whose further seeds could decide it.
    pub more_seeds: Vec<String>,
}

impl From<BudgetedEffect> for Judged {
    fn from(b: BudgetedEffect) -> Self {
        Judged {
            effect: b.effect,
            outcome: b.outcome,
            extend: b.extend,
            more_seeds: b.more_seeds,
        }
    }
}

/// The judged comparisons of one analysis, in order: the effects, the outcome of each
/// comparison under its part of the verdict, and the arms to extend or give more seeds.
#[derive(Debug, Clone, Default)]
pub struct Judgements {
    /// The effects, in the order they were recorded.
    pub effects: Vec<Effect>,
    /// Each comparison's outcome under its part (for [`crate::combine_outcomes`]).
    pub parts: PartOutcomes,
    /// Arms whose larger budget could decide a comparison ([`Verdict::extend`]).
    pub extend: Vec<String>,
    /// Arms whose further seeds could decide a comparison ([`Verdict::more_seeds`]).
    pub more_seeds: Vec<String>,
}

impl Judgements {
    /// Records `judged` under `part`: its effect, its outcome, and the arms it asks the
    /// runner for. Returns its outcome.
    pub fn record(&mut self, part: &str, judged: impl Into<Judged>) -> Outcome {
        let judged = judged.into();
        self.parts.push(part, judged.outcome);
        self.effects.push(judged.effect);
        self.extend.extend(judged.extend);
        self.more_seeds.extend(judged.more_seeds);
        judged.outcome
    }

    /// [`Judgements::record`] for a table row: returns the effect as `ratio [lo, hi]` and
    /// whether it supports the claim: `yes` (holds), `no` (does not hold) or `?`.
    pub fn record_cells(
        &mut self,
        part: &str,
        judged: impl Into<Judged>,
    ) -> (String, &'static str) {
        let judged = judged.into();
        let e = &judged.effect;
        let cell = format!("{:.2} [{:.2}, {:.2}]", e.ratio, e.lo, e.hi);
        let supports = match self.record(part, judged) {
            Outcome::Holds => "yes",
            Outcome::DoesNotHold => "no",
            _ => "?",
        };
        (cell, supports)
    }

    /// A verdict carrying these effects and requests, the rest default (INCONCLUSIVE with
    /// no reason or sections): for struct-update syntax,
    /// `Verdict { outcome, reason, sections, ..judged.into_verdict() }`.
    pub fn into_verdict(self) -> Verdict {
        Verdict {
            effects: self.effects,
            extend: self.extend,
            more_seeds: self.more_seeds,
            ..Verdict::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::arm;
    use crate::{budget_robust_effect, combine_outcomes};

    #[test]
    fn records_effects_in_order_outcomes_per_part_and_the_arms_asked_for() {
        let ahead = arm("ahead", &[(&[400], None), (&[420], None), (&[410], None)]);
        let behind = arm("behind", &[(&[100], None), (&[110], None), (&[105], None)]);
        // Behind and still growing with the budget: undecided, and extended.
        let growing = arm(
            "growing",
            &[
                (&[100, 300], Some(false)),
                (&[110, 380], Some(false)),
                (&[105, 390], Some(false)),
            ],
        );
        let mut j = Judgements::default();
        let first = j.record("a", budget_robust_effect("first", &ahead, &behind, 0, true));
        let second = j.record(
            "b",
            budget_robust_effect("second", &ahead, &growing, 1, true),
        );
        assert_eq!(first, Outcome::Holds);
        assert_eq!(second, Outcome::Inconclusive);
        let names: Vec<&str> = j.effects.iter().map(|e| e.label.as_str()).collect();
        assert_eq!(names, ["first", "second"]);
        assert_eq!(j.extend, ["growing"]);
        assert!(j.more_seeds.is_empty());
        let (outcome, _) = combine_outcomes(&j.parts.parts(), "parts", "h", "n");
        assert_eq!(outcome, Outcome::Inconclusive);
        let v = j.into_verdict();
        assert_eq!((v.effects.len(), v.extend.len()), (2, 1));
        assert_eq!(v.outcome, Outcome::Inconclusive);
    }
}
