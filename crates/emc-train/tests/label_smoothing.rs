//! Label smoothing as a training option: it changes the training loss (the steps, the
//! epoch losses the plateau rule sees, the full-data gradient that certifies a failure) and
//! nothing else: evaluation, hence the fit and the reported `train_loss`, uses the plain
//! labels.

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use emc_models::kernels::smoothed_cross_entropy;
use emc_models::{InputShape, ModelSpec};
use emc_optim::OptimConfig;
use emc_train::{
    evaluate, fit, full_gradient, full_gradient_smoothed, Batching, Progress, TrainConfig,
    TrainData,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const INPUT: InputShape = InputShape {
    channels: 1,
    height: 4,
    width: 5,
};

/// `n` uniform inputs in `[-1, 1)` with random labels of 4 classes.
fn data(n: usize, seed: u64, dtype: DType) -> Result<(Tensor, Tensor)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x: Vec<f32> = (0..n * INPUT.numel())
        .map(|_| (rng.random::<f32>() - 0.5) * 2.0)
        .collect();
    let y: Vec<u32> = (0..n).map(|_| rng.random_range(0..4)).collect();
    Ok((
        Tensor::from_vec(x, (n, INPUT.numel()), &Device::Cpu)?.to_dtype(dtype)?,
        Tensor::from_vec(y, n, &Device::Cpu)?,
    ))
}

fn flat(grads: &candle_core::backprop::GradStore, vars: &[candle_core::Var]) -> Vec<f64> {
    vars.iter()
        .flat_map(|v| {
            grads
                .get(v.as_tensor())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_dtype(DType::F64)
                .unwrap()
                .to_vec1::<f64>()
                .unwrap()
        })
        .collect()
}

#[test]
fn smoothing_changes_training_but_not_the_evaluation() -> Result<()> {
    let spec: ModelSpec = "mlp:16:relu".parse()?;
    let (x, y) = data(24, 1, DType::F32)?;
    let mut cfg = TrainConfig {
        optim: OptimConfig::sgd(0.05, 0.9),
        batching: Batching::Mini(8),
        ..TrainConfig::default()
    };
    cfg.stop.max_epochs = 200;
    let run = |eps: f64| -> Result<_> {
        let built = spec.build(INPUT, 4, 3, DType::F32, &Device::Cpu)?;
        let cfg = TrainConfig {
            label_smoothing: eps,
            ..cfg.clone()
        };
        let mut losses = vec![];
        let mut cb = |p: &Progress| losses.push(p.epoch_loss);
        let data = TrainData {
            images: &x,
            labels: &y,
        };
        let report = fit(
            built.model.as_ref(),
            &built.trainable,
            data,
            &cfg,
            5,
            Some(&mut cb),
        )?;
        Ok((built, report, losses))
    };
    let (_, plain, plain_losses) = run(0.0)?;
    let (built, smoothed, smoothed_losses) = run(0.2)?;
    assert!(plain.fitted && smoothed.fitted, "{plain:?}\n{smoothed:?}");
    // The first epoch starts from the same weights and batches: only the loss differs.
    assert_ne!(plain_losses[0], smoothed_losses[0]);
    // The reported loss is the plain cross-entropy of the final model in eval mode...
    let eval = evaluate(built.model.as_ref(), &x, &y, cfg.eval_batch)?;
    assert_eq!(smoothed.train_loss.to_bits(), eval.loss.to_bits());
    assert_eq!(smoothed.train_accuracy, 1.0);
    // ... not the smoothed loss, which stays above the targets' entropy.
    let logits = built.model.forward(&x, false)?;
    let smoothed_loss = smoothed_cross_entropy(&logits, &y, 0.2)?.to_scalar::<f32>()? as f64;
    assert!(
        smoothed_loss > smoothed.train_loss + 1e-3,
        "{smoothed_loss} vs {}",
        smoothed.train_loss
    );
    Ok(())
}

/// The full-data gradient at ε > 0 is the gradient of the smoothed mean loss over all
/// samples, whatever the chunk size; at ε = 0 it is [`full_gradient`], bit for bit.
#[test]
fn the_full_data_gradient_is_that_of_the_smoothed_loss() -> Result<()> {
    let spec: ModelSpec = "mlp:6:tanh".parse()?;
    let built = spec.build(INPUT, 4, 2, DType::F64, &Device::Cpu)?;
    let (model, vars) = (built.model.as_ref(), &built.trainable);
    let (x, y) = data(30, 4, DType::F64)?;
    let eps = 0.3;
    let direct_loss = smoothed_cross_entropy(&model.forward(&x, true)?, &y, eps)?;
    let direct = flat(&direct_loss.backward()?, vars);
    let direct_loss = direct_loss.to_scalar::<f64>()?;
    for chunk in [30, 7] {
        let (g, loss, correct) = full_gradient_smoothed(model, vars, &x, &y, chunk, eps)?;
        assert!(
            (loss - direct_loss).abs() < 1e-12,
            "{loss} vs {direct_loss}"
        );
        let got = flat(&g, vars);
        let worst = got
            .iter()
            .zip(&direct)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-12, "chunk {chunk}: off by {worst:e}");
        let (g0, loss0, correct0) = full_gradient(model, vars, &x, &y, chunk)?;
        let (gz, lossz, correctz) = full_gradient_smoothed(model, vars, &x, &y, chunk, 0.0)?;
        assert_eq!(
            (flat(&gz, vars), lossz.to_bits(), correctz),
            (flat(&g0, vars), loss0.to_bits(), correct0)
        );
        assert_eq!(correct, correct0);
        assert_ne!(flat(&g0, vars), got, "smoothing changes the gradient");
    }
    Ok(())
}
