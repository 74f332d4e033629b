//! A finding of arXiv:2406.11463 known from its reviews: "tabular datasets have larger EMC"
//! (than image datasets, per parameter).
//!
//! Grid: per UCI table (wine, breast-cancer, digits, wine-quality-red; see
//! `emc_data::tabular`) and parameter budget, one MLP on the table and MLPs of about the
//! same parameter count on MNIST, Fashion-MNIST and the CIFAR-10 subset (grayscale, all
//! three at 7×7: 49 inputs), each image set capped at the table's training size, so both
//! sides of a comparison search the same range of n. Widths are chosen per input width and
//! class count to match parameters (the counts are stated in `verdict.md` and differ by at
//! most a quarter); the comparison is per parameter, so what remains of the mismatch is
//! divided out. Real labels only: the finding is about data, and random labels carry no
//! property of it. Analysis: per table, budget and image dataset the effect
//! (EMC/params on the table) / (EMC/params on the images) with a bootstrap interval,
//! robust to the budget; a table whose MLP fits its whole training split has EMC ≥ that
//! size, which decides a comparison only when the image side is measured below it.
//! `digits` is itself an image dataset (8×8 digit scans) stored as a table: it is reported
//! beside the others, and the verdict per table says which tables the result rests on.

use emc_claims::{
    architectures, per_param_ratio, Align, Arm, ArmResult, Claim, ClaimSpec, Data, Expectation,
    Judgements, Protocol, Scale, Section, Standard, Table, Verdict,
};
use emc_data::KnownTable;

/// The claim, its grid and its analysis.
pub const SPEC: ClaimSpec = ClaimSpec {
    claim: Claim {
        id: "tabular",
        statement: "Tabular datasets have larger EMC (than image datasets, per parameter).",
        location: "a finding quoted by the paper's reviews (ICLR 2024/2025), not its abstract",
        expectation: Expectation {
            effect: "(EMC/params of an MLP on a table) / (EMC/params of an MLP of about the \
                     same size on MNIST, Fashion-MNIST and the CIFAR-10 subset at the table's \
                     training size), per table and budget,",
            direction: "> 1",
        },
    },
    grid,
    analyse,
    adaptive_work: emc_claims::WorkBound::UNBOUNDED,
};

/// The procedure label of the table's arm in each group.
const TABLE: &str = "table";

/// One table with the images it is compared against and, per budget, (table MLP, image
/// MLP) of about the same parameter count.
type Pairing = (
    KnownTable,
    &'static [(&'static str, &'static [&'static str])],
    &'static [(&'static str, &'static str)],
);

/// What is trained at a scale.
struct Setting {
    /// Parameter budgets, by label (one (table, image) model pair each per table).
    budgets: &'static [&'static str],
    tables: &'static [Pairing],
    /// The training procedure, budget, search tolerance and seeds.
    train: Standard,
}

/// The image datasets resized to `HxW` pixels: grayscale, so an image has H·W inputs.
macro_rules! images_at {
    ($res:literal) => {
        &[
            ("mnist", &[concat!("resize:", $res)]),
            ("fashion-mnist", &[concat!("resize:", $res)]),
            ("cifar10-subset", &["grayscale", concat!("resize:", $res)]),
        ]
    };
}

// Images with about as many pixels as the table has features (13 → 2×7, 30 → 5×6,
// 64 → 8×8, 11 → 3×4), and per budget a table MLP and an image MLP within a quarter of
// each other's parameter count (the image side has 10 classes, the tables 2 to 10).
const WINE: Pairing = (
    KnownTable::Wine,
    images_at!("2x7"),
    &[
        ("mlp:8", "mlp:5"),
        ("mlp:16", "mlp:11"),
        ("mlp:32", "mlp:22"),
    ],
);
const BREAST_CANCER: Pairing = (
    KnownTable::BreastCancer,
    images_at!("5x6"),
    &[("mlp:4", "mlp:3"), ("mlp:8", "mlp:6"), ("mlp:16", "mlp:13")],
);
const DIGITS: Pairing = (
    KnownTable::Digits,
    images_at!("8x8"),
    &[("mlp:4", "mlp:4"), ("mlp:8", "mlp:8"), ("mlp:16", "mlp:16")],
);
const WINE_QUALITY_RED: Pairing = (
    KnownTable::WineQualityRed,
    images_at!("3x4"),
    &[
        ("mlp:8", "mlp:6"),
        ("mlp:16", "mlp:13"),
        ("mlp:32", "mlp:25"),
    ],
);

fn setting(scale: Scale) -> Setting {
    match scale {
        // Seconds in the dev profile; deterministic (CI compares it to a reference file).
        Scale::Smoke => Setting {
            budgets: &["small"],
            tables: &[(
                KnownTable::Wine,
                &[("mnist", &["resize:2x7"])],
                &[("mlp:8", "mlp:5")],
            )],
            train: Standard::SMOKE,
        },
        // Two budgets per table (about 130-160 and 260-310 parameters), small enough that
        // an MLP need not fit a whole table; EMC checked at 2× the 200-epoch budget.
        Scale::Cpu => Setting {
            budgets: &["small", "large"],
            tables: &[WINE, BREAST_CANCER, DIGITS, WINE_QUALITY_RED],
            train: Standard::CPU,
        },
        // A third budget (about 530-1,200 parameters), five seeds and the paper-scale
        // procedure; the tables are small, so this is still a CPU job.
        Scale::Paper => Setting {
            budgets: &["small", "large", "larger"],
            tables: &[WINE, BREAST_CANCER, DIGITS, WINE_QUALITY_RED],
            train: Standard::PAPER,
        },
    }
}

/// Per table and budget: the table's MLP, then each image dataset's at the table's size.
fn grid(scale: Scale) -> Vec<Arm> {
    let s = setting(scale);
    let mut arms = vec![];
    for &(table, images, models) in s.tables {
        let rows = table.shape().train;
        let on_table: Data = (table.name(), &[], None);
        for (&budget, &(table_model, image_model)) in s.budgets.iter().zip(models) {
            let group = format!("{table} {budget}");
            let p = Protocol::standard(on_table, &s.train);
            arms.push(p.arm(format!("{group} {TABLE}"), &group, TABLE, table_model));
            for &(image, variants) in images {
                let p = Protocol::standard((image, variants, Some(rows)), &s.train);
                arms.push(p.arm(format!("{group} {image}"), &group, image, image_model));
            }
        }
    }
    arms
}

fn analyse(results: &[ArmResult]) -> Verdict {
    let mut judged = Judgements::default();
    // Per table: the outcome of each of its comparisons.
    let mut table = Table::new(&[
        ("table and budget", Align::Left),
        ("data", Align::Left),
        ("params", Align::Right),
        ("median EMC", Align::Right),
        ("EMC / params", Align::Right),
    ]);
    for (g, group) in architectures(results).iter().enumerate() {
        let arms: Vec<&ArmResult> = results
            .iter()
            .filter(|r| r.arm.architecture == *group)
            .collect();
        for r in &arms {
            let st = &r.measurement.stats;
            let bound = r.bound_note();
            table.row(&[
                group,
                &r.arm.procedure,
                &r.measurement.params,
                &format!("{}{bound}", st.median),
                &format!("{:.3}", st.median / r.measurement.params.max(1) as f64),
            ]);
        }
        let Some(tab) = arms.iter().find(|r| r.arm.procedure == TABLE) else {
            continue;
        };
        let name = group.split(' ').next().unwrap_or(group);
        for (i, image) in arms.iter().filter(|r| r.arm.procedure != TABLE).enumerate() {
            judged.record(
                name,
                per_param_ratio(
                    format!(
                        "{group}: (EMC/params on the table) / (EMC/params on {})",
                        image.arm.procedure
                    ),
                    tab,
                    image,
                    (g * 10 + i) as u64,
                ),
            );
        }
    }
    let (outcome, reason) = judged.parts.combine(
        "tables",
        "on every table and budget an MLP fits more samples per parameter than MLPs of about \
         its size on MNIST, Fashion-MNIST and the CIFAR-10 subset (95% intervals above 1)",
        "on every table and budget an MLP fits fewer samples per parameter than on the image \
         datasets (95% intervals below 1)",
    );
    Verdict {
        outcome,
        reason,
        chosen: vec![],
        sections: vec![Section {
            title: "EMC per parameter, tables and images".into(),
            body: table.into_string(),
        }],
        ..judged.into_verdict()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use emc_models::{InputShape, ModelSpec};

    fn params(model: &str, inputs: usize, classes: usize) -> usize {
        let spec: ModelSpec = model.parse().unwrap();
        let input = InputShape {
            channels: inputs,
            height: 1,
            width: 1,
        };
        spec.num_params(input, classes).unwrap()
    }

    #[test]
    fn every_table_is_matched_in_inputs_and_parameters_to_its_images_at_every_scale() {
        for scale in [Scale::Smoke, Scale::Cpu, Scale::Paper] {
            let s = setting(scale);
            for &(table, images, models) in s.tables {
                assert!(models.len() >= s.budgets.len(), "{table}");
                let shape = table.shape();
                let res = images[0].1.last().unwrap().strip_prefix("resize:").unwrap();
                let (h, w) = res.split_once('x').unwrap();
                let pixels = h.parse::<usize>().unwrap() * w.parse::<usize>().unwrap();
                assert!(pixels.abs_diff(shape.features) <= 1, "{table}: {res}");
                for (t, i) in models {
                    let (a, b) = (
                        params(t, shape.features, shape.classes),
                        params(i, pixels, 10),
                    );
                    let r = a as f64 / b as f64;
                    assert!((0.8..=1.25).contains(&r), "{table} {t}: {a} vs {i}: {b}");
                }
            }
            // Each image arm is capped at its table's training size.
            for arm in grid(scale) {
                let name = arm.architecture.split(' ').next().unwrap();
                let table = KnownTable::from_name(name).unwrap();
                if arm.procedure == TABLE {
                    assert_eq!(arm.measure.data, name);
                } else {
                    assert_eq!(arm.measure.search.max_n, Some(table.shape().train));
                }
            }
        }
    }
}
