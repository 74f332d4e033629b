//! Trainable-parameter counts equal PyTorch's. Each expected number is
//! `sum(p.numel() for p in m.parameters() if p.requires_grad)` for the module written in
//! the comment above it (`import torch.nn as nn`); both `ModelSpec::num_params` (computed)
//! and `Built::num_params` (counted on the built variables) must give it.

use anyhow::Result;
use candle_core::{DType, Device};
use emc_models::{InputShape, ModelSpec};

fn check(spec: &str, input: InputShape, classes: usize, expected: usize) -> Result<()> {
    let spec: ModelSpec = spec.parse()?;
    assert_eq!(
        spec.num_params(input, classes)?,
        expected,
        "{spec}: computed count"
    );
    let built = spec.build(input, classes, 0, DType::F32, &Device::Cpu)?;
    assert_eq!(built.num_params, expected, "{spec}: built count");
    let counted: usize = built.trainable.iter().map(|v| v.elem_count()).sum();
    assert_eq!(counted, expected, "{spec}: trainable variables");
    Ok(())
}

const MNIST: InputShape = InputShape {
    channels: 1,
    height: 28,
    width: 28,
};
const CIFAR: InputShape = InputShape {
    channels: 3,
    height: 32,
    width: 32,
};

#[test]
fn linear_on_mnist() -> Result<()> {
    // nn.Linear(784, 10)
    check("linear", MNIST, 10, 7_850)?;
    // nn.Linear(3072, 10, bias=False)
    check("linear:nobias", CIFAR, 10, 30_720)
}

#[test]
fn mlp_784_512_512_10() -> Result<()> {
    // nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    check("mlp:512x512:relu", MNIST, 10, 669_706)?;
    // the same with bias=False everywhere: 784·512 + 512·512 + 512·10
    check("mlp:512x512:relu:nobias", MNIST, 10, 668_672)
}

#[test]
fn cnn_benchmark_and_variants() -> Result<()> {
    // nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, padding=1),
    //               nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 16 * 16, 10))
    check("cnn:32,64:relu:pool=last:flatten", CIFAR, 10, 183_242)?;
    // Widths 16,32,64 ×2, each nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o),
    // nn.ReLU(), nn.MaxPool2d(2); then nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10)
    check("cnn:16,32,64:relu:pool=all:gap:bn:w=2", CIFAR, 10, 94_762)
}

#[test]
fn resnet18_on_cifar10() -> Result<()> {
    // CIFAR ResNet-18 (kuangliu/pytorch-cifar style; torchvision's BasicBlock with a 3x3
    // stem conv, bias=False, no stem max-pool, 1x1 conv + BN shortcuts), width k:
    //   conv1 = nn.Conv2d(3, k, 3, 1, 1, bias=False); bn1 = nn.BatchNorm2d(k)
    //   4 stages × 2 BasicBlock(i, o, stride) with o = k, 2k, 4k, 8k and strides 1, 2, 2, 2
    //   fc = nn.Linear(8k, 10)
    check("resnet18:k=64", CIFAR, 10, 11_173_962)?;
    check("resnet18:k=16", CIFAR, 10, 701_466)?;
    // the same on one input channel (MNIST)
    check("resnet18", MNIST, 10, 11_172_810)
}

#[test]
fn vit_d128_depth4_heads4_patch4_mlp256() -> Result<()> {
    // patch = nn.Conv2d(3, 128, 4, stride=4); pos = nn.Parameter(torch.zeros(1, 64, 128))
    // 4 × [nn.LayerNorm(128), nn.MultiheadAttention(128, 4), nn.LayerNorm(128),
    //      nn.Linear(128, 256), nn.GELU(), nn.Linear(256, 128)]
    // norm = nn.LayerNorm(128); head = nn.Linear(128, 10)
    check(
        "vit:patch4,d128,depth4,heads4,mlp256,pool=mean",
        CIFAR,
        10,
        545_930,
    )?;
    // + cls = nn.Parameter(torch.zeros(1, 1, 128)) and a 65-token position embedding
    check(
        "vit:patch4,d128,depth4,heads4,mlp256,pool=cls",
        CIFAR,
        10,
        546_186,
    )
}

#[test]
fn compound_scaled_cnn() -> Result<()> {
    // Base conv3x3(32) → conv3x3(64) → maxpool 2 → flatten → linear on 32x32x3.
    // φ = 1: depth 1.2 → round(2.4) = 2 blocks, widths round(32·1.1) = 35, round(64·1.1) = 70,
    // input round(32·1.15) = 37 → 18 after the pool:
    //   nn.Conv2d(3, 35, 3, padding=1), nn.Conv2d(35, 70, 3, padding=1), nn.Linear(70 * 18 * 18, 10)
    check(
        "cnn-compound:32,64:relu:pool=last:flatten:phi=1",
        CIFAR,
        10,
        249_910,
    )?;
    // φ = 2: depth 1.44 → round(2.88) = 3 blocks (1 + 2), widths 39, 77, input 42 → 21:
    //   nn.Conv2d(3, 39, 3, padding=1), nn.Conv2d(39, 77, 3, padding=1),
    //   nn.Conv2d(77, 77, 3, padding=1), nn.Linear(77 * 21 * 21, 10)
    check(
        "cnn-compound:32,64:relu:pool=last:flatten:phi=2",
        CIFAR,
        10,
        421_214,
    )
}

#[test]
fn computed_counts_equal_built_counts_across_families() -> Result<()> {
    let specs = [
        "linear",
        "mlp:7:sigmoid",
        "mlp:5x6x7:gelu:nobias",
        "cnn:3:relu:pool=none:flatten",
        "cnn:3,5,4:tanh:pool=all:gap:bn:w=1.5",
        "cnn:2,3:relu:pool=last:flatten:w=0.5",
        "cnn-compound:2,3,4:relu:pool=all:gap:phi=3",
        "cnn-compound:4,2:relu:bn:flatten:phi=-1",
        "cnn-compound:2,3:relu:phi=1.5:alpha=2:beta=1.3:gamma=1",
        "resnet18:k=3",
        "vit:patch3,d6,depth2,heads3,mlp5,pool=cls",
        "vit:patch2,d8,depth1,heads2,ratio1.5,pool=mean",
    ];
    for (i, spec) in specs.iter().enumerate() {
        let spec: ModelSpec = spec.parse()?;
        for input in [InputShape::new(1, 9, 10), InputShape::new(3, 8, 8)] {
            let classes = 2 + i;
            let built = spec.build(input, classes, 0, DType::F32, &Device::Cpu)?;
            assert_eq!(
                spec.num_params(input, classes)?,
                built.num_params,
                "{spec} on {input:?}"
            );
        }
    }
    Ok(())
}
