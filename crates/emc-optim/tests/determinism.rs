//! Same config, same start: bit-identical trajectories, and a fresh optimizer starts afresh.

mod common;

use candle_core::DType;
use emc_optim::OptimConfig;

#[test]
fn identical_runs_are_bit_identical() -> anyhow::Result<()> {
    for spec in [
        "sgd:lr=0.05,momentum=0.9,nesterov,wd=0.01,clip=1",
        "adam:lr=0.01,wd=0.1,sched=step(3,0.5),warmup=2",
        "adamw:lr=0.02,sched=cosine(10,0.001),warmup=3,clip=0.5",
    ] {
        let cfg: OptimConfig = spec.parse()?;
        for dtype in [DType::F32, DType::F64] {
            let first = common::run(&cfg, dtype, 10)?;
            let second = common::run(&cfg, dtype, 10)?;
            assert_eq!(first, second, "{spec} {dtype:?}");
        }
    }
    Ok(())
}

#[test]
fn a_step_with_no_gradients_changes_nothing_but_the_counter() -> anyhow::Result<()> {
    use candle_core::{Device, Tensor, Var};
    let w = Var::new(&[1.0f32, 2.0], &Device::Cpu)?;
    let other = Var::new(&[3.0f32], &Device::Cpu)?;
    let cfg: OptimConfig = "adam:lr=0.1,warmup=2".parse()?;
    let mut opt = emc_optim::build(&cfg, vec![w.clone()])?;
    // Gradients of a var the optimizer does not own.
    let grads = other.as_tensor().sqr()?.sum_all()?.backward()?;
    assert_eq!(opt.step(&grads)?, 0.0);
    assert_eq!(w.as_tensor().to_vec1::<f32>()?, [1.0, 2.0]);
    assert_eq!((opt.steps(), opt.lr()), (1, 0.1));
    // Its schedule moved on, but its first real update still has Adam's first-step size (lr).
    let grads = Tensor::sum_all(&w.as_tensor().sqr()?)?.backward()?;
    opt.step(&grads)?;
    let got = w.as_tensor().to_vec1::<f32>()?;
    assert!(
        (got[0] - 0.9).abs() < 1e-6 && (got[1] - 1.9).abs() < 1e-6,
        "{got:?}"
    );
    Ok(())
}
