//! Label smoothing in the cross-entropy ([`kernels::smoothed_cross_entropy`],
//! [`kernels::segmented_smoothed_cross_entropy`] and the composed fallback): at ε = 0 the
//! existing loss bit for bit; at ε > 0 PyTorch's `label_smoothing` values, gradients that
//! match finite differences, each segment the single op on its rows; a bad ε is an error.

mod common;

use anyhow::Result;
use candle_core::{DType, Device, Tensor, Var};
use common::{bits, check_gradients, labels, named, probe_loss, uniform, uniform_var};
use emc_kernels::{self as kernels, composed, Segments};

/// The logits and labels of the PyTorch reference below.
fn reference_batch(dtype: DType) -> Result<(Var, Tensor)> {
    let x = Tensor::new(
        &[
            [1.5f64, -0.25, 0.75, 2.0],
            [-1.0, 0.5, 0.5, -2.25],
            [0.0, 3.0, -1.5, 1.25],
        ],
        &Device::Cpu,
    )?
    .to_dtype(dtype)?;
    Ok((
        Var::from_tensor(&x)?,
        Tensor::new(&[3u32, 1, 2], &Device::Cpu)?,
    ))
}

/// `(ε, loss, logit gradient)` from PyTorch 2.15 (f64):
///
/// ```python
/// import torch
/// import torch.nn.functional as F
/// x = torch.tensor([[1.5, -0.25, 0.75, 2.0],
///                   [-1.0, 0.5, 0.5, -2.25],
///                   [0.0, 3.0, -1.5, 1.25]], dtype=torch.float64, requires_grad=True)
/// y = torch.tensor([3, 1, 2])
/// for eps in [0.1, 0.3]:
///     loss = F.cross_entropy(x, y, label_smoothing=eps)
///     (g,) = torch.autograd.grad(loss, x)
///     print(eps, repr(loss.item()), [repr(v) for v in g.flatten().tolist()])
/// ```
const PYTORCH: [(f64, f64, [f64; 12]); 2] = [
    (
        0.1,
        2.072644744714991,
        [
            0.09283428974658847,
            0.009246963478772944,
            0.03945486802993165,
            -0.14153612125529305,
            0.02418736327995444,
            -0.16258568276178145,
            0.13741431723821856,
            0.0009840022436085531,
            0.005108063431495268,
            0.2616443376858468,
            -0.30533415232057853,
            0.03858175120323655,
        ],
    ),
    (
        0.3,
        2.064311411381657,
        [
            0.0761676230799218,
            -0.007419703187893723,
            0.022788201363264975,
            -0.09153612125529302,
            0.007520696613287771,
            -0.11258568276178142,
            0.12074765057155189,
            -0.015682664423058112,
            -0.011558603235171399,
            0.24497767101918008,
            -0.2553341523205785,
            0.021915084536569877,
        ],
    ),
];

/// Largest `|a − b|` over two lists.
fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn values(t: &Tensor) -> Result<Vec<f64>> {
    Ok(t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?)
}

/// The smoothed loss and its logit gradient equal PyTorch's within 1e-14 in f64 and
/// 1e-6 in f32 (the op and the composed fallback alike).
#[test]
fn smoothed_cross_entropy_matches_pytorch() -> Result<()> {
    for (dtype, tol) in [(DType::F64, 1e-14), (DType::F32, 1e-6)] {
        for (eps, loss, grad) in PYTORCH {
            let (x, y) = reference_batch(dtype)?;
            let ours = kernels::smoothed_cross_entropy(&x, &y, eps)?;
            let composed = composed::smoothed_cross_entropy_composed(&x, &y, eps)?;
            for (what, l) in [("op", ours), ("composed", composed)] {
                let g = l.backward()?;
                let d_loss = (values(&l)?[0] - loss).abs();
                let d_grad = max_abs_diff(&values(g.get(&x).unwrap())?, &grad);
                assert!(
                    d_loss <= tol && d_grad <= tol,
                    "{what} {dtype:?} ε {eps}: loss off by {d_loss:e}, gradient by {d_grad:e}"
                );
            }
        }
    }
    Ok(())
}

/// At ε = 0 the smoothed op is `candle_nn::loss::cross_entropy` (and so `cross_entropy`)
/// bit for bit, loss and gradient, with ties for the largest logit and a gradient other
/// than 1; so are the composed fallback and the segmented op per segment.
#[test]
fn smoothing_zero_is_the_plain_loss_bit_for_bit() -> Result<()> {
    for (b, c) in [(1, 2), (7, 10), (130, 10), (33, 100)] {
        for dtype in [DType::F32, DType::F64] {
            for coarse in [false, true] {
                let mut v = uniform(&[b, c], -6.0, 6.0, (b * c) as u64)?;
                if coarse {
                    // Multiples of 1/2: ties for the largest logit.
                    v = ((v * 2.0)?.round()? / 2.0)?;
                }
                let x = Var::from_tensor(&v.to_dtype(dtype)?)?;
                let y = labels(b, c, 7)?;
                let what = format!("{b}x{c} {dtype:?} coarse {coarse}");
                let theirs = candle_nn::loss::cross_entropy(&x, &y)?;
                let want = bits(theirs.affine(2.5, 0.0)?.backward()?.get(&x).unwrap())?;
                for (name, l) in [
                    ("op", kernels::smoothed_cross_entropy(&x, &y, 0.0)?),
                    ("plain", kernels::cross_entropy(&x, &y)?),
                    (
                        "composed",
                        composed::smoothed_cross_entropy_composed(&x, &y, 0.0)?,
                    ),
                ] {
                    assert_eq!(bits(&l)?, bits(&theirs)?, "{name} loss, {what}");
                    let g = l.affine(2.5, 0.0)?.backward()?;
                    assert_eq!(bits(g.get(&x).unwrap())?, want, "{name} gradient, {what}");
                }
                let seg = Segments::new([(0, b)]);
                let l = kernels::segmented_smoothed_cross_entropy(&x, &y, &seg, 0.0)?;
                assert_eq!(bits(&l)?, bits(&theirs)?, "segmented loss, {what}");
                let g = l.sum_all()?.affine(2.5, 0.0)?.backward()?;
                assert_eq!(
                    bits(g.get(&x).unwrap())?,
                    want,
                    "segmented gradient, {what}"
                );
            }
        }
    }
    Ok(())
}

/// The smoothed op's gradient matches central differences in f64, at several ε and with
/// a gradient other than 1 (the checker's random weight); the composed fallback's too, and
/// the two agree on the value.
#[test]
fn smoothed_cross_entropy_gradients_match_finite_differences_f64() -> Result<()> {
    for (k, eps) in [0.05, 0.1, 0.5, 1.0].into_iter().enumerate() {
        let x = uniform_var(&[6, 5], -3.0, 3.0, 90 + k as u64)?;
        let y = labels(6, 5, 100 + k as u64)?;
        let report = check_gradients(&named(&[("logits", &x)]), None, || {
            probe_loss(&kernels::smoothed_cross_entropy(&x, &y, eps)?, 110)
        })?;
        assert_eq!(report.checked, 30);
        println!("smoothed_cross_entropy ε {eps}: {report:?}");
        check_gradients(&named(&[("logits", &x)]), None, || {
            probe_loss(
                &composed::smoothed_cross_entropy_composed(&x, &y, eps)?,
                110,
            )
        })?;
        let ours = values(&kernels::smoothed_cross_entropy(&x, &y, eps)?)?;
        let theirs = values(&composed::smoothed_cross_entropy_composed(&x, &y, eps)?)?;
        assert!(max_abs_diff(&ours, &theirs) < 1e-13, "{ours:?} {theirs:?}");
    }
    Ok(())
}

#[test]
fn segmented_smoothed_cross_entropy_gradients_match_finite_differences_f64() -> Result<()> {
    let segments = Segments::new([(0, 3), (1, 0), (2, 5), (0, 1)]);
    let x = uniform_var(&[segments.total_rows(), 4], -2.0, 2.0, 120)?;
    let ys = labels(segments.total_rows(), 4, 121)?;
    let report = check_gradients(&named(&[("logits", &x)]), None, || {
        probe_loss(
            &kernels::segmented_smoothed_cross_entropy(&x, &ys, &segments, 0.2)?,
            122,
        )
    })?;
    assert_eq!(report.checked, 36);
    println!("segmented_smoothed_cross_entropy: {report:?}");
    Ok(())
}

/// Each segment's smoothed loss and logit-gradient rows are the single smoothed op's on its
/// rows (bits), for upstream gradients other than 1, in f32 and f64; an empty segment has
/// loss 0.
#[test]
fn segmented_smoothed_cross_entropy_is_the_single_op_per_segment() -> Result<()> {
    let segments = Segments::new([(0, 4), (1, 0), (2, 9), (0, 1), (1, 13)]);
    let rows = segments.total_rows();
    let weights = [0.5, -3.0, 1.7, 2.0, 1.0];
    let (c, eps) = (6, 0.15);
    for dtype in [DType::F32, DType::F64] {
        let x = Var::from_tensor(&uniform(&[rows, c], -2.0, 2.0, 130)?.to_dtype(dtype)?)?;
        let ys = labels(rows, c, 131)?;
        let losses = kernels::segmented_smoothed_cross_entropy(&x, &ys, &segments, eps)?;
        let w = Tensor::new(&weights, &Device::Cpu)?.to_dtype(dtype)?;
        let grads = (&losses * &w)?.sum_all()?.backward()?;
        let dx = grads.get(&x).unwrap();
        for (s, (_, range)) in segments.ranges().enumerate() {
            let (start, n) = (range.start, range.len());
            if n == 0 {
                assert_eq!(bits(&losses.get(s)?)?, [0]);
                continue;
            }
            let xs = Var::from_tensor(&x.as_tensor().narrow(0, start, n)?)?;
            let alone = kernels::smoothed_cross_entropy(&xs, &ys.narrow(0, start, n)?, eps)?;
            assert_eq!(bits(&losses.get(s)?)?, bits(&alone)?, "{dtype:?}: loss {s}");
            let g = alone.affine(weights[s], 0.0)?.backward()?;
            assert_eq!(
                bits(&dx.narrow(0, start, n)?)?,
                bits(g.get(&xs).unwrap())?,
                "{dtype:?}: dx {s}"
            );
        }
    }
    Ok(())
}

#[test]
fn smoothing_outside_zero_to_one_is_an_error() -> Result<()> {
    let (x, y) = reference_batch(DType::F32)?;
    let seg = Segments::new([(0, 3)]);
    for eps in [-0.1, 1.5, f64::NAN, f64::INFINITY] {
        let e = kernels::smoothed_cross_entropy(&x, &y, eps)
            .unwrap_err()
            .to_string();
        assert!(e.contains("label smoothing") && e.contains("[0, 1]"), "{e}");
        let e = kernels::segmented_smoothed_cross_entropy(&x, &y, &seg, eps)
            .unwrap_err()
            .to_string();
        assert!(e.contains("label smoothing") && e.contains("[0, 1]"), "{e}");
    }
    Ok(())
}
