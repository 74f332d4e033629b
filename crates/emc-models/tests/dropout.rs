//! Dropout as a model option (`ModelSpec::build_with_dropout`): off at rate 0 and in
//! evaluation, seeded in training, drawn where each family's docs place it, refused by
//! softmax regression, and its gradients checked by finite differences with the mask
//! replayed.

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

/// The smallest ResNet-18 (stages of 1, 2, 4, 8 channels; on `INPUT` its maps are 4x4,
/// 2x2, 1x1, 1x1).
const RESNET: &str = "resnet18:k=1";
/// A tiny ViT: four 2x2 patches and a class token, D = 4 in two heads, one block, MLP 4.
/// (D = 1 or 2 would make the layer norms all but constant.)
const VIT: &str = "vit:patch2,d4,depth1,heads2,mlp4";

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
        RESNET,
        VIT,
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

/// Each training forward draws one mask per dropout site, in forward order, two 32-bit
/// words of the stream per element (one `f64` each); an evaluation forward draws none. The
/// counts pin the placements the module docs state:
/// - MLP: after each hidden activation, 16 + 8 per sample;
/// - CNN: after each block, 4·2·2 + 6·1·1 per sample (pooled after each);
/// - ResNet-18 (k = 1): between the convolutions of each of the 8 basic blocks, their
///   output maps 2 × 1·4·4 + 2 × 2·2·2 + 2 × 4·1·1 + 2 × 8·1·1 = 72 per sample;
/// - ViT (T = 4 patches + class token = 5, D = 4, MLP 4): the embeddings T·D, then per
///   block the attention output T·D, the MLP hidden layer T·4 and the MLP output T·D:
///   20 + 20 + 20 + 20 = 80 per sample (nothing on the attention probabilities, which
///   would add heads·T·T = 50).
#[test]
fn dropout_masks_are_drawn_where_the_module_docs_say() -> Result<()> {
    let n = 6;
    for (spec, per_sample) in [
        ("mlp:16x8:relu", 24),
        ("cnn:4,6:relu:pool=all:flatten", 22),
        (RESNET, 72),
        (VIT, 80),
    ] {
        let mut built = spec
            .parse::<ModelSpec>()?
            .build(INPUT, 3, 5, DType::F32, &Device::Cpu)?;
        let dropout = Dropout::new(0.5, 11);
        assert!(built.model.set_dropout(dropout.clone()), "{spec}");
        let x = uniform(&[n, 2, 4, 4], -1.0, 1.0, 3)?.to_dtype(DType::F32)?;
        let start = dropout.position();
        built.model.forward(&x, false)?;
        assert_eq!(
            dropout.position(),
            start,
            "{spec}: evaluation draws nothing"
        );
        built.model.forward(&x, true)?;
        let words = dropout.position() - start;
        assert_eq!(words, 2 * (n * per_sample) as u128, "{spec}");
    }
    Ok(())
}

#[test]
fn families_without_hidden_dropout_and_bad_rates_are_refused_by_name() -> Result<()> {
    for spec in ["mlp:4", "cnn:4", "cnn-compound:4:phi=1", RESNET, VIT] {
        assert!(spec.parse::<ModelSpec>()?.supports_dropout(), "{spec}");
    }
    for spec in ["linear", "linear:nobias"] {
        assert!(!spec.parse::<ModelSpec>()?.supports_dropout(), "{spec}");
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
                assert!(msg.contains("linear") && msg.contains("dropout"), "{msg}");
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
/// differences (MLP, CNN, ResNet-18 and ViT, f64).
///
/// ResNet-18's batch norms run in training mode here: each forward normalises with the
/// batch's statistics and updates the running ones in place, but a training forward never
/// reads the running statistics, so the replayed loss is still a pure function of the
/// trainable weights. The bit-identical repeat below checks that before differencing.
#[test]
fn gradients_through_dropout_match_finite_differences() -> Result<()> {
    for (spec, per_var) in [
        ("mlp:6x5:tanh", 12),
        ("cnn:3,4:relu:pool=last:flatten", 12),
        (RESNET, 3),
        (VIT, 6),
    ] {
        let spec: ModelSpec = spec.parse()?;
        let mut built = spec.build(INPUT, 3, 5, DType::F64, &Device::Cpu)?;
        let dropout = Dropout::new(0.4, 11);
        assert!(built.model.set_dropout(dropout.clone()));
        let start = dropout.position();
        let x = uniform(&[4, 2, 4, 4], -1.0, 1.0, 6)?;
        let y = Tensor::new(&[0u32, 2, 1, 2], &Device::Cpu)?;
        let loss = || -> Result<Tensor> {
            dropout.rewind(start);
            Ok(candle_nn::loss::cross_entropy(
                &built.model.forward(&x, true)?,
                &y,
            )?)
        };
        let once = loss()?.to_scalar::<f64>()?;
        assert_eq!(
            loss()?.to_scalar::<f64>()?.to_bits(),
            once.to_bits(),
            "{spec}: the replayed loss is not a function of the weights alone"
        );
        let report = check_gradients(&built.named_trainable(), Some(per_var), loss)?;
        println!("{spec}: {report:?}");
        assert!(report.checked > 0);
    }
    Ok(())
}
