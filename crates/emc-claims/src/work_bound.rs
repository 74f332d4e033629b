//! How much training a claim's adaptive rounds may spend at each scale: the bound a claim
//! sets so that its default run keeps its scale's time.

use crate::Scale;

/// The training work a claim's adaptive rounds may spend, in parameter-sample-epochs (`None`:
/// bounded by the caps on doublings and seeds alone): how a claim keeps its default run
/// within its scale's time ([`crate::Caps::work`]). Only the cpu scale is ever bounded: smoke
/// runs add no rounds and the paper scale's time is the user's cluster's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorkBound {
    /// The bound at cpu scale.
    cpu: Option<f64>,
}

impl WorkBound {
    /// Bounded by the caps on doublings and seeds alone, at every scale.
    pub const UNBOUNDED: WorkBound = WorkBound { cpu: None };

    /// At most `work` parameter-sample-epochs at cpu scale.
    pub const fn cpu(work: f64) -> WorkBound {
        WorkBound { cpu: Some(work) }
    }

    /// The bound at `scale`.
    pub fn at(self, scale: Scale) -> Option<f64> {
        match scale {
            Scale::Cpu => self.cpu,
            Scale::Smoke | Scale::Paper => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_cpu_scale_is_bounded() {
        let bound = WorkBound::cpu(4e10);
        assert_eq!(bound.at(Scale::Cpu), Some(4e10));
        for scale in [Scale::Smoke, Scale::Paper] {
            assert_eq!(bound.at(scale), None);
            assert_eq!(WorkBound::UNBOUNDED.at(scale), None);
        }
        assert_eq!(WorkBound::UNBOUNDED.at(Scale::Cpu), None);
    }
}
