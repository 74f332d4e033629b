//! `torch.optim.Adam` (L2 weight decay) and `torch.optim.AdamW` (decoupled), against PyTorch.
//!
//! Every expected number comes from `tests/torch_reference.py` (torch 2.15.0, CPU, float64),
//! whose problem and `run`/`warmup` helpers are quoted in `tests/common/mod.rs`.

mod common;

use common::{check, Expected};

// PyTorch:
//   run(lambda ps: Adam(ps, lr=0.01), steps=5)
#[test]
fn adam() -> anyhow::Result<()> {
    check(
        "adam:lr=0.01",
        &Expected {
            lrs: &[0.01, 0.01, 0.01, 0.01, 0.01],
            norms: &[
                5.575995566936903,
                5.453195528061059,
                5.3336789978996775,
                5.217453861212892,
                5.10452101676536,
            ],
            p: [
                0.4501216623549794,
                -0.95005116995819,
                1.4500762691272597,
                0.20009905636068662,
                -0.7000921078045241,
                1.9500688575011227,
            ],
            b: [0.25013041292370874, -0.3501971807059435],
        },
    )
}

// L2 weight decay, non-default betas and eps.
// PyTorch:
//   run(lambda ps: Adam(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1), steps=5)
#[test]
fn adam_weight_decay() -> anyhow::Result<()> {
    check(
        "adam:lr=0.01,beta1=0.8,beta2=0.99,eps=1e-6,wd=0.1",
        &Expected {
            lrs: &[0.01, 0.01, 0.01, 0.01, 0.01],
            norms: &[
                5.575995566936903,
                5.453195574625997,
                5.333759820204417,
                5.217740333965402,
                5.105174130583113,
            ],
            p: [
                0.450227311397047,
                -0.9500999599422307,
                1.4501388611895747,
                0.20019869215477532,
                -0.7001754675284533,
                1.9501269470628937,
            ],
            b: [0.2502482709493278, -0.3503633240401243],
        },
    )
}

// PyTorch:
//   run(lambda ps: AdamW(ps, lr=0.01, weight_decay=0.1), steps=5)
#[test]
fn adamw() -> anyhow::Result<()> {
    check(
        "adamw:lr=0.01,wd=0.1",
        &Expected {
            lrs: &[0.01, 0.01, 0.01, 0.01, 0.01],
            norms: &[
                5.575995566936903,
                5.4438820227607705,
                5.31568287670782,
                5.191384872406593,
                5.0709666956325705,
            ],
            p: [
                0.4477340872247643,
                -0.9451660673255289,
                1.4426961552690187,
                0.19895111247592306,
                -0.6964547509408334,
                1.9401946869117277,
            ],
            b: [0.24874439267990558, -0.3483204748094741],
        },
    )
}

// `adamw` without `wd` uses PyTorch's default weight decay 0.01.
// PyTorch:
//   run(lambda ps: AdamW(ps, lr=0.01), steps=5)
#[test]
fn adamw_defaults() -> anyhow::Result<()> {
    check(
        "adamw:lr=0.01",
        &Expected {
            lrs: &[0.01, 0.01, 0.01, 0.01, 0.01],
            norms: &[
                5.575995566936903,
                5.4522634242467705,
                5.331875663450489,
                5.214838299824639,
                5.101150251978672,
            ],
            p: [
                0.4498824619691133,
                -0.949561768142725,
                1.4493369168027115,
                0.19998404515452395,
                -0.6997277056349918,
                1.9490796493813072,
            ],
            b: [0.24999154369671425, -0.35000914042936093],
        },
    )
}
// A var that gets its first gradient late starts its own bias correction at 1 (PyTorch keeps
// `state["step"]` per parameter and counts only steps where it had a gradient).
// PyTorch:
//   x = torch.tensor([1.0, -2.0], requires_grad=True)
//   y = torch.tensor([0.5], requires_grad=True)
//   opt = torch.optim.Adam([x, y], lr=0.1)
//   for step in range(4):
//       opt.zero_grad()
//       loss = (x * x).sum() + (3 * (y * y).sum() if step >= 2 else 0)
//       loss.backward()
//       opt.step()
//   print(x.tolist(), y.tolist(), opt.state[y]["step"].item())
//   # [0.6039390605737459, -1.6015048952894209] [0.30118742027818446] 2.0
#[test]
fn adam_bias_correction_counts_per_var() -> anyhow::Result<()> {
    use candle_core::{Device, Var};
    let x = Var::new(&[1.0f64, -2.0], &Device::Cpu)?;
    let y = Var::new(&[0.5f64], &Device::Cpu)?;
    let mut opt = emc_optim::build(
        &emc_optim::OptimConfig::adam(0.1),
        vec![x.clone(), y.clone()],
    )?;
    for step in 0..4 {
        let mut loss = x.as_tensor().sqr()?.sum_all()?;
        if step >= 2 {
            loss = (loss + y.as_tensor().sqr()?.sum_all()?.affine(3.0, 0.0)?)?;
        }
        opt.step(&loss.backward()?)?;
    }
    let (x, y) = (
        x.as_tensor().to_vec1::<f64>()?,
        y.as_tensor().to_vec1::<f64>()?,
    );
    for (a, e) in
        x.iter()
            .chain(&y)
            .zip([0.6039390605737459, -1.6015048952894209, 0.30118742027818446])
    {
        anyhow::ensure!((a - e).abs() <= 1e-12 * e.abs(), "{x:?} {y:?}");
    }
    Ok(())
}
