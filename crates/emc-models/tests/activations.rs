//! The activation estimate (`ModelSpec::activations_per_sample`) that memory checks use
//! before anything is allocated: exact for the small cases worked out by hand below,
//! growing as the architecture says it must, and refusing what `build` refuses.

use anyhow::Result;
use emc_models::{InputShape, ModelSpec};

const MNIST: InputShape = InputShape {
    channels: 1,
    height: 28,
    width: 28,
};

fn estimate(spec: &str, input: InputShape, classes: usize) -> Result<f64> {
    Ok(spec
        .parse::<ModelSpec>()?
        .activations_per_sample(input, classes)?)
}

#[test]
fn small_models_by_hand() -> Result<()> {
    // The input (784) and the logits with their gradient (2 x 10).
    assert_eq!(estimate("linear", MNIST, 10)?, 804.0);
    // + each hidden layer before and after its activation: 2 x (32 + 16).
    assert_eq!(estimate("mlp:32x16:relu", MNIST, 10)?, 900.0);
    // 1x8x8 input (64); one block: 3x3 patches 1 x 9 x 64 = 576, convolution and
    // activation 2 x 8 x 64 = 1024; the 4x4 pooled map 8 x 16 = 128; 8 pooled features;
    // the logits 2 x 10.
    let tiny = InputShape {
        channels: 1,
        height: 8,
        width: 8,
    };
    assert_eq!(estimate("cnn:8:relu", tiny, 10)?, 1820.0);
    Ok(())
}

#[test]
fn the_estimate_grows_with_width_depth_and_tokens() -> Result<()> {
    let cifar = InputShape {
        channels: 3,
        height: 32,
        width: 32,
    };
    for (small, large) in [
        ("mlp:64", "mlp:128"),
        ("mlp:64", "mlp:64x64"),
        ("cnn:16,32", "cnn:32,64"),
        ("resnet18:k=8", "resnet18:k=16"),
        (
            "vit:patch4,d32,depth2,heads2",
            "vit:patch4,d32,depth4,heads2",
        ),
    ] {
        assert!(
            estimate(small, cifar, 10)? < estimate(large, cifar, 10)?,
            "{small} vs {large}"
        );
    }
    // Attention scores are quadratic in the tokens: 4x the patches (64 -> 256) gives more
    // than 4x the estimate.
    let vit = "vit:patch4,d32,depth2,heads2";
    let big = InputShape {
        height: 64,
        width: 64,
        ..cifar
    };
    assert!(estimate(vit, big, 10)? > 4.0 * estimate(vit, cifar, 10)?);
    Ok(())
}

#[test]
fn what_build_refuses_the_estimate_refuses() {
    let tiny = InputShape {
        channels: 1,
        height: 2,
        width: 2,
    };
    // Two 2x2 max-pools cannot run on a 2x2 input.
    let err = estimate("cnn:8,8:relu", tiny, 10).unwrap_err().to_string();
    assert!(err.contains("max-pool"), "{err}");
}

#[test]
fn absurd_sizes_give_a_finite_number_not_an_overflow() -> Result<()> {
    let e = estimate("mlp:100000000000000000", MNIST, 10)?;
    assert!(e.is_finite() && e > 1e17, "{e}");
    Ok(())
}
