//! Training configs: validation names the bad field; serde round trip; step counting.

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
