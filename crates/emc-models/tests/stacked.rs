//! Stacked models: every member's logits, losses and gradients are the bits of its own
//! model on its own rows ([`Stacked`], on the packed-batch kernels whose own tests are
//! `emc-kernels`' `tests/segmented.rs`), members round-trip, and models that cannot be
//! stacked are errors.

// The finite-difference checker and seeded tensors, shared with emc-kernels' tests.
#[path = "../../emc-kernels/tests/common/mod.rs"]
mod common;

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use common::{bits, labels, uniform};
use emc_kernels as kernels;
use emc_models::{Built, InputShape, ModelSpec, Segments, Stacked};

const INPUT: InputShape = InputShape {
    channels: 1,
    height: 3,
    width: 4,
};
const CLASSES: usize = 5;

/// A seeded `U(-2, 2)` tensor of `dtype`.
fn random(shape: &[usize], seed: u64, dtype: DType) -> Result<Tensor> {
    Ok(uniform(shape, -2.0, 2.0, seed)?.to_dtype(dtype)?)
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
