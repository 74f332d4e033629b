//! Stacked models and the packed-batch kernels: every member's logits, losses and
//! gradients are the bits of its own model on its own rows ([`Stacked`],
//! [`kernels::segmented_linear`], [`kernels::segmented_cross_entropy`],
//! [`kernels::member_square_sums`]), the gradients match finite differences, and bad
//! inputs are errors.

mod common;

use anyhow::Result;
use candle_core::{DType, Device, Tensor, Var};
use common::{check_gradients, named, probe_loss, uniform, uniform_var};
use emc_models::{kernels, Built, InputShape, ModelSpec, Segments, Stacked};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const INPUT: InputShape = InputShape {
    channels: 1,
    height: 3,
    width: 4,
};
const CLASSES: usize = 5;

/// The bits of a tensor, as `f64` (exact for `f32`, signs of zeros included).
fn bits(t: &Tensor) -> Result<Vec<u64>> {
    Ok(t.to_dtype(DType::F64)?
        .flatten_all()?
        .to_vec1::<f64>()?
        .iter()
        .map(|v| v.to_bits())
        .collect())
}

/// A seeded `U(-2, 2)` tensor of `dtype`.
fn random(shape: &[usize], seed: u64, dtype: DType) -> Result<Tensor> {
    Ok(uniform(shape, -2.0, 2.0, seed)?.to_dtype(dtype)?)
}

/// `n` seeded labels below `classes`.
fn labels(n: usize, classes: usize, seed: u64) -> Result<Tensor> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let ys: Vec<u32> = (0..n)
        .map(|_| rng.random_range(0..classes as u32))
        .collect();
    Ok(Tensor::from_vec(ys, n, &Device::Cpu)?)
}

fn build(spec: &ModelSpec, seeds: &[u64], dtype: DType) -> Result<Vec<Built>> {
    seeds
        .iter()
        .map(|&s| Ok(spec.build(INPUT, CLASSES, s, dtype, &Device::Cpu)?))
        .collect()
}

/// A training step's packed batch: one segment per member, of different sizes, member 3
/// idle (no rows), members out of order.
fn training_segments() -> Segments {
    Segments::new([(1, 5), (0, 7), (3, 0), (2, 3)])
}

/// Logits, per-segment losses and gradients of a stack, each member against its own model
/// on its own rows, bit for bit; and the members' gradient square sums against candle's.
#[test]
fn stacked_members_are_bit_identical_to_training_alone() -> Result<()> {
    let specs = [
        "mlp:16x8:relu",
        "mlp:8:tanh",
        "linear",
        "mlp:8:relu:nobias",
        "cnn:3,4:relu:pool=last:flatten",
        "cnn:2,3:tanh:pool=none",
    ];
    for (si, text) in specs.iter().enumerate() {
        for dtype in [DType::F32, DType::F64] {
            let what = format!("{text} {dtype:?}");
            let spec: ModelSpec = text.parse()?;
            let members = build(&spec, &[11, 12, 13, 14], dtype)?;
            let refs: Vec<&Built> = members.iter().collect();
            let stacked = Stacked::new(&spec, INPUT, &refs)?.expect("mlp/linear/cnn stack");
            assert_eq!(stacked.len(), 4);
            let segments = training_segments();
            let rows = segments.total_rows();
            let seed = 100 * si as u64;
            // Images [R, 1, 3, 4]: the stack flattens them like the models do.
            let xs = random(&[rows, 1, 3, 4], seed, dtype)?;
            let ys = labels(rows, CLASSES, seed + 1)?;
            let logits = stacked.forward(&xs, &segments)?;
            assert_eq!(logits.dims(), [rows, CLASSES]);
            let losses = kernels::segmented_cross_entropy(&logits, &ys, &segments)?;
            assert_eq!(losses.dims(), [segments.len()]);
            let grads = losses.sum_all()?.backward()?;
            let names: Vec<String> = members[0]
                .named_trainable()
                .into_iter()
                .map(|(n, _)| n)
                .collect();
            assert_eq!(stacked.vars().len(), names.len(), "{what}");

            for (s, (m, range)) in segments.ranges().enumerate() {
                let loss = losses.get(s)?;
                if range.is_empty() {
                    assert_eq!(loss.to_dtype(DType::F64)?.to_scalar::<f64>()?, 0.0);
                    for var in stacked.vars() {
                        let g = grads.get(var).expect("gradient").get(m)?;
                        assert!(bits(&g)?.iter().all(|&b| b == 0), "{what}: idle member");
                    }
                    continue;
                }
                let (x, y) = (
                    xs.narrow(0, range.start, range.len())?,
                    ys.narrow(0, range.start, range.len())?,
                );
                let alone = members[m].model.forward(&x, true)?;
                let packed = logits.narrow(0, range.start, range.len())?;
                assert_eq!(
                    bits(&packed)?,
                    bits(&alone)?,
                    "{what}: logits of member {m}"
                );
                let alone_loss = kernels::cross_entropy(&alone, &y)?;
                assert_eq!(bits(&loss)?, bits(&alone_loss)?, "{what}: loss of {m}");
                let alone_grads = alone_loss.backward()?;
                for ((name, var), stacked_var) in
                    members[m].named_trainable().iter().zip(stacked.vars())
                {
                    let solo = alone_grads.get(var).expect("solo gradient");
                    let ours = grads.get(stacked_var).expect("stacked gradient").get(m)?;
                    assert_eq!(bits(&ours)?, bits(solo)?, "{what}: d{name} of member {m}");
                }
            }

            // (d) each member's squared gradient norm, per variable, as candle sums it.
            for var in stacked.vars() {
                let g = grads.get(var).expect("gradient");
                let sums = kernels::member_square_sums(g)?;
                assert_eq!(sums.dims(), [4]);
                assert_eq!(sums.dtype(), dtype);
                for k in 0..4 {
                    let candle = g.get(k)?.sqr()?.sum_all()?;
                    assert_eq!(bits(&sums.get(k)?)?, bits(&candle)?, "{what}: sums {k}");
                }
            }
        }
    }
    Ok(())
}

/// Evaluation-style segments (a member in several chunks, the others interleaved) give
/// each chunk its member's logits.
#[test]
fn a_member_in_several_segments_gets_its_own_logits_in_each() -> Result<()> {
    let spec: ModelSpec = "mlp:16x8:relu".parse()?;
    let members = build(&spec, &[1, 2], DType::F32)?;
    let stacked = Stacked::new(&spec, INPUT, &members.iter().collect::<Vec<_>>())?.unwrap();
    let segments = Segments::new([(0, 4), (1, 3), (0, 2), (1, 0), (0, 1)]);
    let xs = random(&[segments.total_rows(), INPUT.numel()], 5, DType::F32)?;
    let logits = stacked.forward(&xs, &segments)?;
    for (m, range) in segments.ranges() {
        let alone = members[m]
            .model
            .forward(&xs.narrow(0, range.start, range.len())?, false)?;
        let packed = logits.narrow(0, range.start, range.len())?;
        assert_eq!(bits(&packed)?, bits(&alone)?, "member {m} rows {range:?}");
    }
    Ok(())
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

/// `write_member` puts a member's slice of every stacked variable into its own model,
/// which then computes the stack's logits for it; the other members are untouched.
#[test]
fn write_member_round_trip() -> Result<()> {
    let spec: ModelSpec = "mlp:16x8:relu".parse()?;
    let members = build(&spec, &[3, 4, 5], DType::F32)?;
    let refs: Vec<&Built> = members.iter().collect();
    let stacked = Stacked::new(&spec, INPUT, &refs)?.unwrap();
    let before: Vec<Vec<Vec<u64>>> = members
        .iter()
        .map(|m| m.trainable.iter().map(|v| bits(v.as_tensor())).collect())
        .collect::<Result<_>>()?;
    // "Train": change every stacked value.
    for var in stacked.vars() {
        var.set(&((var.as_tensor() * 1.5)? - 0.25)?)?;
    }
    stacked.write_member(1, &members[1])?;
    for (k, member) in members.iter().enumerate() {
        for (i, var) in member.trainable.iter().enumerate() {
            if k == 1 {
                let slice = stacked.vars()[i].as_tensor().get(1)?;
                assert_eq!(bits(var.as_tensor())?, bits(&slice)?);
                assert_ne!(bits(var.as_tensor())?, before[k][i]);
            } else {
                assert_eq!(bits(var.as_tensor())?, before[k][i], "member {k} changed");
            }
        }
    }
    let segments = Segments::new([(1, 6)]);
    let xs = random(&[6, INPUT.numel()], 90, DType::F32)?;
    let packed = stacked.forward(&xs, &segments)?;
    let alone = members[1].model.forward(&xs, false)?;
    assert_eq!(bits(&packed)?, bits(&alone)?);
    let err = stacked
        .write_member(3, &members[0])
        .unwrap_err()
        .to_string();
    assert!(err.contains("member 3 of a stack of 3"), "{err}");
    // A model of another shape cannot take a member's values.
    let other: ModelSpec = "mlp:16x9:relu".parse()?;
    let other = other.build(INPUT, CLASSES, 0, DType::F32, &Device::Cpu)?;
    assert!(stacked.write_member(0, &other).is_err());
    Ok(())
}

#[test]
fn only_mlp_linear_and_plain_cnn_stack_and_members_must_match() -> Result<()> {
    let input = InputShape::new(1, 8, 8);
    // Batch norm mixes the rows of a batch; ViTs and ResNets have no stacked kernels.
    for text in [
        "cnn:4,8:bn",
        "vit:patch4,d8,depth1,heads2,mlp16",
        "resnet18:k=2",
    ] {
        let spec: ModelSpec = text.parse()?;
        let a = spec.build(input, CLASSES, 0, DType::F32, &Device::Cpu)?;
        assert!(!Stacked::supports(&spec), "{text}");
        assert!(Stacked::new(&spec, input, &[&a])?.is_none(), "{text}");
    }
    let cnn: ModelSpec = "cnn:4,8".parse()?;
    assert!(Stacked::supports(&cnn));
    let a = cnn.build(input, CLASSES, 0, DType::F32, &Device::Cpu)?;
    assert_eq!(Stacked::new(&cnn, input, &[&a])?.map(|s| s.len()), Some(1));
    // A CNN of other widths, or built for another input, is not a member.
    let narrow: ModelSpec = "cnn:4,7".parse()?;
    let b = narrow.build(input, CLASSES, 0, DType::F32, &Device::Cpu)?;
    let e = match Stacked::new(&cnn, input, &[&b]) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("stacked a CNN of other widths"),
    };
    assert!(e.contains("blocks.1.conv.weight [7, 4, 3, 3]"), "{e}");
    // With a flattening head the classifier's width depends on the input.
    let flat: ModelSpec = "cnn:4,8:flatten".parse()?;
    let a = flat.build(input, CLASSES, 0, DType::F32, &Device::Cpu)?;
    let e = match Stacked::new(&flat, InputShape::new(1, 12, 12), &[&a]) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("stacked a CNN built for another input"),
    };
    assert!(e.contains("1x12x12"), "{e}");

    let spec: ModelSpec = "mlp:16x8:relu".parse()?;
    assert!(Stacked::supports(&spec));
    let good = build(&spec, &[0], DType::F32)?.remove(0);
    let err = |members: &[&Built], spec: &ModelSpec| -> String {
        match Stacked::new(spec, INPUT, members) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("stacked mismatched members"),
        }
    };
    // Different widths.
    let wider: ModelSpec = "mlp:16x9:relu".parse()?;
    let wider = wider.build(INPUT, CLASSES, 1, DType::F32, &Device::Cpu)?;
    let e = err(&[&good, &wider], &spec);
    assert!(e.contains("member 1 has variables"), "{e}");
    // Different dtypes.
    let f64_member = build(&spec, &[1], DType::F64)?.remove(0);
    let e = err(&[&good, &f64_member], &spec);
    assert!(e.contains("F64") && e.contains("F32"), "{e}");
    // Different class counts.
    let more = spec.build(INPUT, CLASSES + 1, 1, DType::F32, &Device::Cpu)?;
    assert!(err(&[&good, &more], &spec).contains("member 1"));
    // Members that are not of the spec, or of another input.
    let e = err(&[&wider], &spec);
    assert!(e.contains("member 0 is not a `mlp:16x8:relu` model"), "{e}");
    let nobias: ModelSpec = "mlp:16x8:relu:nobias".parse()?;
    assert!(err(&[&good], &nobias).contains("not a"));
    let small = spec.build(
        InputShape::new(1, 2, 2),
        CLASSES,
        0,
        DType::F32,
        &Device::Cpu,
    )?;
    assert!(err(&[&small], &spec).contains("1x3x4"));
    assert!(err(&[], &spec).contains("no members"));
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
