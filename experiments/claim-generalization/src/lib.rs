//! Finding (4) of arXiv:2406.11463: "the difference in capacity to fit correctly labeled and
//! incorrectly labeled samples can be predictive of generalization" (the paper reports a
//! Pearson correlation below −0.8 between that difference and the generalization gap).
//!
//! Population: MLPs and CNNs of several widths on MNIST, Fashion-MNIST and CIFAR-10, all
//! trained by one SGD-with-momentum procedure. For each configuration, two ordinary arms —
//! EMC with real labels and EMC with random labels (`random-labels`) — and, on the real-label
//! arm, its generalization: the same model and procedure trained on the first `N` samples of
//! each seed's order, evaluated on the test split.
//!
//! Definitions (per configuration c; s runs over seeds; an EMC of 0 counts as 1):
//!
//! - `EMC_real(c)`, `EMC_random(c)`: geometric mean over seeds, `exp(mean_s ln EMC_s)`;
//! - EMC gap, primary: the log-ratio `L(c) = ln(EMC_real / EMC_random)`; also the
//!   difference `EMC_real − EMC_random`, raw and divided by the parameter count;
//! - test accuracy `A(c)`: mean over seeds of the test-split accuracy after training on `N`;
//! - generalization gap `G(c)`: mean over seeds of (training − test accuracy) of that model;
//! - Pearson's r and Kendall's τ-b across configurations, each with a 95% percentile
//!   bootstrap interval over resampled configurations ([`emc_claims::bootstrap_correlation`]).
//!
//! Primary statistic and verdict: Pearson r(L, G), predicted **negative** (models that fit
//! many more real than random labels generalize with a smaller gap). HOLDS when its interval
//! lies below 0, DOES NOT HOLD when above, INCONCLUSIVE otherwise. The paper's threshold
//! (r < −0.8) is reported beside it, not used for the verdict.

use emc_claims::{
    bootstrap_correlation, bootstrap_log_ratio, first_seen, kendall_tau_b, pearson, Align, Arm,
    ArmResult, Claim, ClaimSpec, Correlation, Data, Expectation, GeneralizationConfig, Outcome,
    Protocol, Scale, Scatter, ScatterPoint, Section, Standard, Table, Verdict,
};

/// The claim, its grid and its analysis.
pub const SPEC: ClaimSpec = ClaimSpec {
    claim: Claim {
        id: "generalization",
        statement: "The difference in capacity to fit correctly labeled and incorrectly labeled \
                    samples can be predictive of generalization.",
        location: "abstract, finding (4); the paper reports a Pearson correlation below −0.8",
        expectation: Expectation {
            effect: "Pearson r between ln(EMC_real / EMC_random) and the generalization gap \
                     (train − test accuracy), across configurations,",
            direction: "< 0 (paper: < −0.8)",
        },
    },
    grid,
    analyse,
    adaptive_work: emc_claims::WorkBound::UNBOUNDED,
};

/// The procedure label of the real-label arm of a configuration.
const REAL: &str = "real";
/// The procedure label of the random-label arm.
const RANDOM: &str = "random";
/// The paper's reported bound on the correlation.
const PAPER_R: f64 = -0.8;

/// What is trained at a scale.
struct Setting {
    /// (dataset, variants, training-set cap of the search)
    datasets: &'static [Data],
    /// (label without commas, model spec)
    models: &'static [(&'static str, &'static str)],
    /// The training procedure, budget, search tolerance and seeds.
    train: Standard,
    /// Generalization: training samples, and test samples (all when `None`).
    train_size: usize,
    test_size: Option<usize>,
}

fn setting(scale: Scale) -> Setting {
    match scale {
        // Seconds in the dev profile; deterministic (CI compares it to a reference file).
        Scale::Smoke => Setting {
            datasets: &[
                ("mnist", &["resize:8"], Some(256)),
                ("fashion-mnist", &["resize:8"], Some(256)),
            ],
            models: &[("mlp:8", "mlp:8"), ("cnn:4/8", "cnn:4,8:pool=all:flatten")],
            train: Standard {
                max_epochs: 60,
                patience: 20,
                ..Standard::SMOKE
            },
            train_size: 128,
            test_size: Some(1000),
        },
        // 21 configurations × 3 seeds: MNIST and Fashion-MNIST at 14×14 (searches capped
        // at 8,192 samples) and the exact 4,000-image CIFAR-10 subset at 8×8; MLPs of three
        // widths and one of two hidden layers, CNNs of three widths (0.4k–3.5k parameters,
        // below where MNIST's real labels would reach the cap). Generalization after
        // training on 1,000 samples, whole test splits.
        Scale::Cpu => Setting {
            datasets: &[
                ("mnist", &["resize:14"], Some(8192)),
                ("fashion-mnist", &["resize:14"], Some(8192)),
                ("cifar10-subset", &["resize:8"], None),
            ],
            models: &[
                ("mlp:4", "mlp:4"),
                ("mlp:8", "mlp:8"),
                ("mlp:16", "mlp:16"),
                ("mlp:8x8", "mlp:8x8"),
                ("cnn:2/4", "cnn:2,4:pool=all:flatten"),
                ("cnn:4/8", "cnn:4,8:pool=all:flatten"),
                ("cnn:8/16", "cnn:8,16:pool=all:flatten"),
            ],
            train: Standard::CPU,
            train_size: 1000,
            test_size: None,
        },
        // 18 configurations on the paper's datasets at full size, up to ResNet-18.
        Scale::Paper => Setting {
            datasets: &[
                ("mnist", &[], None),
                ("fashion-mnist", &[], None),
                ("cifar10", &[], None),
            ],
            models: &[
                ("mlp:256", "mlp:256"),
                ("mlp:1024", "mlp:1024"),
                ("mlp:512x512", "mlp:512x512"),
                ("cnn:16/32/64", "cnn:16,32,64:pool=all:flatten"),
                ("cnn:64/128/256", "cnn:64,128,256:pool=all:flatten"),
                ("resnet18:k=16", "resnet18:k=16"),
            ],
            train: Standard {
                lr: 0.01,
                batch: 128,
                seeds: 3,
                max_epochs: 1000,
                patience: 100,
                rel_tol: 0.02,
                budget_doublings: 2,
                band_probes: 1,
            },
            train_size: 10_000,
            test_size: None,
        },
    }
}

/// Two arms per configuration: real labels (with its generalization) and random labels.
/// `architecture` is the configuration (`<data> <model>`), `procedure` the labelling.
fn grid(scale: Scale) -> Vec<Arm> {
    let s = setting(scale);
    let gen = GeneralizationConfig {
        train_size: s.train_size,
        test_size: s.test_size,
    };
    let mut arms = vec![];
    for &spec in s.datasets {
        let data = spec.0;
        let real = Protocol::standard(spec, &s.train);
        let random = real.with_variant("random-labels");
        for &(name, model) in s.models {
            let config = format!("{data} {name}");
            arms.push(
                real.arm(format!("{config} {REAL}"), &config, REAL, model)
                    .with_generalization(gen.clone()),
            );
            arms.push(random.arm(format!("{config} {RANDOM}"), &config, RANDOM, model));
        }
    }
    arms
}

/// One configuration of the population.
struct Point<'a> {
    config: &'a str,
    data: &'a str,
    model: &'a str,
    params: usize,
    real: &'a ArmResult,
    random: &'a ArmResult,
    emc_real: f64,
    emc_random: f64,
    /// Some real-label seed fitted the whole (capped) training set: EMC_real ≥ its value.
    saturated: bool,
    test_accuracy: f64,
    train_accuracy: f64,
    gap: f64,
}

impl Point<'_> {
    fn log_ratio(&self) -> f64 {
        (self.emc_real / self.emc_random).ln()
    }
    fn difference(&self) -> f64 {
        self.emc_real - self.emc_random
    }
    fn difference_per_param(&self) -> f64 {
        self.difference() / self.params.max(1) as f64
    }
}

/// Geometric mean of per-seed EMCs, an EMC of 0 counting as 1.
fn geometric_mean(emcs: &[usize]) -> f64 {
    let n = emcs.len().max(1) as f64;
    (emcs.iter().map(|&e| (e.max(1) as f64).ln()).sum::<f64>() / n).exp()
}

/// The configurations that have a real-label arm with its generalization and a random-label
/// arm, in grid order.
fn population(results: &[ArmResult]) -> Vec<Point<'_>> {
    let mut points = vec![];
    for real in results.iter().filter(|r| r.arm.procedure == REAL) {
        let config = real.arm.architecture.as_str();
        let random = results
            .iter()
            .find(|r| r.arm.architecture == config && r.arm.procedure == RANDOM);
        let (Some(random), Some(gen)) = (random, real.generalization.as_ref()) else {
            continue;
        };
        if gen.per_seed.is_empty() {
            continue;
        }
        points.push(Point {
            config,
            data: &real.arm.measure.data,
            model: config
                .strip_prefix(real.arm.measure.data.as_str())
                .unwrap_or(config)
                .trim(),
            params: real.measurement.params,
            real,
            random,
            emc_real: geometric_mean(&real.emcs()),
            emc_random: geometric_mean(&random.emcs()),
            saturated: real.measurement.per_seed.iter().any(|(_, o)| o.saturated),
            test_accuracy: gen.mean_test_accuracy(),
            train_accuracy: gen.mean_train_accuracy(),
            gap: gen.mean_gap(),
        });
    }
    points
}

/// A per-configuration quantity and its name.
type Measure = (&'static str, fn(&Point) -> f64);

/// The EMC-gap definitions, the primary first.
const EMC_GAPS: [Measure; 3] = [
    ("ln(EMC_real / EMC_random)", |p| p.log_ratio()),
    ("(EMC_real − EMC_random) / params", |p| {
        p.difference_per_param()
    }),
    ("EMC_real − EMC_random", |p| p.difference()),
];

/// The generalization measures with the sign the claim predicts for their correlation with
/// an EMC gap (`true`: negative), the primary first.
const GENERALIZATION: [(Measure, bool); 2] = [
    (
        ("generalization gap (train − test accuracy)", |p| p.gap),
        true,
    ),
    (("test accuracy", |p| p.test_accuracy), false),
];

fn fmt_corr(c: &Correlation) -> String {
    format!("{:+.3} [{:+.3}, {:+.3}]", c.value, c.lo, c.hi)
}

/// Every configuration: parameters, both EMCs per seed, the EMC gaps and generalization.
fn population_table(points: &[Point]) -> String {
    let mut table = Table::new(&[
        ("configuration", Align::Left),
        ("params", Align::Right),
        ("EMC real (per seed)", Align::Left),
        ("EMC random (per seed)", Align::Left),
        ("ln ratio", Align::Right),
        ("(real − random) / params", Align::Right),
        ("train acc", Align::Right),
        ("test acc", Align::Right),
        ("gap", Align::Right),
    ]);
    for p in points {
        let capped = if p.saturated {
            " (≥, hit the cap)"
        } else {
            ""
        };
        table.row(&[
            &p.config,
            &p.params,
            &format!("{:.1}{capped} {:?}", p.emc_real, p.real.emcs()),
            &format!("{:.1} {:?}", p.emc_random, p.random.emcs()),
            &format!("{:.3}", p.log_ratio()),
            &format!("{:.4}", p.difference_per_param()),
            &format!("{:.4}", p.train_accuracy),
            &format!("{:.4}", p.test_accuracy),
            &format!("{:.4}", p.gap),
        ]);
    }
    table.into_string()
}

/// Every EMC gap against every generalization measure across the configurations, as a
/// table, and the primary pair's Pearson r and Kendall τ-b.
fn correlations(points: &[Point]) -> (String, Option<(Correlation, Correlation)>) {
    let mut table = Table::new(&[
        ("EMC gap", Align::Left),
        ("generalization", Align::Left),
        ("predicted sign", Align::Center),
        ("Pearson r [95% CI]", Align::Left),
        ("Kendall τ-b [95% CI]", Align::Left),
    ]);
    let mut primary: Option<(Correlation, Correlation)> = None;
    for (g, ((gname, gf), negative)) in GENERALIZATION.iter().enumerate() {
        let y: Vec<f64> = points.iter().map(gf).collect();
        for (e, (ename, ef)) in EMC_GAPS.iter().enumerate() {
            let x: Vec<f64> = points.iter().map(ef).collect();
            let seed = (10 * g + e) as u64;
            let r = bootstrap_correlation(
                &format!("Pearson r({ename}, {gname})"),
                &x,
                &y,
                pearson,
                seed,
            );
            let t = bootstrap_correlation(
                &format!("Kendall τ-b({ename}, {gname})"),
                &x,
                &y,
                kendall_tau_b,
                seed,
            );
            let sign = if *negative { "−" } else { "+" };
            table.row(&[ename, gname, &sign, &fmt_corr(&r), &fmt_corr(&t)]);
            if primary.is_none() {
                primary = Some((r, t));
            }
        }
    }
    (table.into_string(), primary)
}

/// Context: the primary pair within each dataset (point estimates; few configurations).
fn within_datasets(points: &[Point]) -> String {
    let mut within = Table::new(&[
        ("dataset", Align::Left),
        ("configurations", Align::Right),
        ("Pearson r(ln ratio, gap)", Align::Right),
        ("Kendall τ-b(ln ratio, gap)", Align::Right),
    ]);
    for d in first_seen(points.iter().map(|p| p.data)) {
        let sub: Vec<&Point> = points.iter().filter(|p| p.data == d).collect();
        let x: Vec<f64> = sub.iter().map(|p| p.log_ratio()).collect();
        let y: Vec<f64> = sub.iter().map(|p| p.gap).collect();
        within.row(&[
            &d,
            &sub.len(),
            &format!("{:+.3}", pearson(&x, &y)),
            &format!("{:+.3}", kendall_tau_b(&x, &y)),
        ]);
    }
    within.into_string()
}

/// The definitions section, for `configurations` configurations.
fn definitions(configurations: usize) -> String {
    format!(
        "Per configuration (an EMC of 0 counts as 1): EMC_real and EMC_random are geometric \
         means over seeds of the per-seed EMC with real and with random labels. EMC gap \
         (primary): ln(EMC_real / EMC_random); also EMC_real − EMC_random, raw and divided by \
         the parameter count. Generalization: mean over seeds of the test accuracy, and of the \
         generalization gap = training accuracy − test accuracy, of the real-label model \
         trained on a fixed-size training set (see Protocol). Correlations across the {} \
         configurations: Pearson's r and Kendall's τ-b (ties as in scipy's default), each with \
         a 95% percentile bootstrap interval over resampled configurations (10,000 ChaCha8 \
         resamples; resamples where the statistic is undefined are left out). Primary: Pearson \
         r(ln ratio, generalization gap), predicted negative; with test accuracy the predicted \
         sign is positive. The paper's −0.8 applies to the correlation with the gap.",
        configurations
    )
}

/// The verdict on the primary correlation `r` (with Kendall's `t` beside it): the outcome,
/// its reason, the table against the paper's threshold and the scatter plot.
fn judge_primary(
    points: &[Point],
    r: &Correlation,
    t: &Correlation,
) -> (Outcome, String, String, Scatter) {
    let outcome = r.outcome(true);
    let reason = format!(
        "Pearson r between ln(EMC_real / EMC_random) and the generalization gap across \
         {} configurations is {} (Kendall τ-b {}); the claim predicts a negative \
         correlation, and the 95% interval {}. Paper: r < −0.8; ours is {} −0.8 \
         (interval {} below it).",
        points.len(),
        fmt_corr(r),
        fmt_corr(t),
        match outcome {
            Outcome::Holds => "lies below 0",
            Outcome::DoesNotHold => "lies above 0",
            Outcome::Inconclusive | Outcome::Mixed | Outcome::Exploratory => "contains 0",
        },
        if r.value < PAPER_R {
            "below"
        } else {
            "not below"
        },
        if r.hi < PAPER_R {
            "entirely"
        } else {
            "not entirely"
        }
    );
    let mut threshold = Table::new(&[
        ("", Align::Left),
        ("r(ln ratio, gap)", Align::Right),
        ("95% CI", Align::Left),
        ("below −0.8", Align::Center),
    ]);
    threshold.row(&[&"paper", &"< −0.8", &"—", &"yes"]);
    let below = if r.hi < PAPER_R {
        "yes (whole interval)"
    } else if r.value < PAPER_R {
        "point estimate only"
    } else {
        "no"
    };
    threshold.row(&[
        &"ours",
        &format!("{:+.3}", r.value),
        &format!("[{:+.3}, {:+.3}]", r.lo, r.hi),
        &below,
    ]);
    (
        outcome,
        reason,
        threshold.into_string(),
        scatter(points, r, t),
    )
}

/// The EMC gap against the generalization gap, one point per configuration.
fn scatter(points: &[Point], r: &Correlation, t: &Correlation) -> Scatter {
    Scatter {
        stem: "emc_gap_vs_generalization_gap".into(),
        title: "EMC gap against generalization gap".into(),
        note: format!(
            "Pearson r = {}, Kendall τ-b = {}, {} configurations",
            fmt_corr(r),
            fmt_corr(t),
            points.len()
        ),
        x_label: "ln(EMC real labels / EMC random labels)".into(),
        y_label: format!(
            "generalization gap: train − test accuracy (n = {})",
            points[0]
                .real
                .generalization
                .as_ref()
                .and_then(|g| g.per_seed.first())
                .map_or(0, |r| r.train_size)
        ),
        points: points
            .iter()
            .map(|p| ScatterPoint {
                label: p.model.to_string(),
                group: p.data.to_string(),
                x: p.log_ratio(),
                y: p.gap,
            })
            .collect(),
    }
}

fn analyse(results: &[ArmResult]) -> Verdict {
    let points = population(results);
    // The per-configuration EMC ratio with its interval over seeds, as effects.
    let effects = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            bootstrap_log_ratio(
                &format!("{}: EMC(real) / EMC(random)", p.config),
                &p.real.emcs(),
                &p.random.emcs(),
                i as u64,
            )
        })
        .collect();
    let (table, primary) = correlations(&points);
    let mut sections = vec![
        Section {
            title: "Definitions".into(),
            body: definitions(points.len()),
        },
        Section {
            title: "Population".into(),
            body: population_table(&points),
        },
        Section {
            title: "Correlations across configurations".into(),
            body: table,
        },
    ];
    let (outcome, reason, plots) = match primary {
        Some((r, t)) if points.len() >= 3 && r.value.is_finite() => {
            let (outcome, reason, threshold, plot) = judge_primary(&points, &r, &t);
            sections.push(Section {
                title: "The paper's threshold".into(),
                body: threshold,
            });
            (outcome, reason, vec![plot])
        }
        _ => (
            Outcome::Inconclusive,
            format!(
                "{} configurations with both EMCs and a generalization measurement; a \
                 correlation needs at least 3 with some variation",
                points.len()
            ),
            vec![],
        ),
    };
    sections.push(Section {
        title: "Within each dataset (context, point estimates)".into(),
        body: within_datasets(&points),
    });
    Verdict {
        outcome,
        reason,
        effects,
        chosen: vec![],
        sections,
        plots,
        // A correlation over configurations names no single arm to extend or
        // to give more seeds (yet).
        extend: vec![],
        more_seeds: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scale_pairs_real_and_random_arms_and_cpu_has_twenty_configurations() {
        for scale in [Scale::Smoke, Scale::Cpu, Scale::Paper] {
            let arms = grid(scale);
            let real: Vec<&Arm> = arms.iter().filter(|a| a.procedure == REAL).collect();
            assert_eq!(real.len() * 2, arms.len(), "{scale}");
            for r in &real {
                assert!(r.generalization.is_some());
                assert!(!r.label.contains(','), "labels go into CSV: {}", r.label);
                let random = arms
                    .iter()
                    .find(|a| a.architecture == r.architecture && a.procedure == RANDOM)
                    .unwrap();
                assert!(random.generalization.is_none());
                assert_eq!(random.measure.variants.last().unwrap(), "random-labels");
                assert_eq!(random.measure.model, r.measure.model);
            }
            if scale == Scale::Cpu {
                // Issue 19: at least 20 configurations × 3 seeds decide a correlation.
                assert!(real.len() >= 20, "{scale}: {} configurations", real.len());
                assert!(real.iter().all(|r| r.measure.seeds.len() >= 3));
            }
            if scale == Scale::Paper {
                assert!(real.len() >= 12, "{scale}: {} configurations", real.len());
            }
        }
    }

    #[test]
    fn geometric_mean_counts_zero_as_one() {
        assert!((geometric_mean(&[4, 16]) - 8.0).abs() < 1e-9);
        assert!((geometric_mean(&[0, 100]) - 10.0).abs() < 1e-9);
    }
}
