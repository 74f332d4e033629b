//! `torch.optim.SGD`: plain, momentum, dampening, Nesterov, weight decay, against PyTorch.
//!
//! Every expected number comes from `tests/torch_reference.py` (torch 2.15.0, CPU, float64),
//! whose problem and `run`/`warmup` helpers are quoted in `tests/common/mod.rs`.

mod common;

use common::{check, Expected};

// SGD plain (full-batch gradient descent when the trainer feeds full-batch gradients).
// PyTorch:
//   run(lambda ps: SGD(ps, lr=0.1), steps=5)
#[test]
fn sgd_plain() -> anyhow::Result<()> {
    check(
        "sgd:lr=0.1",
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

// Momentum: the first step's buffer is the gradient itself.
// PyTorch:
//   run(lambda ps: SGD(ps, lr=0.05, momentum=0.9), steps=5)
#[test]
fn sgd_momentum() -> anyhow::Result<()> {
    check(
        "sgd:lr=0.05,momentum=0.9",
        &Expected {
            lrs: &[0.05, 0.05, 0.05, 0.05, 0.05],
            norms: &[
                5.575995566936903,
                4.299236956567524,
                3.061289884329975,
                2.3547136777669344,
                1.8595336097859525,
            ],
            p: [
                0.10516179774196009,
                0.1376420927315277,
                0.8490624350570973,
                -0.1757930861348031,
                0.20478336929509056,
                0.7337750637169295,
            ],
            b: [-0.8404400082568435, 0.3238808601880933],
        },
    )
}

// Dampening applies from the second step on.
// PyTorch:
//   run(lambda ps: SGD(ps, lr=0.05, momentum=0.9, dampening=0.5), steps=5)
#[test]
fn sgd_dampening() -> anyhow::Result<()> {
    check(
        "sgd:lr=0.05,momentum=0.9,dampening=0.5",
        &Expected {
            lrs: &[0.05, 0.05, 0.05, 0.05, 0.05],
            norms: &[
                5.575995566936903,
                4.299236956567524,
                3.2699019283392645,
                2.651782993334822,
                2.2584455624172968,
            ],
            p: [
                0.2663304716432371,
                -0.19185749759656628,
                1.0265393563737306,
                -0.03892523576777024,
                -0.036840527349534885,
                1.097910459545479,
            ],
            b: [-0.5999522009977384, 0.19983001584397306],
        },
    )
}

// PyTorch:
//   run(lambda ps: SGD(ps, lr=0.05, momentum=0.9, nesterov=True), steps=5)
#[test]
fn sgd_nesterov() -> anyhow::Result<()> {
    check(
        "sgd:lr=0.05,momentum=0.9,nesterov",
        &Expected {
            lrs: &[0.05, 0.05, 0.05, 0.05, 0.05],
            norms: &[
                5.575995566936903,
                3.512531977287207,
                2.561237782853949,
                1.9557599633437857,
                1.509272497189374,
            ],
            p: [
                -0.058058092193103414,
                0.25935074131321256,
                0.7757194232454988,
                -0.2230371510099539,
                0.25094241704632525,
                0.5574578952409943,
            ],
            b: [-0.8426722447792683, 0.31902919467375823],
        },
    )
}

// Weight decay without momentum (the fused no-momentum path).
// PyTorch:
//   run(lambda ps: SGD(ps, lr=0.1, weight_decay=0.1), steps=5)
#[test]
fn sgd_weight_decay() -> anyhow::Result<()> {
    check(
        "sgd:lr=0.1,wd=0.1",
        &Expected {
            lrs: &[0.1, 0.1, 0.1, 0.1, 0.1],
            norms: &[
                5.575995566936903,
                3.398717975238374,
                2.74322307095248,
                2.3294921520646796,
                2.029277700883775,
            ],
            p: [
                0.1869401811537885,
                -0.2433941713519097,
                1.0249808762407708,
                -0.03910977692968724,
                -0.1397117346697737,
                1.0782821192973608,
            ],
            b: [-0.3428832426730537, -0.031707886880724026],
        },
    )
}

// PyTorch:
//   run(lambda ps: SGD(ps, lr=0.05, momentum=0.8, dampening=0.1, weight_decay=0.05), steps=5)
#[test]
fn sgd_momentum_dampening_weight_decay() -> anyhow::Result<()> {
    check(
        "sgd:lr=0.05,momentum=0.8,dampening=0.1,wd=0.05",
        &Expected {
            lrs: &[0.05, 0.05, 0.05, 0.05, 0.05],
            norms: &[
                5.575995566936903,
                4.282388463060171,
                3.1287825467744605,
                2.4514851160244153,
                1.9792679306353882,
            ],
            p: [
                0.1768023531078521,
                -0.04528443366780945,
                0.9307084465704525,
                -0.10735836102773164,
                0.05376666040687646,
                0.9144637726537219,
            ],
            b: [-0.6441791108534914, 0.19595556428088118],
        },
    )
}

// PyTorch:
//   run(lambda ps: SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.05), steps=5)
#[test]
fn sgd_nesterov_weight_decay() -> anyhow::Result<()> {
    check(
        "sgd:lr=0.05,momentum=0.9,nesterov,wd=0.05",
        &Expected {
            lrs: &[0.05, 0.05, 0.05, 0.05, 0.05],
            norms: &[
                5.575995566936903,
                3.4899445702847887,
                2.531619511249615,
                1.9133041322414697,
                1.4585754090613492,
            ],
            p: [
                -0.06954059078385412,
                0.27458151354953847,
                0.7307167842544818,
                -0.22533931970316853,
                0.260963382623717,
                0.5042281706014013,
            ],
            b: [-0.8368708480074553, 0.32397610635634716],
        },
    )
}
