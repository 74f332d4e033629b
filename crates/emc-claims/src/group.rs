//! Grouping for the analyses: distinct values, in the order they first appear.

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
