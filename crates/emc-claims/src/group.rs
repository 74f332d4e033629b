//! Grouping for the analyses: distinct values, in the order they first appear, and the
//! best arm of each group (the learning-rate choice).

use crate::ArmResult;

/// The distinct items, each at its first appearance.
///
/// ```
/// assert_eq!(emc_claims::first_seen(["b", "a", "b", "c", "a"]), ["b", "a", "c"]);
/// ```
pub fn first_seen<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut distinct = vec![];
    for item in items {
        if !distinct.contains(&item) {
            distinct.push(item);
        }
    }
    distinct
}

/// The distinct architecture labels (the analysis' groups, see [`crate::Arm`]) of
/// `results`, in first-seen order.
pub fn architectures<'a>(results: impl IntoIterator<Item = &'a ArmResult>) -> Vec<&'a str> {
    first_seen(results.into_iter().map(|r| r.arm.architecture.as_str()))
}

/// `results` split by architecture (the analysis' groups), in first-seen order, each with
/// its arms in the order given.
pub fn by_architecture<'a>(
    results: impl IntoIterator<Item = &'a ArmResult>,
) -> Vec<(&'a str, Vec<&'a ArmResult>)> {
    let results: Vec<&ArmResult> = results.into_iter().collect();
    architectures(results.iter().copied())
        .into_iter()
        .map(|group| {
            let arms = results
                .iter()
                .copied()
                .filter(|r| r.arm.architecture == group)
                .collect();
            (group, arms)
        })
        .collect()
}

/// The best arm (highest median EMC, then highest mean log EMC, then first in the grid) of
/// each `(architecture, procedure)`: the learning rate chosen from the grid by best EMC.
/// In grid order of first appearance.
pub fn best_per_procedure(results: &[ArmResult]) -> Vec<&ArmResult> {
    let mut best: Vec<&ArmResult> = vec![];
    for r in results {
        let key = |x: &ArmResult| (x.arm.architecture.clone(), x.arm.procedure.clone());
        match best.iter_mut().find(|b| key(b) == key(r)) {
            Some(b) => {
                if r.cmp_emc(b).is_gt() {
                    *b = r;
                }
            }
            None => best.push(r),
        }
    }
    best
}
