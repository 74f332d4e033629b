//! Why a probe's training stopped, in the text form of `probes.csv`, and which stop
//! reasons stand when the budget grows.

use serde::{Deserialize, Serialize};

/// Why training stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// Every training sample is classified correctly.
    Fitted,
    /// The epoch budget ran out.
    MaxEpochs,
    /// The step budget ran out.
    MaxSteps,
    /// The loss stopped improving (see `emc_train::StopRules`).
    Plateau,
    /// The full-data gradient norm fell below the tolerance: a stationary point.
    SmallGradient,
    /// The loss or the weights became NaN or infinite.
    Diverged,
}

impl StopReason {
    /// Every stop reason, in the order of the enum.
    pub const ALL: [StopReason; 6] = [
        StopReason::Fitted,
        StopReason::MaxEpochs,
        StopReason::MaxSteps,
        StopReason::Plateau,
        StopReason::SmallGradient,
        StopReason::Diverged,
    ];

    /// Whether more budget (epochs, steps, and plateau patience scaled with them) may turn
    /// this failure into a fit: it ran out of epochs or steps, or stopped on a loss plateau
    /// whose full-data gradient was not small (a stall or an oscillation, not a stationary
    /// point). A fit, a [`StopReason::SmallGradient`] failure (certified: a stationary
    /// point) and a divergence are replayed unchanged by a longer run of a schedule that
    /// does not depend on the budget.
    pub fn more_budget_may_fit(self) -> bool {
        matches!(
            self,
            StopReason::MaxEpochs | StopReason::MaxSteps | StopReason::Plateau
        )
    }

    /// The text forms of every stop reason, comma-separated (for error messages).
    pub fn names() -> String {
        let all: Vec<&str> = StopReason::ALL.iter().map(|r| r.as_str()).collect();
        all.join(", ")
    }

    /// Short text form, as in result files.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Fitted => "fitted",
            StopReason::MaxEpochs => "max-epochs",
            StopReason::MaxSteps => "max-steps",
            StopReason::Plateau => "plateau",
            StopReason::SmallGradient => "small-gradient",
            StopReason::Diverged => "diverged",
        }
    }
}

/// Whether a probe recorded as `fitted` with stop reason `stop` (text form) stands when the
/// budget grows and a longer run replays this one: a fit, or a failure certified by a small
/// gradient or divergence. A failure that ran out of epochs, steps or plateau patience does
/// not (see [`StopReason::more_budget_may_fit`]), nor does a stop reason this version does
/// not know.
pub fn stands_with_more_budget(fitted: bool, stop: &str) -> bool {
    fitted
        || stop
            .parse::<StopReason>()
            .is_ok_and(|r| !r.more_budget_may_fit())
}

impl std::str::FromStr for StopReason {
    type Err = String;

    /// Parses the text form of [`StopReason::as_str`].
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        StopReason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown stop reason `{s}`: expected one of {}",
                    StopReason::names()
                )
            })
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_reasons_round_trip_through_their_text() {
        for r in StopReason::ALL {
            assert_eq!(r.as_str().parse::<StopReason>(), Ok(r));
            // The serde form (a `FitReport` serialised) is the same text.
            assert_eq!(
                serde_json::to_value(r).unwrap(),
                serde_json::Value::from(r.as_str())
            );
        }
        let err = "stalled".parse::<StopReason>().unwrap_err();
        assert!(
            err.contains("stalled") && err.contains("small-gradient"),
            "{err}"
        );
    }

    #[test]
    fn only_a_small_gradient_or_divergence_certifies_a_failure() {
        let standing: Vec<&str> = StopReason::ALL[1..]
            .iter()
            .filter(|r| stands_with_more_budget(false, r.as_str()))
            .map(|r| r.as_str())
            .collect();
        assert_eq!(standing, ["small-gradient", "diverged"]);
        // A loss plateau with a gradient that is not small is an early stop, not a minimum.
        assert!(StopReason::Plateau.more_budget_may_fit());
        assert!(stands_with_more_budget(true, "fitted"));
        assert!(!stands_with_more_budget(false, "from-a-future-version"));
    }
}
