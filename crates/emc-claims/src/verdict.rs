//! A claim's answer: the outcome of a comparison or a part, how outcomes combine into
//! the overall verdict (HOLDS, DOES NOT HOLD, MIXED, INCONCLUSIVE) and the reason it gives.

use std::fmt;

/// What the measurement says about the claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The effect is in the claimed direction and its interval excludes no effect.
    Holds,
    /// The effect is against the claimed direction and its interval excludes no effect.
    DoesNotHold,
    /// The interval straddles no effect, and no part decides against another.
    Inconclusive,
    /// Parts or comparisons reach different decisive answers: it holds in some (interval on
    /// the claimed side) and does not in others (interval on the other side). The verdict
    /// then says where each.
    Mixed,
    /// The claim states no direction (the paper's is not known): the verdict reports the
    /// measured direction of each effect with its interval instead of testing one.
    Exploratory,
}

impl Outcome {
    /// HOLDS when every outcome holds, DOES NOT HOLD when every one is against, MIXED when
    /// some hold and some are against (or a part is itself mixed), INCONCLUSIVE otherwise
    /// (undecided parts beside agreeing decisive ones, or no parts).
    pub fn all_of(outcomes: &[Outcome]) -> Outcome {
        let all = |o: Outcome| !outcomes.is_empty() && outcomes.iter().all(|x| *x == o);
        let any = |o: Outcome| outcomes.contains(&o);
        if all(Outcome::Holds) {
            Outcome::Holds
        } else if all(Outcome::DoesNotHold) {
            Outcome::DoesNotHold
        } else if any(Outcome::Mixed) || (any(Outcome::Holds) && any(Outcome::DoesNotHold)) {
            Outcome::Mixed
        } else {
            Outcome::Inconclusive
        }
    }

    /// How many of `outcomes` hold and how many are against, as `k of n hold, m against`.
    pub fn tally(outcomes: &[Outcome]) -> String {
        let count = |o: Outcome| outcomes.iter().filter(|x| **x == o).count();
        format!(
            "{} of {} hold, {} against",
            count(Outcome::Holds),
            outcomes.len(),
            count(Outcome::DoesNotHold)
        )
    }
}

/// Outcomes collected per named part of a verdict (a rival family, a table), in the order
/// the parts were first seen, for [`combine_outcomes`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartOutcomes(Vec<(String, Vec<Outcome>)>);

impl PartOutcomes {
    /// Records one comparison's outcome under `part`.
    pub fn push(&mut self, part: &str, outcome: Outcome) {
        match self.0.iter_mut().find(|(n, _)| n == part) {
            Some((_, v)) => v.push(outcome),
            None => self.0.push((part.to_string(), vec![outcome])),
        }
    }

    /// Each part as `name: k of n hold, m against` with its outcome ([`Outcome::all_of`]).
    pub fn parts(&self) -> Vec<(String, Outcome)> {
        self.0
            .iter()
            .map(|(name, v)| (format!("{name}: {}", Outcome::tally(v)), Outcome::all_of(v)))
            .collect()
    }

    /// The overall outcome and its reason, as [`combine_outcomes`] gives them for
    /// [`PartOutcomes::parts`], except that the outcome is [`Outcome::all_of`] every
    /// comparison rather than every part: a decisive answer inside a part that is undecided
    /// as a whole still counts. A comparison against the claim beside undecided ones in
    /// its part, and one holding in another part, are different decisive answers: MIXED,
    /// where judging by parts would have said INCONCLUSIVE (and would say MIXED again if
    /// the undecided comparisons were left out).
    ///
    /// A MIXED reason counts the comparisons that hold, that do not and that are undecided,
    /// each with the parts they sit in.
    pub fn combine(&self, parts_name: &str, holds: &str, not: &str) -> (Outcome, String) {
        let every: Vec<Outcome> = self.0.iter().flat_map(|(_, v)| v.iter().copied()).collect();
        let overall = Outcome::all_of(&every);
        if overall != Outcome::Mixed {
            return describe_combined(overall, &self.parts(), parts_name, holds, not);
        }
        // Undecided comparisons (a part that is itself MIXED counts as undecided here).
        let of = |o: Outcome| {
            let decided = |x: &Outcome| match o {
                Outcome::Holds | Outcome::DoesNotHold => *x == o,
                _ => !matches!(x, Outcome::Holds | Outcome::DoesNotHold),
            };
            let count = every.iter().filter(|x| decided(x)).count();
            let wheres: Vec<String> = self
                .0
                .iter()
                .filter_map(|(name, v)| {
                    let k = v.iter().filter(|x| decided(x)).count();
                    (k > 0).then(|| format!("{name}: {k} of {}", v.len()))
                })
                .collect();
            (count, wheres.join("; "))
        };
        let ((h, h_at), (a, a_at), (u, u_at)) = (
            of(Outcome::Holds),
            of(Outcome::DoesNotHold),
            of(Outcome::Inconclusive),
        );
        let undecided = if u == 0 {
            String::new()
        } else {
            format!(", {u} undecided ({u_at})")
        };
        (
            Outcome::Mixed,
            format!(
                "the {parts_name} reach different decisive answers: holds in {h} of {} \
                 comparisons ({h_at}), does not hold in {a} ({a_at}){undecided}",
                every.len()
            ),
        )
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Holds => "HOLDS",
            Outcome::DoesNotHold => "DOES NOT HOLD",
            Outcome::Inconclusive => "INCONCLUSIVE",
            Outcome::Mixed => "MIXED",
            Outcome::Exploratory => "EXPLORATORY",
        })
    }
}

/// The analysis' answer.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The overall outcome.
    pub outcome: Outcome,
    /// Why, in a sentence or two.
    pub reason: String,
    /// The effects it rests on.
    pub effects: Vec<crate::Effect>,
    /// Arms the analysis selected (e.g. the best learning rate per procedure), by label.
    pub chosen: Vec<String>,
    /// Claim-specific tables (e.g. an ordering), in `verdict.md` and on the terminal.
    pub sections: Vec<Section>,
    /// Claim-specific scatter plots, written beside `verdict.md` as SVG and PNG.
    pub plots: Vec<emc_report::Scatter>,
    /// Arms (by label) whose larger budget could decide a comparison left undecided because
    /// they are budget-limited ([`crate::BudgetedEffect::extend`]): the runner searches them
    /// again at one more budget doubling, up to its cap, and analyses again.
    pub extend: Vec<String>,
    /// Arms (by label) of comparisons left undecided only because their interval contains
    /// 1 ([`crate::BudgetedEffect::more_seeds`]): the runner searches them with more seeds,
    /// up to its seed cap, and analyses again.
    pub more_seeds: Vec<String>,
}

impl Default for Verdict {
    /// INCONCLUSIVE with nothing to show: fill with struct-update syntax.
    fn default() -> Self {
        Verdict {
            outcome: Outcome::Inconclusive,
            reason: String::new(),
            effects: vec![],
            chosen: vec![],
            sections: vec![],
            plots: vec![],
            extend: vec![],
            more_seeds: vec![],
        }
    }
}

/// A claim-specific part of the verdict: a title and a markdown body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Heading in `verdict.md`.
    pub title: String,
    /// Markdown (tables print as they are on the terminal).
    pub body: String,
}

/// The overall outcome of a claim judged in parts (per architecture, per labels...), by
/// [`Outcome::all_of`]: HOLDS when every part holds, DOES NOT HOLD when every part does not,
/// MIXED when parts decide differently, INCONCLUSIVE otherwise (and when there are no
/// parts). The reason quotes `holds` or `not` and lists the parts; a MIXED reason lists
/// them by outcome; `parts_name` names them (e.g. `architectures`). For parts of several
/// comparisons each, [`PartOutcomes::combine`] judges every comparison instead.
pub fn combine_outcomes(
    parts: &[(String, Outcome)],
    parts_name: &str,
    holds: &str,
    not: &str,
) -> (Outcome, String) {
    let outcomes: Vec<Outcome> = parts.iter().map(|(_, o)| *o).collect();
    describe_combined(Outcome::all_of(&outcomes), parts, parts_name, holds, not)
}

/// `overall` with its reason: `holds` or `not` with the parts listed, the parts grouped by
/// outcome for MIXED, or why it is INCONCLUSIVE.
fn describe_combined(
    overall: Outcome,
    parts: &[(String, Outcome)],
    parts_name: &str,
    holds: &str,
    not: &str,
) -> (Outcome, String) {
    let list = parts
        .iter()
        .map(|(a, o)| format!("{a}: {o}"))
        .collect::<Vec<_>>()
        .join(", ");
    if overall == Outcome::Holds {
        (Outcome::Holds, format!("{holds} ({list})"))
    } else if overall == Outcome::DoesNotHold {
        (Outcome::DoesNotHold, format!("{not} ({list})"))
    } else if overall == Outcome::Mixed {
        let with = |o: Outcome| {
            let names: Vec<&str> = parts
                .iter()
                .filter(|(_, x)| *x == o)
                .map(|(a, _)| a.as_str())
                .collect();
            (!names.is_empty()).then(|| format!("{o}: {}", names.join("; ")))
        };
        let scoped: Vec<String> = [
            Outcome::Holds,
            Outcome::DoesNotHold,
            Outcome::Mixed,
            Outcome::Inconclusive,
        ]
        .into_iter()
        .filter_map(with)
        .collect();
        (
            Outcome::Mixed,
            format!(
                "the {parts_name} reach different decisive answers ({})",
                scoped.join(" | ")
            ),
        )
    } else if parts.is_empty() {
        (
            Outcome::Inconclusive,
            format!("no {parts_name} could be compared"),
        )
    } else {
        (
            Outcome::Inconclusive,
            format!("the {parts_name} do not agree or an interval contains 1 ({list})"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_outcomes_group_by_part_in_first_seen_order_and_tally() {
        let mut p = PartOutcomes::default();
        p.push("wine", Outcome::Holds);
        p.push("digits", Outcome::DoesNotHold);
        p.push("wine", Outcome::Inconclusive);
        p.push("digits", Outcome::DoesNotHold);
        assert_eq!(
            p.parts(),
            vec![
                (
                    "wine: 1 of 2 hold, 0 against".to_string(),
                    Outcome::Inconclusive
                ),
                (
                    "digits: 0 of 2 hold, 2 against".to_string(),
                    Outcome::DoesNotHold
                ),
            ]
        );
    }
    use Outcome::{DoesNotHold as No, Holds as Yes, Inconclusive as Open, Mixed};

    /// A comparison against the claim inside a part left undecided as a whole, beside a
    /// part that holds, is a decisive disagreement: MIXED (judged by parts alone it was
    /// INCONCLUSIVE, and dropping the undecided comparisons would have made it MIXED).
    /// Agreeing decisive comparisons beside undecided ones stay INCONCLUSIVE.
    #[test]
    fn combining_parts_counts_a_decisive_answer_inside_an_undecided_part() {
        let mut p = PartOutcomes::default();
        for o in [Yes, Yes, Yes] {
            p.push("vs depth", o);
        }
        for o in [No, Open, Open] {
            p.push("vs resolution", o);
        }
        let by_parts = combine_outcomes(&p.parts(), "ways", "holds", "does not");
        assert_eq!(by_parts.0, Open);
        let (o, reason) = p.combine("ways", "holds", "does not");
        assert_eq!(o, Mixed);
        assert_eq!(
            reason,
            "the ways reach different decisive answers: holds in 3 of 6 comparisons (vs \
             depth: 3 of 3), does not hold in 1 (vs resolution: 1 of 3), 2 undecided (vs \
             resolution: 2 of 3)"
        );
        // Without undecided comparisons the reason says none.
        let mut decided = PartOutcomes::default();
        for (part, o) in [("a", Yes), ("b", No), ("b", Yes)] {
            decided.push(part, o);
        }
        assert_eq!(
            decided.combine("ways", "h", "n"),
            (
                Mixed,
                "the ways reach different decisive answers: holds in 2 of 3 comparisons (a: 1 \
                 of 1; b: 1 of 2), does not hold in 1 (b: 1 of 2)"
                    .into()
            )
        );
        let mut agreeing = PartOutcomes::default();
        for (part, o) in [("a", Yes), ("a", Yes), ("b", Yes), ("b", Open)] {
            agreeing.push(part, o);
        }
        assert_eq!(agreeing.combine("ways", "h", "n").0, Open);
        let mut all = PartOutcomes::default();
        all.push("a", No);
        all.push("b", No);
        assert_eq!(
            all.combine("ways", "h", "n"),
            (
                No,
                "n (a: 0 of 1 hold, 1 against: DOES NOT HOLD, b: 0 of 1 hold, 1 against: DOES \
                 NOT HOLD)"
                    .into()
            )
        );
    }

    #[test]
    fn parts_that_decide_differently_are_mixed_and_undecided_ones_stay_inconclusive() {
        assert_eq!(Outcome::all_of(&[Yes, Yes]), Yes);
        assert_eq!(Outcome::all_of(&[No, No]), No);
        assert_eq!(Outcome::all_of(&[Yes, No]), Mixed);
        assert_eq!(Outcome::all_of(&[Yes, Open, No]), Mixed);
        assert_eq!(Outcome::all_of(&[Mixed, Open]), Mixed);
        // Agreeing decisive parts beside an undecided one decide nothing overall.
        assert_eq!(Outcome::all_of(&[Yes, Open]), Open);
        assert_eq!(Outcome::all_of(&[No, Open]), Open);
        assert_eq!(Outcome::all_of(&[]), Open);
    }

    #[test]
    fn a_mixed_reason_says_where_each_answer_holds() {
        let parts = vec![
            ("cnn vs mlp: 7 of 12 hold, 2 against".to_string(), Mixed),
            ("cnn vs vit at ~0.6k".to_string(), Yes),
            ("cnn vs vit at ~4k".to_string(), No),
            ("cnn vs vit at ~1M".to_string(), Open),
        ];
        let (o, reason) = combine_outcomes(&parts, "comparisons", "holds", "does not");
        assert_eq!(o, Mixed);
        assert_eq!(
            reason,
            "the comparisons reach different decisive answers (HOLDS: cnn vs vit at ~0.6k | \
             DOES NOT HOLD: cnn vs vit at ~4k | MIXED: cnn vs mlp: 7 of 12 hold, 2 against | \
             INCONCLUSIVE: cnn vs vit at ~1M)"
        );
        let (o, reason) = combine_outcomes(&parts[1..2], "comparisons", "holds", "does not");
        assert_eq!(
            (o, reason.as_str()),
            (Yes, "holds (cnn vs vit at ~0.6k: HOLDS)")
        );
    }
}
