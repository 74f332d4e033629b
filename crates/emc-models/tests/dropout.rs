//! Dropout as a model option (`ModelSpec::build_with_dropout`): off at rate 0 and in
//! evaluation, seeded in training, refused by the families without it, and its gradients
//! checked by finite differences with the mask replayed.

#[path = "../../emc-kernels/tests/common/mod.rs"]
mod common;

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use common::{check_gradients, uniform};
use emc_models::{Dropout, InputShape, ModelError, ModelSpec};

const INPUT: InputShape = InputShape {
    channels: 2,
    height: 4,
    width: 4,
};

fn logits(spec: &str, p: f64, train: bool, calls: usize) -> Result<Vec<Vec<f32>>> {
    let spec: ModelSpec = spec.parse()?;
    let built = spec.build_with_dropout(INPUT, 3, 5, p, DType::F32, &Device::Cpu)?;
    let x = uniform(&[6, 2, 4, 4], -1.0, 1.0, 3)?.to_dtype(DType::F32)?;
    let mut out = vec![];
    for _ in 0..calls {
        out = built.model.forward(&x, train)?.to_vec2::<f32>()?;
    }
    Ok(out)
}

#[test]
fn dropout_is_off_at_rate_zero_and_in_evaluation_and_seeded_in_training() -> Result<()> {
    for spec in [
        "mlp:16x8:relu",
        "cnn:4,6:relu:pool=all:flatten",
        "cnn-compound:4,6:phi=1",
    ] {
        let plain = logits(spec, 0.0, true, 1)?;
        // Rate 0 is the model without dropout, bit for bit.
        let built = spec
            .parse::<ModelSpec>()?
            .build(INPUT, 3, 5, DType::F32, &Device::Cpu)?;
        let x = uniform(&[6, 2, 4, 4], -1.0, 1.0, 3)?.to_dtype(DType::F32)?;
        assert_eq!(
            built.model.forward(&x, true)?.to_vec2::<f32>()?,
            plain,
            "{spec}"
        );
        // Evaluation ignores dropout, whatever was drawn before.
        assert_eq!(
            logits(spec, 0.5, false, 3)?,
            logits(spec, 0.0, false, 1)?,
            "{spec}"
        );
        // Training draws masks: another output, the same for the same seed and call.
        let dropped = logits(spec, 0.5, true, 1)?;
        assert_ne!(dropped, plain, "{spec}");
        assert_eq!(logits(spec, 0.5, true, 1)?, dropped, "{spec}");
        assert_ne!(
            logits(spec, 0.5, true, 2)?,
            dropped,
            "{spec}: a new mask per call"
        );
    }
    Ok(())
}

#[test]
fn families_without_hidden_dropout_and_bad_rates_are_refused_by_name() -> Result<()> {
    for (spec, family) in [
        ("linear", "linear"),
        ("resnet18:k=2", "resnet18"),
        ("vit:patch2,d8,depth1,heads2", "vit"),
    ] {
        let built = spec.parse::<ModelSpec>()?.build_with_dropout(
            InputShape::new(3, 8, 8),
            3,
            0,
            0.1,
            DType::F32,
            &Device::Cpu,
        );
        match built {
            Err(e @ ModelError::Config { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(family) && msg.contains("dropout"), "{msg}");
            }
            Err(e) => panic!("{spec}: {e}"),
            Ok(_) => panic!("{spec}: dropout accepted"),
        }
    }
    for bad in [-0.1, 1.0, f64::NAN] {
        let built = "mlp:4".parse::<ModelSpec>()?.build_with_dropout(
            INPUT,
            3,
            0,
            bad,
            DType::F32,
            &Device::Cpu,
        );
        let Err(e) = built else {
            panic!("dropout {bad} accepted")
        };
        let msg = e.to_string();
        assert!(msg.contains("dropout") && msg.contains("[0, 1)"), "{msg}");
    }
    Ok(())
}

/// With the mask replayed before every evaluation, the loss is a fixed function of the
/// weights, and autograd's gradient through the dropped activations matches central
/// differences (MLP and CNN, f64).
#[test]
fn gradients_through_dropout_match_finite_differences() -> Result<()> {
    for spec in ["mlp:6x5:tanh", "cnn:3,4:relu:pool=last:flatten"] {
        let spec: ModelSpec = spec.parse()?;
        let mut built = spec.build(INPUT, 3, 5, DType::F64, &Device::Cpu)?;
        let dropout = Dropout::new(0.4, 11);
        assert!(built.model.set_dropout(dropout.clone()));
        let start = dropout.position();
        let x = uniform(&[4, 2, 4, 4], -1.0, 1.0, 6)?;
        let y = Tensor::new(&[0u32, 2, 1, 2], &Device::Cpu)?;
        let report = check_gradients(&built.named_trainable(), Some(12), || {
            dropout.rewind(start);
            Ok(candle_nn::loss::cross_entropy(
                &built.model.forward(&x, true)?,
                &y,
            )?)
        })?;
        println!("{spec}: {report:?}");
        assert!(report.checked > 0);
    }
    Ok(())
}
