//! A finding of arXiv:2406.11463 known from its reviews: "networks fit significantly fewer
//! samples when assigned random labels … less parameter efficient than linear models in
//! this setting".
//!
//! Grid: on MNIST and the CIFAR-10 subset (downsampled, as in claim-params-vs-samples) with
//! random labels (uniform over the 10 classes, drawn once per sample and seed), the linear
//! (softmax-regression) model and MLPs and CNNs at four sizes each, all trained by one
//! standard procedure (SGD with momentum). Analysis: per network, the effect
//! (EMC/params of the linear model) / (EMC/params of the network) with a bootstrap
//! interval, robust to the budget (see `emc_claims::per_param_ratio`): above 1 supports the
//! claim. A network behind the linear model whose EMC still grows with the budget is
//! extended (searched again at further doublings) until it converges or reaches the cap;
//! one whose interval contains 1 gets more seeds. Networks are judged per dataset and
//! family: where some hold and others do not, the verdict is MIXED and says where.
//! Real labels are not part of this claim (claim-params-vs-samples measures them).

use emc_claims::{
    architectures, per_param_ratio, Align, Arm, ArmResult, Claim, ClaimSpec, Data, Expectation,
    Judgements, Protocol, Scale, Section, Standard, Table, Verdict,
};

/// The claim, its grid and its analysis.
pub const SPEC: ClaimSpec = ClaimSpec {
    claim: Claim {
        id: "random-labels-vs-linear",
        statement: "Networks fit significantly fewer samples when assigned random labels, and \
                    are less parameter efficient than linear models in this setting.",
        location: "a finding quoted by the paper's reviews (ICLR 2024/2025), not its abstract",
        expectation: Expectation {
            effect: "(EMC/params of the linear model) / (EMC/params of a network), random \
                     labels, per network and dataset,",
            direction: "> 1",
        },
    },
    grid,
    analyse,
    adaptive_work: emc_claims::WorkBound::UNBOUNDED,
};

/// The procedure label of the linear reference in each group.
const LINEAR: &str = "linear";

/// What is trained at a scale.
struct Setting {
    /// (dataset, variants, training-set cap); random labels are appended.
    datasets: &'static [Data],
    /// (label, model spec) of the networks; the linear reference is added to every dataset.
    networks: &'static [(&'static str, &'static str)],
    /// The training procedure, budget, search tolerance and seeds.
    train: Standard,
}

fn setting(scale: Scale) -> Setting {
    match scale {
        // Seconds in the dev profile; deterministic (CI compares it to a reference file).
        Scale::Smoke => Setting {
            datasets: &[("mnist", &["resize:7"], Some(512))],
            networks: &[("mlp:8", "mlp:8"), ("cnn:2,4", "cnn:2,4:pool=all:flatten")],
            train: Standard::SMOKE,
        },
        // MNIST at 14×14 (capped at 8,192 samples) and the 4,000-image CIFAR-10 subset at
        // 8×8; MLPs of width 4 to 32 and CNNs of 2 to 16 first-layer channels (about 0.3k to
        // 7.7k parameters, the linear model has about 2k), EMC checked at 2× the epochs.
        Scale::Cpu => Setting {
            datasets: &[
                ("mnist", &["resize:14"], Some(8192)),
                ("cifar10-subset", &["resize:8"], None),
            ],
            networks: &[
                ("mlp:4", "mlp:4"),
                ("mlp:8", "mlp:8"),
                ("mlp:16", "mlp:16"),
                ("mlp:32", "mlp:32"),
                ("cnn:2,4", "cnn:2,4:pool=all:flatten"),
                ("cnn:4,8", "cnn:4,8:pool=all:flatten"),
                ("cnn:8,16", "cnn:8,16:pool=all:flatten"),
                ("cnn:16,32", "cnn:16,32:pool=all:flatten"),
            ],
            train: Standard::CPU,
        },
        // The full datasets and networks up to millions of parameters.
        Scale::Paper => Setting {
            datasets: &[("mnist", &[], None), ("cifar10", &[], None)],
            networks: &[
                ("mlp:64", "mlp:64"),
                ("mlp:512", "mlp:512"),
                ("mlp:512x512", "mlp:512x512"),
                ("mlp:2048x2048", "mlp:2048x2048"),
                ("cnn:16,32", "cnn:16,32:pool=all:flatten"),
                ("cnn:16,32,64", "cnn:16,32,64:pool=all:flatten"),
                ("cnn:32,64,128", "cnn:32,64,128:pool=all:flatten"),
                ("cnn:64,128,256", "cnn:64,128,256:pool=all:flatten"),
            ],
            train: Standard::PAPER,
        },
    }
}

/// Per dataset: the linear reference, then every network, all with random labels.
fn grid(scale: Scale) -> Vec<Arm> {
    let s = setting(scale);
    let mut arms = vec![];
    for &data in s.datasets {
        let name = data.0;
        let p = Protocol::standard(data, &s.train).with_variant("random-labels");
        let models = std::iter::once(&(LINEAR, LINEAR)).chain(s.networks);
        for &(label, model) in models {
            arms.push(p.arm(format!("{name} random {label}"), name, label, model));
        }
    }
    arms
}

/// The family of a network label (`mlp:8` → `MLPs`), for the parts of the verdict.
fn family(network: &str) -> String {
    let kind = network.split(':').next().unwrap_or(network);
    format!("{}s", kind.to_uppercase())
}

fn analyse(results: &[ArmResult]) -> Verdict {
    let mut judged = Judgements::default();
    let mut table = Table::new(&[
        ("data", Align::Left),
        ("model", Align::Left),
        ("params", Align::Right),
        ("median EMC", Align::Right),
        ("EMC / params", Align::Right),
        ("linear / network, per param [95% CI]", Align::Left),
        ("supports", Align::Center),
    ]);
    for (g, data) in architectures(results).iter().enumerate() {
        let arms: Vec<&ArmResult> = results
            .iter()
            .filter(|r| r.arm.architecture == *data)
            .collect();
        let linear = arms.iter().find(|r| r.arm.procedure == LINEAR);
        for (i, r) in arms.iter().enumerate() {
            let st = &r.measurement.stats;
            let bound = r.bound_note();
            let per_param = format!("{:.3}", st.median / r.measurement.params.max(1) as f64);
            let (ratio, supports) = match linear.filter(|_| r.arm.procedure != LINEAR) {
                None => (String::new(), "(reference)"),
                Some(lin) => {
                    let ratio = per_param_ratio(
                        format!(
                            "{data}: (EMC/params of linear) / (EMC/params of {})",
                            r.arm.procedure
                        ),
                        lin,
                        r,
                        (g * 100 + i) as u64,
                    );
                    let part = format!("{data} {}", family(&r.arm.procedure));
                    judged.record_cells(&part, ratio)
                }
            };
            table.row(&[
                data,
                &r.arm.procedure,
                &r.measurement.params,
                &format!("{}{bound}", st.median),
                &per_param,
                &ratio,
                &supports,
            ]);
        }
    }
    let (outcome, reason) = judged.parts.combine(
        "datasets and families",
        "with random labels every network fits fewer samples per parameter than the linear \
         model on the same data (95% intervals of linear / network above 1)",
        "with random labels every network fits more samples per parameter than the linear \
         model on the same data (95% intervals below 1)",
    );
    Verdict {
        outcome,
        reason,
        sections: vec![Section {
            title: "Random labels: EMC per parameter, networks against the linear model".into(),
            body: table.into_string(),
        }],
        ..judged.into_verdict()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dataset_has_the_linear_reference_and_four_sizes_of_each_family_with_random_labels() {
        for scale in [Scale::Cpu, Scale::Paper] {
            let arms = grid(scale);
            for data in emc_claims::first_seen(arms.iter().map(|a| a.architecture.as_str())) {
                let of: Vec<&Arm> = arms.iter().filter(|a| a.architecture == data).collect();
                assert_eq!(of[0].procedure, LINEAR);
                for fam in ["MLPs", "CNNs"] {
                    let n = of.iter().filter(|a| family(&a.procedure) == fam).count();
                    assert!(n >= 4, "{scale} {data}: {n} {fam}");
                }
                for a in of {
                    assert_eq!(a.measure.variants.last().unwrap(), "random-labels");
                }
            }
        }
    }
}
