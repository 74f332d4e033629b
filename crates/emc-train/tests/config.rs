//! Training configs: validation names the bad field; serde round trip; step counting;
//! hashes of configurations without the later options are pinned.

use emc_optim::OptimConfig;
use emc_train::{Batching, StopRules, TrainConfig, TrainError};

fn field_of(cfg: &TrainConfig) -> String {
    match cfg.validate() {
        Err(TrainError::Config { field, .. }) => field,
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn validation_names_the_field() {
    assert!(TrainConfig::default().validate().is_ok());
    let c = |f: &dyn Fn(&mut TrainConfig)| {
        let mut cfg = TrainConfig::default();
        f(&mut cfg);
        cfg
    };
    assert_eq!(
        field_of(&c(&|c| c.batching = Batching::Mini(0))),
        "batching.mini"
    );
    assert_eq!(
        field_of(&c(&|c| c.batching = Batching::Full { chunk: 0 })),
        "batching.full.chunk"
    );
    assert_eq!(field_of(&c(&|c| c.stop.max_epochs = 0)), "stop.max_epochs");
    assert_eq!(
        field_of(&c(&|c| c.stop.grad_tol = f64::NAN)),
        "stop.grad_tol"
    );
    assert_eq!(field_of(&c(&|c| c.eval_every = 0)), "eval_every");
    let bad_lr = TrainConfig {
        optim: OptimConfig {
            lr: -1.0,
            ..OptimConfig::default()
        },
        ..TrainConfig::default()
    };
    let err = bad_lr.validate().unwrap_err().to_string();
    assert!(err.contains("lr"), "{err}");
}

#[test]
fn configs_round_trip_through_json() {
    let cfg = TrainConfig {
        optim: OptimConfig::adamw(1e-3, 0.05),
        batching: Batching::Full { chunk: 512 },
        stop: StopRules {
            max_steps: Some(1000),
            hessian_check: true,
            ..StopRules::default()
        },
        ..TrainConfig::default()
    };
    let text = serde_json::to_string(&cfg).unwrap();
    assert_eq!(serde_json::from_str::<TrainConfig>(&text).unwrap(), cfg);
}

#[test]
fn steps_per_epoch_counts_the_partial_batch() {
    let mut cfg = TrainConfig {
        batching: Batching::Mini(128),
        ..TrainConfig::default()
    };
    assert_eq!(cfg.steps_per_epoch(1000), 8);
    assert_eq!(cfg.steps_per_epoch(1024), 8);
    cfg.batching = Batching::Full { chunk: 100 };
    assert_eq!(cfg.steps_per_epoch(1000), 1);
}

/// The probe hash of a measurement keyed by `train` (model and data fixed), as
/// `emc_results::RecordedConfig` computes it from the serde form.
fn probe_hash(train: &TrainConfig) -> String {
    let value = serde_json::json!({
        "model": "mlp:32:relu",
        "data": "mnist",
        "variants": [],
        "train": train,
    });
    emc_results::RecordedConfig::from_json(value)
        .unwrap()
        .probe_hash()
}

/// Guards the keys of committed results (`probes.csv`, manifests, checkpoints): a training
/// option added later (label smoothing) is left out of the serde form at its default, so
/// configurations that do not use it hash as they did before it existed (the two hashes
/// were computed before it was added).
#[test]
fn configs_without_new_options_keep_their_hashes() {
    let mut sgd = TrainConfig::default();
    sgd.stop.max_epochs = 2000;
    sgd.stop.plateau_patience = 100;
    assert_eq!(probe_hash(&TrainConfig::default()), "f1646841ead5deef");
    assert_eq!(probe_hash(&sgd), "b21ce2b8f225233b");
    // Explicitly 0 is the same configuration; any other value is another one, written out.
    let zero = TrainConfig {
        label_smoothing: 0.0,
        ..sgd.clone()
    };
    assert_eq!(probe_hash(&zero), "b21ce2b8f225233b");
    let smoothed = TrainConfig {
        label_smoothing: 0.1,
        ..sgd.clone()
    };
    assert_ne!(probe_hash(&smoothed), probe_hash(&sgd));
    let text = serde_json::to_string(&smoothed).unwrap();
    assert!(text.contains("\"label_smoothing\":0.1"), "{text}");
    assert!(!serde_json::to_string(&sgd)
        .unwrap()
        .contains("label_smoothing"));
    assert_eq!(
        serde_json::from_str::<TrainConfig>(&text).unwrap(),
        smoothed
    );
}

/// Dropout, added after label smoothing, keeps the hashes of configurations without it too,
/// is refused outside [0, 1) by name and with the Hessian check, and keeps models out of
/// lockstep.
#[test]
fn dropout_keeps_old_hashes_and_is_validated() {
    let sgd = TrainConfig::default();
    let zero = TrainConfig {
        dropout: 0.0,
        ..sgd.clone()
    };
    assert_eq!(probe_hash(&zero), "f1646841ead5deef");
    let dropped = TrainConfig {
        dropout: 0.2,
        ..sgd.clone()
    };
    assert_ne!(probe_hash(&dropped), probe_hash(&sgd));
    let text = serde_json::to_string(&dropped).unwrap();
    assert!(text.contains("\"dropout\":0.2"), "{text}");
    assert_eq!(serde_json::from_str::<TrainConfig>(&text).unwrap(), dropped);
    dropped.validate().unwrap();
    for bad in [-0.1, 1.0, f64::NAN] {
        let cfg = TrainConfig {
            dropout: bad,
            ..TrainConfig::default()
        };
        assert_eq!(field_of(&cfg), "dropout", "{bad}");
    }
    let mut hessian = dropped.clone();
    hessian.stop.hessian_check = true;
    assert_eq!(field_of(&hessian), "stop.hessian_check");
    let mlp: emc_models::ModelSpec = "mlp:8".parse().unwrap();
    assert!(emc_train::can_lockstep(&mlp, &sgd));
    assert!(!emc_train::can_lockstep(&mlp, &dropped));
}

#[test]
fn label_smoothing_outside_zero_to_one_is_refused_by_name() {
    for bad in [-0.1, 1.0, 1.5, f64::NAN, f64::INFINITY] {
        let cfg = TrainConfig {
            label_smoothing: bad,
            ..TrainConfig::default()
        };
        assert_eq!(field_of(&cfg), "label_smoothing", "{bad}");
        let msg = cfg.validate().unwrap_err().to_string();
        assert!(msg.contains("[0, 1)"), "{msg}");
    }
    for good in [0.0, 0.1, 0.99] {
        let cfg = TrainConfig {
            label_smoothing: good,
            ..TrainConfig::default()
        };
        cfg.validate().unwrap();
    }
}

/// Augmentation is absent from the serde form when off (old hashes stand), round-trips when
/// on, and keeps models out of lockstep.
#[test]
fn augmentation_keeps_old_hashes_and_stays_out_of_lockstep() {
    let sgd = TrainConfig::default();
    let off = TrainConfig {
        augment: emc_train::Augment::default(),
        ..sgd.clone()
    };
    assert_eq!(probe_hash(&off), "f1646841ead5deef");
    let on = TrainConfig {
        augment: emc_train::Augment {
            crop_padding: 2,
            hflip: true,
        },
        ..sgd.clone()
    };
    assert_ne!(probe_hash(&on), probe_hash(&sgd));
    let text = serde_json::to_string(&on).unwrap();
    assert!(
        text.contains("\"augment\":{\"crop_padding\":2,\"hflip\":true}"),
        "{text}"
    );
    assert_eq!(serde_json::from_str::<TrainConfig>(&text).unwrap(), on);
    let typo = text.replace("hflip", "flip");
    assert!(serde_json::from_str::<TrainConfig>(&typo).is_err());
    on.validate().unwrap();
    let mlp: emc_models::ModelSpec = "mlp:8".parse().unwrap();
    assert!(!emc_train::can_lockstep(&mlp, &on));
}
