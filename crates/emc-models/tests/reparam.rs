//! The reparameterising wrappers `subspace:` and `quant:`: their spec strings, their
//! projections and quantisers, and their gradients (the pulled-back gradient of a subspace
//! model against central differences in z; a quantised model's straight-through gradient
//! against central differences of the loss at its quantised weights).

#[path = "../../emc-kernels/tests/common/mod.rs"]
mod common;

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use common::{check_gradients, uniform};
use emc_models::{
    pull_back,
    quant::fake_quantize,
    subspace::{dense_columns, sparse_columns},
    sync, Built, InputShape, ModelSpec,
};

const INPUT: InputShape = InputShape {
    channels: 1,
    height: 3,
    width: 3,
};

fn loss(built: &Built, seed: u64) -> Result<Tensor> {
    let x = uniform(&[5, 1, 3, 3], -1.0, 1.0, seed)?;
    let y = Tensor::new(&[0u32, 2, 1, 2, 0], &Device::Cpu)?;
    Ok(candle_nn::loss::cross_entropy(
        &built.model.forward(&x, true)?,
        &y,
    )?)
}

#[test]
fn wrapper_specs_read_back_and_count_their_parameters() -> Result<()> {
    for (text, canonical, params) in [
        ("subspace:d=16(mlp:8:relu)", "subspace:d=16(mlp:8:relu)", 16),
        (
            "Subspace:proj=sparse:d=7( cnn:2,3:pool=last )",
            "subspace:d=7:proj=sparse(cnn:2,3:relu:pool=last:gap)",
            7,
        ),
        (
            "quant:4(mlp:8)",
            "quant:4(mlp:8:relu)",
            9 * 8 + 8 + 8 * 3 + 3,
        ),
        ("quant:bits=32(linear)", "quant:32(linear)", 9 * 3 + 3),
    ] {
        let spec: ModelSpec = text.parse()?;
        assert_eq!(spec.to_string(), canonical);
        assert_eq!(canonical.parse::<ModelSpec>()?, spec);
        let json = serde_json::to_string(&spec)?;
        assert_eq!(serde_json::from_str::<ModelSpec>(&json)?, spec, "{json}");
        assert_eq!(spec.num_params(INPUT, 3)?, params, "{text}");
        let built = spec.build(INPUT, 3, 1, DType::F32, &Device::Cpu)?;
        assert_eq!(built.num_params, params, "{text}");
        let trained: usize = built.trainable.iter().map(|v| v.elem_count()).sum();
        assert_eq!(trained, params, "{text}");
        assert_eq!(
            built.named_trainable().len(),
            built.trainable.len(),
            "{text}"
        );
    }
    let quant: ModelSpec = "quant:4(cnn:2)".parse()?;
    assert_eq!(quant.bits_per_param(), 4);
    assert!(!quant.flat_input());
    assert!("subspace:d=3(mlp:4)".parse::<ModelSpec>()?.flat_input());
    Ok(())
}

#[test]
fn bad_wrapper_specs_name_the_field() {
    for (text, needle) in [
        ("subspace:d=16", "parentheses"),
        ("subspace(mlp:8)", "`d=<dimension>`"),
        ("subspace:d=0(mlp:8)", "d: found `0`"),
        ("subspace:d=4:proj=fast(mlp:8)", "proj: found `fast`"),
        ("subspace:d=4:lr=2(mlp:8)", "option: found `lr=2`"),
        ("subspace:d=4(quant:4(mlp:8))", "not another wrapper"),
        ("quant:1(mlp:8)", "2 to 16 bits"),
        ("quant:24(mlp:8)", "2 to 16 bits"),
        ("quant(mlp:8)", "one bit width"),
        ("quant:4(mlp:0)", "widths: found `0`"),
    ] {
        let err = text.parse::<ModelSpec>().expect_err(text).to_string();
        assert!(err.contains(needle), "{text}: {err}");
    }
    // d is checked against the wrapped model's D when the input is known.
    let spec: ModelSpec = "subspace:d=100(mlp:4)".parse().unwrap();
    let err = spec.num_params(INPUT, 3).expect_err("d > D").to_string();
    assert!(err.contains("1 <= d <= D = 55"), "{err}");
}

#[test]
fn dense_projection_is_a_reproducible_orthonormal_frame() {
    for (full, dim) in [(50, 50), (200, 30), (7, 1)] {
        let p = dense_columns(3, full, dim);
        assert_eq!(p.len(), full * dim);
        let mut worst: f64 = 0.0;
        for i in 0..dim {
            for j in 0..dim {
                let dot: f64 = (0..full).map(|r| p[i * full + r] * p[j * full + r]).sum();
                worst = worst.max((dot - f64::from(u8::from(i == j))).abs());
            }
        }
        assert!(worst < 1e-12, "D={full} d={dim}: |PᵀP − I| = {worst:e}");
        // The same bits on another run and on another thread.
        let again = std::thread::spawn(move || dense_columns(3, full, dim))
            .join()
            .unwrap();
        assert!(p
            .iter()
            .zip(&again)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
        assert_ne!(
            p,
            dense_columns(4, full, dim),
            "another seed, another frame"
        );
    }
}

#[test]
fn sparse_projection_has_unit_columns_of_sqrt_d_nonzeros() {
    let cols = sparse_columns(9, 1000, 40);
    assert_eq!(cols.index.len(), 40);
    for (rows, signs) in cols.index.iter().zip(&cols.negative) {
        assert_eq!(rows.len(), 32, "⌈√1000⌉ nonzeros");
        assert_eq!(signs.len(), 32);
        assert!(rows.windows(2).all(|w| w[0] < w[1]), "distinct rows");
        assert!(rows.iter().all(|&r| r < 1000));
        let norm = rows.len() as f64 * cols.scale * cols.scale;
        assert!((norm - 1.0).abs() < 1e-12);
    }
    let again = sparse_columns(9, 1000, 40);
    assert_eq!(cols.index, again.index);
    assert_eq!(cols.negative, again.negative);
}

/// The gradient in z that the trainer uses (θ's gradient pulled back) against central
/// differences of the loss in z, for a dense and a sparse projection over two families.
#[test]
fn subspace_gradient_matches_finite_differences() -> Result<()> {
    for spec in [
        "subspace:d=12(mlp:6x5:tanh)",
        "subspace:d=20:proj=sparse(mlp:6:elu)",
        "subspace:d=9(cnn:2,3:gelu:pool=last:flatten)",
    ] {
        let spec: ModelSpec = spec.parse()?;
        let built = spec.build(INPUT, 3, 5, DType::F64, &Device::Cpu)?;
        let z = built.trainable[0].clone();
        // Away from z = 0, so that the check is not at the initialisation only.
        z.set(&uniform(&[z.elem_count()], -0.3, 0.3, 8)?)?;
        sync(built.model.as_ref())?;
        let grads = pull_back(built.model.as_ref(), loss(&built, 2)?.backward()?)?;
        let analytic = grads
            .get(z.as_tensor())
            .expect("z's gradient")
            .to_vec1::<f64>()?;
        let base = z.as_tensor().to_vec1::<f64>()?;
        let h = 1e-6;
        let mut worst: f64 = 0.0;
        for (j, a) in analytic.iter().enumerate() {
            let at = |delta: f64| -> Result<f64> {
                let mut v = base.clone();
                v[j] += delta;
                z.set(&Tensor::new(v.as_slice(), &Device::Cpu)?)?;
                sync(built.model.as_ref())?;
                Ok(loss(&built, 2)?.to_scalar::<f64>()?)
            };
            let numeric = (at(h)? - at(-h)?) / (2.0 * h);
            worst = worst.max((a - numeric).abs() / a.abs().max(numeric.abs()).max(1e-8));
        }
        println!("{spec}: worst relative error {worst:e}");
        assert!(worst < 1e-6, "{spec}: {worst:e}");
    }
    Ok(())
}

#[test]
fn quantiser_uses_2_to_the_b_minus_1_levels_a_side_and_32_bits_is_the_identity() -> Result<()> {
    let w = uniform(&[64], -0.7, 0.5, 4)?.to_dtype(DType::F32)?;
    let max = w.abs()?.max(0)?.to_scalar::<f32>()?;
    for bits in [2u32, 4, 8] {
        let q = fake_quantize(&w, bits)?.to_vec1::<f32>()?;
        let levels = (1i64 << (bits - 1)) - 1;
        let scale = max / levels as f32;
        let mut seen = std::collections::BTreeSet::new();
        for (qi, wi) in q.iter().zip(w.to_vec1::<f32>()?) {
            let k = (qi / scale).round() as i64;
            assert!(k.abs() <= levels, "{bits} bits: level {k}");
            assert!((qi - k as f32 * scale).abs() <= 1e-6 * max);
            assert!(
                (qi - wi).abs() <= scale / 2.0 + 1e-6,
                "{bits} bits: rounds to nearest"
            );
            seen.insert(k);
        }
        assert!(seen.len() as i64 <= 2 * levels + 1);
        assert!(
            seen.contains(&levels) || seen.contains(&-levels),
            "max-abs scaling"
        );
    }
    let same = fake_quantize(&w, 32)?;
    assert_eq!(common::bits(&same)?, common::bits(&w)?);
    let zeros = Tensor::zeros(5, DType::F32, &Device::Cpu)?;
    assert_eq!(fake_quantize(&zeros, 4)?.to_vec1::<f32>()?, vec![0.0; 5]);
    Ok(())
}

/// A quantised model's weights are the quantisation of its master weights, and the
/// gradient its optimizer sees (straight-through) is the loss's gradient at the quantised
/// weights, checked by central differences there.
#[test]
fn quantised_model_straight_through_gradient_is_the_gradient_at_the_quantised_weights() -> Result<()>
{
    let spec: ModelSpec = "quant:4(mlp:6:tanh)".parse()?;
    let built = spec.build(INPUT, 3, 5, DType::F64, &Device::Cpu)?;
    let network: Vec<_> = built
        .named_vars()
        .into_iter()
        .filter(|(name, _)| !name.starts_with(emc_models::quant::MASTER_PREFIX))
        .collect();
    assert_eq!(network.len(), built.trainable.len());
    for ((name, theta), master) in network.iter().zip(&built.trainable) {
        let q = fake_quantize(master.as_tensor(), 4)?;
        assert_eq!(
            common::bits(theta.as_tensor())?,
            common::bits(&q)?,
            "{name}"
        );
        let distinct: std::collections::BTreeSet<u64> =
            common::bits(theta.as_tensor())?.into_iter().collect();
        assert!(distinct.len() <= 15, "{name}: {} values", distinct.len());
    }
    let straight = pull_back(built.model.as_ref(), loss(&built, 3)?.backward()?)?;
    let report = check_gradients(&network, None, || loss(&built, 3))?;
    assert!(report.checked > 0);
    let direct = loss(&built, 3)?.backward()?;
    for ((name, theta), master) in network.iter().zip(&built.trainable) {
        let a = straight.get(master.as_tensor()).expect("master gradient");
        let b = direct.get(theta.as_tensor()).expect("weight gradient");
        assert_eq!(common::bits(a)?, common::bits(b)?, "{name}");
    }
    Ok(())
}
