//! The packed-batch kernels ([`kernels::segmented_linear`], [`kernels::segmented_conv2d`],
//! [`kernels::segmented_cross_entropy`], [`kernels::member_square_sums`]) and their
//! [`Segments`] layout: each segment's output and gradients are the bits of the single-model
//! op on its rows with its member's slices, the gradients match finite differences, and bad
//! inputs are errors.

mod common;

use anyhow::Result;
use candle_core::{DType, Device, Tensor, Var};
use common::{bits, check_gradients, labels, named, probe_loss, uniform, uniform_var};
use emc_kernels::{self as kernels, Segments};

/// A seeded `U(-2, 2)` tensor of `dtype`.
fn random(shape: &[usize], seed: u64, dtype: DType) -> Result<Tensor> {
    Ok(uniform(shape, -2.0, 2.0, seed)?.to_dtype(dtype)?)
}

/// Stacked weights `[K, out, in]` and biases `[K, out]` for `K` members.
fn stacked_linear(
    k: usize,
    (din, dout): (usize, usize),
    seed: u64,
    dtype: DType,
) -> Result<(Var, Var)> {
    Ok((
        Var::from_tensor(&random(&[k, dout, din], seed, dtype)?)?,
        Var::from_tensor(&random(&[k, dout], seed + 1, dtype)?)?,
    ))
}

/// A stacked op's single-model form: `(x, weight, bias)` → output.
type Op<'a> = &'a dyn Fn(&Tensor, &Tensor, Option<&Tensor>) -> candle_core::Result<Tensor>;

/// Checks that `stacked` on the packed batch `x` with stacked weights `w` and biases `b`
/// is `alone` on each segment's rows with its member's slices: output and input gradient
/// rows bit for bit, weight and bias gradients bit for bit for a member with one segment,
/// the in-order sum of the single op's for a member with several, and zero for a member
/// with none.
fn same_as_alone_per_segment(
    segments: &Segments,
    (x, w, b): (&Var, &Var, &Var),
    with_bias: bool,
    (stacked, alone): (Op, Op),
    what: &str,
) -> Result<()> {
    let bias = with_bias.then_some(b.as_tensor());
    let ys = stacked(x, w, bias)?;
    let grads = probe_loss(&ys, 42)?.backward()?;
    let probe = uniform(ys.dims(), -1.0, 1.0, 42)?.to_dtype(ys.dtype())?;
    let (dx, dw) = (grads.get(x).unwrap(), grads.get(w).unwrap());
    let members = w.dim(0)?;
    let mut solo_dw: Vec<Option<Tensor>> = vec![None; members];
    let mut solo_db: Vec<Option<Tensor>> = vec![None; members];
    for (m, range) in segments.ranges() {
        let (start, n) = (range.start, range.len());
        // The member's slices as variables of their own, and the segment's rows.
        let wm = Var::from_tensor(&w.as_tensor().get(m)?)?;
        let bm = Var::from_tensor(&b.as_tensor().get(m)?)?;
        let xm = Var::from_tensor(&x.as_tensor().narrow(0, start, n)?)?;
        if n == 0 {
            continue;
        }
        let single = alone(&xm, &wm, with_bias.then_some(bm.as_tensor()))?;
        assert_eq!(bits(&ys.narrow(0, start, n)?)?, bits(&single)?, "{what}");
        let r = probe.narrow(0, start, n)?;
        let g = (single * r)?.sum_all()?.backward()?;
        let rows_dx = dx.narrow(0, start, n)?;
        assert_eq!(bits(&rows_dx)?, bits(g.get(&xm).unwrap())?, "{what}: dx");
        let add = |acc: &mut Option<Tensor>, t: &Tensor| -> Result<()> {
            *acc = Some(match acc.take() {
                Some(a) => (a + t)?,
                None => t.clone(),
            });
            Ok(())
        };
        add(&mut solo_dw[m], g.get(&wm).unwrap())?;
        if with_bias {
            add(&mut solo_db[m], g.get(&bm).unwrap())?;
        }
    }
    for m in 0..members {
        let ours = dw.get(m)?;
        match &solo_dw[m] {
            Some(t) => assert_eq!(bits(&ours)?, bits(t)?, "{what}: dw of {m}"),
            None => assert!(bits(&ours)?.iter().all(|&v| v == 0), "{what}: idle"),
        }
        if with_bias {
            let ours = grads.get(b).unwrap().get(m)?;
            match &solo_db[m] {
                Some(t) => assert_eq!(bits(&ours)?, bits(t)?, "{what}: db of {m}"),
                None => assert!(bits(&ours)?.iter().all(|&v| v == 0), "{what}"),
            }
        } else {
            assert!(grads.get(b).is_none());
        }
    }
    Ok(())
}

/// Each segment of the segmented linear op is `kernels::linear` on its rows with its
/// member's slices (see [`same_as_alone_per_segment`]).
#[test]
fn segmented_linear_is_the_linear_op_per_segment() -> Result<()> {
    let segments = Segments::new([(2, 6), (0, 1), (2, 3), (1, 9), (3, 0)]);
    let rows = segments.total_rows();
    for dtype in [DType::F32, DType::F64] {
        for with_bias in [true, false] {
            let what = format!("{dtype:?} bias {with_bias}");
            let (din, dout) = (7, 5);
            let x = Var::from_tensor(&random(&[rows, din], 40, dtype)?)?;
            let (w, b) = stacked_linear(4, (din, dout), 41, dtype)?;
            same_as_alone_per_segment(
                &segments,
                (&x, &w, &b),
                with_bias,
                (
                    &|x, w, b| kernels::segmented_linear(x, w, b, &segments),
                    &|x, w, b| kernels::linear(x, w, b),
                ),
                &what,
            )?;
        }
    }
    Ok(())
}

/// Each segment of the segmented convolution is `kernels::conv2d` on its images with its
/// member's slices (see [`same_as_alone_per_segment`]): small images (one chunk per
/// segment), and images large enough that a segment spans several chunks of the single
/// op, whose weight gradient adds the chunks up in order; strides 1 and 2.
#[test]
fn segmented_conv2d_is_the_conv2d_op_per_segment() -> Result<()> {
    let segments = Segments::new([(2, 7), (0, 1), (2, 3), (1, 9), (3, 0)]);
    let rows = segments.total_rows();
    // (c, h, w), out channels, stride, padding
    let cases = [
        ((2, 6, 5), 3, 1, 1),
        ((8, 24, 24), 6, 1, 1),
        ((3, 9, 8), 4, 2, 0),
    ];
    for dtype in [DType::F32, DType::F64] {
        for (ci, &((c, h, wd), o, stride, padding)) in cases.iter().enumerate() {
            for with_bias in [true, false] {
                let what = format!("{dtype:?} case {ci} bias {with_bias}");
                let seed = 50 + 10 * ci as u64;
                let x = Var::from_tensor(&random(&[rows, c, h, wd], seed, dtype)?)?;
                let w = Var::from_tensor(&random(&[4, o, c, 3, 3], seed + 1, dtype)?)?;
                let b = Var::from_tensor(&random(&[4, o], seed + 2, dtype)?)?;
                same_as_alone_per_segment(
                    &segments,
                    (&x, &w, &b),
                    with_bias,
                    (
                        &|x, w, b| kernels::segmented_conv2d(x, w, b, stride, padding, &segments),
                        &|x, w, b| kernels::conv2d(x, w, b, stride, padding),
                    ),
                    &what,
                )?;
            }
        }
    }
    Ok(())
}

/// Each segment's loss and logit-gradient rows are `kernels::cross_entropy`'s on its rows,
/// for upstream gradients other than 1, with ties for the maximum, in f32 and f64; a
/// segment with no rows has loss 0.
#[test]
fn segmented_cross_entropy_is_cross_entropy_per_segment() -> Result<()> {
    let segments = Segments::new([(0, 4), (1, 0), (2, 9), (0, 1), (1, 13)]);
    let rows = segments.total_rows();
    let weights = [0.5, -3.0, 1.7, 2.0, 1.0];
    let c = 6;
    for dtype in [DType::F32, DType::F64] {
        for coarse in [false, true] {
            let what = format!("{dtype:?} coarse {coarse}");
            let mut values = random(&[rows, c], 60, dtype)?;
            if coarse {
                // Multiples of 1/2: ties for the largest logit.
                values = ((values * 2.0)?.round()? / 2.0)?;
            }
            let x = Var::from_tensor(&values)?;
            let ys = labels(rows, c, 61)?;
            let losses = kernels::segmented_cross_entropy(&x, &ys, &segments)?;
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
                let alone = kernels::cross_entropy(&xs, &ys.narrow(0, start, n)?)?;
                assert_eq!(bits(&losses.get(s)?)?, bits(&alone)?, "{what}: loss {s}");
                let g = alone.affine(weights[s], 0.0)?.backward()?;
                let rows_dx = dx.narrow(0, start, n)?;
                assert_eq!(
                    bits(&rows_dx)?,
                    bits(g.get(&xs).unwrap())?,
                    "{what}: dx {s}"
                );
            }
        }
    }
    Ok(())
}

#[test]
fn segmented_linear_gradients_match_finite_differences_f64() -> Result<()> {
    let segments = Segments::new([(1, 3), (0, 2), (2, 0), (1, 2)]);
    let (din, dout) = (4, 3);
    let x = uniform_var(&[segments.total_rows(), din], -1.0, 1.0, 70)?;
    let w = uniform_var(&[3, dout, din], -1.0, 1.0, 71)?;
    let b = uniform_var(&[3, dout], -1.0, 1.0, 72)?;
    let report = check_gradients(&named(&[("x", &x), ("w", &w), ("b", &b)]), None, || {
        probe_loss(&kernels::segmented_linear(&x, &w, Some(&b), &segments)?, 73)
    })?;
    println!("segmented_linear: {report:?}");
    Ok(())
}

#[test]
fn segmented_conv2d_gradients_match_finite_differences_f64() -> Result<()> {
    let segments = Segments::new([(1, 2), (0, 1), (2, 0), (1, 1)]);
    let x = uniform_var(&[segments.total_rows(), 2, 5, 4], -1.0, 1.0, 74)?;
    let w = uniform_var(&[3, 3, 2, 3, 3], -1.0, 1.0, 75)?;
    let b = uniform_var(&[3, 3], -1.0, 1.0, 76)?;
    let report = check_gradients(&named(&[("x", &x), ("w", &w), ("b", &b)]), None, || {
        probe_loss(
            &kernels::segmented_conv2d(&x, &w, Some(&b), 1, 1, &segments)?,
            77,
        )
    })?;
    println!("segmented_conv2d: {report:?}");
    Ok(())
}

#[test]
fn segmented_cross_entropy_gradients_match_finite_differences_f64() -> Result<()> {
    let segments = Segments::new([(0, 3), (1, 0), (2, 5), (0, 1)]);
    let x = uniform_var(&[segments.total_rows(), 4], -2.0, 2.0, 80)?;
    let ys = labels(segments.total_rows(), 4, 81)?;
    let report = check_gradients(&named(&[("logits", &x)]), None, || {
        probe_loss(&kernels::segmented_cross_entropy(&x, &ys, &segments)?, 82)
    })?;
    println!("segmented_cross_entropy: {report:?}");
    Ok(())
}

#[test]
fn kernels_reject_bad_inputs_with_clear_errors() -> Result<()> {
    let dev = Device::Cpu;
    let (w, b) = stacked_linear(2, (3, 4), 1, DType::F32)?;
    let x = random(&[5, 3], 2, DType::F32)?;
    let msg = |r: candle_core::Result<Tensor>| r.unwrap_err().to_string();
    let seg = Segments::new([(0, 2), (1, 3)]);
    assert!(kernels::segmented_linear(&x, &w, Some(&b), &seg).is_ok());
    let e = msg(kernels::segmented_linear(
        &x,
        &w,
        Some(&b),
        &Segments::new([(0, 2), (1, 2)]),
    ));
    assert!(e.contains("segments hold 4 rows, the batch 5"), "{e}");
    let e = msg(kernels::segmented_linear(
        &x,
        &w,
        None,
        &Segments::new([(0, 2), (2, 3)]),
    ));
    assert!(e.contains("member 2, but there are 2 members"), "{e}");
    let e = msg(kernels::segmented_linear(&x, &w.get(0)?, None, &seg));
    assert!(e.contains("weight [4, 3]"), "{e}");
    let e = msg(kernels::segmented_linear(&x, &w, Some(&b.get(0)?), &seg));
    assert!(e.contains("bias [4]"), "{e}");
    let e = msg(kernels::segmented_linear(
        &x.to_dtype(DType::F16)?,
        &w.to_dtype(DType::F16)?,
        None,
        &seg,
    ));
    assert!(e.contains("f32 and f64") && e.contains("F16"), "{e}");
    let e = msg(kernels::segmented_linear(
        &x.to_dtype(DType::F64)?,
        &w,
        None,
        &seg,
    ));
    assert!(e.contains("weight is F32"), "{e}");

    let images = random(&[5, 2, 4, 4], 4, DType::F32)?;
    let cw = random(&[2, 3, 2, 3, 3], 5, DType::F32)?;
    let cb = random(&[2, 3], 6, DType::F32)?;
    let conv = |x: &Tensor, w: &Tensor, b: Option<&Tensor>, seg: &Segments| {
        kernels::segmented_conv2d(x, w, b, 1, 1, seg)
    };
    assert_eq!(conv(&images, &cw, Some(&cb), &seg)?.dims(), [5, 3, 4, 4]);
    let e = msg(conv(&images, &cw, Some(&cb), &Segments::new([(0, 6)])));
    assert!(e.contains("segments hold 6 rows, the batch 5"), "{e}");
    let e = msg(conv(&images, &cw, None, &Segments::new([(0, 2), (2, 3)])));
    assert!(e.contains("member 2, but there are 2 members"), "{e}");
    let e = msg(conv(&images, &cw.get(0)?, None, &seg));
    assert!(e.contains("[members, O, C, kh, kw]"), "{e}");
    let e = msg(conv(&images.flatten_from(1)?, &cw, None, &seg));
    assert!(e.contains("[rows, C, H, W]"), "{e}");
    let e = msg(conv(&images.narrow(1, 0, 1)?, &cw, None, &seg));
    assert!(
        e.contains("input has 1 channels, the weight expects 2"),
        "{e}"
    );
    let e = msg(conv(&images, &cw, Some(&cb.get(0)?), &seg));
    assert!(
        e.contains("bias [3]") && e.contains("expected [2, 3]"),
        "{e}"
    );
    let e = msg(conv(&images.to_dtype(DType::F64)?, &cw, None, &seg));
    assert!(e.contains("weight is F32"), "{e}");
    let e = msg(kernels::segmented_conv2d(&images, &cw, None, 0, 1, &seg));
    assert!(e.contains("positive stride"), "{e}");

    let logits = random(&[5, 4], 3, DType::F32)?;
    let ys = Tensor::new(&[0u32, 1, 2, 3, 0], &dev)?;
    let e = msg(kernels::segmented_cross_entropy(
        &logits,
        &ys,
        &Segments::new([(0, 6)]),
    ));
    assert!(e.contains("segments hold 6 rows, the batch 5"), "{e}");
    let e = msg(kernels::segmented_cross_entropy(
        &logits,
        &Tensor::new(&[0u32, 1, 2, 4, 0], &dev)?,
        &seg,
    ));
    assert!(e.contains("label 4 with 4 classes"), "{e}");
    let e = msg(kernels::segmented_cross_entropy(
        &logits,
        &ys.to_dtype(DType::I64)?,
        &seg,
    ));
    assert!(e.contains("labels must be u32"), "{e}");
    let e = msg(kernels::segmented_cross_entropy(
        &logits,
        &ys.narrow(0, 0, 4)?,
        &seg,
    ));
    assert!(e.contains("labels [4] for 5 rows"), "{e}");

    let e = msg(kernels::member_square_sums(&Tensor::new(1f32, &dev)?));
    assert!(e.contains("scalar"), "{e}");
    let e = msg(kernels::member_square_sums(&Tensor::new(&[1u32, 2], &dev)?));
    assert!(e.contains("f32 and f64"), "{e}");
    // Rank 1 (one scalar per member) and empty members.
    let g = Tensor::new(&[3f32, -2.0], &dev)?;
    assert_eq!(
        kernels::member_square_sums(&g)?.to_vec1::<f32>()?,
        [9.0, 4.0]
    );
    let empty = Tensor::zeros((3, 0), DType::F32, &dev)?;
    assert_eq!(
        kernels::member_square_sums(&empty)?.to_vec1::<f32>()?,
        [0.0; 3]
    );
    Ok(())
}

#[test]
fn segments_describe_the_packed_rows() {
    let s = Segments::new(vec![(2, 3), (0, 0), (2, 1)]);
    assert_eq!(s.len(), 3);
    assert!(!s.is_empty());
    assert_eq!(s.total_rows(), 4);
    assert_eq!(s.as_slice(), [(2, 3), (0, 0), (2, 1)]);
    assert_eq!(s.iter().map(|p| p.1).sum::<usize>(), 4);
    let ranges: Vec<_> = s.ranges().collect();
    assert_eq!(ranges, [(2, 0..3), (0, 3..3), (2, 3..4)]);
    let p = Segments::per_member(&[2, 0, 5]);
    assert_eq!(p.as_slice(), [(0, 2), (1, 0), (2, 5)]);
    assert!(Segments::new([]).is_empty());
}
