//! Data augmentation as a training option: it changes the batches the optimizer sees, is a
//! pure function of (config, seed, n), and never changes what a fit is judged on (the
//! un-augmented samples).

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use emc_models::{InputShape, ModelSpec};
use emc_optim::OptimConfig;
use emc_train::{evaluate, fit, Augment, Batching, FitReport, TrainConfig, TrainData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const INPUT: InputShape = InputShape {
    channels: 2,
    height: 6,
    width: 6,
};

/// `n` uniform images in `[-1, 1)` with random labels of 3 classes.
fn data(n: usize) -> Result<(Tensor, Tensor)> {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let x: Vec<f32> = (0..n * INPUT.numel())
        .map(|_| (rng.random::<f32>() - 0.5) * 2.0)
        .collect();
    let y: Vec<u32> = (0..n).map(|_| rng.random_range(0..3)).collect();
    let shape = (n, INPUT.channels, INPUT.height, INPUT.width);
    Ok((
        Tensor::from_vec(x, shape, &Device::Cpu)?,
        Tensor::from_vec(y, n, &Device::Cpu)?,
    ))
}

/// Trains a fresh `spec` (seed 0) on `(x, y)` with `cfg`; returns the report and the
/// trained model's accuracy on the un-augmented samples.
fn train(spec: &str, cfg: &TrainConfig, (x, y): (&Tensor, &Tensor)) -> Result<(FitReport, f64)> {
    let spec: ModelSpec = spec.parse()?;
    let built = spec.build(INPUT, 3, 0, DType::F32, &Device::Cpu)?;
    let data = TrainData {
        images: x,
        labels: y,
    };
    let report = fit(built.model.as_ref(), &built.trainable, data, cfg, 0, None)?;
    let acc = evaluate(built.model.as_ref(), x, y, 64)?.accuracy();
    Ok((report, acc))
}

fn cfg(batching: Batching, augment: Augment) -> TrainConfig {
    let mut cfg = TrainConfig {
        optim: OptimConfig::sgd(0.1, 0.9),
        batching,
        augment,
        ..TrainConfig::default()
    };
    cfg.stop.max_epochs = 300;
    cfg.stop.plateau_patience = 0;
    cfg
}

/// Same configuration and seed: the same run, bit for bit (minibatch and full batch); a fit
/// is 100% accuracy on the un-augmented samples; the augmented run differs from the plain
/// one.
#[test]
fn augmented_runs_are_seeded_and_fit_the_unaugmented_samples() -> Result<()> {
    let (x, y) = data(24)?;
    let before = x.flatten_all()?.to_vec1::<f32>()?;
    let aug = Augment {
        crop_padding: 1,
        hflip: true,
    };
    for batching in [Batching::Mini(8), Batching::Full { chunk: 10 }] {
        let plain = train("mlp:64:relu", &cfg(batching, Augment::default()), (&x, &y))?;
        let a = train("mlp:64:relu", &cfg(batching, aug), (&x, &y))?;
        let b = train("mlp:64:relu", &cfg(batching, aug), (&x, &y))?;
        let strip = |r: &FitReport| FitReport {
            seconds: 0.0,
            samples_per_sec: 0.0,
            ..r.clone()
        };
        assert_eq!(strip(&a.0), strip(&b.0), "{batching:?}");
        assert_ne!(strip(&a.0), strip(&plain.0), "{batching:?}");
        // The reported accuracy is the un-augmented one, and a fit means all of it.
        assert_eq!(a.0.train_accuracy, a.1, "{batching:?}");
        assert!(a.0.fitted && a.1 == 1.0, "{batching:?}: {:?}", a.0);
    }
    // The samples themselves are never changed.
    assert_eq!(x.flatten_all()?.to_vec1::<f32>()?, before);
    Ok(())
}

/// Random labels on random images: a crop that moves every pixel makes the samples harder
/// to memorise, so the same budget fits fewer of them (the training loss ends higher).
#[test]
fn cropping_makes_random_labels_harder_to_fit() -> Result<()> {
    let (x, y) = data(48)?;
    let mut plain = cfg(Batching::Mini(16), Augment::default());
    plain.stop.max_epochs = 60;
    let cropped = TrainConfig {
        augment: Augment {
            crop_padding: 2,
            hflip: false,
        },
        ..plain.clone()
    };
    let (p, _) = train("mlp:32:relu", &plain, (&x, &y))?;
    let (c, _) = train("mlp:32:relu", &cropped, (&x, &y))?;
    assert!(
        c.train_loss > p.train_loss,
        "cropped {} vs plain {}",
        c.train_loss,
        p.train_loss
    );
    Ok(())
}

/// Tabular-shaped data (`[n, d]`) is refused by name, before any step.
#[test]
fn augmentation_of_flat_inputs_is_refused() -> Result<()> {
    let (x, y) = data(8)?;
    let flat = x.flatten_from(1)?;
    let spec: ModelSpec = "mlp:8".parse()?;
    let built = spec.build(INPUT, 3, 0, DType::F32, &Device::Cpu)?;
    let c = cfg(
        Batching::Mini(4),
        Augment {
            crop_padding: 0,
            hflip: true,
        },
    );
    let data = TrainData {
        images: &flat,
        labels: &y,
    };
    let e = fit(built.model.as_ref(), &built.trainable, data, &c, 0, None).unwrap_err();
    assert!(
        e.to_string().contains("[n, channels, height, width]"),
        "{e}"
    );
    Ok(())
}
