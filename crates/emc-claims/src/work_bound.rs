//! How much training a claim's adaptive rounds may spend at each scale: the bound a claim
//! sets so that its default run keeps its scale's time.

use crate::Scale;

/// The training work a claim's adaptive rounds may spend, in parameter-sample-epochs (`None`:
/// bounded by the caps on doublings and seeds alone): how a claim keeps its default run
/// within its scale's time ([`crate::Caps::work`]); and, where a claim's comparisons are
/// cheap to extend and need it, a cap on an arm's budget doublings above the scale's
/// default. Only the cpu scale is ever set: smoke runs add no rounds and the paper scale's
/// time is the user's cluster's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorkBound {
    /// The bound at cpu scale.
    cpu: Option<f64>,
    /// The cap on an arm's budget doublings at cpu scale (`None`: the scale's default).
    cpu_doublings: Option<usize>,
}

impl WorkBound {
    /// Bounded by the caps on doublings and seeds alone, at every scale.
    pub const UNBOUNDED: WorkBound = WorkBound {
        cpu: None,
        cpu_doublings: None,
    };

    /// At most `work` parameter-sample-epochs at cpu scale.
    pub const fn cpu(work: f64) -> WorkBound {
        WorkBound {
            cpu: Some(work),
            cpu_doublings: None,
        }
    }

    /// This bound, with an arm extended up to `k` budget doublings in all at cpu scale
    /// (`--extend-up-to`'s default there).
    pub const fn with_cpu_doublings(self, k: usize) -> WorkBound {
        WorkBound {
            cpu_doublings: Some(k),
            ..self
        }
    }

    /// The bound at `scale`.
    pub fn at(self, scale: Scale) -> Option<f64> {
        match scale {
            Scale::Cpu => self.cpu,
            Scale::Smoke | Scale::Paper => None,
        }
    }

    /// The cap on an arm's budget doublings at `scale`: the claim's, else the scale's
    /// ([`Scale::extension_cap`]).
    pub fn doublings_at(self, scale: Scale) -> usize {
        match (scale, self.cpu_doublings) {
            (Scale::Cpu, Some(k)) => k,
            _ => scale.extension_cap(),
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

    #[test]
    fn a_claims_doubling_cap_applies_at_cpu_scale_only() {
        let seven = WorkBound::UNBOUNDED.with_cpu_doublings(7);
        assert_eq!(seven.doublings_at(Scale::Cpu), 7);
        assert_eq!(seven.at(Scale::Cpu), None);
        for scale in [Scale::Smoke, Scale::Paper] {
            assert_eq!(seven.doublings_at(scale), scale.extension_cap());
        }
        assert_eq!(
            WorkBound::cpu(1e10).doublings_at(Scale::Cpu),
            Scale::Cpu.extension_cap()
        );
    }
}
