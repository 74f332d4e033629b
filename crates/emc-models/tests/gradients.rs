//! Finite-difference checks (f64, central differences, eps 1e-6, rel tol 1e-5) of every
//! layer, every activation and the cross-entropy loss: the autograd gradient of a scalar
//! probe `sum(out ⊙ r)` w.r.t. the input and every parameter must match.

// The finite-difference checker and seeded tensors, shared with emc-kernels' tests.
#[path = "../../emc-kernels/tests/common/mod.rs"]
mod common;

use anyhow::Result;
use candle_core::{DType, Device, Module, ModuleT, Tensor, Var};
use candle_nn::VarMap;
use common::{check_gradients, named, probe_loss, uniform, uniform_var};
use emc_models::{
    init::{named_vars, seeded_var_builder},
    layers, Activation,
};

/// The trainable variables of `varmap` plus the input `x`.
fn with_input(varmap: &VarMap, x: &Var) -> Vec<(String, Var)> {
    let mut vars = named_vars(varmap, true);
    vars.push(("input".into(), x.clone()));
    vars
}

fn vb(varmap: &VarMap) -> candle_nn::VarBuilder<'static> {
    seeded_var_builder(varmap, 3, DType::F64, &Device::Cpu)
}

#[test]
fn linear_rank2_and_rank3() -> Result<()> {
    let varmap = VarMap::new();
    let fc = layers::linear(5, 4, true, vb(&varmap).pp("fc"))?;
    for shape in [&[3usize, 5][..], &[2, 3, 5]] {
        let x = uniform_var(shape, -1.0, 1.0, 1)?;
        let report = check_gradients(&with_input(&varmap, &x), None, || {
            probe_loss(&fc.forward(&x)?, 2)
        })?;
        println!("linear {shape:?}: {report:?}");
    }
    let nobias = layers::linear(5, 4, false, vb(&varmap).pp("nobias"))?;
    let x = uniform_var(&[3, 5], -1.0, 1.0, 1)?;
    check_gradients(&with_input(&varmap, &x), None, || {
        probe_loss(&nobias.forward(&x)?, 2)
    })?;
    Ok(())
}

#[test]
fn conv2d_strides_paddings_and_odd_sizes() -> Result<()> {
    // (in, out, kernel, stride, padding, H, W): the CNN/ResNet 3x3 convs, the stride-2
    // downsampling convs on even and odd inputs, and the 1x1 shortcut.
    let cases = [
        (2, 3, 3, 1, 1, 5, 6),
        (2, 3, 3, 2, 1, 6, 6),
        (2, 3, 3, 2, 1, 7, 5),
        (3, 2, 1, 2, 0, 6, 6),
        (3, 2, 1, 2, 0, 5, 7),
    ];
    for (i, &(cin, cout, k, s, p, h, w)) in cases.iter().enumerate() {
        let varmap = VarMap::new();
        let conv = layers::conv2d(cin, cout, k, s, p, true, vb(&varmap).pp("conv"))?;
        let x = uniform_var(&[2, cin, h, w], -1.0, 1.0, 10 + i as u64)?;
        let report = check_gradients(&with_input(&varmap, &x), None, || {
            probe_loss(&conv.forward(&x)?, 2)
        })?;
        println!("conv2d case {i}: {report:?}");
    }
    Ok(())
}

#[test]
fn max_pool_gradient_goes_to_the_argmax_with_weight_one() -> Result<()> {
    // One 2x2 window whose maximum is at (1, 0): d max / dx = [[0, 0], [1, 0]].
    let x = Var::from_tensor(&Tensor::new(
        &[[[[0.1f64, 0.2], [0.9, 0.3]]]],
        &Device::Cpu,
    )?)?;
    let y = layers::max_pool2x2(x.as_tensor())?;
    assert_eq!(y.flatten_all()?.to_vec1::<f64>()?, [0.9]);
    let grads = y.sum_all()?.backward()?;
    let g = grads
        .get(x.as_tensor())
        .expect("gradient")
        .flatten_all()?
        .to_vec1::<f64>()?;
    assert_eq!(g, [0.0, 0.0, 1.0, 0.0]);
    // Random inputs, even and odd sizes (a trailing odd row/column is dropped).
    for (i, shape) in [[2usize, 3, 4, 6], [1, 2, 5, 7]].iter().enumerate() {
        let x = uniform_var(shape, -1.0, 1.0, 20 + i as u64)?;
        let y = layers::max_pool2x2(x.as_tensor())?;
        assert_eq!(y.dims(), &[shape[0], shape[1], shape[2] / 2, shape[3] / 2]);
        let report = check_gradients(&named(&[("x", &x)]), None, || {
            probe_loss(&layers::max_pool2x2(x.as_tensor())?, 2)
        })?;
        println!("max_pool2x2 {shape:?}: {report:?}");
    }
    Ok(())
}

#[test]
fn composed_layer_norm() -> Result<()> {
    let varmap = VarMap::new();
    let ln = layers::layer_norm(6, 1e-5, vb(&varmap).pp("ln"))?;
    // Non-trivial affine parameters so their gradients are exercised in general position.
    for (name, var) in named_vars(&varmap, true) {
        var.set(&uniform(var.dims(), 0.5, 1.5, name.len() as u64)?)?;
    }
    let x = uniform_var(&[2, 3, 6], -2.0, 2.0, 4)?;
    let report = check_gradients(&with_input(&varmap, &x), None, || {
        probe_loss(&ln.forward(&x)?, 5)
    })?;
    println!("layer_norm: {report:?}");
    Ok(())
}

#[test]
fn batch_norm_train_and_eval_mode() -> Result<()> {
    for train in [true, false] {
        let varmap = VarMap::new();
        let bn = layers::batch_norm2d(3, vb(&varmap).pp("bn"))?;
        for (name, var) in named_vars(&varmap, true) {
            var.set(&uniform(var.dims(), 0.5, 1.5, name.len() as u64)?)?;
        }
        let x = uniform_var(&[4, 3, 3, 2], -2.0, 2.0, 6)?;
        let report = check_gradients(&with_input(&varmap, &x), None, || {
            probe_loss(&bn.forward_t(&x, train)?, 7)
        })?;
        println!("batch_norm train={train}: {report:?}");
    }
    Ok(())
}

#[test]
fn composed_softmax() -> Result<()> {
    let x = uniform_var(&[3, 4, 5], -3.0, 3.0, 8)?;
    let report = check_gradients(&named(&[("x", &x)]), None, || {
        probe_loss(&layers::softmax_last_dim(x.as_tensor())?, 9)
    })?;
    println!("softmax: {report:?}");
    let y = layers::softmax_last_dim(x.as_tensor())?
        .sum(2)?
        .flatten_all()?
        .to_vec1::<f64>()?;
    assert!(y.iter().all(|s| (s - 1.0).abs() < 1e-12));
    Ok(())
}

#[test]
fn attention_block() -> Result<()> {
    let varmap = VarMap::new();
    let attn = layers::attention(8, 2, vb(&varmap).pp("attn"))?;
    let x = uniform_var(&[2, 5, 8], -1.0, 1.0, 11)?;
    let report = check_gradients(&with_input(&varmap, &x), None, || {
        probe_loss(&attn.forward(&x)?, 12)
    })?;
    println!("attention: {report:?}");
    Ok(())
}

#[test]
fn transformer_block_and_feed_forward() -> Result<()> {
    let varmap = VarMap::new();
    let block = layers::transformer_block(8, 2, 12, Activation::Gelu, vb(&varmap).pp("block"))?;
    let x = uniform_var(&[2, 4, 8], -1.0, 1.0, 13)?;
    let report = check_gradients(&with_input(&varmap, &x), None, || {
        probe_loss(&block.forward(&x)?, 14)
    })?;
    println!("transformer block: {report:?}");
    Ok(())
}

#[test]
fn patch_embedding_matches_a_strided_convolution() -> Result<()> {
    for (i, (h, w)) in [(8usize, 8usize), (9, 10)].into_iter().enumerate() {
        let varmap = VarMap::new();
        let embed = layers::patch_embed(3, 5, 4, vb(&varmap).pp("pe"))?;
        let x = uniform_var(&[2, 3, h, w], -1.0, 1.0, 15 + i as u64)?;
        let report = check_gradients(&with_input(&varmap, &x), None, || {
            probe_loss(&embed.forward(&x)?, 16)
        })?;
        println!("patch_embed {h}x{w}: {report:?}");
        // Same values as nn.Conv2d(3, 5, 4, stride=4) with the same weight, flattened to tokens.
        let vars = named_vars(&varmap, true);
        let (weight, bias) = (&vars[1].1, &vars[0].1); // sorted: pe.bias, pe.weight
        let conv = x
            .as_tensor()
            .conv2d(weight.as_tensor(), 0, 4, 1, 1)?
            .broadcast_add(&bias.as_tensor().reshape((1, 5, 1, 1))?)?
            .flatten_from(2)?
            .transpose(1, 2)?; // [N, T, D]
        let diff = (embed.forward(&x)? - conv)?
            .abs()?
            .max_all()?
            .to_scalar::<f64>()?;
        assert!(
            diff < 1e-12,
            "patch embedding differs from the convolution by {diff}"
        );
    }
    Ok(())
}

#[test]
fn residual_basic_block_train_mode() -> Result<()> {
    // Identity shortcut, and the stride-2 1x1 conv + bn shortcut.
    for (i, (cin, cout, stride)) in [(3usize, 3usize, 1usize), (2, 4, 2)]
        .into_iter()
        .enumerate()
    {
        let varmap = VarMap::new();
        let block =
            layers::basic_block(cin, cout, stride, Activation::Relu, vb(&varmap).pp("block"))?;
        let x = uniform_var(&[3, cin, 4, 4], -1.0, 1.0, 17 + i as u64)?;
        let report = check_gradients(&with_input(&varmap, &x), None, || {
            probe_loss(&block.forward_t(&x, true)?, 18)
        })?;
        println!("basic block {cin}->{cout} stride {stride}: {report:?}");
    }
    Ok(())
}

#[test]
fn every_activation() -> Result<()> {
    for (i, act) in Activation::ALL.iter().enumerate() {
        // Values on both sides of every kink, away from it; large enough to reach the
        // saturating tails of tanh/sigmoid/softplus.
        let x = uniform_var(&[4, 7], -4.0, 4.0, 30 + i as u64)?;
        let report = check_gradients(&named(&[("x", &x)]), None, || {
            probe_loss(&act.apply(x.as_tensor())?, 31)
        })?;
        println!("{act}: {report:?}");
    }
    Ok(())
}

#[test]
fn activation_values_match_pytorch() -> Result<()> {
    // torch: x = torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0], dtype=torch.float64)
    //   F.relu, F.leaky_relu(x, 0.01), F.elu, F.gelu, F.gelu(x, approximate="tanh"), F.silu,
    //   F.softplus, torch.tanh, torch.sigmoid
    let x = Tensor::new(&[-2.0f64, -0.5, 0.0, 0.5, 2.0], &Device::Cpu)?;
    let expected: [(Activation, [f64; 5]); 10] = [
        (Activation::Relu, [0.0, 0.0, 0.0, 0.5, 2.0]),
        (Activation::LeakyRelu, [-0.02, -0.005, 0.0, 0.5, 2.0]),
        (
            Activation::Elu,
            [-0.8646647167633873, -0.3934693402873666, 0.0, 0.5, 2.0],
        ),
        (
            Activation::Gelu,
            [
                -0.04550026389635842,
                -0.15426876936299344,
                0.0,
                0.34573123063700656,
                1.9544997361036416,
            ],
        ),
        (
            Activation::GeluTanh,
            [
                -0.04540230591222494,
                -0.15428599017485606,
                0.0,
                0.34571400982514394,
                1.954597694087775,
            ],
        ),
        (
            Activation::Silu,
            [
                -0.2384058440442351,
                -0.1887703343990727,
                0.0,
                0.3112296656009273,
                1.7615941559557646,
            ],
        ),
        (
            Activation::Softplus,
            [
                0.1269280110429725,
                0.4740769841801067,
                std::f64::consts::LN_2,
                0.9740769841801067,
                2.1269280110429727,
            ],
        ),
        (
            Activation::Tanh,
            [
                -0.9640275800758169,
                -0.46211715726000974,
                0.0,
                0.46211715726000974,
                0.9640275800758169,
            ],
        ),
        (
            Activation::Sigmoid,
            [
                0.11920292202211755,
                0.3775406687981454,
                0.5,
                0.6224593312018546,
                0.8807970779778823,
            ],
        ),
        (Activation::Identity, [-2.0, -0.5, 0.0, 0.5, 2.0]),
    ];
    for (act, want) in expected {
        let got = act.apply(&x)?.to_vec1::<f64>()?;
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{act}: got {got:?}, want {want:?}");
        }
    }
    Ok(())
}

#[test]
fn cross_entropy_loss() -> Result<()> {
    let logits = uniform_var(&[4, 5], -3.0, 3.0, 40)?;
    let targets = Tensor::new(&[0u32, 3, 4, 3], &Device::Cpu)?;
    let report = check_gradients(&named(&[("logits", &logits)]), None, || {
        Ok(candle_nn::loss::cross_entropy(
            logits.as_tensor(),
            &targets,
        )?)
    })?;
    println!("cross_entropy: {report:?}");
    // Value: mean over rows of logsumexp(z) - z[y].
    let z = logits.as_tensor().to_vec2::<f64>()?;
    let want: f64 = z
        .iter()
        .zip([0usize, 3, 4, 3])
        .map(|(row, y)| row.iter().map(|v| v.exp()).sum::<f64>().ln() - row[y])
        .sum::<f64>()
        / 4.0;
    let got = candle_nn::loss::cross_entropy(logits.as_tensor(), &targets)?.to_scalar::<f64>()?;
    assert!((got - want).abs() < 1e-12);
    Ok(())
}
