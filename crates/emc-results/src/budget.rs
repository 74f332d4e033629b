//! The budget carry-over rule: a probe recorded at a smaller budget holds at a larger one
//! when a longer run replays the shorter one (the schedule does not stretch with the
//! budget) and its result stands with more budget (a fit, or a failure certified by a small
//! gradient or divergence). The search carries such probes over untrained; the report
//! shows, per seed, the probes valid at its largest budget by the same rule.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

use crate::rows::ProbeRow;
use crate::stop::stands_with_more_budget;

/// Whether a probe recorded as `fitted` with stop reason `stop` (text form) at some budget
/// holds at every larger one; `replays`: a longer run replays a shorter one.
pub fn carries_over(replays: bool, fitted: bool, stop: &str) -> bool {
    replays && stands_with_more_budget(fitted, stop)
}

/// A recorded probe, as the carry-over rule needs it.
pub trait Recorded {
    /// Subset size.
    fn n(&self) -> u64;
    /// Whether every sample was fitted.
    fn fitted(&self) -> bool;
    /// Stop reason, text form.
    fn stop(&self) -> &str;
}

impl Recorded for ProbeRow {
    fn n(&self) -> u64 {
        self.n as u64
    }
    fn fitted(&self) -> bool {
        self.fitted
    }
    fn stop(&self) -> &str {
        &self.stop
    }
}

/// The probes of one seed valid at budget level `top`, one per `n`, smallest `n` first,
/// from its probes with their budget levels: those trained at `top`, and those of smaller
/// levels that [carry over](carries_over). The larger budget's probe wins at the same `n`;
/// probes above `top` are left out.
pub fn probes_at_budget<'p, P: Recorded>(
    probes: impl IntoIterator<Item = (usize, &'p P)>,
    top: usize,
    replays: bool,
) -> Vec<&'p P> {
    let mut by_n: BTreeMap<u64, (usize, &P)> = BTreeMap::new();
    for (level, p) in probes {
        if level > top || (level < top && !carries_over(replays, p.fitted(), p.stop())) {
            continue;
        }
        match by_n.entry(p.n()) {
            Entry::Vacant(e) => {
                e.insert((level, p));
            }
            Entry::Occupied(mut e) => {
                if level > e.get().0 {
                    e.insert((level, p));
                }
            }
        }
    }
    by_n.into_values().map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(n: usize, fitted: bool, stop: &str) -> ProbeRow {
        ProbeRow {
            n,
            fitted,
            stop: stop.into(),
            ..ProbeRow::default()
        }
    }

    #[test]
    fn only_standing_results_of_smaller_budgets_carry_over() {
        let fit = probe(64, true, "fitted");
        let out_of_epochs = probe(128, false, "max-epochs");
        let certified = probe(256, false, "small-gradient");
        let retried = probe(128, true, "fitted");
        let above = probe(512, true, "fitted");
        let levels = [
            (0, &fit),
            (0, &out_of_epochs),
            (0, &certified),
            (1, &retried),
            (2, &above),
        ];
        let at = |top, replays| -> Vec<(usize, bool)> {
            probes_at_budget(levels, top, replays)
                .into_iter()
                .map(|p| (p.n, p.fitted))
                .collect()
        };
        assert_eq!(at(1, true), [(64, true), (128, true), (256, false)]);
        // A schedule that stretches with the budget: nothing carries over.
        assert_eq!(at(1, false), [(128, true)]);
        assert_eq!(at(0, true), [(64, true), (128, false), (256, false)]);
        assert!(!carries_over(true, false, "plateau"));
        assert!(carries_over(true, false, "diverged"));
    }
}
