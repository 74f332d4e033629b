//! Seeded initialisation: the same seed gives bit-identical variables, a different seed
//! different ones, values do not depend on creation order, and each initialiser has
//! PyTorch's distribution.

use anyhow::Result;
use candle_core::{DType, Device};
use candle_nn::{Init, VarMap};
use emc_models::{init::seeded_var_builder, Built, InputShape, ModelSpec};

const SPECS: [&str; 6] = [
    "linear",
    "mlp:16x8:relu",
    "cnn:4,8:relu:bn",
    "resnet18:k=2",
    "vit:patch4,d8,depth2,heads2,pool=cls",
    "cnn-compound:4,8:relu:phi=1",
];

fn build(spec: &str, seed: u64) -> Result<Built> {
    Ok(spec.parse::<ModelSpec>()?.build(
        InputShape::new(3, 8, 8),
        10,
        seed,
        DType::F32,
        &Device::Cpu,
    )?)
}

/// Every variable's name and bit pattern.
fn bits(built: &Built) -> Result<Vec<(String, Vec<u32>)>> {
    built
        .named_vars()
        .into_iter()
        .map(|(name, var)| {
            let values = var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
            Ok((name, values.iter().map(|v| v.to_bits()).collect()))
        })
        .collect()
}

#[test]
fn same_seed_bit_identical_different_seed_different() -> Result<()> {
    for spec in SPECS {
        let a = bits(&build(spec, 42)?)?;
        assert_eq!(a, bits(&build(spec, 42)?)?, "{spec}: same seed");
        let c = bits(&build(spec, 43)?)?;
        for ((name, x), (_, y)) in a.iter().zip(&c) {
            // Constant initialisers (norm weights/biases, running stats) agree; random ones differ.
            let constant = x.iter().all(|v| *v == x[0]);
            assert_eq!(constant, x == y, "{spec}: {name} under seeds 42 and 43");
        }
    }
    Ok(())
}

#[test]
fn values_depend_on_name_not_creation_order() -> Result<()> {
    let hint = Init::Uniform { lo: -1.0, up: 1.0 };
    let (first, second) = (VarMap::new(), VarMap::new());
    let vb1 = seeded_var_builder(&first, 9, DType::F64, &Device::Cpu);
    let a1 = vb1.get_with_hints((3, 4), "a", hint)?;
    let b1 = vb1.get_with_hints(5, "b", hint)?;
    let vb2 = seeded_var_builder(&second, 9, DType::F64, &Device::Cpu);
    let b2 = vb2.get_with_hints(5, "b", hint)?;
    let a2 = vb2.get_with_hints((3, 4), "a", hint)?;
    assert_eq!(a1.to_vec2::<f64>()?, a2.to_vec2::<f64>()?);
    assert_eq!(b1.to_vec1::<f64>()?, b2.to_vec1::<f64>()?);
    // Different names draw from different streams.
    assert_ne!(
        a1.flatten_all()?.narrow(0, 0, 5)?.to_vec1::<f64>()?,
        b1.to_vec1::<f64>()?
    );
    // Asking again returns the existing variable.
    assert_eq!(
        vb1.get_with_hints((3, 4), "a", Init::Const(0.0))?
            .to_vec2::<f64>()?,
        a1.to_vec2::<f64>()?
    );
    Ok(())
}

#[test]
fn a_shared_layer_gets_the_same_weights_in_different_models() -> Result<()> {
    // `layers.0.weight` is [512, 784] in both networks.
    let a = build_mnist("mlp:512x512:relu")?;
    let b = build_mnist("mlp:512:tanh")?;
    let get = |built: &Built| -> Result<Vec<f32>> {
        let vars = built.named_vars();
        let (_, var) = vars
            .iter()
            .find(|(n, _)| n == "layers.0.weight")
            .expect("layers.0.weight");
        Ok(var.as_tensor().flatten_all()?.to_vec1::<f32>()?)
    };
    assert_eq!(get(&a)?, get(&b)?);
    Ok(())
}

fn build_mnist(spec: &str) -> Result<Built> {
    Ok(spec.parse::<ModelSpec>()?.build(
        InputShape::new(1, 28, 28),
        10,
        0,
        DType::F32,
        &Device::Cpu,
    )?)
}

/// The values of the variable `name` among `vars`, as f64.
fn values_of(vars: &[(String, candle_core::Var)], name: &str) -> Result<Vec<f64>> {
    let (_, var) = vars.iter().find(|(n, _)| n == name).expect(name);
    Ok(var
        .as_tensor()
        .to_dtype(DType::F64)?
        .flatten_all()?
        .to_vec1()?)
}

fn stats(values: &[f64]) -> (f64, f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let max_abs = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    (mean, var, max_abs)
}

#[test]
fn linear_and_conv_weights_are_uniform_within_one_over_sqrt_fan_in() -> Result<()> {
    let mlp = build_mnist("mlp:512x512:relu")?;
    let resnet = "resnet18:k=8".parse::<ModelSpec>()?.build(
        InputShape::new(3, 8, 8),
        10,
        1,
        DType::F64,
        &Device::Cpu,
    )?;
    let vars: Vec<_> = mlp
        .named_vars()
        .into_iter()
        .chain(resnet.named_vars())
        .collect();
    // (variable, fan_in): nn.Linear(512, 512) weight and bias; nn.Conv2d(16, 16, 3) weight
    // (fan_in 16·3·3 = 144); nn.Linear(784, 512) bias.
    for (name, fan_in) in [
        ("layers.1.weight", 512usize),
        ("layers.1.bias", 512),
        ("layers.0.bias", 784),
        ("layer2.1.conv2.weight", 144),
    ] {
        let values = values_of(&vars, name)?;
        let (mean, var, max_abs) = stats(&values);
        let bound = 1.0 / (fan_in as f64).sqrt();
        let n = values.len() as f64;
        assert!(
            max_abs <= bound,
            "{name}: |w| up to {max_abs}, bound {bound}"
        );
        assert!(
            max_abs > 0.95 * bound,
            "{name}: |w| only up to {max_abs}, bound {bound}"
        );
        // U(-b, b) has variance b²/3 = 1/(3·fan_in); allow 5 standard errors.
        let want = bound * bound / 3.0;
        let se = want * (0.8 / n).sqrt(); // Var of the sample variance of U: (4/5)·σ⁴/n
        assert!(
            (var - want).abs() < 5.0 * se + 1e-12,
            "{name}: variance {var}, want {want}"
        );
        assert!(mean.abs() < 5.0 * (want / n).sqrt(), "{name}: mean {mean}");
    }
    Ok(())
}

#[test]
fn norms_and_embeddings_follow_the_documented_init() -> Result<()> {
    let vit = "vit:patch2,d64,depth1,heads4,pool=cls"
        .parse::<ModelSpec>()?
        .build(InputShape::new(3, 32, 32), 10, 3, DType::F64, &Device::Cpu)?;
    let resnet = "resnet18:k=4".parse::<ModelSpec>()?.build(
        InputShape::new(3, 8, 8),
        10,
        3,
        DType::F64,
        &Device::Cpu,
    )?;
    let vars: Vec<_> = vit
        .named_vars()
        .into_iter()
        .chain(resnet.named_vars())
        .collect();
    let values = |name: &str| -> Result<Vec<f64>> {
        let (_, var) = vars.iter().find(|(n, _)| n == name).expect(name);
        Ok(var.as_tensor().flatten_all()?.to_vec1()?)
    };
    for (name, constant) in [
        ("bn1.weight", 1.0),
        ("bn1.bias", 0.0),
        ("bn1.running_mean", 0.0),
        ("bn1.running_var", 1.0),
        ("norm.weight", 1.0),
        ("norm.bias", 0.0),
        ("blocks.0.norm1.weight", 1.0),
    ] {
        assert!(
            values(name)?.iter().all(|v| *v == constant),
            "{name} should be {constant}"
        );
    }
    // Position embedding: 257 tokens × 64 ~ N(0, 0.02²).
    let pos = values("pos_embed")?;
    assert_eq!(pos.len(), 257 * 64);
    let (mean, var, _) = stats(&pos);
    let n = pos.len() as f64;
    assert!(mean.abs() < 5.0 * 0.02 / n.sqrt(), "pos_embed mean {mean}");
    assert!(
        (var.sqrt() - 0.02).abs() < 0.02 * 5.0 / (2.0 * n).sqrt(),
        "pos_embed std {}",
        var.sqrt()
    );
    assert_eq!(values("cls_token")?.len(), 64);
    Ok(())
}

#[test]
fn he_init_draws_normal_weights_of_variance_two_over_fan_in_and_zero_biases() -> Result<()> {
    let mlp = build_mnist("mlp:512x512:relu:init=he")?;
    let cnn = build_mnist("cnn:16,16:init=he")?;
    let vars: Vec<_> = mlp
        .named_vars()
        .into_iter()
        .chain(cnn.named_vars())
        .collect();
    // (variable, fan_in): the hidden linear layers and the second convolution (16·3·3).
    for (name, fan_in) in [
        ("layers.0.weight", 784usize),
        ("layers.1.weight", 512),
        ("blocks.1.conv.weight", 144),
    ] {
        let values = values_of(&vars, name)?;
        let (mean, var, max_abs) = stats(&values);
        let want = 2.0 / fan_in as f64;
        let n = values.len() as f64;
        // The sample variance of a normal has variance 2σ⁴/n; allow 5 standard errors.
        let se = want * (2.0 / n).sqrt();
        assert!(
            (var - want).abs() < 5.0 * se,
            "{name}: variance {var}, want {want}"
        );
        assert!(mean.abs() < 5.0 * (want / n).sqrt(), "{name}: mean {mean}");
        // Unbounded, unlike U(±1/√fan_in): some draws exceed 2.5σ.
        assert!(
            max_abs > 2.5 * want.sqrt(),
            "{name}: |w| only up to {max_abs}"
        );
    }
    for name in ["layers.0.bias", "layers.1.bias", "blocks.0.conv.bias"] {
        let (_, var) = vars.iter().find(|(n, _)| n == name).expect(name);
        let values: Vec<f32> = var.as_tensor().flatten_all()?.to_vec1()?;
        assert!(values.iter().all(|v| *v == 0.0), "{name} is not zero");
    }
    // The classifier keeps PyTorch's default: the same bits as without `init=he`.
    let torch = build_mnist("mlp:512x512:relu")?;
    let head = |b: &Built| -> Result<Vec<f32>> {
        let (_, v) = b
            .named_vars()
            .into_iter()
            .find(|(n, _)| n == "head.weight")
            .expect("head");
        Ok(v.as_tensor().flatten_all()?.to_vec1()?)
    };
    assert_eq!(head(&mlp)?, head(&torch)?);
    Ok(())
}

/// The second moment of the last hidden activation of a 14-layer ReLU MLP of width 24 on
/// standard normal inputs, relative to the input's.
fn deep_signal(init: &str) -> Result<f64> {
    let spec = format!("mlp:{}:relu{init}", vec!["24"; 14].join("x"));
    let built = spec.parse::<ModelSpec>()?.build(
        InputShape::new(1, 8, 8),
        10,
        3,
        DType::F64,
        &Device::Cpu,
    )?;
    // Seeded inputs (candle's CPU generator cannot be seeded).
    let inputs = VarMap::new();
    let xs = seeded_var_builder(&inputs, 11, DType::F64, &Device::Cpu).get_with_hints(
        (256, 64),
        "xs",
        Init::Randn {
            mean: 0.0,
            stdev: 1.0,
        },
    )?;
    // Logits minus the head's bias, through the head: its weights are the same under both
    // initialisations, so the logits' spread tracks the last hidden layer's signal.
    let logits = built.model.forward(&xs, false)?;
    let centred = logits.broadcast_sub(&logits.mean_keepdim(0)?)?;
    let spread = centred.sqr()?.mean_all()?.to_scalar::<f64>()?;
    Ok(spread)
}

#[test]
fn he_init_keeps_the_signal_of_a_deep_plain_stack_that_torch_init_loses() -> Result<()> {
    // Under U(±1/√fan_in) each ReLU layer keeps about 1/6 of the second moment, so after 14
    // layers the logits hardly depend on the input; under N(0, 2/fan_in) it is kept.
    let torch = deep_signal("")?;
    let he = deep_signal(":init=he")?;
    eprintln!("logit spread: torch init {torch:e}, he init {he:e}");
    assert!(torch < 1e-6, "torch init: logit spread {torch}");
    assert!(he > 1e-3, "he init: logit spread {he}");
    assert!(he > 1e4 * torch, "he {he} vs torch {torch}");
    Ok(())
}
