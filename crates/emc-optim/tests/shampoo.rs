//! Shampoo (`torch_optimizer.Shampoo`'s variant, see `OptimKind::Shampoo`) against the PyPI
//! package `torch-optimizer`, and its behaviour as an [`emc_optim::Optimizer`].
//!
//! Every expected number comes from `tests/shampoo_reference.py` (torch 2.15.0,
//! torch-optimizer 0.3.0, CPU, float64); the quadratic problem and its `run` helper are the
//! ones of `tests/torch_reference.py`, quoted in `tests/common/mod.rs`.
//!
//! Tolerances, relative (for the tensor and MLP problems, whose parameters pass near zero,
//! an element passes when `|candle - torch| <= tol · max(1, |torch|)`):
//! - f64: 1e-8. The reference takes each matrix root by an SVD, we take it by `nalgebra`'s
//!   symmetric eigendecomposition and sum in other orders. Both are exact to round-off times
//!   the statistic's condition number, which reaches ~1e5 here (`eps` 1e-4 against squared
//!   gradients ~30, and a bias's root is a full inverse), and the steps compound it: the
//!   largest error seen is 6e-10 (`shampoo`, `b`), most cases agree to 1e-12 or better.
//! - f32: 1e-3. Gradients and parameters are rounded to f32 each step (the preconditioning
//!   itself runs in f64), and the same conditioning amplifies that rounding: the largest
//!   error seen is 3.8e-4 (`shampoo`, `b[1]` ≈ 0.028), most cases agree to 1e-6.
//!
//! The cases are chosen to be well determined: with small `eps` and directions the gradient
//! never takes (the softmax's shift: cross-entropy gradients of a last layer sum to zero over
//! classes), torch-optimizer's roots amplify round-off by up to `eps^(-1/k)`, and swapping its
//! own SVD for `torch.linalg.eigh` already moves the MLP's parameters by 2e-4 at `eps` 1e-3.

mod common;

use anyhow::{ensure, Result};
use candle_core::{DType, Device, Tensor, Var};
use common::{assert_close, check_within, Expected};
use emc_optim::{build, OptimConfig, OptimError};

/// The tolerance of the f64 runs against the float64 reference (see the module docs).
const RTOL_F64: f64 = 1e-8;
/// The tolerance of the f32 runs against the float64 reference (see the module docs).
const RTOL_F32: f64 = 1e-3;

// PyTorch:
//   run(lambda ps: Shampoo(ps, lr=0.02), steps=6)
#[test]
fn shampoo() -> Result<()> {
    check_within(
        "shampoo:lr=0.02",
        &Expected {
            lrs: &[0.02, 0.02, 0.02, 0.02, 0.02, 0.02],
            norms: &[
                5.575995566936903,
                5.482589775769198,
                5.430304237185353,
                5.383469582887538,
                5.352729844198958,
                5.328696893055489,
            ],
            p: [
                0.49251229563951715,
                -0.9492813016394732,
                1.4459124614484986,
                0.2309008271659345,
                -0.7241674367879016,
                1.9796997698785554,
            ],
            b: [0.6193231785728829, 0.028228918977740027],
        },
        RTOL_F64,
        RTOL_F32,
    )
}

// PyTorch:
//   run(lambda ps: Shampoo(ps, lr=0.02, momentum=0.9, weight_decay=0.1), steps=6)
#[test]
fn shampoo_momentum_weight_decay() -> Result<()> {
    check_within(
        "shampoo:lr=0.02,momentum=0.9,wd=0.1",
        &Expected {
            lrs: &[0.02, 0.02, 0.02, 0.02, 0.02, 0.02],
            norms: &[
                5.575995566936903,
                5.483047843581868,
                6.221096949728546,
                6.204278377189481,
                6.191364942699541,
                6.179809352393173,
            ],
            p: [
                0.47704896404885333,
                -0.9815059009505631,
                1.455911356531744,
                0.22747784367842033,
                -0.744590300893012,
                1.9706926328946932,
            ],
            b: [0.8844608221209461, 0.3660351112912817],
        },
        RTOL_F64,
        RTOL_F32,
    )
}

// Roots recomputed at steps 0, 2, 4 only; the statistics still grow every step.
// PyTorch:
//   run(lambda ps: Shampoo(ps, lr=0.1, epsilon=1e-2, update_freq=2), steps=6)
#[test]
fn shampoo_update_freq_2() -> Result<()> {
    check_within(
        "shampoo:lr=0.1,eps=0.01,update_freq=2",
        &Expected {
            lrs: &[0.1, 0.1, 0.1, 0.1, 0.1, 0.1],
            norms: &[
                5.575995566936903,
                5.123700912286233,
                4.617434607956034,
                4.498207257352814,
                4.396046241702934,
                4.313753132055006,
            ],
            p: [
                0.4827248970777672,
                -0.7762637907155374,
                1.224979491776776,
                0.12648477677325654,
                -0.5804324241866379,
                1.8322450594067545,
            ],
            b: [0.35180224544990124, -0.22119109388918295],
        },
        RTOL_F64,
        RTOL_F32,
    )
}

// PyTorch:
//   run(lambda ps: Shampoo(ps, lr=0.05, momentum=0.5, weight_decay=0.01, epsilon=1.0,
//                          update_freq=3), steps=7)
#[test]
fn shampoo_update_freq_3_momentum_weight_decay() -> Result<()> {
    check_within(
        "shampoo:lr=0.05,momentum=0.5,wd=0.01,eps=1,update_freq=3",
        &Expected {
            lrs: &[0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05],
            norms: &[
                5.575995566936903,
                5.400236821951712,
                5.301673063365028,
                5.211547574872819,
                5.157955544107573,
                5.107145863756607,
                5.0573128290652,
            ],
            p: [
                0.5076151471996595,
                -0.92045010725509,
                1.4101000522713592,
                0.20137090956701742,
                -0.6767976537657264,
                1.9314359028018218,
            ],
            b: [0.2718930526948857, -0.37431752148992564],
        },
        RTOL_F64,
        RTOL_F32,
    )
}

// Clipping scales the gradient before Shampoo sees it (torch-optimizer reads the clipped
// `p.grad`).
// PyTorch:
//   run(lambda ps: Shampoo(ps, lr=0.05, epsilon=1e-2), steps=5, clip=1.0)
#[test]
fn shampoo_clip() -> Result<()> {
    check_within(
        "shampoo:lr=0.05,eps=0.01,clip=1",
        &Expected {
            lrs: &[0.05, 0.05, 0.05, 0.05, 0.05],
            norms: &[
                5.575995566936903,
                5.057373165162559,
                4.836035718185528,
                4.6542119939326305,
                4.56202814615349,
            ],
            p: [
                0.5036534438550695,
                -0.908058782067573,
                1.396281216151608,
                0.19068446672581202,
                -0.6677442136836325,
                1.9221295003256151,
            ],
            b: [0.15701010636546003, -0.30818179931253675],
        },
        RTOL_F64,
        RTOL_F32,
    )
}

/// `|actual - expected| <= tol · max(1, |expected|)` for every element.
fn assert_near(what: &str, actual: &[f64], expected: &[f64], tol: f64) -> Result<()> {
    ensure!(
        actual.len() == expected.len(),
        "{what}: {actual:?} vs {expected:?}"
    );
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        let err = (a - e).abs() / e.abs().max(1.0);
        ensure!(
            err <= tol,
            "{what}[{i}]: candle {a} vs torch {e} (error {err:.2e} > {tol:.0e})"
        );
    }
    Ok(())
}

fn flat(v: &Var) -> Result<Vec<f64>> {
    Ok(v.as_tensor()
        .flatten_all()?
        .to_dtype(DType::F64)?
        .to_vec1()?)
}

/// `n` values `(((i * 37) mod 17) - 8) / 10 · scale` over the row-major index `i`, as in the
/// reference script's `filled` and `init`.
fn filled(shape: &[usize], scale: f64, dtype: DType) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let data: Vec<f64> = (0..n)
        .map(|i| (((i * 37) % 17) as f64 - 8.0) / 10.0 * scale)
        .collect();
    Ok(Tensor::from_vec(data, shape, &Device::Cpu)?.to_dtype(dtype)?)
}

/// The reference's `coefs`: `A = 1 + (i mod 5) / 4`, `C = ((i mod 7) - 3) / 10`.
fn coefs(shape: &[usize], dtype: DType) -> Result<(Tensor, Tensor)> {
    let n: usize = shape.iter().product();
    let a: Vec<f64> = (0..n).map(|i| 1.0 + (i % 5) as f64 / 4.0).collect();
    let c: Vec<f64> = (0..n).map(|i| ((i % 7) as f64 - 3.0) / 10.0).collect();
    let t = |v: Vec<f64>| -> Result<Tensor> {
        Ok(Tensor::from_vec(v, shape, &Device::Cpu)?.to_dtype(dtype)?)
    };
    Ok((t(a)?, t(c)?))
}

/// Runs the reference's tensor problem (orders 4, 3 and 0) for `steps` steps of `spec`.
fn run_tensors(spec: &str, dtype: DType, steps: usize) -> Result<Vec<Vec<f64>>> {
    let shapes: [&[usize]; 3] = [&[3, 2, 2, 2], &[2, 3, 4], &[]];
    let mut vars = Vec::new();
    for shape in shapes {
        let init = if shape.is_empty() {
            Tensor::new(0.7f64, &Device::Cpu)?.to_dtype(dtype)?
        } else {
            filled(shape, 1.0, dtype)?
        };
        vars.push(Var::from_tensor(&init)?);
    }
    let mut opt = build(&spec.parse()?, vars.clone())?;
    for _ in 0..steps {
        let mut total: Option<Tensor> = None;
        let mut sq: Option<Tensor> = None;
        for v in &vars {
            let x = v.as_tensor();
            let (a, c) = coefs(x.dims(), dtype)?;
            let term = ((a * x)? * x)?.sum_all()?.affine(0.5, 0.0)? + (c * x)?.sum_all()?;
            let s = x.sqr()?.sum_all()?;
            total = Some(match total {
                Some(t) => (t + term?)?,
                None => term?,
            });
            sq = Some(match sq {
                Some(q) => (q + s)?,
                None => s,
            });
        }
        let (total, sq) = (total.unwrap(), sq.unwrap());
        let loss = (total + (sq.affine(1.0, -1.0)?.sqr()?.affine(0.5, 0.0))?)?;
        opt.step(&loss.backward()?)?;
    }
    vars.iter().map(flat).collect()
}

/// Checks a tensor-problem run in f64 and f32 against the reference's `w4`, `w3`, `s`.
fn check_tensors(spec: &str, steps: usize, expected: [&[f64]; 3]) -> Result<()> {
    for (dtype, tol) in [(DType::F64, RTOL_F64), (DType::F32, RTOL_F32)] {
        let got = run_tensors(spec, dtype, steps)?;
        for ((name, g), e) in ["w4", "w3", "s"].iter().zip(&got).zip(expected) {
            assert_near(&format!("{spec} {dtype:?} {name}"), g, e, tol)?;
        }
    }
    Ok(())
}

// A 4-D (conv-shaped) and a 3-D weight, and a scalar (not preconditioned); see the
// reference's `tensors_problem` and `tensors_loss`.
// PyTorch:
//   run_tensors(lambda ps: Shampoo(ps, lr=0.02, momentum=0.3, weight_decay=0.05), steps=5)
#[test]
fn shampoo_tensors_of_order_0_3_and_4() -> Result<()> {
    check_tensors(
        "shampoo:lr=0.02,momentum=0.3,wd=0.05",
        5,
        [
            &[
                -0.7703345646923833,
                -0.48464536610337283,
                -0.18963903007217178,
                0.09522792791618766,
                0.3910064519793294,
                0.6761838737163159,
                -0.6744607475696666,
                -0.3879595401935596,
                -0.0950529159391417,
                0.19568141177220555,
                0.4836233108825241,
                0.7651215926460623,
                -0.5743339932789473,
                -0.29338424493848775,
                -0.0004391392387297755,
                0.2908867480732531,
                0.5778211938119471,
                -0.7697643956002214,
                -0.48755376469896133,
                -0.1941480882098377,
                0.09618485275366694,
                0.3904751405444113,
                0.6728273286626195,
                -0.6729853636750842,
            ],
            &[
                -0.7603577136703283,
                -0.48525742499600705,
                -0.18544874242443635,
                0.09944560660276314,
                0.39488404699318513,
                0.669713079358568,
                -0.6685339063624369,
                -0.39003349140295324,
                -0.09743529522038523,
                0.19031799767056184,
                0.4844835430780181,
                0.7633050984879975,
                -0.5766383872857154,
                -0.2830435418721247,
                -0.00183512624411046,
                0.29510682864517845,
                0.5759902973034561,
                -0.7629037376727155,
                -0.4850716975599128,
                -0.19208727670030862,
                0.09985948095374231,
                0.39298494022043745,
                0.6705027767000515,
                -0.6644744434397988,
            ],
            &[-0.008289932993363091],
        ],
    )
}

// PyTorch:
//   run_tensors(lambda ps: Shampoo(ps, lr=0.02, epsilon=1e-3, update_freq=2), steps=5)
#[test]
fn shampoo_tensors_update_freq_2() -> Result<()> {
    check_tensors(
        "shampoo:lr=0.02,eps=0.001,update_freq=2",
        5,
        [
            &[
                -0.7649827463626986,
                -0.48184812445280095,
                -0.18779064637925452,
                0.09438183845449899,
                0.38932143309966866,
                0.6718800678759641,
                -0.6698614551264306,
                -0.38575389787233216,
                -0.09416314913418988,
                0.19487983798990277,
                0.480652037145304,
                0.7588644229099268,
                -0.5697448342602961,
                -0.2921592230337661,
                -0.0005059377560726551,
                0.2892382568588417,
                0.573817743992677,
                -0.7643102262335729,
                -0.48525518525382666,
                -0.19307637691581514,
                0.09548526281834095,
                0.38872859762656653,
                0.6679356344733101,
                -0.6681065042459624,
            ],
            &[
                -0.7532638198183128,
                -0.4824945577992683,
                -0.18289463415236987,
                0.09930285115630941,
                0.3938467570202616,
                0.6642347324031819,
                -0.6628814464509758,
                -0.3881868938947574,
                -0.09696607807520219,
                0.1885820842437334,
                0.48161367236219116,
                0.7566699937668514,
                -0.572401040448267,
                -0.28004469328389026,
                -0.0020978994390954096,
                0.2941441939109171,
                0.5716292226149545,
                -0.7562052036732083,
                -0.48230297273226824,
                -0.19066330097272471,
                0.09976404898552388,
                0.39164003125036384,
                0.6651764797673568,
                -0.6580789103688771,
            ],
            &[0.046557678626341824],
        ],
    )
}

/// The reference's small MLP, 3 → 4 (tanh) → 3, cross-entropy over 5 fixed samples, for
/// `steps` steps of `spec`: the loss before each step and the final `w1`, `b1`, `w2`, `b2`.
fn run_mlp(spec: &str, dtype: DType, steps: usize) -> Result<(Vec<f64>, Vec<Vec<f64>>)> {
    let x = filled(&[5, 3], 2.0, dtype)?;
    let labels = [0usize, 2, 1, 1, 0];
    let mut one_hot = vec![0.0f64; 15];
    for (row, &label) in labels.iter().enumerate() {
        one_hot[row * 3 + label] = 1.0;
    }
    let one_hot = Tensor::from_vec(one_hot, (5, 3), &Device::Cpu)?.to_dtype(dtype)?;
    let shapes: [&[usize]; 4] = [&[4, 3], &[4], &[3, 4], &[3]];
    let vars = shapes
        .iter()
        .map(|s| Ok(Var::from_tensor(&filled(s, 1.0, dtype)?)?))
        .collect::<Result<Vec<_>>>()?;
    let mut opt = build(&spec.parse()?, vars.clone())?;
    let mut losses = Vec::new();
    for _ in 0..steps {
        let [w1, b1, w2, b2] = [0, 1, 2, 3].map(|i| vars[i].as_tensor());
        let hidden = x.matmul(&w1.t()?)?.broadcast_add(b1)?.tanh()?; // [5, 4]
        let logits = hidden.matmul(&w2.t()?)?.broadcast_add(b2)?; // [5, 3]
        let log_sum_exp = logits.exp()?.sum(1)?.log()?; // [5]
        let picked = (&logits * &one_hot)?.sum(1)?; // [5]
        let loss = (log_sum_exp - picked)?.mean_all()?;
        losses.push(loss.to_dtype(DType::F64)?.to_scalar::<f64>()?);
        opt.step(&loss.backward()?)?;
    }
    Ok((losses, vars.iter().map(flat).collect::<Result<_>>()?))
}

/// Checks an MLP run in f64 and f32 against the reference's losses and final parameters.
fn check_mlp(spec: &str, losses: &[f64], params: [&[f64]; 4]) -> Result<()> {
    for (dtype, tol) in [(DType::F64, RTOL_F64), (DType::F32, RTOL_F32)] {
        let (got_losses, got) = run_mlp(spec, dtype, losses.len())?;
        let tag = |what: &str| format!("{spec} {dtype:?} {what}");
        assert_close(&tag("loss"), &got_losses, losses, tol)?;
        for ((name, g), e) in ["w1", "b1", "w2", "b2"].iter().zip(&got).zip(params) {
            assert_near(&tag(name), g, e, tol)?;
        }
    }
    Ok(())
}

// The check: a small MLP over 8 steps, momentum and weight decay.
// PyTorch (`run_mlp` in the reference script):
//   run_mlp(lambda ps: Shampoo(ps, lr=0.05, momentum=0.5, weight_decay=0.01, epsilon=0.1),
//           steps=8)
#[test]
fn shampoo_mlp() -> Result<()> {
    check_mlp(
        "shampoo:lr=0.05,momentum=0.5,wd=0.01,eps=0.1",
        &[
            1.2147729128247033,
            1.1331963257756508,
            1.0836837705997315,
            1.0573938284406983,
            1.0414010094401944,
            1.029573523354935,
            1.0214032098725119,
            1.0154512470296617,
        ],
        [
            &[
                -0.7191608375257454,
                -0.4501965693723222,
                -0.18123230121807976,
                0.1021438900539661,
                0.4646605905242378,
                0.82717729099419,
                -0.6157822211847378,
                -0.3736811560543231,
                -0.13158009092511372,
                0.27446390793262676,
                0.5155667891925598,
                0.7566696704528725,
            ],
            &[
                -0.9763850347901549,
                -0.5536166222332825,
                -0.37585892946712013,
                0.08343512573330168,
            ],
            &[
                -0.7695756379144371,
                -0.5759066716290434,
                -0.19028704504076277,
                -0.01706205732265464,
                0.26782997752810145,
                0.637898741474881,
                -0.6723647470065343,
                -0.3778033646246065,
                -0.11004253048593371,
                0.24363308565901087,
                0.3745489597675304,
                0.7779198697450516,
            ],
            &[
                -0.6313933363369749,
                -0.31801739010807223,
                -0.2073396345788865,
            ],
        ],
    )
}

// PyTorch:
//   run_mlp(lambda ps: Shampoo(ps, lr=0.1, epsilon=1e-2, update_freq=2), steps=8)
#[test]
fn shampoo_mlp_update_freq_2() -> Result<()> {
    check_mlp(
        "shampoo:lr=0.1,eps=0.01,update_freq=2",
        &[
            1.2147729128247033,
            1.003712558490332,
            0.8931317262310594,
            0.8747404004590749,
            1.0072061554467142,
            0.8727476468713583,
            0.8177103969722224,
            0.8012919789022706,
        ],
        [
            &[
                -0.6327596447431417,
                -0.43610242092291085,
                -0.2394451971026787,
                0.09120470656658222,
                0.5199505979030639,
                0.9486964892395453,
                -0.5245755111936913,
                -0.3128738239456296,
                -0.1011721366975694,
                0.2831001654122899,
                0.544135911620482,
                0.8051716578286731,
            ],
            &[
                -2.001287100750294,
                -0.5373371219878255,
                -1.3229561036484778,
                0.13516622266389086,
            ],
            &[
                -0.6661686504581069,
                -0.6182960210135439,
                -0.13805523972844044,
                -0.044740267834309434,
                0.10521462818488439,
                0.6265202236488557,
                -0.7069105544575376,
                -0.47660786276128575,
                0.06095402227322205,
                0.3917757973646883,
                0.44496579418597787,
                1.0213481305955947,
            ],
            &[
                -0.6796653559559869,
                -0.22750954951820798,
                -0.5928250945258033,
            ],
        ],
    )
}

/// `step_unmeasured` takes the same update as `step` (bit for bit) and refuses a clipping
/// config, as the other optimizers do.
#[test]
fn step_unmeasured_equals_step_and_refuses_clipping() -> Result<()> {
    let make = || -> Result<Vec<Var>> {
        Ok(vec![
            Var::from_tensor(&filled(&[4, 3], 1.0, DType::F64)?)?,
            Var::from_tensor(&filled(&[3], 0.5, DType::F64)?)?,
        ])
    };
    let cfg: OptimConfig = "shampoo:lr=0.05,momentum=0.5,update_freq=2".parse()?;
    let (a, b) = (make()?, make()?);
    let mut opt_a = build(&cfg, a.clone())?;
    let mut opt_b = build(&cfg, b.clone())?;
    let loss = |vars: &[Var]| -> Result<Tensor> {
        let y = vars[0]
            .as_tensor()
            .matmul(&vars[1].as_tensor().unsqueeze(1)?)?;
        Ok((y.sqr()?.sum_all()? + vars[0].as_tensor().sum_all()?)?)
    };
    for _ in 0..4 {
        opt_a.step(&loss(&a)?.backward()?)?;
        opt_b.step_unmeasured(&loss(&b)?.backward()?)?;
    }
    assert_eq!(opt_b.steps(), 4);
    for (va, vb) in a.iter().zip(&b) {
        assert_eq!(flat(va)?, flat(vb)?);
    }
    let clipping = OptimConfig {
        clip_grad_norm: Some(1.0),
        ..cfg
    };
    let mut opt = build(&clipping, a.clone())?;
    match opt.step_unmeasured(&loss(&a)?.backward()?) {
        Err(OptimError::InvalidConfig { field: "clip", .. }) => Ok(()),
        other => anyhow::bail!("expected a clip error, got {other:?}"),
    }
}

/// A var without a gradient is left alone and gets no state; a var first seen late starts
/// its own step count (its roots are computed on its first update, as torch-optimizer's
/// per-parameter `state["step"]`), so it moves exactly as if optimized alone.
#[test]
fn a_var_first_seen_late_moves_as_if_alone() -> Result<()> {
    let cfg: OptimConfig = "shampoo:lr=0.1,eps=0.01,update_freq=3".parse()?;
    let x = Var::from_tensor(&filled(&[3, 2], 1.0, DType::F64)?)?;
    let y = Var::from_tensor(&filled(&[2, 2], 0.5, DType::F64)?)?;
    let alone = Var::from_tensor(y.as_tensor())?;
    let mut opt = build(&cfg, vec![x.clone(), y.clone()])?;
    let mut opt_alone = build(&cfg, vec![alone.clone()])?;
    let quartic = |v: &Var| -> Result<Tensor> { Ok(v.as_tensor().sqr()?.sqr()?.sum_all()?) };
    for step in 0..5 {
        let mut loss = quartic(&x)?;
        if step >= 2 {
            loss = (loss + quartic(&y)?)?;
            opt_alone.step(&quartic(&alone)?.backward()?)?;
        }
        opt.step(&loss.backward()?)?;
        if step < 2 {
            assert_eq!(
                flat(&y)?,
                flat(&Var::from_tensor(&filled(&[2, 2], 0.5, DType::F64)?)?)?
            );
        }
    }
    assert_eq!(flat(&y)?, flat(&alone)?);
    Ok(())
}

/// A non-finite gradient turns the parameters NaN (as the other optimizers do, for the
/// trainer's divergence check) instead of failing or hanging in the eigensolver.
#[test]
fn a_non_finite_gradient_gives_nan_parameters() -> Result<()> {
    let w = Var::from_tensor(&filled(&[3, 2], 1.0, DType::F64)?)?;
    let mut opt = build(&OptimConfig::shampoo(0.1), vec![w.clone()])?;
    let r = Tensor::from_vec(
        vec![1.0, f64::INFINITY, 0.0, 1.0, 2.0, 3.0],
        (3, 2),
        &Device::Cpu,
    )?;
    let loss = (w.as_tensor() * r)?.sum_all()?;
    opt.step(&loss.backward()?)?;
    ensure!(flat(&w)?.iter().all(|x| x.is_nan()), "{:?}", flat(&w)?);
    Ok(())
}

/// SGD grafting keeps each var's preconditioned direction and gives it SGD's size: from the
/// same start, the grafted first step of every var is the ungrafted one rescaled to
/// `lr·‖g‖` (a matrix, a vector and an order-3 tensor, with weight decay folded into `g`).
/// Later steps differ (the trajectories part), but each keeps SGD's size per var.
#[test]
fn sgd_grafting_keeps_the_direction_at_sgds_step_size() -> Result<()> {
    let shapes: [&[usize]; 3] = [&[4, 3], &[3], &[2, 3, 2]];
    let make = || -> Result<Vec<Var>> {
        shapes
            .iter()
            .enumerate()
            .map(|(i, s)| Ok(Var::from_tensor(&filled(s, 1.0 + i as f64, DType::F64)?)?))
            .collect()
    };
    let loss = |vars: &[Var]| -> Result<Tensor> {
        let y = vars[0]
            .as_tensor()
            .matmul(&vars[1].as_tensor().unsqueeze(1)?)?;
        let cube = vars[2].as_tensor().sqr()?.sqr()?.sum_all()?;
        Ok(((y.sqr()?.sum_all()? + vars[0].as_tensor().sum_all()?)? + cube)?)
    };
    let (lr, wd) = (0.05, 0.01);
    let plain: OptimConfig = format!("shampoo:lr={lr},wd={wd}").parse()?;
    let grafted: OptimConfig = format!("shampoo:lr={lr},wd={wd},graft=sgd").parse()?;
    let (a, b) = (make()?, make()?);
    let start: Vec<Vec<f64>> = a.iter().map(flat).collect::<Result<_>>()?;
    let grads = loss(&a)?.backward()?;
    let g: Vec<Vec<f64>> = a
        .iter()
        .map(|v| {
            let g = grads.get(v).unwrap().flatten_all()?.to_vec1::<f64>()?;
            Ok(g.iter().zip(flat(v)?).map(|(g, p)| g + wd * p).collect())
        })
        .collect::<Result<_>>()?;
    build(&plain, a.clone())?.step(&grads)?;
    let mut opt = build(&grafted, b.clone())?;
    opt.step(&loss(&b)?.backward()?)?;
    let norm = |x: &[f64]| x.iter().map(|x| x * x).sum::<f64>().sqrt();
    for i in 0..shapes.len() {
        let plain_step: Vec<f64> = start[i]
            .iter()
            .zip(flat(&a[i])?)
            .map(|(s, p)| s - p)
            .collect();
        let graft_step: Vec<f64> = start[i]
            .iter()
            .zip(flat(&b[i])?)
            .map(|(s, p)| s - p)
            .collect();
        let want = lr * norm(&g[i]);
        assert!((norm(&graft_step) - want).abs() <= 1e-12 * want, "var {i}");
        // The ungrafted step has another size: grafting is not a no-op here.
        assert!((norm(&plain_step) - want).abs() > 1e-3 * want, "var {i}");
        let k = want / norm(&plain_step);
        for (x, y) in plain_step.iter().zip(&graft_step) {
            assert!(
                (x * k - y).abs() <= 1e-12 * want,
                "var {i}: {x} · {k} vs {y}"
            );
        }
    }
    // Later steps: still SGD's size per var.
    for _ in 0..3 {
        let before: Vec<Vec<f64>> = b.iter().map(flat).collect::<Result<_>>()?;
        let grads = loss(&b)?.backward()?;
        opt.step(&grads)?;
        for (i, v) in b.iter().enumerate() {
            let g = grads.get(v).unwrap().flatten_all()?.to_vec1::<f64>()?;
            let g: Vec<f64> = g.iter().zip(&before[i]).map(|(g, p)| g + wd * p).collect();
            let step: Vec<f64> = before[i].iter().zip(flat(v)?).map(|(s, p)| s - p).collect();
            let want = lr * norm(&g);
            assert!((norm(&step) - want).abs() <= 1e-12 * want, "var {i}");
        }
    }
    Ok(())
}
