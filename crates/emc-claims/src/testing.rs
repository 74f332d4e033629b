//! Scripted arm results for testing analyses: arms whose seeds have given EMCs per budget
//! level, without training anything (a claim's analysis is a pure function of its arms).

use crate::ArmResult;

/// An arm labelled `label` (also its procedure; architecture `mlp`, 100 parameters) whose
/// seeds have these EMCs per budget level (1×, 2×, ...) and these budget-convergence flags
/// (`Some(false)`: still growing at the largest budget, i.e. budget-limited).
pub fn arm(label: &str, seeds: &[(&[usize], Option<bool>)]) -> ArmResult {
    use emc_search::{BudgetLevel, BudgetOutcome, EmcStats, Measurement, SearchOutcome};
    let outcome = |emc: usize| SearchOutcome {
        emc,
        upper: Some(emc + 1),
        probes: vec![],
        non_monotone: false,
        saturated: false,
    };
    let budgets: Vec<(u64, BudgetOutcome)> = seeds
        .iter()
        .enumerate()
        .map(|(i, (emcs, converged))| {
            let levels = emcs
                .iter()
                .enumerate()
                .map(|(l, &e)| BudgetLevel {
                    multiplier: 1 << l,
                    outcome: outcome(e),
                    trained: 0,
                })
                .collect();
            let b = BudgetOutcome {
                levels,
                converged: *converged,
            };
            (i as u64, b)
        })
        .collect();
    let per_seed: Vec<_> = budgets
        .iter()
        .map(|(s, b)| (*s, b.last().clone()))
        .collect();
    let finals: Vec<usize> = per_seed.iter().map(|(_, o)| o.emc).collect();
    ArmResult {
        arm: crate::Arm {
            label: label.into(),
            architecture: "mlp".into(),
            procedure: label.into(),
            measure: {
                // As many budget doublings as the seeds have levels beyond the first.
                let mut m = emc_search::MeasureConfig::default();
                m.search.budget_doublings = seeds.first().map_or(0, |s| s.0.len() - 1);
                m.seeds = (0..seeds.len() as u64).collect();
                m
            },
            generalization: None,
        },
        measurement: Measurement {
            config_hash: label.into(),
            params: 100,
            per_seed,
            stats: EmcStats::new(&finals, 100).unwrap(),
            probes_trained: 0,
            budgets,
            transition: emc_search::transition(&[]),
            failures: Default::default(),
            uncertified: vec![],
        },
        generalization: None,
    }
}
