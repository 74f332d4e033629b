//! Config validation (PyTorch's rules, errors naming the field and range), the text form and
//! serde.

use candle_core::{DType, Device, Var};
use emc_optim::{build, Graft, OptimConfig, OptimError, OptimKind, Schedule};

fn field_of(cfg: &OptimConfig) -> (&'static str, String) {
    match cfg.validate() {
        Err(e @ OptimError::InvalidConfig { field, .. }) => (field, e.to_string()),
        other => panic!("expected InvalidConfig for {cfg:?}, got {other:?}"),
    }
}

fn sgd(momentum: f64, dampening: f64, nesterov: bool) -> OptimConfig {
    OptimConfig {
        kind: OptimKind::Sgd {
            momentum,
            dampening,
            nesterov,
        },
        ..OptimConfig::default()
    }
}

fn adam(beta1: f64, beta2: f64, eps: f64) -> OptimConfig {
    OptimConfig {
        kind: OptimKind::Adam { beta1, beta2, eps },
        ..OptimConfig::adam(1e-3)
    }
}

#[test]
fn every_out_of_range_field_is_named_with_its_range() {
    let base = OptimConfig::default();
    let cases: Vec<(OptimConfig, &str, &str)> = vec![
        (
            OptimConfig {
                lr: 0.0,
                ..base.clone()
            },
            "lr",
            "finite and > 0",
        ),
        (
            OptimConfig {
                lr: -0.1,
                ..base.clone()
            },
            "lr",
            "finite and > 0",
        ),
        (
            OptimConfig {
                lr: f64::NAN,
                ..base.clone()
            },
            "lr",
            "finite and > 0",
        ),
        (
            OptimConfig {
                lr: f64::INFINITY,
                ..base.clone()
            },
            "lr",
            "finite and > 0",
        ),
        (
            OptimConfig {
                weight_decay: -1e-4,
                ..base.clone()
            },
            "weight_decay",
            ">= 0",
        ),
        (sgd(1.0, 0.0, false), "momentum", "[0, 1)"),
        (sgd(-0.1, 0.0, false), "momentum", "[0, 1)"),
        (sgd(f64::NAN, 0.0, false), "momentum", "[0, 1)"),
        (sgd(0.9, 1.5, false), "dampening", "[0, 1]"),
        (
            sgd(0.0, 0.0, true),
            "nesterov",
            "momentum > 0 and dampening 0",
        ),
        (
            sgd(0.9, 0.1, true),
            "nesterov",
            "momentum > 0 and dampening 0",
        ),
        (adam(1.0, 0.999, 1e-8), "beta1", "[0, 1)"),
        (adam(0.9, -0.1, 1e-8), "beta2", "[0, 1)"),
        (adam(0.9, 0.999, 0.0), "eps", "> 0"),
        (
            OptimConfig {
                schedule: Schedule::Step {
                    step_size: 0,
                    gamma: 0.1,
                },
                ..base.clone()
            },
            "schedule.step_size",
            ">= 1",
        ),
        (
            OptimConfig {
                schedule: Schedule::Step {
                    step_size: 5,
                    gamma: 0.0,
                },
                ..base.clone()
            },
            "schedule.gamma",
            "> 0",
        ),
        (
            OptimConfig {
                schedule: Schedule::Cosine {
                    total_steps: 10,
                    min_lr: 0.0,
                },
                warmup_steps: 10,
                ..base.clone()
            },
            "schedule.total_steps",
            "> warmup_steps",
        ),
        (
            OptimConfig {
                schedule: Schedule::Cosine {
                    total_steps: 10,
                    min_lr: 0.5,
                },
                ..base.clone()
            },
            "schedule.min_lr",
            "[0, lr]",
        ),
        (
            OptimConfig {
                clip_grad_norm: Some(0.0),
                ..base.clone()
            },
            "clip_grad_norm",
            "> 0",
        ),
        (
            OptimConfig {
                clip_grad_norm: Some(f64::NAN),
                ..base.clone()
            },
            "clip_grad_norm",
            "> 0",
        ),
    ];
    for (cfg, field, range) in cases {
        let (got, msg) = field_of(&cfg);
        assert_eq!(got, field, "{cfg:?}");
        assert!(msg.contains(field) && msg.contains(range), "{msg}");
        // `build` refuses the same configs.
        let err = build(&cfg, vec![]).err().expect("build must validate");
        assert!(matches!(err, OptimError::InvalidConfig { .. }), "{err}");
    }
}

#[test]
fn valid_edge_values_pass() {
    for cfg in [
        sgd(0.0, 1.0, false),
        sgd(0.999, 0.0, true),
        adam(0.0, 0.0, 1e-12),
        OptimConfig {
            schedule: Schedule::Cosine {
                total_steps: 11,
                min_lr: 0.01,
            },
            warmup_steps: 10,
            ..OptimConfig::default()
        },
        OptimConfig {
            schedule: Schedule::Step {
                step_size: 1,
                gamma: 2.0,
            },
            ..OptimConfig::default()
        },
        OptimConfig::adamw(1e-3, 0.0),
    ] {
        cfg.validate().unwrap_or_else(|e| panic!("{cfg:?}: {e}"));
    }
}

#[test]
fn integer_vars_are_refused() -> anyhow::Result<()> {
    let f = Var::zeros(3, DType::F32, &Device::Cpu)?;
    let u = Var::zeros(3, DType::U32, &Device::Cpu)?;
    let err = build(&OptimConfig::default(), vec![f, u]).err().unwrap();
    assert!(
        matches!(
            err,
            OptimError::NonFloatVar {
                index: 1,
                dtype: DType::U32
            }
        ),
        "{err}"
    );
    Ok(())
}

#[test]
fn defaults_and_helpers() {
    let d = OptimConfig::default();
    assert_eq!(
        d.kind,
        OptimKind::Sgd {
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false
        }
    );
    assert_eq!(
        (d.lr, d.weight_decay, d.warmup_steps, d.clip_grad_norm),
        (0.01, 0.0, 0, None)
    );
    assert_eq!(d.schedule, Schedule::Constant);
    assert_eq!(
        OptimConfig::sgd(0.1, 0.9).kind,
        OptimKind::Sgd {
            momentum: 0.9,
            dampening: 0.0,
            nesterov: false
        }
    );
    let a = OptimConfig::adam(3e-4);
    assert_eq!(
        (a.kind, a.lr, a.weight_decay),
        (
            OptimKind::Adam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8
            },
            3e-4,
            0.0
        )
    );
    let w = OptimConfig::adamw(3e-4, 0.05);
    assert_eq!(
        (w.kind, w.weight_decay),
        (
            OptimKind::AdamW {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8
            },
            0.05
        )
    );
}

#[test]
fn text_form_parses_the_documented_examples() -> anyhow::Result<()> {
    assert_eq!("sgd".parse::<OptimConfig>()?, OptimConfig::default());
    assert_eq!("adam".parse::<OptimConfig>()?, OptimConfig::adam(1e-3));
    assert_eq!(
        "adamw".parse::<OptimConfig>()?,
        OptimConfig::adamw(1e-3, 0.01)
    );
    assert_eq!(
        "adamw:wd=0.1".parse::<OptimConfig>()?,
        OptimConfig::adamw(1e-3, 0.1)
    );
    let cfg: OptimConfig = " SGD : lr=0.1 , momentum=0.9, nesterov ".parse()?;
    assert_eq!(
        cfg,
        OptimConfig {
            kind: OptimKind::Sgd {
                momentum: 0.9,
                dampening: 0.0,
                nesterov: true
            },
            ..OptimConfig::sgd(0.1, 0.9)
        }
    );
    let cfg: OptimConfig =
        "adamw:lr=3e-4,beta2=0.95,eps=1e-6,sched=cosine(1000),warmup=100,clip=1".parse()?;
    assert_eq!(
        cfg,
        OptimConfig {
            kind: OptimKind::AdamW {
                beta1: 0.9,
                beta2: 0.95,
                eps: 1e-6
            },
            lr: 3e-4,
            weight_decay: 0.01,
            schedule: Schedule::Cosine {
                total_steps: 1000,
                min_lr: 0.0
            },
            warmup_steps: 100,
            clip_grad_norm: Some(1.0),
        }
    );
    assert_eq!(
        "sgd:nesterov=false,clip=none".parse::<OptimConfig>()?,
        OptimConfig::default()
    );
    assert_eq!(
        "sgd:momentum=0.9,nesterov".parse::<OptimKind>()?,
        OptimKind::Sgd {
            momentum: 0.9,
            dampening: 0.0,
            nesterov: true
        }
    );
    assert_eq!(
        "step(30, 0.1)".parse::<Schedule>()?,
        Schedule::Step {
            step_size: 30,
            gamma: 0.1
        }
    );
    Ok(())
}

#[test]
fn text_form_round_trips() -> anyhow::Result<()> {
    let configs = [
        OptimConfig::default(),
        OptimConfig::sgd(0.1, 0.9),
        OptimConfig {
            kind: OptimKind::Sgd {
                momentum: 0.9,
                dampening: 0.25,
                nesterov: false,
            },
            weight_decay: 5e-4,
            ..OptimConfig::sgd(0.1, 0.9)
        },
        OptimConfig {
            schedule: Schedule::Step {
                step_size: 30,
                gamma: 0.1,
            },
            warmup_steps: 5,
            ..OptimConfig::sgd(0.1, 0.0)
        },
        OptimConfig::adam(1e-3),
        OptimConfig {
            kind: OptimKind::Adam {
                beta1: 0.8,
                beta2: 0.99,
                eps: 1e-10,
            },
            weight_decay: 1e-5,
            ..OptimConfig::adam(2e-5)
        },
        OptimConfig {
            schedule: Schedule::Cosine {
                total_steps: 10_000,
                min_lr: 1e-6,
            },
            warmup_steps: 500,
            clip_grad_norm: Some(1.0),
            ..OptimConfig::adamw(3e-4, 0.0)
        },
    ];
    for cfg in configs {
        let text = cfg.to_string();
        assert_eq!(text.parse::<OptimConfig>()?, cfg, "{text}");
        let kind_text = cfg.kind.to_string();
        assert_eq!(kind_text.parse::<OptimKind>()?, cfg.kind, "{kind_text}");
        let json = serde_json::to_string(&cfg)?;
        assert_eq!(serde_json::from_str::<OptimConfig>(&json)?, cfg, "{json}");
    }
    assert_eq!(OptimConfig::default().to_string(), "sgd");
    assert_eq!(OptimConfig::adamw(1e-3, 0.01).to_string(), "adamw");
    assert_eq!(
        OptimConfig {
            schedule: Schedule::Cosine {
                total_steps: 100,
                min_lr: 1e-6
            },
            clip_grad_norm: Some(1.0),
            ..OptimConfig::adam(1e-8)
        }
        .to_string(),
        "adam:lr=1e-8,sched=cosine(100,1e-6),clip=1"
    );
    Ok(())
}

#[test]
fn serde_fills_missing_fields_with_defaults() -> anyhow::Result<()> {
    let cfg: OptimConfig = serde_json::from_str(r#"{"lr": 0.5}"#)?;
    assert_eq!(
        cfg,
        OptimConfig {
            lr: 0.5,
            ..OptimConfig::default()
        }
    );
    Ok(())
}

#[test]
fn bad_text_is_a_parse_error_saying_why() {
    for (text, why) in [
        ("rmsprop", "unknown optimizer"),
        ("sgd:lr", "needs a value"),
        ("sgd:lr=fast", "not a number"),
        ("sgd:foo=1", "unknown option `foo`"),
        ("sgd:beta1=0.9", "does not apply to sgd"),
        ("adam:momentum=0.9", "does not apply to adam"),
        ("sgd:lr=0.1,lr=0.2", "given twice"),
        ("sgd:lr=0.1,", "empty option"),
        ("sgd:nesterov=maybe", "true or false"),
        ("sgd:warmup=1.5", "not a step count"),
        ("sgd:sched=linear", "expected `constant`"),
        ("sgd:sched=step(3)", "expected `constant`"),
    ] {
        match text.parse::<OptimConfig>() {
            Err(e @ OptimError::Parse { .. }) => {
                assert!(e.to_string().contains(why), "{text}: {e}")
            }
            other => panic!("{text}: expected a parse error, got {other:?}"),
        }
    }
    // The kind alone takes only the kind's options.
    let err = "sgd:lr=0.1".parse::<OptimKind>().unwrap_err();
    assert!(
        err.to_string().contains("not to the optimizer kind"),
        "{err}"
    );
}

#[test]
fn parsing_does_not_validate_but_build_does() {
    let cfg: OptimConfig = "sgd:momentum=1.5".parse().unwrap();
    let err = build(&cfg, vec![]).err().unwrap();
    assert!(
        err.to_string()
            .contains("`momentum` is 1.5, expected in [0, 1)"),
        "{err}"
    );
}

#[test]
fn cosine_budget_is_resolved_against_the_run_and_refused_unresolved() -> anyhow::Result<()> {
    for (text, min_lr) in [("cosine-budget", 0.0), ("cosine-budget(0.001)", 1e-3)] {
        let cfg: OptimConfig = format!("sgd:lr=0.1,sched={text}").parse()?;
        assert_eq!(cfg.schedule, Schedule::CosineBudget { min_lr });
        assert_eq!(cfg.to_string().parse::<OptimConfig>()?, cfg, "{text}");
        assert_eq!(cfg.schedule.to_string(), text);
        cfg.validate()?;
        // Unresolved, no optimizer can be built: its length is unknown.
        let err = emc_optim::build(&cfg, vec![]).err().expect("refused");
        assert!(err.to_string().contains("cosine-budget"), "{err}");
        // Resolved over 40 steps it is exactly cosine(40, min_lr).
        let run = cfg.for_budget(40);
        assert_eq!(
            run.schedule,
            Schedule::Cosine {
                total_steps: 40,
                min_lr
            }
        );
        emc_optim::build(&run, vec![])?;
        assert_eq!(emc_optim::lr_at(&run, 0), 0.1);
        assert!((emc_optim::lr_at(&run, 20) - (0.1 + min_lr) / 2.0).abs() < 1e-12);
        assert_eq!(emc_optim::lr_at(&run, 40), min_lr);
    }
    // Other schedules do not depend on the budget.
    let constant = OptimConfig::sgd(0.1, 0.0);
    assert_eq!(constant.for_budget(40), constant);
    let bad: OptimConfig = "sgd:lr=0.1,sched=cosine-budget(0.5)".parse()?;
    assert!(bad.validate().unwrap_err().to_string().contains("min_lr"));
    Ok(())
}

/// Shampoo's options: validation names the field, the text form round-trips through
/// `Display`, `OptimKind` and serde, and options of other kinds are refused.
#[test]
fn shampoo_config_validates_parses_and_round_trips() -> anyhow::Result<()> {
    let shampoo = |momentum: f64, eps: f64, update_freq: usize| OptimConfig {
        kind: OptimKind::Shampoo {
            momentum,
            eps,
            update_freq,
            graft: Graft::None,
        },
        ..OptimConfig::shampoo(0.1)
    };
    for (cfg, field, expected) in [
        (shampoo(1.0, 1e-4, 1), "momentum", "in [0, 1)"),
        (shampoo(-0.1, 1e-4, 1), "momentum", "in [0, 1)"),
        (shampoo(0.0, 0.0, 1), "eps", "finite and > 0"),
        (shampoo(0.0, f64::NAN, 1), "eps", "finite and > 0"),
        (shampoo(0.0, 1e-4, 0), "update_freq", ">= 1"),
    ] {
        let (got, message) = field_of(&cfg);
        assert_eq!(got, field, "{cfg:?}");
        assert!(message.contains(expected), "{message}");
    }
    shampoo(0.0, 1e-12, 1).validate()?;
    shampoo(0.99, 1.0, 1000).validate()?;

    // torch-optimizer's defaults: lr 0.1, no momentum, eps 1e-4, update_freq 1, no decay.
    let default: OptimConfig = "shampoo".parse()?;
    assert_eq!(default, OptimConfig::shampoo(0.1));
    assert_eq!(default.kind, OptimKind::SHAMPOO);
    assert_eq!(default, shampoo(0.0, 1e-4, 1));
    assert_eq!(default.to_string(), "shampoo");
    let text = "shampoo:lr=0.05,wd=0.001,momentum=0.9,eps=0.001,update_freq=10,clip=1";
    let cfg: OptimConfig = text.parse()?;
    assert_eq!(
        cfg,
        OptimConfig {
            lr: 0.05,
            weight_decay: 1e-3,
            clip_grad_norm: Some(1.0),
            ..shampoo(0.9, 1e-3, 10)
        }
    );
    assert_eq!(cfg.to_string(), text);
    assert_eq!(
        cfg.kind.to_string(),
        "shampoo:momentum=0.9,eps=0.001,update_freq=10"
    );
    assert_eq!(cfg.kind.to_string().parse::<OptimKind>()?, cfg.kind);
    let json = serde_json::to_string(&cfg)?;
    assert_eq!(serde_json::from_str::<OptimConfig>(&json)?, cfg, "{json}");
    // Without grafting the recorded form has no `graft` (configs recorded before it existed
    // keep their hashes); with it, it round-trips in text and serde.
    assert!(!json.contains("graft"), "{json}");
    let grafted: OptimConfig = "shampoo:lr=0.2,update_freq=5,graft=SGD".parse()?;
    assert_eq!(
        grafted.kind,
        OptimKind::Shampoo {
            momentum: 0.0,
            eps: 1e-4,
            update_freq: 5,
            graft: Graft::Sgd,
        }
    );
    assert_eq!(
        grafted.to_string(),
        "shampoo:lr=0.2,update_freq=5,graft=sgd"
    );
    let json = serde_json::to_string(&grafted)?;
    assert!(json.contains("graft"), "{json}");
    assert_eq!(serde_json::from_str::<OptimConfig>(&json)?, grafted);
    assert_eq!("shampoo:graft=none".parse::<OptimConfig>()?, default);

    for (text, why) in [
        ("shampoo:graft=adam", "expected none or sgd"),
        ("sgd:graft=sgd", "does not apply to sgd"),
        ("shampoo:update_freq=1.5", "not a step count"),
        ("shampoo:update_freq", "needs a value"),
        ("adam:update_freq=2", "does not apply to adam"),
        ("shampoo:nesterov", "does not apply to shampoo"),
        ("shampoo:beta1=0.9", "does not apply to shampoo"),
    ] {
        match text.parse::<OptimConfig>() {
            Err(e @ OptimError::Parse { .. }) => {
                assert!(e.to_string().contains(why), "{text}: {e}")
            }
            other => panic!("{text}: expected a parse error, got {other:?}"),
        }
    }
    Ok(())
}
