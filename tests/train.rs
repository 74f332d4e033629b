//! The trainer on real data: fits, certified failures, divergence, bit-for-bit
//! reproducibility, full-batch gradient accumulation and checkpoints.

use candle_core::{DType, Device, Tensor};
use emc_data::{DatasetId, Normalization, Split, TensorData, Variant};
use emc_models::{InputShape, ModelSpec};
use emc_optim::OptimConfig;
use emc_tests::load_real;
use emc_train::{fit, Batching, FitReport, StopReason, StopRules, TrainConfig, TrainData};

/// The first `n` MNIST training samples of seed 0's nested order, after `variants`.
fn mnist(n: usize, variants: &[&str]) -> Option<(TensorData, InputShape)> {
    let ds = load_real(DatasetId::Mnist, Split::Train)?;
    let norm = Normalization::from_dataset(&ds);
    let variants: Vec<Variant> = variants.iter().map(|v| v.parse().unwrap()).collect();
    let ds = Variant::apply_all(&variants, ds, 0).unwrap();
    let ds = ds.nested_subset(n, 0, false).unwrap();
    let s = ds.shape();
    let norm = match (norm, s.channels) {
        (n @ Normalization::PerChannel { .. }, 1) => n,
        _ => Normalization::UnitRange,
    };
    let input = InputShape {
        channels: s.channels,
        height: s.height,
        width: s.width,
    };
    Some((ds.to_tensors(&Device::Cpu, &norm, false).unwrap(), input))
}

fn train(
    spec: &str,
    data: &TensorData,
    input: InputShape,
    cfg: &TrainConfig,
    seed: u64,
) -> (FitReport, emc_models::Built) {
    let spec: ModelSpec = spec.parse().unwrap();
    let built = spec
        .build(input, 10, seed, DType::F32, &Device::Cpu)
        .unwrap();
    let report = fit(
        built.model.as_ref(),
        &built.trainable,
        TrainData {
            images: &data.images,
            labels: &data.labels,
        },
        cfg,
        seed,
        None,
    )
    .unwrap();
    eprintln!("{spec}: {report:?}");
    (report, built)
}

fn sgd(lr: f64, batch: usize, max_epochs: usize) -> TrainConfig {
    TrainConfig {
        optim: OptimConfig::sgd(lr, 0.9),
        batching: Batching::Mini(batch),
        stop: StopRules {
            max_epochs,
            ..StopRules::default()
        },
        ..TrainConfig::default()
    }
}

#[test]
fn mlp_fits_1000_mnist_samples() {
    let Some((data, input)) = mnist(1000, &[]) else {
        return;
    };
    let (r, _) = train("mlp:256:relu", &data, input, &sgd(0.05, 64, 100), 0);
    assert!(r.fitted, "{r:?}");
    assert_eq!(
        (r.stop, r.train_accuracy, r.n),
        (StopReason::Fitted, 1.0, 1000)
    );
    assert!(r.epochs < 100 && r.steps == r.epochs * 16, "{r:?}");
}

#[test]
fn linear_model_cannot_fit_more_random_labels_than_parameters() {
    // Softmax regression on 7x7 MNIST has 49*10+10 = 500 parameters; 2000 random labels
    // are far beyond what it can separate.
    let Some((data, input)) = mnist(2000, &["resize:7", "random-labels"]) else {
        return;
    };
    let mut cfg = sgd(0.1, 128, 300);
    cfg.stop.plateau_patience = 10;
    let (r, _) = train("linear", &data, input, &cfg, 0);
    assert!(!r.fitted, "{r:?}");
    assert!(r.train_accuracy < 0.5, "{r:?}");
    assert!(
        matches!(r.stop, StopReason::Plateau | StopReason::SmallGradient),
        "stopped on convergence, not budget: {r:?}"
    );
    assert!(r.epochs < 300 && r.grad_norm.is_finite() && r.train_loss.is_finite());
}

#[test]
fn a_huge_learning_rate_is_reported_as_divergence() {
    let Some((data, input)) = mnist(256, &[]) else {
        return;
    };
    let (r, _) = train("mlp:64:relu", &data, input, &sgd(1e6, 64, 20), 0);
    assert!(!r.fitted);
    assert_eq!(r.stop, StopReason::Diverged, "{r:?}");
}

#[test]
fn same_seed_same_run_bit_for_bit() {
    let Some((data, input)) = mnist(300, &["resize:14"]) else {
        return;
    };
    let cfg = sgd(0.05, 32, 3);
    let (a, ma) = train("mlp:32:relu", &data, input, &cfg, 7);
    let (b, mb) = train("mlp:32:relu", &data, input, &cfg, 7);
    let (c, _) = train("mlp:32:relu", &data, input, &cfg, 8);
    assert_eq!(
        (a.train_loss, a.steps, a.grad_norm),
        (b.train_loss, b.steps, b.grad_norm)
    );
    assert_ne!(a.train_loss, c.train_loss);
    for (va, vb) in ma.trainable.iter().zip(&mb.trainable) {
        let d = (va.as_tensor() - vb.as_tensor())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap();
        assert_eq!(d.to_scalar::<f32>().unwrap(), 0.0);
    }
}

#[test]
fn full_batch_gradient_does_not_depend_on_the_chunk_size() {
    let Some((data, input)) = mnist(300, &["resize:14"]) else {
        return;
    };
    let spec: ModelSpec = "mlp:16:tanh".parse().unwrap();
    let built = spec.build(input, 10, 0, DType::F64, &Device::Cpu).unwrap();
    let x = data.images.to_dtype(DType::F64).unwrap();
    let grads = |chunk| {
        let (g, loss, _) = emc_train::full_gradient(
            built.model.as_ref(),
            &built.trainable,
            &x,
            &data.labels,
            chunk,
        )
        .unwrap();
        let flat: Vec<Tensor> = built
            .trainable
            .iter()
            .map(|v| g.get(v.as_tensor()).unwrap().flatten_all().unwrap())
            .collect();
        (
            Tensor::cat(&flat, 0).unwrap().to_vec1::<f64>().unwrap(),
            loss,
        )
    };
    let (g1, l1) = grads(300);
    let (g2, l2) = grads(64);
    assert!((l1 - l2).abs() < 1e-12);
    for (a, b) in g1.iter().zip(&g2) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
}

#[test]
fn full_batch_gradient_descent_fits_a_small_subset() {
    let Some((data, input)) = mnist(100, &["resize:14"]) else {
        return;
    };
    let cfg = TrainConfig {
        optim: OptimConfig::sgd(0.5, 0.0),
        batching: Batching::Full { chunk: 32 },
        stop: StopRules {
            max_epochs: 500,
            ..StopRules::default()
        },
        ..TrainConfig::default()
    };
    let (r, _) = train("mlp:64:relu", &data, input, &cfg, 0);
    assert!(r.fitted, "{r:?}");
    assert_eq!(r.steps, r.epochs, "one step per epoch");
}

#[test]
fn hessian_check_sees_a_minimum_of_a_convex_problem() {
    // Softmax regression is convex: at its plateau the smallest Hessian eigenvalue is >= 0
    // up to finite-difference error.
    let Some((data, input)) = mnist(200, &["resize:7", "random-labels"]) else {
        return;
    };
    let mut cfg = sgd(0.1, 200, 400);
    cfg.batching = Batching::Full { chunk: 200 };
    cfg.optim = OptimConfig::sgd(0.5, 0.0);
    cfg.stop.hessian_check = true;
    cfg.stop.plateau_patience = 10;
    let (r, _) = train("linear", &data, input, &cfg, 0);
    assert!(!r.fitted, "{r:?}");
    let e = r.min_hessian_eigenvalue.expect("the check ran");
    assert!(e > -1e-3, "min eigenvalue {e}");
}

#[test]
fn checkpoints_round_trip_bit_for_bit_with_provenance() {
    let Some((data, input)) = mnist(200, &["resize:14"]) else {
        return;
    };
    let (_, built) = train("mlp:32:relu", &data, input, &sgd(0.05, 32, 2), 3);
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("model.safetensors");
    let meta = [
        ("model".to_string(), "mlp:32:relu".to_string()),
        ("seed".to_string(), "3".to_string()),
    ]
    .into_iter()
    .collect();
    emc_train::save_checkpoint(&built.varmap, &path, &meta).unwrap();
    let fresh = "mlp:32:relu"
        .parse::<ModelSpec>()
        .unwrap()
        .build(input, 10, 99, DType::F32, &Device::Cpu)
        .unwrap();
    let back = emc_train::load_checkpoint(&fresh.varmap, &path, &Device::Cpu).unwrap();
    assert_eq!(back["model"], "mlp:32:relu");
    assert_eq!(back["seed"], "3");
    assert!(back.contains_key("git_commit") && back["crate_version"] == env!("CARGO_PKG_VERSION"));
    for (a, b) in built.trainable.iter().zip(&fresh.trainable) {
        let d = (a.as_tensor() - b.as_tensor())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap();
        assert_eq!(d.to_scalar::<f32>().unwrap(), 0.0);
    }
    let other = "mlp:64:relu"
        .parse::<ModelSpec>()
        .unwrap()
        .build(input, 10, 0, DType::F32, &Device::Cpu)
        .unwrap();
    let err = emc_train::load_checkpoint(&other.varmap, &path, &Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("model.safetensors"), "{err}");
    assert!(!tmp.path().join("model.safetensors.tmp").exists());
}

#[test]
fn cosine_budget_spans_the_runs_own_step_budget() {
    let Some((data, input)) = mnist(200, &["resize:7"]) else {
        return;
    };
    let run = |sched: &str, max_epochs: usize| {
        let mut cfg = sgd(0.1, 32, max_epochs);
        cfg.optim = format!("sgd:lr=0.1,momentum=0.9,sched={sched}")
            .parse()
            .unwrap();
        cfg.stop.plateau_patience = 0;
        train("mlp:16:relu", &data, input, &cfg, 3).0
    };
    // 200 samples in batches of 32: 7 steps an epoch, so 5 epochs are 35 steps and 10 are
    // 70: the budget cosine is the explicit cosine over exactly those steps.
    for (epochs, steps) in [(5, 35), (10, 70)] {
        let budget = run("cosine-budget", epochs);
        let explicit = run(&format!("cosine({steps})"), epochs);
        assert_eq!(
            (budget.steps, budget.train_loss.to_bits()),
            (explicit.steps, explicit.train_loss.to_bits()),
            "{epochs} epochs"
        );
        let constant = run("constant", epochs);
        assert_ne!(
            budget.train_loss, constant.train_loss,
            "the schedule applies"
        );
    }
}
