//! Whole-model finite-difference checks: for a tiny member of every family, the autograd
//! gradient of the cross-entropy loss (training mode) w.r.t. every trainable variable
//! matches central differences on a spread of entries per variable.

// The finite-difference checker and seeded tensors, shared with emc-kernels' tests.
#[path = "../../emc-kernels/tests/common/mod.rs"]
mod common;

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use common::{check_gradients, uniform};
use emc_models::{InputShape, ModelSpec};

fn check_family(spec: &str, input: InputShape, per_var: usize) -> Result<()> {
    let spec: ModelSpec = spec.parse()?;
    let classes = 3;
    let built = spec.build(input, classes, 5, DType::F64, &Device::Cpu)?;
    let n = 4;
    let x = uniform(
        &[n, input.channels, input.height, input.width],
        -1.0,
        1.0,
        6,
    )?;
    let y = Tensor::new(&[0u32, 2, 1, 2], &Device::Cpu)?;
    let report = check_gradients(&built.named_trainable(), Some(per_var), || {
        Ok(candle_nn::loss::cross_entropy(
            &built.model.forward(&x, true)?,
            &y,
        )?)
    })?;
    println!("{spec}: {report:?}");
    assert!(report.checked > 0);
    Ok(())
}

#[test]
fn linear_model() -> Result<()> {
    check_family("linear", InputShape::new(1, 3, 3), 50)
}

#[test]
fn mlp_model() -> Result<()> {
    check_family("mlp:6x5:tanh", InputShape::new(1, 3, 3), 12)?;
    check_family("mlp:4:relu:nobias", InputShape::new(2, 2, 2), 12)
}

#[test]
fn cnn_model() -> Result<()> {
    check_family(
        "cnn:3,4:relu:pool=last:flatten",
        InputShape::new(2, 6, 6),
        12,
    )?;
    check_family("cnn:3,4:elu:pool=all:gap:bn", InputShape::new(1, 5, 7), 12)
}

#[test]
fn resnet18_model() -> Result<()> {
    check_family("resnet18:k=2", InputShape::new(3, 8, 8), 4)
}

#[test]
fn vit_model() -> Result<()> {
    check_family(
        "vit:patch2,d8,depth2,heads2,mlp12,pool=cls",
        InputShape::new(1, 4, 6),
        6,
    )?;
    check_family(
        "vit:patch2,d8,depth1,heads4,mlp8,pool=mean,silu",
        InputShape::new(3, 4, 4),
        6,
    )
}

#[test]
fn compound_cnn_model() -> Result<()> {
    // φ = 2: two stages become three blocks, width ×1.21, input 5x5 → 7x7 (bilinear).
    check_family(
        "cnn-compound:3,4:relu:pool=last:flatten:phi=2",
        InputShape::new(1, 5, 5),
        8,
    )
}
