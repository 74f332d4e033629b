//! A finding of arXiv:2406.11463 whose direction is not known here: the paper scales image
//! size, and its reviews quote no result. The claim is **exploratory**: it measures how
//! EMC moves with the input resolution and reports the direction with its interval.
//!
//! Grid: one MLP of fixed width per dataset (MNIST, the CIFAR-10 subset), inputs resized by
//! area averaging to four resolutions (MNIST 7, 10, 14, 28; CIFAR 8, 12, 16, 32, colour),
//! real and random labels, trained by the standard procedure. An MLP's first layer grows
//! with the number of pixels, so its parameter count grows too (about 4× per doubling of
//! the side): the verdict reports both EMC and EMC per parameter against resolution (a
//! global-average-pooled CNN would keep its parameters; it is not what is measured here).
//! Analysis: per dataset and labelling, the least-squares slope of mean log EMC (and of
//! mean log EMC per parameter) against log2 of the side, as a factor per doubling of the
//! side with a bootstrap interval over seeds (`emc_claims::bootstrap_slope`). Arms whose
//! EMC is only a lower bound (fitted every sample up to the cap, or still growing with the
//! budget) are named beside the slope they enter. A slope over lower bounds measures the
//! budget as much as the resolution, so every arm still budget-limited (and not saturated)
//! is searched again at further budget doublings, up to the runner's cap
//! (`--extend-up-to`), before the slopes are final.

use emc_claims::{
    architectures, bootstrap_slope, direction, Align, Arm, ArmResult, Claim, ClaimSpec, Data,
    Expectation, Outcome, Protocol, Scale, Section, SlopePoint, Standard, Table, Verdict,
};

/// The claim, its grid and its analysis.
pub const SPEC: ClaimSpec = ClaimSpec {
    claim: Claim {
        id: "input-size",
        statement: "How does the input resolution change how many samples a network fits? \
                    (The paper scales image size; its direction is not available: \
                    exploratory.)",
        location: "an experiment mentioned by the paper's reviews (ICLR 2024/2025); no \
                   result is quoted",
        expectation: Expectation {
            effect: "the factor by which EMC (and EMC per parameter) changes per doubling of \
                     the image side, per dataset and labelling,",
            direction: "not stated (exploratory)",
        },
    },
    grid,
    analyse,
    adaptive_work: emc_claims::WorkBound::UNBOUNDED,
};

/// What is trained at a scale.
struct Setting {
    /// Per dataset: (name, variants before the resize, cap) and the image sides.
    datasets: &'static [(Data, &'static [usize])],
    /// The MLP (fixed width).
    model: &'static str,
    /// The training procedure, budget, search tolerance and seeds.
    train: Standard,
}

fn setting(scale: Scale) -> Setting {
    match scale {
        // Seconds in the dev profile; deterministic (CI compares it to a reference file).
        Scale::Smoke => Setting {
            datasets: &[(("mnist", &[], Some(512)), &[5, 7])],
            model: "mlp:8",
            train: Standard::SMOKE,
        },
        // Four sides per dataset, an MLP of width 8 (0.5k to 6.4k parameters on MNIST, 1.6k
        // to 25k on CIFAR-10), MNIST capped at 8,192 samples; EMC checked at 2× the
        // 200-epoch budget.
        Scale::Cpu => Setting {
            datasets: &[
                (("mnist", &[], Some(8192)), &[7, 10, 14, 28]),
                (("cifar10-subset", &[], None), &[8, 12, 16, 32]),
            ],
            model: "mlp:8",
            train: Standard::CPU,
        },
        // The full datasets, a wider MLP.
        Scale::Paper => Setting {
            datasets: &[
                (("mnist", &[], None), &[7, 10, 14, 28]),
                (("cifar10", &[], None), &[8, 12, 16, 32]),
            ],
            model: "mlp:512",
            train: Standard::PAPER,
        },
    }
}

/// Per dataset and labelling: one arm per side, procedure `SxS`.
fn grid(scale: Scale) -> Vec<Arm> {
    let s = setting(scale);
    let mut arms = vec![];
    for &(data, sides) in s.datasets {
        let name = data.0;
        let base = Protocol::standard(data, &s.train);
        for (labels, _) in base.labellings() {
            let group = format!("{name} {labels}");
            for &side in sides {
                let mut p = base.with_variant(&format!("resize:{side}"));
                if labels == "random" {
                    p = p.with_variant("random-labels");
                }
                let procedure = format!("{side}x{side}");
                arms.push(p.arm(format!("{group} {procedure}"), &group, procedure, s.model));
            }
        }
    }
    arms
}

/// The image side of an arm (`14x14` → 14).
fn side(r: &ArmResult) -> usize {
    r.arm
        .procedure
        .split('x')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

fn analyse(results: &[ArmResult]) -> Verdict {
    let mut effects = vec![];
    let mut found = vec![];
    let mut extend = vec![];
    let mut table = Table::new(&[
        ("data and labels", Align::Left),
        ("side", Align::Left),
        ("params", Align::Right),
        ("median EMC", Align::Right),
        ("EMC / params", Align::Right),
    ]);
    let mut slopes = Table::new(&[
        ("data and labels", Align::Left),
        ("EMC per doubling of the side [95% CI]", Align::Left),
        ("EMC/params per doubling [95% CI]", Align::Left),
        ("lower bounds among the arms", Align::Left),
    ]);
    for (g, group) in architectures(results).iter().enumerate() {
        let arms: Vec<&ArmResult> = results
            .iter()
            .filter(|r| r.arm.architecture == *group)
            .collect();
        let mut bounds = vec![];
        for r in &arms {
            let st = &r.measurement.stats;
            let bound = r.bound_note();
            if !bound.is_empty() {
                bounds.push(r.arm.procedure.clone());
            }
            if r.budget_limited() && !r.saturated() {
                extend.push(r.arm.label.clone());
            }
            table.row(&[
                group,
                &r.arm.procedure,
                &r.measurement.params,
                &format!("{}{bound}", st.median),
                &format!("{:.3}", st.median / r.measurement.params.max(1) as f64),
            ]);
        }
        let points = |per_param: bool| -> Vec<SlopePoint> {
            arms.iter()
                .map(|r| SlopePoint {
                    x: (side(r) as f64).log2(),
                    divisor: if per_param {
                        r.measurement.params.max(1) as f64
                    } else {
                        1.0
                    },
                    emcs: r.emcs(),
                })
                .collect()
        };
        let seed = g as u64;
        let emc = bootstrap_slope(
            &format!("{group}: EMC per doubling of the side"),
            &points(false),
            seed,
        );
        let per = bootstrap_slope(
            &format!("{group}: EMC/params per doubling of the side"),
            &points(true),
            seed + 100,
        );
        let cell = |e: &emc_claims::Effect| {
            format!(
                "×{:.2} [{:.2}, {:.2}] ({})",
                e.ratio,
                e.lo,
                e.hi,
                direction(e)
            )
        };
        let lower = if bounds.is_empty() {
            "none".to_string()
        } else {
            bounds.join(", ")
        };
        slopes.row(&[group, &cell(&emc), &cell(&per), &lower]);
        found.push(format!(
            "{group}: EMC {} (×{:.2} [{:.2}, {:.2}] per doubling), EMC/params {}",
            direction(&emc),
            emc.ratio,
            emc.lo,
            emc.hi,
            direction(&per)
        ));
        effects.push(emc);
        effects.push(per);
    }
    Verdict {
        outcome: Outcome::Exploratory,
        reason: format!(
            "measured direction with the input resolution: {}",
            found.join("; ")
        ),
        effects,
        extend,
        sections: vec![
            Section {
                title: "EMC per resolution".into(),
                body: table.into_string(),
            },
            Section {
                title: "Slopes against log2 of the side (a factor per doubling)".into(),
                body: slopes.into_string(),
            },
        ],
        ..Verdict::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_has_four_sides_at_cpu_and_paper_scale_and_random_labels_after_the_resize() {
        for scale in [Scale::Cpu, Scale::Paper] {
            let arms = grid(scale);
            let groups = emc_claims::first_seen(arms.iter().map(|a| a.architecture.as_str()));
            assert_eq!(groups.len(), 4, "{scale}");
            for g in groups {
                let of: Vec<&Arm> = arms.iter().filter(|a| a.architecture == g).collect();
                assert_eq!(of.len(), 4, "{scale} {g}");
                for a in of {
                    let v = &a.measure.variants;
                    assert!(v[0].starts_with("resize:"), "{v:?}");
                    assert_eq!(g.ends_with("random"), v.len() == 2, "{v:?}");
                }
            }
        }
    }
}
