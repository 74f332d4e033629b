//! Batch-norm state: running statistics live in the VarMap (so they are saved), are
//! updated in training mode only, with PyTorch's momentum and unbiased variance, and are
//! never handed to the optimizer.

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use emc_models::{init::is_trainable, InputShape, ModelSpec};

#[test]
fn running_stats_are_variables_but_not_trainable() -> Result<()> {
    let built = "resnet18:k=2".parse::<ModelSpec>()?.build(
        InputShape::new(3, 8, 8),
        4,
        0,
        DType::F32,
        &Device::Cpu,
    )?;
    let all = built.named_vars();
    let trainable = built.named_trainable();
    let stats: Vec<_> = all.iter().filter(|(n, _)| !is_trainable(n)).collect();
    // stem + 16 block norms + 3 downsample norms, two statistics each
    assert_eq!(stats.len(), 2 * 20);
    assert!(stats
        .iter()
        .all(|(n, _)| n.ends_with(".running_mean") || n.ends_with(".running_var")));
    assert_eq!(trainable.len() + stats.len(), all.len());
    assert_eq!(built.trainable.len(), trainable.len());
    for (var, (name, named)) in built.trainable.iter().zip(&trainable) {
        assert!(is_trainable(name));
        assert_eq!(
            var.as_tensor().id(),
            named.as_tensor().id(),
            "{name}: trainable is sorted by name"
        );
    }
    Ok(())
}

#[test]
fn training_mode_updates_running_stats_like_pytorch() -> Result<()> {
    // torch: bn = nn.BatchNorm2d(2); x = torch.tensor(values).reshape(2, 2, 1, 2); bn.train(); bn(x)
    //   bn.running_mean → 0.1 · mean over (N, H, W); bn.running_var → 0.9 + 0.1 · unbiased var
    let built = "cnn:2:identity:nopool:bn".parse::<ModelSpec>()?.build(
        InputShape::new(1, 1, 2),
        2,
        0,
        DType::F64,
        &Device::Cpu,
    )?;
    let get = |name: &str| -> Result<Vec<f64>> {
        let vars = built.named_vars();
        let (_, var) = vars.iter().find(|(n, _)| n == name).expect(name);
        Ok(var.as_tensor().to_vec1::<f64>()?)
    };
    let x = Tensor::new(&[1.0f64, 2.0, 4.0, 8.0], &Device::Cpu)?.reshape((2, 1, 1, 2))?;
    let before = built.model.forward(&x, false)?;
    assert_eq!(get("blocks.0.bn.running_mean")?, [0.0, 0.0]);
    built.model.forward(&x, false)?;
    assert_eq!(
        get("blocks.0.bn.running_mean")?,
        [0.0, 0.0],
        "eval mode must not update"
    );

    // The conv output per channel c is w_c·x + b_c (3x3 kernel, centre tap on a 1x2 image
    // with padding); recompute its batch statistics from the conv weights.
    let vars = built.named_vars();
    let w = vars
        .iter()
        .find(|(n, _)| n == "blocks.0.conv.weight")
        .expect("w")
        .1
        .as_tensor()
        .to_dtype(DType::F64)?;
    let conv = x.conv2d(&w, 1, 1, 1, 1)?; // [2, 2, 1, 2], no bias under batch norm
    built.model.forward(&x, true)?;
    let mean = get("blocks.0.bn.running_mean")?;
    let var = get("blocks.0.bn.running_var")?;
    for c in 0..2 {
        let vals: Vec<f64> = conv.narrow(1, c, 1)?.flatten_all()?.to_vec1()?;
        let m = vals.iter().sum::<f64>() / 4.0;
        let unbiased = vals.iter().map(|v| (v - m).powi(2)).sum::<f64>() / 3.0;
        assert!((mean[c] - 0.1 * m).abs() < 1e-12, "channel {c} mean");
        assert!(
            (var[c] - (0.9 + 0.1 * unbiased)).abs() < 1e-12,
            "channel {c} var"
        );
    }
    let after = built.model.forward(&x, false)?;
    assert!(
        (before - after)?.abs()?.max_all()?.to_scalar::<f64>()? > 0.0,
        "eval output uses the new stats"
    );
    Ok(())
}

#[test]
fn saved_varmap_holds_the_running_stats() -> Result<()> {
    let spec: ModelSpec = "cnn:3:relu:bn".parse()?;
    let input = InputShape::new(1, 4, 4);
    let built = spec.build(input, 2, 0, DType::F32, &Device::Cpu)?;
    let x = Tensor::rand(0f32, 1f32, (5, 1, 4, 4), &Device::Cpu)?;
    built.model.forward(&x, true)?;
    let path =
        std::env::temp_dir().join(format!("emc-models-bn-{}.safetensors", std::process::id()));
    built.varmap.save(&path)?;
    let mut fresh = spec.build(input, 2, 1, DType::F32, &Device::Cpu)?;
    fresh.varmap.load(&path)?;
    std::fs::remove_file(&path)?;
    let want = built.model.forward(&x, false)?;
    let got = fresh.model.forward(&x, false)?;
    assert_eq!(want.to_vec2::<f32>()?, got.to_vec2::<f32>()?);
    Ok(())
}
