//! Training reparameterised models (`subspace:`, `quant:`) through the one trainer: a
//! subspace of full dimension trains as the full network up to rounding, 32-bit
//! "quantisation" trains as the plain network bit for bit, and a quantised model is fitted
//! and judged on its quantised weights.

use anyhow::Result;
use candle_core::{DType, Device, Tensor, Var};
use emc_models::{quant::fake_quantize, InputShape, ModelSpec};
use emc_optim::OptimConfig;
use emc_train::{evaluate, fit, Batching, FitReport, TrainConfig, TrainData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const INPUT: InputShape = InputShape {
    channels: 1,
    height: 3,
    width: 3,
};

/// `n` uniform inputs in `[-1, 1)` with random labels of 3 classes.
fn data(n: usize, seed: u64, dtype: DType) -> Result<(Tensor, Tensor)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x: Vec<f32> = (0..n * INPUT.numel())
        .map(|_| (rng.random::<f32>() - 0.5) * 2.0)
        .collect();
    let y: Vec<u32> = (0..n).map(|_| rng.random_range(0..3)).collect();
    Ok((
        Tensor::from_vec(x, (n, INPUT.numel()), &Device::Cpu)?.to_dtype(dtype)?,
        Tensor::from_vec(y, n, &Device::Cpu)?,
    ))
}

/// Trains `spec` from seed 4; returns the report and the network's weights (the wrapped
/// network's, without `subspace.z` or master weights), flattened in name order.
fn train(spec: &str, cfg: &TrainConfig, dtype: DType) -> Result<(FitReport, Vec<f64>)> {
    let spec: ModelSpec = spec.parse()?;
    let (x, y) = data(18, 2, dtype)?;
    let built = spec.build(INPUT, 3, 4, dtype, &Device::Cpu)?;
    let data = TrainData {
        images: &x,
        labels: &y,
    };
    let report = fit(built.model.as_ref(), &built.trainable, data, cfg, 7, None)?;
    let weights = built
        .named_vars()
        .into_iter()
        .filter(|(name, _)| name != "subspace.z" && !name.starts_with("quant."))
        .flat_map(|(_, v): (String, Var)| {
            v.as_tensor()
                .flatten_all()
                .and_then(|t| t.to_dtype(DType::F64))
                .and_then(|t| t.to_vec1::<f64>())
                .unwrap()
        })
        .collect();
    Ok((report, weights))
}

fn config(batching: Batching, epochs: usize) -> TrainConfig {
    let mut cfg = TrainConfig {
        optim: OptimConfig::sgd(0.2, 0.9),
        batching,
        ..TrainConfig::default()
    };
    cfg.stop.max_epochs = epochs;
    cfg.stop.plateau_patience = 0;
    cfg.stop.grad_tol = 0.0;
    cfg
}

/// With d = D the dense projection is an orthogonal D × D matrix, so a step on z moves θ by
/// P Pᵀ times the full step: the same training up to rounding (f64; weights within 1e-10
/// after 40 epochs of SGD with momentum, minibatch and full batch).
#[test]
fn subspace_of_full_dimension_trains_as_the_full_network() -> Result<()> {
    let d = "mlp:5:tanh".parse::<ModelSpec>()?.num_params(INPUT, 3)?;
    assert_eq!(d, 9 * 5 + 5 + 5 * 3 + 3);
    for batching in [Batching::Mini(5), Batching::Full { chunk: 7 }] {
        let cfg = config(batching, 40);
        let (full, w_full) = train("mlp:5:tanh", &cfg, DType::F64)?;
        let (sub, w_sub) = train(&format!("subspace:d={d}(mlp:5:tanh)"), &cfg, DType::F64)?;
        assert_eq!(w_full.len(), w_sub.len());
        let worst = w_full
            .iter()
            .zip(&w_sub)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        println!("{batching:?}: {} steps, max |Δθ| = {worst:e}", full.steps);
        assert!(worst < 1e-10, "{batching:?}: max |Δθ| = {worst:e}");
        assert!(full.steps >= 40);
        assert_eq!(
            (full.fitted, full.epochs, full.steps, full.stop),
            (sub.fitted, sub.epochs, sub.steps, sub.stop)
        );
        assert!((full.train_loss - sub.train_loss).abs() < 1e-10);
        assert!((full.grad_norm - sub.grad_norm).abs() < 1e-9 * full.grad_norm.max(1.0));
    }
    Ok(())
}

/// A small subspace trains something (z moves, the loss falls) and its report counts d.
#[test]
fn small_subspace_trains_only_z() -> Result<()> {
    let cfg = config(Batching::Mini(6), 30);
    let (_, w0) = train("mlp:5:tanh", &config(Batching::Mini(6), 1), DType::F32)?;
    let (report, w) = train("subspace:d=6:proj=sparse(mlp:5:tanh)", &cfg, DType::F32)?;
    assert!(report.steps > 0);
    assert!(w.iter().zip(&w0).any(|(a, b)| a != b), "θ moved");
    Ok(())
}

/// 32 bits is the identity: the same report and the same weights, bit for bit.
#[test]
fn quant_32_trains_bit_for_bit_as_the_plain_network() -> Result<()> {
    for batching in [Batching::Mini(4), Batching::Full { chunk: 5 }] {
        let cfg = config(batching, 25);
        let (plain, w_plain) = train("cnn:3:relu:pool=none:gap", &cfg, DType::F32)?;
        let (quant, w_quant) = train("quant:32(cnn:3:relu:pool=none:gap)", &cfg, DType::F32)?;
        let key = |r: &FitReport| {
            (
                r.fitted,
                r.epochs,
                r.steps,
                r.stop,
                r.train_accuracy.to_bits(),
                r.train_loss.to_bits(),
                r.grad_norm.to_bits(),
            )
        };
        assert_eq!(key(&plain), key(&quant), "{batching:?}");
        assert_eq!(
            w_plain.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            w_quant.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }
    Ok(())
}

/// After training, a quantised model's weights are the quantisation of its master weights,
/// and its reported accuracy is that of those quantised weights.
#[test]
fn quantised_model_is_judged_on_its_quantised_weights() -> Result<()> {
    let spec: ModelSpec = "quant:3(mlp:16:relu)".parse()?;
    let (x, y) = data(18, 2, DType::F32)?;
    let built = spec.build(INPUT, 3, 4, DType::F32, &Device::Cpu)?;
    let data = TrainData {
        images: &x,
        labels: &y,
    };
    let report = fit(
        built.model.as_ref(),
        &built.trainable,
        data,
        &config(Batching::Mini(6), 60),
        7,
        None,
    )?;
    let vars = built.named_vars();
    for master in &built.trainable {
        let (name, _) = vars
            .iter()
            .find(|(_, v)| v.as_tensor().id() == master.as_tensor().id())
            .expect("named");
        let weight = name.strip_prefix("quant.").expect("master prefix");
        let (_, theta) = vars.iter().find(|(n, _)| n == weight).expect("weight");
        let q = fake_quantize(master.as_tensor(), 3)?;
        assert_eq!(
            theta.as_tensor().flatten_all()?.to_vec1::<f32>()?,
            q.flatten_all()?.to_vec1::<f32>()?,
            "{weight}"
        );
    }
    let eval = evaluate(built.model.as_ref(), &x, &y, 64)?;
    assert_eq!(eval.accuracy(), report.train_accuracy);
    println!(
        "quant:3: fitted {} after {} epochs, accuracy {}",
        report.fitted, report.epochs, report.train_accuracy
    );
    Ok(())
}
