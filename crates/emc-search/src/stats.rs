//! Summary statistics of EMC across seeds.

use serde::{Deserialize, Serialize};

/// EMC across seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmcStats {
    /// Number of seeds.
    pub seeds: usize,
    /// Median (mean of the two middle values for an even count).
    pub median: f64,
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (0 for a single seed).
    pub std: f64,
    /// Smallest per-seed EMC.
    pub min: usize,
    /// Largest per-seed EMC.
    pub max: usize,
    /// Mean of ln(EMC) (the paper averages log EMC); `-inf` if some seed fitted nothing.
    pub mean_log_emc: f64,
    /// Parameter efficiency: median EMC / trainable parameters.
    pub efficiency: f64,
}

impl EmcStats {
    /// Statistics of per-seed EMC values for a model with `params` trainable parameters.
    /// `None` for an empty list.
    pub fn new(emcs: &[usize], params: usize) -> Option<Self> {
        if emcs.is_empty() {
            return None;
        }
        let mut v: Vec<f64> = emcs.iter().map(|&e| e as f64).collect();
        v.sort_by(f64::total_cmp);
        let k = v.len();
        let median = if k % 2 == 1 {
            v[k / 2]
        } else {
            (v[k / 2 - 1] + v[k / 2]) / 2.0
        };
        let mean = v.iter().sum::<f64>() / k as f64;
        let std = if k > 1 {
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (k - 1) as f64).sqrt()
        } else {
            0.0
        };
        Some(EmcStats {
            seeds: k,
            median,
            mean,
            std,
            min: *emcs.iter().min()?,
            max: *emcs.iter().max()?,
            mean_log_emc: v.iter().map(|x| x.ln()).sum::<f64>() / k as f64,
            efficiency: median / params.max(1) as f64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::EmcStats;

    #[test]
    fn known_values() {
        let s = EmcStats::new(&[100, 200, 400], 1000).unwrap();
        assert_eq!((s.median, s.min, s.max, s.seeds), (200.0, 100, 400, 3));
        assert!((s.mean - 700.0 / 3.0).abs() < 1e-12);
        assert!((s.std - 152.752_523_165_194_6).abs() < 1e-9);
        assert!(
            (s.mean_log_emc - 200f64.ln()).abs() < 1e-12,
            "geometric mean 200"
        );
        assert!((s.efficiency - 0.2).abs() < 1e-12);
        assert_eq!(EmcStats::new(&[7, 9], 1).unwrap().median, 8.0);
        assert!(EmcStats::new(&[], 1).is_none());
    }
}

/// Bootstrap resamples behind [`median_ci_width`].
pub const MEDIAN_CI_RESAMPLES: usize = 2_000;

/// Relative width `(hi − lo) / median` of the 95% percentile bootstrap interval of the
/// median EMC ([`MEDIAN_CI_RESAMPLES`] ChaCha8 resamples, seeded, so deterministic);
/// infinite for fewer than two seeds or a zero median.
pub fn median_ci_width(emcs: &[usize]) -> f64 {
    use rand::{Rng, SeedableRng};
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let k = v.len();
        if k % 2 == 1 {
            v[k / 2]
        } else {
            (v[k / 2 - 1] + v[k / 2]) / 2.0
        }
    };
    let mut all: Vec<f64> = emcs.iter().map(|&e| e as f64).collect();
    if all.len() < 2 {
        return f64::INFINITY;
    }
    let m = median(&mut all);
    if m <= 0.0 {
        return f64::INFINITY;
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut meds: Vec<f64> = (0..MEDIAN_CI_RESAMPLES)
        .map(|_| {
            let mut s: Vec<f64> = (0..all.len())
                .map(|_| all[rng.random_range(0..all.len())])
                .collect();
            median(&mut s)
        })
        .collect();
    meds.sort_by(f64::total_cmp);
    let at = |q: f64| meds[(q * (MEDIAN_CI_RESAMPLES - 1) as f64).round() as usize];
    (at(0.975) - at(0.025)) / m
}

#[cfg(test)]
mod ci_tests {
    use super::median_ci_width;

    #[test]
    fn tight_seeds_have_a_narrow_interval_and_spread_ones_a_wide_one() {
        assert_eq!(median_ci_width(&[100, 100, 100, 100]), 0.0);
        assert!(median_ci_width(&[100, 102, 98, 101, 99]) < 0.05);
        assert!(median_ci_width(&[50, 400, 100, 900]) > 1.0);
        assert!(median_ci_width(&[100]).is_infinite());
        assert_eq!(
            median_ci_width(&[10, 30, 20]),
            median_ci_width(&[10, 30, 20])
        );
    }
}
