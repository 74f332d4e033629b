//! Forward passes agree with PyTorch: each family at tiny size, with every variable filled
//! by the same formula on both sides, gives PyTorch's logits in eval mode (running
//! statistics) and then in training mode (batch statistics).
//!
//! The expected logits are printed by `tests/pytorch/reference_logits.py`, which writes the
//! same architectures as `torch.nn` modules with the same state-dict names: every entry,
//! sorted by name with index k, holds `0.3·sin(0.9·j + 0.5·k)` (plus 1 for `running_var`);
//! the input `[3, C, H, W]` holds `sin(0.37·j)`.

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use emc_models::{InputShape, ModelSpec};

type Case = (
    &'static str,
    (usize, usize, usize),
    usize,
    [f64; 9],
    [f64; 9],
);

#[rustfmt::skip]
const CASES: [Case; 6] = [
    ("mlp:5x4:softplus", (1, 3, 3), 89,
      [0.521082473706357, -0.218447086798984, 0.58433334214811, 0.510952449904328, -0.209539309735711, 0.578487117845501, 0.521912605013297, -0.216727812935746, 0.580419664227486],
      [0.521082473706357, -0.218447086798984, 0.58433334214811, 0.510952449904328, -0.209539309735711, 0.578487117845501, 0.521912605013297, -0.216727812935746, 0.580419664227486]),
    ("cnn:3,4:elu:pool=all:gap:bn", (2, 6, 5), 191,
      [-0.464049870096761, 0.050600950455742, 0.03268670913354, -0.462459815128344, 0.051328953570072, 0.029790968325339, -0.462957346745487, 0.051267233454447, 0.030399196008769],
      [-0.448037011091097, -0.096064806698698, 0.279721354360407, -0.387385156926648, -0.092742558287893, 0.213110991748872, -0.417259877007296, -0.079504938668862, 0.219243818218329]),
    ("cnn-compound:3,4:relu:pool=last:flatten:phi=2", (1, 5, 5), 593,
      [-0.385098661730238, 0.252108955061202, -0.735589732719522, -0.137827972636011, 0.027584567367295, -0.559623198578204, -0.097900939271994, -0.061923312632292, -0.430824388937714],
      [-0.385098661730238, 0.252108955061202, -0.735589732719522, -0.137827972636011, 0.027584567367295, -0.559623198578204, -0.097900939271994, -0.061923312632292, -0.430824388937714]),
    ("resnet18:k=2", (3, 8, 8), 11301,
      [0.368314434146714, 0.108076346724415, -0.559619201410257, 0.36831371760269, 0.108077739632972, -0.559619208669871, 0.368319351884511, 0.108067086596575, -0.559619307264188],
      [0.470941875149672, 0.271260264993473, -0.747042670855751, 0.298459613630432, 0.125194955624454, -0.498659804306907, 0.323443253122282, 0.177960751817634, -0.551062383129609]),
    ("vit:patch2,d8,depth2,heads2,mlp12,pool=cls", (3, 4, 6), 1275,
      [0.242308849140919, 0.50373802265001, 0.376480359913793, 0.25360379742839, 0.528369933501318, 0.395155122317992, 0.255175078885885, 0.533362831342181, 0.399658712790124],
      [0.242308849140919, 0.50373802265001, 0.376480359913793, 0.25360379742839, 0.528369933501318, 0.395155122317992, 0.255175078885885, 0.533362831342181, 0.399658712790124]),
    ("vit:patch2,d8,depth1,heads4,mlp8,pool=mean,tanh", (1, 5, 4), 579,
      [0.199536333727667, 0.527798362516311, 0.447238921088601, 0.199653692422416, 0.530132598800175, 0.449961633817288, 0.200738871646432, 0.526953426476038, 0.445008347268245],
      [0.199536333727667, 0.527798362516311, 0.447238921088601, 0.199653692422416, 0.530132598800175, 0.449961633817288, 0.200738871646432, 0.526953426476038, 0.445008347268245]),
];

fn sin_values(n: usize, freq: f64, phase: f64) -> Vec<f64> {
    (0..n)
        .map(|j| 0.3 * (freq * j as f64 + phase).sin())
        .collect()
}

#[test]
fn logits_match_pytorch_in_eval_and_train_mode() -> Result<()> {
    for (spec, (c, h, w), params, eval, train) in CASES {
        let spec: ModelSpec = spec.parse()?;
        let built = spec.build(InputShape::new(c, h, w), 3, 0, DType::F64, &Device::Cpu)?;
        assert_eq!(built.num_params, params, "{spec}");
        for (k, (name, var)) in built.named_vars().into_iter().enumerate() {
            let mut values = sin_values(var.elem_count(), 0.9, 0.5 * k as f64);
            if name.ends_with("running_var") {
                values.iter_mut().for_each(|v| *v += 1.0);
            }
            var.set(&Tensor::from_vec(values, var.shape(), &Device::Cpu)?)?;
        }
        let n = 3 * c * h * w;
        let x: Vec<f64> = (0..n).map(|j| (0.37 * j as f64).sin()).collect();
        let x = Tensor::from_vec(x, (3, c, h, w), &Device::Cpu)?;
        for (train, want) in [(false, eval), (true, train)] {
            let got = built
                .model
                .forward(&x, train)?
                .flatten_all()?
                .to_vec1::<f64>()?;
            for (g, e) in got.iter().zip(want) {
                assert!(
                    (g - e).abs() < 1e-12,
                    "{spec} train={train}: got {got:?}, PyTorch {want:?}"
                );
            }
        }
    }
    Ok(())
}
