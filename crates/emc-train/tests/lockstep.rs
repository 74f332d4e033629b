//! Lockstep training reproduces single-model training bit for bit: every member's report
//! (timings aside), progress events and final weights equal those of `fit` on it alone —
//! with ragged last minibatches, members of different sizes that stop at different times
//! and for different reasons (fit, plateau, epoch budget, divergence), momentum, weight
//! decay, Adam, warm-up, a budget-relative schedule and label smoothing; for MLPs, softmax
//! regression and small CNNs.

use std::sync::{Arc, Mutex};

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use emc_models::{Built, InputShape, ModelSpec};
use emc_optim::OptimConfig;
use emc_train::{
    fit, fit_lockstep, lockstep_key, Batching, FitReport, Member, Progress, TrainConfig, TrainData,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Output classes of every test model.
const CLASSES: usize = 4;

const INPUT: InputShape = InputShape {
    channels: 1,
    height: 4,
    width: 5,
};

/// `n` Gaussian inputs with random labels of 4 classes, scaled by `scale`.
fn data(n: usize, seed: u64, scale: f32) -> Result<(Tensor, Tensor)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x: Vec<f32> = (0..n * INPUT.numel())
        .map(|_| (rng.random::<f32>() - 0.5) * 2.0 * scale)
        .collect();
    let y: Vec<u32> = (0..n).map(|_| rng.random_range(0..4)).collect();
    Ok((
        Tensor::from_vec(x, (n, INPUT.numel()), &Device::Cpu)?,
        Tensor::from_vec(y, n, &Device::Cpu)?,
    ))
}

/// Every variable's bits, by name.
type Bits = Vec<(String, Vec<u32>)>;

fn bits(built: &Built) -> Result<Bits> {
    built
        .named_vars()
        .into_iter()
        .map(|(name, var)| {
            let v = var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
            Ok((name, v.into_iter().map(f32::to_bits).collect()))
        })
        .collect()
}

/// A report without its timings.
fn untimed(mut r: FitReport) -> FitReport {
    r.seconds = 0.0;
    r.samples_per_sec = 0.0;
    r
}

type Events = Arc<Mutex<Vec<(usize, usize, u64, u64)>>>;

fn recorder(events: &Events) -> impl FnMut(&Progress) + Send + 'static {
    let events = events.clone();
    move |p: &Progress| {
        events.lock().unwrap().push((
            p.epoch,
            p.step,
            p.epoch_loss.to_bits(),
            p.train_accuracy.to_bits(),
        ))
    }
}

/// Trains each `(seed, n, input scale)` alone and all of them in lockstep, and checks
/// that both give the same reports, progress and weights. Returns the stop reasons.
fn same_alone_and_in_lockstep(
    spec: &str,
    cfg: &TrainConfig,
    members: &[(u64, usize, f32)],
) -> Result<Vec<String>> {
    let spec: ModelSpec = spec.parse()?;
    let build = |seed| spec.build(INPUT, CLASSES, seed, DType::F32, &Device::Cpu);
    let mut alone = vec![];
    for &(seed, n, scale) in members {
        let (x, y) = data(n, seed + 100, scale)?;
        let built = build(seed)?;
        let events = Events::default();
        let mut cb = recorder(&events);
        let report = fit(
            built.model.as_ref(),
            &built.trainable,
            TrainData {
                images: &x,
                labels: &y,
            },
            cfg,
            seed,
            Some(&mut cb),
        )?;
        let events = events.lock().unwrap().clone();
        alone.push((untimed(report), events, bits(&built)?));
    }

    let mut stacked = vec![];
    let mut logs = vec![];
    for &(seed, n, scale) in members {
        let (images, labels) = data(n, seed + 100, scale)?;
        let events = Events::default();
        stacked.push(Member {
            built: build(seed)?,
            images,
            labels,
            seed,
            on_progress: Some(Box::new(recorder(&events))),
        });
        logs.push(events);
    }
    let mut together: Vec<Option<(FitReport, Bits)>> = vec![None; members.len()];
    let mut order = vec![];
    fit_lockstep(
        &spec,
        INPUT,
        CLASSES,
        cfg,
        stacked,
        &mut |k, built, report| {
            order.push(k);
            together[k] = Some((untimed(report), bits(&built).unwrap()));
        },
    )?;
    assert_eq!(order.len(), members.len(), "every member is reported once");
    let mut stops = vec![];
    for (k, ((report, events, weights), got)) in alone.into_iter().zip(together).enumerate() {
        let (got_report, got_weights) = got.expect("reported");
        // Compared as text: a diverged run's NaN loss equals itself there.
        assert_eq!(
            format!("{got_report:?}"),
            format!("{report:?}"),
            "member {k}: report"
        );
        assert_eq!(
            *logs[k].lock().unwrap(),
            events,
            "member {k}: progress events"
        );
        assert!(got_weights == weights, "member {k}: weights differ");
        stops.push(report.stop.to_string());
    }
    Ok(stops)
}

fn config(optim: OptimConfig, batch: usize, max_epochs: usize) -> TrainConfig {
    let mut cfg = TrainConfig {
        optim,
        batching: Batching::Mini(batch),
        ..TrainConfig::default()
    };
    cfg.stop.max_epochs = max_epochs;
    cfg.stop.plateau_patience = 8;
    cfg.eval_batch = 50;
    cfg
}

#[test]
fn sgd_with_momentum_members_of_different_sizes_and_fates() -> Result<()> {
    let mut optim = OptimConfig::sgd(0.05, 0.9);
    optim.weight_decay = 1e-3;
    let cfg = config(optim, 16, 40);
    // n = 20 fits; 300 (ragged batches, evaluated in six chunks) runs out of patience or
    // epochs; 37 gets inputs so large that the loss overflows (divergence).
    let stops = same_alone_and_in_lockstep(
        "mlp:12:relu",
        &cfg,
        &[(0, 20, 1.0), (1, 300, 1.0), (2, 37, 1e30), (3, 53, 1.0)],
    )?;
    assert!(stops.contains(&"fitted".to_string()), "{stops:?}");
    assert!(stops.contains(&"diverged".to_string()), "{stops:?}");
    assert!(
        stops.iter().any(|s| s != "fitted" && s != "diverged"),
        "{stops:?}"
    );
    Ok(())
}

#[test]
fn adam_with_warmup_two_hidden_layers_and_tanh() -> Result<()> {
    let mut optim = OptimConfig::adam(0.01);
    optim.warmup_steps = 5;
    let cfg = config(optim, 8, 40);
    same_alone_and_in_lockstep(
        "mlp:6x5:tanh",
        &cfg,
        &[(4, 30, 1.0), (5, 9, 1.0), (6, 30, 1.0)],
    )?;
    Ok(())
}

#[test]
fn small_cnns_with_momentum_flatten_and_global_average_pool() -> Result<()> {
    let mut optim = OptimConfig::sgd(0.05, 0.9);
    optim.weight_decay = 1e-3;
    let cfg = config(optim, 16, 30);
    let members = [(9, 20, 1.0), (10, 70, 1.0), (11, 33, 1e30)];
    let stops = same_alone_and_in_lockstep("cnn:3,4:relu:pool=last:flatten", &cfg, &members)?;
    assert!(stops.contains(&"diverged".to_string()), "{stops:?}");
    same_alone_and_in_lockstep("cnn:2:tanh:pool=none", &cfg, &members[..2])?;
    Ok(())
}

#[test]
fn softmax_regression_and_a_budget_relative_schedule() -> Result<()> {
    let optim: OptimConfig = "sgd:lr=0.1,momentum=0.5,sched=cosine-budget".parse()?;
    let cfg = config(optim, 10, 30);
    // A budget-relative schedule shares the optimizer only between equal sizes.
    let spec: ModelSpec = "linear".parse()?;
    assert_eq!(
        lockstep_key(&spec, INPUT, CLASSES, &cfg, 25),
        lockstep_key(&spec, INPUT, CLASSES, &cfg, 25)
    );
    assert_ne!(
        lockstep_key(&spec, INPUT, CLASSES, &cfg, 25),
        lockstep_key(&spec, INPUT, CLASSES, &cfg, 31)
    );
    // Models with another class count have other shapes: never one group.
    assert_ne!(
        lockstep_key(&spec, INPUT, CLASSES, &cfg, 25),
        lockstep_key(&spec, INPUT, CLASSES + 1, &cfg, 25)
    );
    same_alone_and_in_lockstep("linear", &cfg, &[(7, 25, 1.0), (8, 25, 1.0)])?;
    Ok(())
}

#[test]
fn what_cannot_go_in_lockstep_has_no_key() -> Result<()> {
    let cfg = config(OptimConfig::sgd(0.1, 0.0), 8, 5);
    let mlp: ModelSpec = "mlp:8".parse()?;
    assert!(lockstep_key(&mlp, INPUT, CLASSES, &cfg, 10).is_some());
    let cnn: ModelSpec = "cnn:4,8".parse()?;
    assert!(lockstep_key(&cnn, INPUT, CLASSES, &cfg, 10).is_some());
    for text in ["cnn:4,8:bn", "vit:patch2,d8,depth1,heads2,mlp16"] {
        let spec: ModelSpec = text.parse()?;
        assert_eq!(
            lockstep_key(&spec, INPUT, CLASSES, &cfg, 10),
            None,
            "{text}"
        );
    }
    let mut clipped = cfg.clone();
    clipped.optim.clip_grad_norm = Some(1.0);
    assert_eq!(lockstep_key(&mlp, INPUT, CLASSES, &clipped, 10), None);
    let mut full = cfg.clone();
    full.batching = Batching::Full { chunk: 64 };
    assert_eq!(lockstep_key(&mlp, INPUT, CLASSES, &full, 10), None);
    Ok(())
}

#[test]
fn label_smoothing_trains_in_lockstep_as_alone() -> Result<()> {
    let mut cfg = config(OptimConfig::sgd(0.05, 0.9), 16, 40);
    cfg.label_smoothing = 0.1;
    let members = [(12, 20, 1.0), (13, 90, 1.0), (14, 37, 1e30)];
    let stops = same_alone_and_in_lockstep("mlp:12:relu", &cfg, &members)?;
    assert!(stops.contains(&"fitted".to_string()), "{stops:?}");
    assert!(stops.contains(&"diverged".to_string()), "{stops:?}");
    same_alone_and_in_lockstep("cnn:3,4:relu:pool=last:flatten", &cfg, &members[..2])?;
    // Smoothed and plain probes never share a group.
    let spec: ModelSpec = "mlp:12:relu".parse()?;
    let plain = TrainConfig {
        label_smoothing: 0.0,
        ..cfg.clone()
    };
    assert_ne!(
        lockstep_key(&spec, INPUT, CLASSES, &cfg, 20),
        lockstep_key(&spec, INPUT, CLASSES, &plain, 20)
    );
    Ok(())
}
