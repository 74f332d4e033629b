//! Forward shapes of every family, in both input layouts, and the benchmark workloads.

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use emc_models::{InputShape, ModelSpec};

fn logits_shape(spec: &str, input: InputShape, classes: usize, n: usize) -> Result<Vec<usize>> {
    let spec: ModelSpec = spec.parse()?;
    let built = spec.build(input, classes, 0, DType::F32, &Device::Cpu)?;
    let images = Tensor::rand(
        0f32,
        1f32,
        (n, input.channels, input.height, input.width),
        &Device::Cpu,
    )?;
    let flat = images.flatten_from(1)?;
    let mut shapes = Vec::new();
    for train in [true, false] {
        let a = built.model.forward(&images, train)?;
        let b = built.model.forward(&flat, train)?;
        assert_eq!(a.dims(), b.dims(), "{spec}: both layouts");
        assert_eq!(a.dtype(), DType::F32);
        let max = (a - b)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(max < 1e-5 || train, "{spec}: layouts disagree by {max}");
        shapes = built.model.forward(&images, train)?.dims().to_vec();
    }
    Ok(shapes)
}

#[test]
fn every_family_gives_n_by_classes_logits() -> Result<()> {
    let cases = [
        "linear",
        "linear:nobias",
        "mlp:8:relu",
        "mlp:8x6x4:leaky_relu:nobias",
        "cnn:4,8:relu",
        "cnn:4,8,8:gelu:pool=last:flatten",
        "cnn:4:silu:nopool:flatten:bn",
        "cnn:4,6:softplus:pool=all:gap:w=0.5",
        "resnet18:k=2",
        "resnet18:k=2:elu",
        "vit:patch4,d8,depth1,heads2",
        "vit:patch2,d8,depth2,heads4,mlp16,pool=mean,tanh",
        "cnn-compound:4,8:relu:phi=1",
        "cnn-compound:4,8:sigmoid:pool=last:flatten:phi=2:bn",
    ];
    for spec in cases {
        for (input, n) in [
            (InputShape::new(1, 28, 28), 3),
            (InputShape::new(3, 32, 32), 2),
            (InputShape::new(3, 9, 7), 1),
        ] {
            assert_eq!(
                logits_shape(spec, input, 7, n)?,
                [n, 7],
                "{spec} on {input:?}"
            );
        }
    }
    Ok(())
}

#[test]
fn flat_input_tells_the_layout() -> Result<()> {
    for (spec, flat) in [
        ("linear", true),
        ("mlp:4:relu", true),
        ("cnn:4:relu", false),
        ("resnet18", false),
        ("vit:patch4,d8,depth1,heads2", false),
        ("cnn-compound:4:relu", false),
    ] {
        assert_eq!(spec.parse::<ModelSpec>()?.flat_input(), flat, "{spec}");
    }
    Ok(())
}

#[test]
fn benchmark_workloads_build_and_run() -> Result<()> {
    let mnist = InputShape::new(1, 28, 28);
    let cifar = InputShape::new(3, 32, 32);
    for (spec, input, params) in [
        ("mlp:512x512:relu", mnist, 669_706),
        ("cnn:32,64:relu:pool=last:flatten", cifar, 183_242),
        (
            "vit:patch4,d128,depth4,heads4,mlp256,pool=mean",
            cifar,
            545_930,
        ),
    ] {
        let spec: ModelSpec = spec.parse()?;
        let built = spec.build(input, 10, 0, DType::F32, &Device::Cpu)?;
        assert_eq!(built.num_params, params, "{spec}");
        let xs = Tensor::rand(
            0f32,
            1f32,
            (4, input.channels, input.height, input.width),
            &Device::Cpu,
        )?;
        let logits = built.model.forward(&xs, true)?;
        assert_eq!(logits.dims(), &[4, 10]);
        // Training reaches every trainable variable.
        let labels = Tensor::new(&[0u32, 1, 2, 3], &Device::Cpu)?;
        let grads = candle_nn::loss::cross_entropy(&logits, &labels)?.backward()?;
        for (name, var) in built.named_trainable() {
            assert!(
                grads.get(var.as_tensor()).is_some(),
                "{spec}: no gradient for {name}"
            );
        }
    }
    Ok(())
}

#[test]
fn wrong_input_shapes_are_errors_not_panics() -> Result<()> {
    let input = InputShape::new(3, 8, 8);
    for spec in [
        "mlp:4:relu",
        "cnn:4:relu",
        "resnet18:k=2",
        "vit:patch4,d8,depth1,heads2",
    ] {
        let built = spec
            .parse::<ModelSpec>()?
            .build(input, 5, 0, DType::F32, &Device::Cpu)?;
        for bad in [
            vec![2usize, 3, 8, 9],
            vec![2, 191],
            vec![2, 1, 8, 8],
            vec![192],
        ] {
            let xs = Tensor::zeros(bad.as_slice(), DType::F32, &Device::Cpu)?;
            let err = built.model.forward(&xs, false).expect_err(spec).to_string();
            assert!(
                err.contains("expected input") || err.contains("unexpected rank"),
                "{spec} {bad:?}: {err}"
            );
        }
    }
    Ok(())
}

#[test]
fn inputs_a_model_cannot_take_are_build_errors() -> Result<()> {
    let cases = [
        (
            "cnn:4,4,4,4:relu:pool=all",
            InputShape::new(1, 8, 8),
            "max-pool after stage 3",
        ),
        (
            "vit:patch8,d8,depth1,heads2",
            InputShape::new(1, 4, 4),
            "patch size 8 exceeds",
        ),
        ("mlp:4:relu", InputShape::new(0, 4, 4), "must be positive"),
    ];
    for (spec, input, needle) in cases {
        let spec: ModelSpec = spec.parse()?;
        let err = spec
            .build(input, 3, 0, DType::F32, &Device::Cpu)
            .expect_err("build")
            .to_string();
        assert!(err.contains(needle), "{spec}: {err}");
        let err = spec.num_params(input, 3).expect_err("count").to_string();
        assert!(err.contains(needle), "{spec}: {err}");
    }
    let err = "linear"
        .parse::<ModelSpec>()?
        .build(InputShape::new(1, 2, 2), 0, 0, DType::F32, &Device::Cpu)
        .expect_err("0 classes");
    assert!(err.to_string().contains("class count"), "{err}");
    Ok(())
}
