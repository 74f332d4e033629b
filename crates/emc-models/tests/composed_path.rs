//! The path every op takes off the CPU (candle's own operations, as on a CUDA device),
//! exercised on the CPU with `emc_kernels::set_composed_only`: for every model family and
//! both wrappers, the logits, loss and gradients equal those of our CPU kernels up to
//! rounding, and the plain families' gradients match central differences. One test function: the switch is
//! process-wide, and this file is its own test binary.

#[path = "../../emc-kernels/tests/common/mod.rs"]
mod common;

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use common::{check_gradients, labels, uniform};
use emc_models::{InputShape, ModelSpec};

/// Every family, both wrappers, batch norm, every pooling: (spec, input).
fn families() -> Vec<(&'static str, InputShape)> {
    vec![
        ("linear", InputShape::new(1, 3, 3)),
        ("mlp:6x5:relu", InputShape::new(1, 3, 3)),
        ("mlp:4x4:gelu:init=he", InputShape::new(2, 2, 2)),
        ("cnn:3,4:relu:pool=last:flatten", InputShape::new(2, 6, 6)),
        ("cnn:3,4:elu:pool=all:gap:bn", InputShape::new(1, 5, 7)),
        ("resnet18:k=2", InputShape::new(3, 8, 8)),
        (
            "vit:patch2,d8,depth2,heads2,mlp12,pool=cls",
            InputShape::new(1, 4, 6),
        ),
        (
            "cnn-compound:3,4:relu:pool=last:flatten:phi=2",
            InputShape::new(1, 5, 5),
        ),
        ("subspace:d=7(cnn:2,3:relu)", InputShape::new(1, 4, 4)),
        ("quant:4(mlp:5:relu)", InputShape::new(1, 3, 3)),
    ]
}

/// Logits, loss (our cross-entropy op, or its composition) and every trainable variable's
/// gradient, in `dtype`.
fn run(spec: &str, input: InputShape, dtype: DType) -> Result<(Vec<f64>, f64, Vec<Vec<f64>>)> {
    let built = spec
        .parse::<ModelSpec>()?
        .build(input, 3, 5, dtype, &Device::Cpu)?;
    let x = uniform(
        &[4, input.channels, input.height, input.width],
        -1.0,
        1.0,
        6,
    )?
    .to_dtype(dtype)?;
    let y = labels(4, 3, 7)?;
    let logits = built.model.forward(&x, true)?;
    let loss = emc_kernels::cross_entropy(&logits, &y)?;
    // θ's gradient, pulled back to what the optimizer updates (z, or the master weights).
    let grads = emc_models::pull_back(built.model.as_ref(), loss.backward()?)?;
    let flat =
        |t: &Tensor| -> Result<Vec<f64>> { Ok(t.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?) };
    let mut per_var = vec![];
    for (name, var) in built.named_trainable() {
        let g = grads
            .get(var.as_tensor())
            .ok_or_else(|| anyhow::anyhow!("{spec}: no gradient for {name}"))?;
        per_var.push(flat(g)?);
    }
    let loss = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    Ok((flat(&logits)?, loss, per_var))
}

/// Largest |a − b| over the largest |b| (0 when both are 0).
fn rel_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-30);
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

#[test]
fn every_family_runs_and_trains_through_candles_own_operations() -> Result<()> {
    // Our kernels first, then the composed path, in f32 (training) and f64.
    let mut kernels = vec![];
    for &(spec, input) in &families() {
        kernels.push((run(spec, input, DType::F32)?, run(spec, input, DType::F64)?));
    }
    emc_kernels::set_composed_only(true);
    let mut differ = vec![];
    for (&(spec, input), (k32, k64)) in families().iter().zip(&kernels) {
        for (dtype, k, tol) in [(DType::F32, k32, 1e-4), (DType::F64, k64, 1e-10)] {
            let c = run(spec, input, dtype)?;
            let logits = rel_diff(&c.0, &k.0);
            eprintln!("{spec} {dtype:?}: logits differ by {logits:e}");
            if logits > 0.0 {
                differ.push(spec);
            }
            assert!(
                logits < tol,
                "{spec} {dtype:?}: logits differ by {logits:e}"
            );
            assert!(
                (c.1 - k.1).abs() < tol * k.1.abs().max(1.0),
                "{spec} {dtype:?}: loss {} vs {}",
                c.1,
                k.1
            );
            for (i, (gc, gk)) in c.2.iter().zip(&k.2).enumerate() {
                let d = rel_diff(gc, gk);
                assert!(d < tol, "{spec} {dtype:?}: gradient {i} differs by {d:e}");
            }
        }
        // And the composed path's gradients are right, not merely equal to ours (the
        // wrappers' pull-backs are checked in tests/reparam.rs).
        if spec.starts_with("subspace") || spec.starts_with("quant") {
            continue;
        }
        let built = spec
            .parse::<ModelSpec>()?
            .build(input, 3, 5, DType::F64, &Device::Cpu)?;
        let x = uniform(
            &[4, input.channels, input.height, input.width],
            -1.0,
            1.0,
            6,
        )?;
        let y = labels(4, 3, 7)?;
        let report = check_gradients(&built.named_trainable(), Some(6), || {
            Ok(emc_kernels::cross_entropy(
                &built.model.forward(&x, true)?,
                &y,
            )?)
        })?;
        assert!(report.checked > 0, "{spec}");
    }
    emc_kernels::set_composed_only(false);
    // The switch took effect: convolutions sum in another order than candle's.
    assert!(differ.contains(&"resnet18:k=2"), "{differ:?}");
    Ok(())
}
