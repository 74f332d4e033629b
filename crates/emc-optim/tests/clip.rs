//! Gradient-norm clipping (`torch.nn.utils.clip_grad_norm_`) before the update, against PyTorch.
//!
//! Every expected number comes from `tests/torch_reference.py` (torch 2.15.0, CPU, float64),
//! whose problem and `run`/`warmup` helpers are quoted in `tests/common/mod.rs`.

mod common;

use common::{check, Expected};

// The norm (5.58 at first) is clipped to 1; the returned norm is the one before clipping.
// PyTorch:
//   run(lambda ps: SGD(ps, lr=0.1, momentum=0.9), steps=5, clip=1.0)
#[test]
fn sgd_clip() -> anyhow::Result<()> {
    check(
        "sgd:lr=0.1,momentum=0.9,clip=1",
        &Expected {
            lrs: &[0.1, 0.1, 0.1, 0.1, 0.1],
            norms: &[
                5.575995566936903,
                5.066333027335331,
                4.264908078974004,
                3.4469939947127695,
                2.796998017012764,
            ],
            p: [
                0.3509551835320792,
                -0.44094675849291887,
                1.1716717841043627,
                0.04836244572165473,
                -0.2545854126453706,
                1.3756275353475487,
            ],
            b: [-0.3306273055945416, 0.01487976247932914],
        },
    )
}

// A max norm above the gradient norm changes nothing (same numbers as `sgd_plain`).
// PyTorch:
//   run(lambda ps: SGD(ps, lr=0.1), steps=5, clip=100.0)
#[test]
fn sgd_clip_not_binding() -> anyhow::Result<()> {
    check(
        "sgd:lr=0.1,clip=100",
        &Expected {
            lrs: &[0.1, 0.1, 0.1, 0.1, 0.1],
            norms: &[
                5.575995566936903,
                3.444264084888275,
                2.7975404579585765,
                2.3922428883321842,
                2.098240877309727,
            ],
            p: [
                0.20124903920864384,
                -0.26306091095186784,
                1.0814544383718432,
                -0.036805543141532365,
                -0.15482077910798644,
                1.143007641739379,
            ],
            b: [-0.3521057391706091, -0.034049508294667005],
        },
    )
}

// Everything at once: AdamW, clipping, cosine schedule with warm-up.
// PyTorch:
//   run(lambda ps: AdamW(ps, lr=0.02, weight_decay=0.05), steps=10, clip=0.5,
//       make_sched=warmup(lambda opt: CosineAnnealingLR(opt, T_max=10 - 2, eta_min=0.002), 2))
#[test]
fn adamw_clip_cosine_warmup() -> anyhow::Result<()> {
    check(
        "adamw:lr=0.02,wd=0.05,sched=cosine(10,0.002),warmup=2,clip=0.5",
        &Expected {
            lrs: &[
                0.01,
                0.02,
                0.020000000000000004,
                0.019314915792601584,
                0.01736396103067893,
                0.01444415089128581,
                0.011000000000000001,
                0.007555849108714193,
                0.004636038969321073,
                0.0026850842073984195,
            ],
            norms: &[
                5.575995566936903,
                5.448536688332034,
                5.204023049043736,
                4.9731430073600835,
                4.762726395569019,
                4.583781249884035,
                4.442096504648751,
                4.338468573644963,
                4.269399081397039,
                4.227870670346479,
            ],
            p: [
                0.3702403945866742,
                -0.8665651137366988,
                1.3636235028688044,
                0.12182805438847867,
                -0.6184883185581176,
                1.8603728603984286,
            ],
            b: [0.17170071545776563, -0.2718088515890134],
        },
    )
}
// `grad_norm` on its own: the global L2 norm over vars with gradients.
#[test]
fn grad_norm_is_global_l2_over_vars_with_gradients() -> anyhow::Result<()> {
    use candle_core::{Device, Var};
    let a = Var::new(&[[1.0f32, 2.0], [0.0, -2.0]], &Device::Cpu)?;
    let b = Var::new(&[4.0f64], &Device::Cpu)?;
    let unused = Var::new(&[100.0f32], &Device::Cpu)?;
    // d/da of sum(a^2)/2 is a, d/db of b^2/2 is b: norm sqrt(1 + 4 + 0 + 4 + 16) = 5.
    let mut grads = a
        .as_tensor()
        .sqr()?
        .sum_all()?
        .affine(0.5, 0.0)?
        .backward()?;
    let gb = b
        .as_tensor()
        .sqr()?
        .sum_all()?
        .affine(0.5, 0.0)?
        .backward()?;
    grads.insert(b.as_tensor(), gb.get(b.as_tensor()).unwrap().clone());
    let norm = emc_optim::grad_norm(&[a.clone(), b.clone(), unused.clone()], &grads)?;
    assert_eq!(norm, 5.0);
    assert_eq!(emc_optim::grad_norm(&[unused], &grads)?, 0.0);
    Ok(())
}
