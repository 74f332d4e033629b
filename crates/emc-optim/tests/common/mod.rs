//! The small deterministic problem every reference test runs, in candle, and the comparison
//! against numbers produced by PyTorch (`tests/torch_reference.py`).
//!
//! The problem, as in the PyTorch script:
//! ```python
//! torch.set_default_dtype(torch.float64)
//! A = torch.tensor([[1.0, 2.0], [0.5, 3.0], [1.5, 0.8]])
//! C = torch.tensor([[0.1, -0.3], [0.2, 0.4], [-0.5, 0.25]])
//! Y = torch.tensor([1.0, -1.0, 0.5])
//!
//! def problem():
//!     p = torch.tensor([[0.5, -1.0], [1.5, 0.25], [-0.75, 2.0]], requires_grad=True)
//!     b = torch.tensor([0.3, -0.4], requires_grad=True)
//!     frozen = torch.tensor([1.0, 2.0], requires_grad=True)  # never gets a gradient
//!     return [p, b, frozen]
//!
//! def loss_fn(p, b):
//!     return 0.5 * (A * p * p).sum() + (C * p).sum() + 0.5 * ((p @ b - Y) ** 2).sum()
//!
//! def run(make_opt, steps, clip=None, make_sched=None):
//!     params = problem()
//!     opt = make_opt(params)
//!     sched = make_sched(opt) if make_sched else None
//!     lrs, norms = [], []
//!     for _ in range(steps):
//!         opt.zero_grad()
//!         loss_fn(params[0], params[1]).backward()
//!         norm = torch.nn.utils.clip_grad_norm_(params, clip if clip is not None else float("inf"))
//!         lrs.append(opt.param_groups[0]["lr"])
//!         norms.append(norm.item())
//!         opt.step()
//!         if sched:
//!             sched.step()
//!     return lrs, norms, params[0].detach().flatten().tolist(), params[1].detach().tolist()
//!
//! def warmup(main, w):  # our warm-up: lr * (t + 1) / w for t < w, then `main` from its step 0
//!     return lambda opt: SequentialLR(
//!         opt, [LinearLR(opt, start_factor=1 / w, end_factor=1.0, total_iters=w - 1), main(opt)],
//!         milestones=[w])
//! ```
#![allow(dead_code)]

use anyhow::{ensure, Result};
use candle_core::{DType, Device, Tensor, Var};
use emc_optim::{build, lr_at, OptimConfig};

/// What PyTorch's `run` returned: the lr and the pre-clipping grad norm of every step, and the
/// final `p` (row-major) and `b`.
pub struct Expected {
    pub lrs: &'static [f64],
    pub norms: &'static [f64],
    pub p: [f64; 6],
    pub b: [f64; 2],
}

/// The outcome of running the problem in candle.
#[derive(Debug, PartialEq)]
pub struct Run {
    pub lrs: Vec<f64>,
    pub norms: Vec<f64>,
    pub p: Vec<f64>,
    pub b: Vec<f64>,
    pub frozen: Vec<f64>,
}

/// Runs `steps` optimizer steps of `cfg` on the problem with vars of `dtype`.
pub fn run(cfg: &OptimConfig, dtype: DType, steps: usize) -> Result<Run> {
    let dev = Device::Cpu;
    let t = |data: &[f64], shape: &[usize]| -> Result<Tensor> {
        Ok(Tensor::from_slice(data, shape, &dev)?.to_dtype(dtype)?)
    };
    let a = t(&[1.0, 2.0, 0.5, 3.0, 1.5, 0.8], &[3, 2])?;
    let c = t(&[0.1, -0.3, 0.2, 0.4, -0.5, 0.25], &[3, 2])?;
    let y = t(&[1.0, -1.0, 0.5], &[3])?;
    let p = Var::from_tensor(&t(&[0.5, -1.0, 1.5, 0.25, -0.75, 2.0], &[3, 2])?)?;
    let b = Var::from_tensor(&t(&[0.3, -0.4], &[2])?)?;
    let frozen = Var::from_tensor(&t(&[1.0, 2.0], &[2])?)?;
    let mut opt = build(cfg, vec![p.clone(), b.clone(), frozen.clone()])?;
    let (mut lrs, mut norms) = (Vec::new(), Vec::new());
    for step in 0..steps {
        ensure!(
            opt.steps() == step,
            "steps() is {} before step {step}",
            opt.steps()
        );
        ensure!(
            opt.lr() == lr_at(cfg, step),
            "lr() disagrees with lr_at at step {step}"
        );
        lrs.push(opt.lr());
        let (pt, bt) = (p.as_tensor(), b.as_tensor());
        let quad = ((&a * pt)? * pt)?.sum_all()?.affine(0.5, 0.0)?;
        let lin = (&c * pt)?.sum_all()?;
        let resid = (pt.matmul(&bt.unsqueeze(1)?)?.squeeze(1)? - &y)?;
        let loss = ((quad + lin)? + resid.sqr()?.sum_all()?.affine(0.5, 0.0)?)?;
        norms.push(opt.step(&loss.backward()?)?);
    }
    ensure!(opt.steps() == steps);
    let flat = |v: &Var| -> Result<Vec<f64>> {
        Ok(v.as_tensor()
            .flatten_all()?
            .to_dtype(DType::F64)?
            .to_vec1()?)
    };
    Ok(Run {
        lrs,
        norms,
        p: flat(&p)?,
        b: flat(&b)?,
        frozen: flat(&frozen)?,
    })
}

/// `|actual - expected| <= rtol * |expected|` for every element.
pub fn assert_close(what: &str, actual: &[f64], expected: &[f64], rtol: f64) -> Result<()> {
    ensure!(
        actual.len() == expected.len(),
        "{what}: {actual:?} vs {expected:?}"
    );
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        let err = (a - e).abs() / e.abs();
        ensure!(
            err <= rtol,
            "{what}[{i}]: candle {a} vs torch {e} (relative error {err:.2e} > {rtol:.0e})\n  candle {actual:?}\n  torch  {expected:?}"
        );
    }
    Ok(())
}

/// Parses `spec`, runs it for as many steps as PyTorch did in f64 (to 1e-12 relative) and
/// f32 (to 1e-5 relative), and compares lrs, grad norms and final parameters; `frozen` must be untouched.
pub fn check(spec: &str, expected: &Expected) -> Result<()> {
    check_within(spec, expected, 1e-12, 1e-5)
}

/// [`check`] with the relative tolerances `rtol_f64` and `rtol_f32` of the f64 and f32 runs.
pub fn check_within(spec: &str, expected: &Expected, rtol_f64: f64, rtol_f32: f64) -> Result<()> {
    let cfg: OptimConfig = spec.parse()?;
    let steps = expected.lrs.len();
    for (dtype, rtol) in [(DType::F64, rtol_f64), (DType::F32, rtol_f32)] {
        let got = run(&cfg, dtype, steps)?;
        let tag = |what: &str| format!("{spec} {dtype:?} {what}");
        // The schedule is computed in f64 whatever the dtype.
        assert_close(&tag("lr"), &got.lrs, expected.lrs, 1e-12)?;
        assert_close(&tag("grad norm"), &got.norms, expected.norms, rtol)?;
        assert_close(&tag("p"), &got.p, &expected.p, rtol)?;
        assert_close(&tag("b"), &got.b, &expected.b, rtol)?;
        ensure!(
            got.frozen == [1.0, 2.0],
            "{}: {:?}",
            tag("frozen"),
            got.frozen
        );
    }
    Ok(())
}
