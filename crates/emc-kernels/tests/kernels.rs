//! Our CPU kernels ([`emc_kernels`]) against candle's own operations, which compute
//! the same functions slowly (for max-pooling: our composed version, since candle's
//! `max_pool2d` backward is wrong), and against central finite differences (in f64, where
//! the kernels run too).

mod common;

use anyhow::Result;
use candle_core::{DType, Device, Tensor, Var};
use common::{bits, check_gradients, named, probe_loss, uniform, uniform_var};
use emc_kernels::{self as kernels, composed};

/// One convolution: batch, in channels, height, width, out channels, kernel, stride, padding.
#[derive(Debug, Clone, Copy)]
struct Case {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    k: usize,
    stride: usize,
    padding: usize,
}

const fn case(
    (n, c, h, w): (usize, usize, usize, usize),
    o: usize,
    k: usize,
    stride: usize,
    padding: usize,
) -> Case {
    Case {
        n,
        c,
        h,
        w,
        o,
        k,
        stride,
        padding,
    }
}

/// Batches of 1 and more, 1/3/odd channels, padding 0 and 1, stride 1 and 2, non-square and
/// odd images, 1x1 and 3x3 kernels; the last two make the kernel split the batch into chunks
/// (one image per chunk, and chunks of 3 images with a remainder of 1). Cases 2 and 7 are
/// stride-2 inputs whose rows and columns leave different remainders, where candle's own
/// conv2d backward fails (see [`candle_backward_works`]).
const CASES: [Case; 10] = [
    case((1, 1, 14, 14), 4, 3, 1, 1),
    case((4, 3, 5, 7), 5, 3, 1, 1),
    case((2, 5, 6, 9), 3, 3, 2, 1),
    case((3, 5, 7, 5), 2, 3, 2, 0),
    case((2, 3, 8, 6), 4, 1, 2, 0),
    case((5, 1, 4, 3), 2, 3, 1, 0),
    case((1, 7, 3, 3), 6, 3, 1, 1),
    case((2, 2, 9, 4), 3, 3, 2, 1),
    case((2, 32, 32, 32), 8, 3, 1, 1),
    case((7, 9, 32, 32), 4, 3, 1, 1),
];

/// A seeded `U(-1, 1)` tensor of `dtype`.
fn random(shape: &[usize], seed: u64, dtype: DType) -> Result<Tensor> {
    Ok(uniform(shape, -1.0, 1.0, seed)?.to_dtype(dtype)?)
}

/// candle's convolution, with the bias added by broadcasting.
fn candle_conv(x: &Tensor, w: &Tensor, b: Option<&Tensor>, c: &Case) -> Result<Tensor> {
    let ys = x.conv2d(w, c.padding, c.stride, 1, 1)?;
    Ok(match b {
        Some(b) => ys.broadcast_add(&b.reshape((1, (), 1, 1))?)?,
        None => ys,
    })
}

/// candle 0.11.1's conv2d backward takes the transposed convolution's output padding from
/// the height alone, so when `(H + 2p - k) % s != (W + 2p - k) % s` the input gradient gets
/// the wrong width and the backward pass errors. Ours has no such case (the finite-difference
/// test covers these shapes).
fn candle_backward_works(c: &Case) -> bool {
    let rem = |side: usize| (side + 2 * c.padding - c.k) % c.stride;
    rem(c.h) == rem(c.w)
}

/// `max |a - b| / max |b|`.
fn rel_diff(a: &Tensor, b: &Tensor) -> Result<f64> {
    assert_eq!(a.dims(), b.dims());
    let a: Vec<f64> = a.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?;
    let b: Vec<f64> = b.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?;
    let scale = b.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-30);
    let diff = a
        .iter()
        .zip(&b)
        .fold(0f64, |m, (x, y)| m.max((x - y).abs()));
    Ok(diff / scale)
}

#[test]
fn conv2d_forward_matches_candle_f32() -> Result<()> {
    for (i, c) in CASES.iter().enumerate() {
        let seed = 100 * i as u64;
        let x = random(&[c.n, c.c, c.h, c.w], seed, DType::F32)?;
        let w = random(&[c.o, c.c, c.k, c.k], seed + 1, DType::F32)?;
        let b = random(&[c.o], seed + 2, DType::F32)?;
        for bias in [None, Some(&b)] {
            let ours = kernels::conv2d(&x, &w, bias, c.stride, c.padding)?;
            let theirs = candle_conv(&x, &w, bias, c)?;
            let rel = rel_diff(&ours, &theirs)?;
            assert!(
                rel < 1e-5,
                "{c:?} bias {}: rel diff {rel:e}",
                bias.is_some()
            );
        }
    }
    Ok(())
}

#[test]
fn conv2d_gradients_match_candle_f32() -> Result<()> {
    for (i, c) in CASES
        .iter()
        .enumerate()
        .filter(|(_, c)| candle_backward_works(c))
    {
        let seed = 100 * i as u64;
        let x = Var::from_tensor(&random(&[c.n, c.c, c.h, c.w], seed, DType::F32)?)?;
        let w = Var::from_tensor(&random(&[c.o, c.c, c.k, c.k], seed + 1, DType::F32)?)?;
        let b = Var::from_tensor(&random(&[c.o], seed + 2, DType::F32)?)?;
        for bias in [None, Some(b.as_tensor())] {
            let ys = kernels::conv2d(&x, &w, bias, c.stride, c.padding)?;
            let ours = probe_loss(&ys, seed + 3)?.backward()?;
            let ys = candle_conv(&x, &w, bias, c)?;
            let theirs = probe_loss(&ys, seed + 3)?.backward()?;
            let mut vars = vec![("x", &x), ("w", &w)];
            if bias.is_some() {
                vars.push(("b", &b));
            }
            for (name, var) in vars {
                let (Some(g_ours), Some(g_theirs)) = (ours.get(var), theirs.get(var)) else {
                    panic!("{c:?}: no gradient for {name}")
                };
                let rel = rel_diff(g_ours, g_theirs)?;
                assert!(rel < 1e-5, "{c:?} d{name}: rel diff {rel:e}");
            }
        }
    }
    Ok(())
}

#[test]
fn conv2d_gradients_match_finite_differences_f64() -> Result<()> {
    // Every entry of every input for the small cases; evenly spaced entries for the
    // chunked ones.
    for (i, c) in CASES.iter().enumerate() {
        let seed = 100 * i as u64;
        let x = uniform_var(&[c.n, c.c, c.h, c.w], -1.0, 1.0, seed)?;
        let w = uniform_var(&[c.o, c.c, c.k, c.k], -1.0, 1.0, seed + 1)?;
        let b = uniform_var(&[c.o], -1.0, 1.0, seed + 2)?;
        let per_var = (c.n * c.c * c.h * c.w > 2000).then_some(40);
        let report = check_gradients(&named(&[("x", &x), ("w", &w), ("b", &b)]), per_var, || {
            let ys = kernels::conv2d(&x, &w, Some(&b), c.stride, c.padding)?;
            probe_loss(&ys, seed + 3)
        })?;
        println!("{c:?}: {report:?}");
    }
    Ok(())
}

#[test]
fn conv2d_without_input_gradient_still_gives_weight_and_bias_gradients() -> Result<()> {
    // The first layer's input is data: the kernel skips its gradient, not the others.
    let c = CASES[1];
    let x = random(&[c.n, c.c, c.h, c.w], 7, DType::F32)?;
    let w = Var::from_tensor(&random(&[c.o, c.c, c.k, c.k], 8, DType::F32)?)?;
    let b = Var::from_tensor(&random(&[c.o], 9, DType::F32)?)?;
    let ours = probe_loss(&kernels::conv2d(&x, &w, Some(&b), 1, 1)?, 3)?.backward()?;
    let theirs = probe_loss(&candle_conv(&x, &w, Some(&b), &c)?, 3)?.backward()?;
    assert!(ours.get(&x).is_none());
    for var in [&w, &b] {
        let rel = rel_diff(ours.get(var).unwrap(), theirs.get(var).unwrap())?;
        assert!(rel < 1e-5, "rel diff {rel:e}");
    }
    Ok(())
}

#[test]
fn conv2d_takes_non_contiguous_inputs() -> Result<()> {
    // A transposed view is copied before the kernel; the result equals candle's.
    let x = random(&[2, 3, 7, 5], 11, DType::F32)?.transpose(2, 3)?; // [2, 3, 5, 7]
    let w = random(&[4, 3, 3, 3], 12, DType::F32)?;
    assert!(!x.is_contiguous());
    let ours = kernels::conv2d(&x, &w, None, 1, 1)?;
    let theirs = x.contiguous()?.conv2d(&w, 1, 1, 1, 1)?;
    assert!(rel_diff(&ours, &theirs)? < 1e-5);
    Ok(())
}

#[test]
fn conv2d_is_bit_identical_run_to_run() -> Result<()> {
    // Same seeds, same bits: forward and all three gradients, on a chunked case.
    let run = || -> Result<Vec<Vec<f32>>> {
        let c = CASES[9];
        let x = Var::from_tensor(&random(&[c.n, c.c, c.h, c.w], 1, DType::F32)?)?;
        let w = Var::from_tensor(&random(&[c.o, c.c, c.k, c.k], 2, DType::F32)?)?;
        let b = Var::from_tensor(&random(&[c.o], 3, DType::F32)?)?;
        let ys = kernels::conv2d(&x, &w, Some(&b), c.stride, c.padding)?;
        let grads = probe_loss(&ys, 4)?.backward()?;
        let mut out = vec![ys.flatten_all()?.to_vec1()?];
        for var in [&x, &w, &b] {
            out.push(grads.get(var).unwrap().flatten_all()?.to_vec1()?);
        }
        Ok(out)
    };
    assert_eq!(run()?, run()?);
    Ok(())
}

#[test]
fn conv2d_rejects_mismatched_channels() {
    let dev = Device::Cpu;
    let x = Tensor::zeros((1, 3, 5, 5), DType::F32, &dev).unwrap();
    let w = Tensor::zeros((2, 4, 3, 3), DType::F32, &dev).unwrap();
    assert!(kernels::conv2d(&x, &w, None, 1, 1).is_err());
}

/// 2×2 max-pooling as the layers run it: our kernel where it applies, else the composition.
fn max_pool2x2(x: &Tensor) -> Result<Tensor> {
    Ok(match kernels::max_pool2x2(x)? {
        Some(ys) => ys,
        None => composed::max_pool2x2_composed(x)?,
    })
}

/// Pooling inputs: batch 1 and more, odd channels, even, odd and non-square sides.
const POOL_SHAPES: [[usize; 4]; 5] = [
    [1, 1, 2, 2],
    [2, 3, 6, 4],
    [3, 5, 7, 9],
    [1, 4, 14, 14],
    [2, 8, 7, 7],
];

#[test]
fn max_pool_matches_the_composed_version_with_ties() -> Result<()> {
    // Values rounded to quarters so windows hold ties: both versions give every tied
    // maximum the full gradient. Also a tensor large enough to be split over candle's
    // threads.
    for (i, shape) in POOL_SHAPES.iter().chain(&[[4, 32, 32, 33]]).enumerate() {
        let seed = 500 + i as u64;
        let x = ((random(shape, seed, DType::F32)? * 4.0)?.round()? / 4.0)?;
        let x = Var::from_tensor(&x)?;
        let ours = max_pool2x2(&x)?;
        let theirs = composed::max_pool2x2_composed(&x)?;
        assert_eq!(ours.dims(), theirs.dims());
        assert_eq!(rel_diff(&ours, &theirs)?, 0.0, "{shape:?}");
        let g_ours = probe_loss(&ours, seed + 1)?.backward()?;
        let g_theirs = probe_loss(&theirs, seed + 1)?.backward()?;
        let rel = rel_diff(g_ours.get(&x).unwrap(), g_theirs.get(&x).unwrap())?;
        assert_eq!(rel, 0.0, "{shape:?}");
    }
    Ok(())
}

/// A map too short for any window pools to an empty one and sends back zeros (candle's
/// composed version fails there: it reduces an empty tensor).
#[test]
fn max_pool_of_a_map_without_windows_is_empty() -> Result<()> {
    let x = uniform_var(&[2, 3, 1, 5], -1.0, 1.0, 550)?;
    let ys = max_pool2x2(&x)?;
    assert_eq!(ys.dims(), [2, 3, 0, 2]);
    let g = (ys.sum_all()? + x.as_tensor().sum_all()?)?.backward()?;
    let ones = vec![1f64; 30];
    assert_eq!(g.get(&x).unwrap().flatten_all()?.to_vec1::<f64>()?, ones);
    Ok(())
}

#[test]
fn max_pool_gradients_match_finite_differences_f64() -> Result<()> {
    for (i, shape) in POOL_SHAPES.iter().enumerate() {
        let x = uniform_var(shape, -1.0, 1.0, 600 + i as u64)?;
        let report = check_gradients(&named(&[("x", &x)]), None, || {
            probe_loss(&max_pool2x2(&x)?, 7)
        })?;
        println!("max_pool {shape:?}: {report:?}");
    }
    Ok(())
}

/// Linear layers: rows, in, out. One row, one feature and one output; the EMC MLPs' shapes
/// (49 → 32 → 10 at batch 128, and a partial batch); the reference MLP's 784 → 512.
const LINEAR_SHAPES: [(usize, usize, usize); 6] = [
    (1, 1, 1),
    (7, 49, 32),
    (128, 49, 32),
    (37, 32, 10),
    (128, 512, 10),
    (64, 784, 512),
];

/// The fused linear op gives candle's `matmul(x, wᵀ) + b` bit for bit: output and the
/// gradients of input, weight and bias, in f32 and f64, with and without a bias.
#[test]
fn linear_is_bit_identical_to_candles_ops() -> Result<()> {
    for (i, &(rows, din, dout)) in LINEAR_SHAPES.iter().enumerate() {
        for dtype in [DType::F32, DType::F64] {
            for with_bias in [true, false] {
                let seed = 700 + 10 * i as u64;
                let var = |shape: &[usize], s: u64| -> Result<Var> {
                    Ok(Var::from_tensor(
                        &uniform(shape, -1.0, 1.0, s)?.to_dtype(dtype)?,
                    )?)
                };
                let (x, w, b) = (
                    var(&[rows, din], seed)?,
                    var(&[dout, din], seed + 1)?,
                    var(&[dout], seed + 2)?,
                );
                let bias = with_bias.then_some(b.as_tensor());
                let ours = kernels::linear(&x, &w, bias)?;
                let theirs = x.matmul(&w.t()?)?;
                let theirs = match bias {
                    Some(b) => theirs.broadcast_add(b)?,
                    None => theirs,
                };
                let what = format!("{rows}x{din}->{dout} {dtype:?} bias {with_bias}");
                assert_eq!(bits(&ours)?, bits(&theirs)?, "output, {what}");
                let (g1, g2) = (
                    probe_loss(&ours, seed + 3)?.backward()?,
                    probe_loss(&theirs, seed + 3)?.backward()?,
                );
                let mut vars = vec![("x", &x), ("w", &w)];
                if with_bias {
                    vars.push(("b", &b));
                }
                for (name, v) in vars {
                    let (a, c) = (g1.get(v).expect(name), g2.get(v).expect(name));
                    assert_eq!(bits(a)?, bits(c)?, "d{name}, {what}");
                }
                if !with_bias {
                    assert!(g1.get(&b).is_none());
                }
            }
        }
    }
    Ok(())
}

#[test]
fn linear_gradients_match_finite_differences_f64() -> Result<()> {
    for (i, &(rows, din, dout)) in LINEAR_SHAPES[..4].iter().enumerate() {
        let seed = 800 + 10 * i as u64;
        let x = uniform_var(&[rows, din], -1.0, 1.0, seed)?;
        let w = uniform_var(&[dout, din], -1.0, 1.0, seed + 1)?;
        let b = uniform_var(&[dout], -1.0, 1.0, seed + 2)?;
        let report = check_gradients(&named(&[("x", &x), ("w", &w), ("b", &b)]), Some(60), || {
            probe_loss(&kernels::linear(&x, &w, Some(&b))?, seed + 3)
        })?;
        println!("linear {rows}x{din}->{dout}: {report:?}");
    }
    Ok(())
}

#[test]
fn linear_of_data_gives_no_input_gradient_and_rejects_bad_shapes() -> Result<()> {
    let x = uniform(&[5, 3], -1.0, 1.0, 1)?.to_dtype(DType::F32)?;
    let w = uniform_var(&[4, 3], -1.0, 1.0, 2)?;
    let w = Var::from_tensor(&w.as_tensor().to_dtype(DType::F32)?)?;
    let grads = probe_loss(&kernels::linear(&x, &w, None)?, 3)?.backward()?;
    assert!(grads.get(&x).is_none());
    assert_eq!(grads.get(&w).expect("dw").dims(), [4, 3]);
    let bad = Tensor::zeros((4, 2), DType::F32, &Device::Cpu)?;
    let err = kernels::linear(&x, &bad, None).unwrap_err().to_string();
    assert!(err.contains("[5, 3]") && err.contains("[4, 2]"), "{err}");
    Ok(())
}

/// The ReLU op gives candle's `relu` and its gradient bit for bit, zeros, negative zeros
/// and infinities included, in f32 and f64.
#[test]
fn relu_is_bit_identical_to_candles_relu() -> Result<()> {
    for dtype in [DType::F32, DType::F64] {
        let mut values: Vec<f64> = uniform(&[995], -2.0, 2.0, 900)?.to_vec1()?;
        values.extend([0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, 1e-30, -1e-30]);
        let n = values.len();
        let x = Var::from_tensor(
            &Tensor::from_vec(values, (n / 7, 7), &Device::Cpu)?.to_dtype(dtype)?,
        )?;
        let (ours, theirs) = (kernels::relu(&x)?, x.relu()?);
        assert_eq!(bits(&ours)?, bits(&theirs)?, "{dtype:?}");
        let (g1, g2) = (
            probe_loss(&ours, 901)?.backward()?,
            probe_loss(&theirs, 901)?.backward()?,
        );
        assert_eq!(
            bits(g1.get(&x).unwrap())?,
            bits(g2.get(&x).unwrap())?,
            "{dtype:?}"
        );
    }
    // Non-contiguous input: the op makes it contiguous first.
    let x = uniform(&[6, 5], -1.0, 1.0, 902)?.t()?;
    assert_eq!(bits(&kernels::relu(&x)?)?, bits(&x.relu()?)?);
    Ok(())
}

/// The GELU op gives the composition's bits `(x · 0.5) · (erf(x/√2) + 1)`, value and
/// gradient, f32 and f64: zeros, negative zeros, tiny, large and infinite inputs, the ViT's
/// hidden activations `[N, T, 4·D]` (large enough to be split over candle's threads); the
/// forward without gradient tracking; a second backward pass through the same graph (the
/// kept `erf` values serve one pass, the second computes them again).
#[test]
fn gelu_is_bit_identical_to_the_composition() -> Result<()> {
    let shapes: [&[usize]; 3] = [&[1003], &[2, 65, 256], &[3, 7]];
    for (i, shape) in shapes.iter().enumerate() {
        let n: usize = shape.iter().product();
        for dtype in [DType::F32, DType::F64] {
            let mut values: Vec<f64> = uniform(&[n], -6.0, 6.0, 1500 + i as u64)?.to_vec1()?;
            let special = [0.0, -0.0, 1e-30, -1e-30, 30.0, -30.0, f64::INFINITY, -1e10];
            for (v, s) in values.iter_mut().zip(special) {
                *v = s;
            }
            let x = Var::from_tensor(
                &Tensor::from_vec(values, *shape, &Device::Cpu)?.to_dtype(dtype)?,
            )?;
            let what = format!("{shape:?} {dtype:?}");
            let run = |ours: bool| {
                value_and_grads(
                    || {
                        Ok(if ours {
                            kernels::gelu(&x)?
                        } else {
                            composed::gelu_composed(&x)?
                        })
                    },
                    &[&x],
                    1510 + i as u64,
                )
            };
            let (ours, theirs) = (run(true)?, run(false)?);
            assert_eq!(ours.0, theirs.0, "output, {what}");
            assert_eq!(ours.1, theirs.1, "gradient, {what}");
            // Without tracking, and through a second backward pass.
            let plain = x.as_tensor().detach();
            assert_eq!(bits(&kernels::gelu(&plain)?)?, ours.0, "untracked, {what}");
            let loss = probe_loss(&kernels::gelu(&x)?, 1510 + i as u64)?;
            for pass in 0..2 {
                let g = loss.backward()?;
                assert_eq!(
                    bits(g.get(&x).unwrap())?,
                    theirs.1[0],
                    "pass {pass}, {what}"
                );
            }
        }
    }
    Ok(())
}

#[test]
fn gelu_gradients_match_finite_differences_f64() -> Result<()> {
    let x = uniform_var(&[4, 9], -4.0, 4.0, 1520)?;
    let report = check_gradients(&named(&[("x", &x)]), None, || {
        probe_loss(&kernels::gelu(&x)?, 1521)
    })?;
    println!("gelu: {report:?}");
    Ok(())
}

/// The attention-core op gives the composition's bits, value and `qkv` gradient, f32 and
/// f64: one token, one head, odd widths, the ViT's `[N, 65, 3·128]` with 4 heads; coarse
/// inputs (ties in the scores); a second backward pass.
#[test]
fn attention_core_is_bit_identical_to_the_composition() -> Result<()> {
    // (n, t, d, heads)
    let cases = [(2, 1, 4, 2), (3, 17, 12, 3), (2, 5, 8, 1), (2, 65, 128, 4)];
    for (i, &(n, t, d, heads)) in cases.iter().enumerate() {
        for dtype in [DType::F32, DType::F64] {
            for coarse in [false, true] {
                let seed = 1600 + 10 * i as u64;
                let mut values: Vec<f64> = uniform(&[n * t * 3 * d], -3.0, 3.0, seed)?.to_vec1()?;
                if coarse {
                    values
                        .iter_mut()
                        .for_each(|v| *v = (*v * 2.0).round() * 0.5);
                }
                let qkv = Var::from_tensor(
                    &Tensor::from_vec(values, (n, t, 3 * d), &Device::Cpu)?.to_dtype(dtype)?,
                )?;
                let run = |ours: bool| {
                    value_and_grads(
                        || {
                            Ok(if ours {
                                kernels::attention_core(&qkv, heads)?.expect("kernel applies")
                            } else {
                                composed::attention_core_composed(&qkv, heads)?
                            })
                        },
                        &[&qkv],
                        seed + 1,
                    )
                };
                let (ours, theirs) = (run(true)?, run(false)?);
                let what = format!("{:?} {dtype:?} coarse {coarse}", (n, t, d, heads));
                assert_eq!(ours.0, theirs.0, "output, {what}");
                assert_eq!(ours.1, theirs.1, "gradient, {what}");
                let out = kernels::attention_core(&qkv, heads)?.expect("kernel applies");
                let loss = probe_loss(&out, seed + 1)?;
                for pass in 0..2 {
                    let g = loss.backward()?;
                    assert_eq!(
                        bits(g.get(&qkv).unwrap())?,
                        theirs.1[0],
                        "pass {pass}, {what}"
                    );
                }
            }
        }
    }
    // Where the kernel does not apply, it says so.
    let x = uniform(&[2, 3, 12], -1.0, 1.0, 1690)?;
    assert!(
        kernels::attention_core(&x, 5)?.is_none(),
        "12 = 3·4 is not split by 5 heads"
    );
    assert!(
        kernels::attention_core(&x.transpose(0, 1)?, 2)?.is_none(),
        "non-contiguous"
    );
    Ok(())
}

#[test]
fn attention_core_gradients_match_finite_differences_f64() -> Result<()> {
    let qkv = uniform_var(&[2, 4, 12], -2.0, 2.0, 1700)?;
    let report = check_gradients(&named(&[("qkv", &qkv)]), None, || {
        probe_loss(
            &kernels::attention_core(&qkv, 2)?.expect("kernel applies"),
            1701,
        )
    })?;
    println!("attention core: {report:?}");
    Ok(())
}

/// The cross-entropy op gives `candle_nn::loss::cross_entropy`'s loss and logit gradient
/// bit for bit: batches of 1 to 300, 2 to 100 classes, ties for the largest logit, a
/// scaled loss (a gradient other than 1), f32 and f64.
#[test]
fn cross_entropy_is_bit_identical_to_candles() -> Result<()> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(950);
    for (b, c) in [(1, 2), (7, 10), (128, 10), (300, 10), (33, 100)] {
        for dtype in [DType::F32, DType::F64] {
            for (scale, coarse) in [(None, false), (Some(3.7), false), (None, true)] {
                // Coarse values (multiples of 1/2) make ties for the maximum common.
                let values: Vec<f64> = (0..b * c)
                    .map(|_| {
                        if coarse {
                            rng.random_range(-3..3) as f64 * 0.5
                        } else {
                            rng.random_range(-6.0..6.0)
                        }
                    })
                    .collect();
                let labels: Vec<u32> = (0..b).map(|_| rng.random_range(0..c as u32)).collect();
                let x = Var::from_tensor(
                    &Tensor::from_vec(values, (b, c), &Device::Cpu)?.to_dtype(dtype)?,
                )?;
                let y = Tensor::from_vec(labels, b, &Device::Cpu)?;
                let (ours, theirs) = (
                    kernels::cross_entropy(&x, &y)?,
                    candle_nn::loss::cross_entropy(&x, &y)?,
                );
                let what = format!("{b}x{c} {dtype:?} scale {scale:?} coarse {coarse}");
                assert_eq!(bits(&ours)?, bits(&theirs)?, "loss, {what}");
                let scaled = |l: Tensor| -> Result<Tensor> {
                    Ok(match scale {
                        Some(s) => l.affine(s, 0.0)?,
                        None => l,
                    })
                };
                let (g1, g2) = (scaled(ours)?.backward()?, scaled(theirs)?.backward()?);
                assert_eq!(
                    bits(g1.get(&x).unwrap())?,
                    bits(g2.get(&x).unwrap())?,
                    "gradient, {what}"
                );
            }
        }
    }
    let x = Tensor::zeros((2, 3), DType::F32, &Device::Cpu)?;
    let err = kernels::cross_entropy(&x, &Tensor::new(&[0u32, 3], &Device::Cpu)?)
        .unwrap_err()
        .to_string();
    assert!(err.contains("label 3 with 3 classes"), "{err}");
    Ok(())
}

/// The backward reads the softmax rows the forward kept: a second backward through the
/// same graph, and a loss scaled after the fact, give candle's gradient bits too.
#[test]
fn cross_entropy_backward_reuses_the_forward_rows() -> Result<()> {
    for dtype in [DType::F32, DType::F64] {
        let x = Var::from_tensor(&uniform(&[9, 4], -5.0, 5.0, 960)?.to_dtype(dtype)?)?;
        let y = Tensor::new(&[0u32, 3, 1, 1, 2, 0, 3, 2, 1], &Device::Cpu)?;
        let ours = kernels::cross_entropy(&x, &y)?;
        let theirs = candle_nn::loss::cross_entropy(&x, &y)?;
        let expected = bits(theirs.affine(0.25, 0.0)?.backward()?.get(&x).unwrap())?;
        let scaled = ours.affine(0.25, 0.0)?;
        for _ in 0..2 {
            let got = bits(scaled.backward()?.get(&x).unwrap())?;
            assert_eq!(got, expected, "{dtype:?}");
        }
    }
    Ok(())
}

/// `(value, gradients of each of `vars`)` of `probe_loss(f())`, as bits.
fn value_and_grads(
    f: impl Fn() -> Result<Tensor>,
    vars: &[&Var],
    seed: u64,
) -> Result<(Vec<u64>, Vec<Vec<u64>>)> {
    let ys = f()?;
    let grads = probe_loss(&ys, seed)?.backward()?;
    let g = vars
        .iter()
        .map(|v| bits(grads.get(v).expect("a gradient for every variable")))
        .collect::<Result<_>>()?;
    Ok((bits(&ys)?, g))
}

/// Layer norms: leading dimensions and features. One feature (zero variance: the output is
/// the bias), a single row, the ViT's `[N, T, D]` residual stream (the second large enough
/// for the kernels to split its rows over candle's threads), odd sizes.
const LAYER_NORM_SHAPES: [&[usize]; 6] = [
    &[4, 1],
    &[1, 6],
    &[3, 7],
    &[2, 65, 128],
    &[5, 65, 128],
    &[3, 5, 33],
];

/// The layer-norm ops give the composition's bits: output and the gradients of input,
/// weight and bias, f32 and f64, for the layer alone, for `x + norm(x)` (the pre-norm
/// residual, where `x`'s gradient adds three parts in candle's order) and for two norms in
/// a row.
#[test]
fn layer_norm_is_bit_identical_to_the_composition() -> Result<()> {
    for (i, shape) in LAYER_NORM_SHAPES.iter().enumerate() {
        let d = *shape.last().unwrap();
        for dtype in [DType::F32, DType::F64] {
            let seed = 1000 + 10 * i as u64;
            let var = |shape: &[usize], lo, hi, s| -> Result<Var> {
                Ok(Var::from_tensor(
                    &uniform(shape, lo, hi, s)?.to_dtype(dtype)?,
                )?)
            };
            let x = var(shape, -3.0, 3.0, seed)?;
            let w = var(&[d], 0.5, 1.5, seed + 1)?;
            let b = var(&[d], -0.5, 0.5, seed + 2)?;
            for (form, eps) in [("alone", 1e-6), ("residual", 1e-5), ("twice", 1e-6)] {
                let run = |ours: bool| {
                    let norm = |t: &Tensor| -> Result<Tensor> {
                        if ours {
                            Ok(kernels::layer_norm(t, &w, &b, eps)?.expect("kernel applies"))
                        } else {
                            Ok(composed::layer_norm_composed(t, &w, &b, eps)?)
                        }
                    };
                    value_and_grads(
                        || match form {
                            "alone" => norm(&x),
                            "residual" => Ok((x.as_tensor() + norm(&x)?)?),
                            _ => norm(&norm(&x)?),
                        },
                        &[&x, &w, &b],
                        seed + 3,
                    )
                };
                let (ours, theirs) = (run(true)?, run(false)?);
                let what = format!("{shape:?} {dtype:?} {form}");
                assert_eq!(ours.0, theirs.0, "output, {what}");
                for (k, name) in ["x", "weight", "bias"].iter().enumerate() {
                    assert_eq!(ours.1[k], theirs.1[k], "{name} gradient, {what}");
                }
            }
        }
    }
    Ok(())
}

#[test]
fn layer_norm_gradients_match_finite_differences_f64() -> Result<()> {
    for (i, shape) in [&[3usize, 7][..], &[2, 3, 5]].iter().enumerate() {
        let d = *shape.last().unwrap();
        let seed = 1100 + 10 * i as u64;
        let x = uniform_var(shape, -2.0, 2.0, seed)?;
        let w = uniform_var(&[d], 0.5, 1.5, seed + 1)?;
        let b = uniform_var(&[d], -0.5, 0.5, seed + 2)?;
        let report = check_gradients(&named(&[("x", &x), ("w", &w), ("b", &b)]), None, || {
            let ys = kernels::layer_norm(&x, &w, &b, 1e-5)?.expect("kernel applies");
            probe_loss(&(x.as_tensor() + ys)?, seed + 3)
        })?;
        println!("layer_norm {shape:?}: {report:?}");
    }
    Ok(())
}

/// Where the kernel does not apply (non-contiguous input, other shapes of weight or bias)
/// it says so, and the layer composes the same function.
#[test]
fn layer_norm_kernel_declines_what_it_does_not_cover() -> Result<()> {
    let x = uniform(&[4, 6], -1.0, 1.0, 1200)?.to_dtype(DType::F32)?;
    let (w, b) = (
        Tensor::ones(6, DType::F32, &Device::Cpu)?,
        Tensor::zeros(6, DType::F32, &Device::Cpu)?,
    );
    let t = x.t()?;
    assert!(kernels::layer_norm(&t, &w.narrow(0, 0, 4)?, &b.narrow(0, 0, 4)?, 1e-6)?.is_none());
    assert!(kernels::layer_norm(&x, &w.narrow(0, 0, 5)?, &b, 1e-6)?.is_none());
    assert!(kernels::layer_norm(&x, &w.to_dtype(DType::F64)?, &b, 1e-6)?.is_none());
    let ours = kernels::layer_norm(
        &t.contiguous()?,
        &w.narrow(0, 0, 4)?,
        &b.narrow(0, 0, 4)?,
        1e-6,
    )?
    .expect("kernel applies");
    let theirs = composed::layer_norm_composed(&t, &w.narrow(0, 0, 4)?, &b.narrow(0, 0, 4)?, 1e-6)?;
    assert_eq!(bits(&ours)?, bits(&theirs)?);
    Ok(())
}

/// The softmax op gives the composition's bits, value and gradient, f32 and f64: rows of
/// one, ties for the maximum, large logits, the ViT's attention weights `[N, heads, T, T]`
/// (large enough for the kernel to split its rows over candle's threads), alone and as
/// `x + softmax(x)` (two gradients into `x`).
#[test]
fn softmax_is_bit_identical_to_the_composition() -> Result<()> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1300);
    let shapes: [&[usize]; 5] = [&[5, 1], &[1, 2], &[7, 10], &[2, 4, 65, 65], &[3, 2, 17]];
    for (i, shape) in shapes.iter().enumerate() {
        let n: usize = shape.iter().product();
        for dtype in [DType::F32, DType::F64] {
            for coarse in [false, true] {
                let values: Vec<f64> = (0..n)
                    .map(|_| {
                        if coarse {
                            rng.random_range(-3..3) as f64 * 0.5
                        } else {
                            rng.random_range(-20.0..20.0)
                        }
                    })
                    .collect();
                let x = Var::from_tensor(
                    &Tensor::from_vec(values, *shape, &Device::Cpu)?.to_dtype(dtype)?,
                )?;
                for residual in [false, true] {
                    let run = |ours: bool| {
                        value_and_grads(
                            || {
                                let s = if ours {
                                    kernels::softmax_last_dim(&x)?.expect("kernel applies")
                                } else {
                                    composed::softmax_last_dim_composed(&x)?
                                };
                                Ok(if residual { (x.as_tensor() + s)? } else { s })
                            },
                            &[&x],
                            1310 + i as u64,
                        )
                    };
                    let (ours, theirs) = (run(true)?, run(false)?);
                    let what = format!("{shape:?} {dtype:?} coarse {coarse} residual {residual}");
                    assert_eq!(ours.0, theirs.0, "output, {what}");
                    assert_eq!(ours.1, theirs.1, "gradient, {what}");
                }
            }
        }
    }
    let t = uniform(&[3, 4], -1.0, 1.0, 1320)?.t()?;
    assert!(
        kernels::softmax_last_dim(&t)?.is_none(),
        "non-contiguous input"
    );
    Ok(())
}

#[test]
fn softmax_gradients_match_finite_differences_f64() -> Result<()> {
    let x = uniform_var(&[2, 3, 6], -3.0, 3.0, 1400)?;
    let report = check_gradients(&named(&[("x", &x)]), None, || {
        probe_loss(
            &kernels::softmax_last_dim(&x)?.expect("kernel applies"),
            1401,
        )
    })?;
    println!("softmax: {report:?}");
    Ok(())
}

/// A `[.., in]` input is rows × in without reshape nodes: the same output and the same
/// gradient bits as flattening it to `[rows, in]` and back (with `x` also used by a
/// residual, so its gradient adds up the same way), f32 and f64.
#[test]
fn linear_takes_leading_dimensions_as_rows() -> Result<()> {
    for dtype in [DType::F32, DType::F64] {
        let var = |shape: &[usize], seed| -> Result<Var> {
            Ok(Var::from_tensor(
                &uniform(shape, -1.0, 1.0, seed)?.to_dtype(dtype)?,
            )?)
        };
        let (x, w, b) = (
            var(&[2, 5, 7], 1700)?,
            var(&[7, 7], 1701)?,
            var(&[7], 1702)?,
        );
        let run = |flatten: bool| {
            value_and_grads(
                || {
                    let y = if flatten {
                        kernels::linear(&x.reshape((10, 7))?, &w, Some(&b))?.reshape((2, 5, 7))?
                    } else {
                        kernels::linear(&x, &w, Some(&b))?
                    };
                    Ok((x.as_tensor() + y)?)
                },
                &[&x, &w, &b],
                1703,
            )
        };
        assert_eq!(run(false)?, run(true)?, "{dtype:?}");
    }
    let x = Tensor::zeros((2, 3, 4), DType::F32, &Device::Cpu)?;
    let w = Tensor::zeros((5, 4), DType::F32, &Device::Cpu)?;
    assert_eq!(kernels::linear(&x, &w, None)?.dims(), &[2, 3, 5]);
    Ok(())
}
