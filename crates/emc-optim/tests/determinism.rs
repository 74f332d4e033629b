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

/// `step_unmeasured` (lockstep training's update) moves the weights exactly as `step`, and
/// refuses a clipping optimizer, which needs the norm.
#[test]
fn an_unmeasured_step_is_the_same_update_and_refuses_clipping() -> anyhow::Result<()> {
    use candle_core::{Device, Var};
    for spec in [
        "sgd:lr=0.05,momentum=0.9,nesterov,wd=0.01",
        "sgd:lr=0.1,wd=0.01",
        "adamw:lr=0.02,sched=cosine(10,0.001),warmup=3",
    ] {
        let cfg: OptimConfig = spec.parse()?;
        let start = [1.5f32, -2.0, 0.25];
        let (a, b) = (
            Var::new(&start, &Device::Cpu)?,
            Var::new(&start, &Device::Cpu)?,
        );
        let mut measured = emc_optim::build(&cfg, vec![a.clone()])?;
        let mut unmeasured = emc_optim::build(&cfg, vec![b.clone()])?;
        for _ in 0..5 {
            measured.step(&a.as_tensor().sqr()?.sum_all()?.backward()?)?;
            unmeasured.step_unmeasured(&b.as_tensor().sqr()?.sum_all()?.backward()?)?;
        }
        let bits = |v: &Var| -> anyhow::Result<Vec<u32>> {
            Ok(v.as_tensor()
                .to_vec1::<f32>()?
                .into_iter()
                .map(f32::to_bits)
                .collect())
        };
        assert_eq!(bits(&a)?, bits(&b)?, "{spec}");
        assert_eq!(unmeasured.steps(), 5);
    }
    let clipped: OptimConfig = "sgd:lr=0.1,clip=1".parse()?;
    let w = Var::new(&[1.0f32], &Device::Cpu)?;
    let mut opt = emc_optim::build(&clipped, vec![w.clone()])?;
    let err = opt
        .step_unmeasured(&w.as_tensor().sqr()?.sum_all()?.backward()?)
        .unwrap_err();
    assert!(err.to_string().contains("clip"), "{err}");
    Ok(())
}
