//! What candle 0.11.1 gets wrong on the CPU, and why our kernels and their compositions
//! ([`emc_kernels::composed`]) replace candle's own versions.
//! Each test pins the defect; if one starts failing, candle fixed it and the workaround
//! can be reconsidered.

use anyhow::Result;
use candle_core::{Device, Tensor, Var, D};

fn input() -> Result<Var> {
    Ok(Var::from_tensor(&Tensor::new(
        &[[[[0.1f64, 0.2], [0.9, 0.3]]]],
        &Device::Cpu,
    )?)?)
}

#[test]
fn candle_max_pool2d_backward_scales_the_gradient_by_a_quarter() -> Result<()> {
    let x = input()?;
    let grads = x.as_tensor().max_pool2d(2)?.sum_all()?.backward()?;
    let g = grads
        .get(x.as_tensor())
        .expect("gradient")
        .flatten_all()?
        .to_vec1::<f64>()?;
    // The true gradient is [0, 0, 1, 0]; emc_kernels::max_pool2x2 gives it.
    assert_eq!(g, [0.0, 0.0, 0.25, 0.0]);
    // And a window other than the stride has no backward at all.
    let x = Var::from_tensor(&Tensor::ones(
        (1, 1, 4, 4),
        candle_core::DType::F64,
        &Device::Cpu,
    )?)?;
    let y = x.as_tensor().max_pool2d_with_stride(3, 1)?.sum_all()?;
    assert!(y.backward().is_err());
    Ok(())
}

#[test]
fn candle_fused_layer_norm_and_softmax_cut_the_graph() -> Result<()> {
    // f32: the fused kernels have no f64 implementation.
    let x = Var::from_tensor(&Tensor::new(&[[1.0f32, 2.0, 4.0]], &Device::Cpu)?)?;
    let w = Tensor::new(&[1.0f32, 1.0, 1.0], &Device::Cpu)?;
    let b = Tensor::new(&[0.0f32, 0.0, 0.0], &Device::Cpu)?;
    let r = Tensor::new(&[[1.0f32, -2.0, 0.5]], &Device::Cpu)?;
    let no_grad = |y: Tensor| -> Result<bool> {
        let grads = (y * &r)?.sum_all()?.backward()?;
        Ok(grads.get(x.as_tensor()).is_none())
    };
    assert!(no_grad(candle_nn::ops::layer_norm(
        x.as_tensor(),
        &w,
        &b,
        1e-5
    )?)?);
    assert!(no_grad(candle_nn::ops::softmax_last_dim(x.as_tensor())?)?);
    // The composed softmax does back-propagate.
    assert!(!no_grad(candle_nn::ops::softmax(
        x.as_tensor(),
        D::Minus1
    )?)?);
    Ok(())
}

#[test]
fn candle_sdpa_has_no_cpu_kernel() -> Result<()> {
    let q = Tensor::ones((1, 1, 2, 4), candle_core::DType::F32, &Device::Cpu)?;
    assert!(candle_nn::ops::sdpa(&q, &q, &q, None, false, 0.5, 1.0).is_err());
    Ok(())
}

#[test]
fn candle_fused_gelu_backward_uses_rounded_constants() -> Result<()> {
    // d/dx x·Φ(x) at x = 1 is Φ(1) + φ(1) = 1.0833154705876864 (torch.autograd gives the
    // same); candle's fused backward uses 0.398942 for 1/√(2π) and is ~1.7e-7 off, which is
    // why `emc_kernels::gelu` follows the composition from `erf` (exact gradient, see
    // kernels.rs).
    let exact = 1.0833154705876864;
    let x = Var::from_tensor(&Tensor::new(&[1.0f64], &Device::Cpu)?)?;
    let grads = x.as_tensor().gelu_erf()?.sum_all()?.backward()?;
    let fused = grads
        .get(x.as_tensor())
        .expect("gradient")
        .to_vec1::<f64>()?[0];
    assert!(
        (fused - exact).abs() > 1e-8 && (fused - exact).abs() < 1e-6,
        "fused {fused}"
    );
    let grads = emc_kernels::gelu(x.as_tensor())?.sum_all()?.backward()?;
    let composed = grads
        .get(x.as_tensor())
        .expect("gradient")
        .to_vec1::<f64>()?[0];
    assert!((composed - exact).abs() < 1e-14, "composed {composed}");
    Ok(())
}
