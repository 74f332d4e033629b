//! LR schedules with and without warm-up, against PyTorch's schedulers (see `emc_optim::lr_at`).
//!
//! Every expected number comes from `tests/torch_reference.py` (torch 2.15.0, CPU, float64),
//! whose problem and `run`/`warmup` helpers are quoted in `tests/common/mod.rs`.

mod common;

use common::{check, Expected};

// PyTorch:
//   run(lambda ps: SGD(ps, lr=0.05, momentum=0.9), steps=8,
//       make_sched=warmup(lambda opt: ConstantLR(opt, factor=1.0), 3))
#[test]
fn constant_warmup() -> anyhow::Result<()> {
    check(
        "sgd:lr=0.05,momentum=0.9,warmup=3",
        &Expected {
            lrs: &[
                0.016666666666666666,
                0.03333333333333333,
                0.05,
                0.05,
                0.05,
                0.05,
                0.05,
                0.05,
            ],
            norms: &[
                5.575995566936903,
                5.100410222549564,
                3.793329701881726,
                2.61418300459542,
                2.0621087050118994,
                1.6513922587000636,
                1.5776189433135965,
                2.4511270887018055,
            ],
            p: [
                -0.4392211481588044,
                0.9041131750416893,
                0.30376645096115396,
                -0.40150379024187066,
                0.6245189016694337,
                -0.1860762610832274,
            ],
            b: [-1.5028287597436436, 0.9210222229252175],
        },
    )
}

// PyTorch:
//   run(lambda ps: SGD(ps, lr=0.05, momentum=0.9), steps=8,
//       make_sched=lambda opt: StepLR(opt, step_size=3, gamma=0.5))
#[test]
fn step() -> anyhow::Result<()> {
    check(
        "sgd:lr=0.05,momentum=0.9,sched=step(3,0.5)",
        &Expected {
            lrs: &[0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125, 0.0125],
            norms: &[
                5.575995566936903,
                4.299236956567524,
                3.061289884329975,
                2.3547136777669344,
                2.0824531023542283,
                1.8130365944945466,
                1.5656014956269386,
                1.455100431985153,
            ],
            p: [
                0.030525748665819637,
                0.16412207189400438,
                0.8322058997725434,
                -0.1839860817437385,
                0.19696616557553717,
                0.6907290960892917,
            ],
            b: [-0.8075904032918149, 0.3097643211115078],
        },
    )
}

// The step schedule counts from the end of warm-up.
// PyTorch:
//   run(lambda ps: SGD(ps, lr=0.05, momentum=0.9), steps=10,
//       make_sched=warmup(lambda opt: StepLR(opt, step_size=3, gamma=0.5), 2))
#[test]
fn step_warmup() -> anyhow::Result<()> {
    check(
        "sgd:lr=0.05,momentum=0.9,sched=step(3,0.5),warmup=2",
        &Expected {
            lrs: &[
                0.025, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125, 0.0125,
            ],
            norms: &[
                5.575995566936903,
                4.88166483969757,
                3.2741839577394187,
                2.449869251800007,
                1.9462318314943683,
                1.5642190488964351,
                1.4566752375339105,
                1.4284406075441205,
                1.5457419402264916,
                1.6517711399247692,
            ],
            p: [
                -0.3155050995818221,
                0.625676818087304,
                0.4888483013612642,
                -0.3090214631294094,
                0.44593850707624116,
                0.12001230293797305,
            ],
            b: [-1.2378215254571416, 0.7206719670695083],
        },
    )
}

// One warm-up step is the full lr, but still shifts the main schedule by one step.
// PyTorch:
//   run(lambda ps: SGD(ps, lr=0.05, momentum=0.9), steps=6,
//       make_sched=warmup(lambda opt: StepLR(opt, step_size=2, gamma=0.1), 1))
#[test]
fn step_warmup_1() -> anyhow::Result<()> {
    check(
        "sgd:lr=0.05,momentum=0.9,sched=step(2,0.1),warmup=1",
        &Expected {
            lrs: &[
                0.05,
                0.05,
                0.05,
                0.005000000000000001,
                0.005000000000000001,
                0.0005000000000000001,
            ],
            norms: &[
                5.575995566936903,
                4.299236956567524,
                3.061289884329975,
                2.3547136777669344,
                2.295957808874883,
                2.2294563142441652,
            ],
            p: [
                0.3349911400037752,
                -0.3886768982906118,
                1.138635342555302,
                0.03375138464383463,
                -0.20402084750106209,
                1.315926502710913,
            ],
            b: [-0.40081701839202644, 0.07128776090645306],
        },
    )
}

// PyTorch:
//   run(lambda ps: Adam(ps, lr=0.02), steps=8,
//       make_sched=lambda opt: CosineAnnealingLR(opt, T_max=8, eta_min=0.0))
#[test]
fn cosine() -> anyhow::Result<()> {
    check(
        "adam:lr=0.02,sched=cosine(8,0)",
        &Expected {
            lrs: &[
                0.02,
                0.019238795325112867,
                0.017071067811865473,
                0.013826834323650897,
                0.009999999999999998,
                0.006173165676349102,
                0.002928932188134525,
                0.0007612046748871325,
            ],
            norms: &[
                5.575995566936903,
                5.3335877362192665,
                5.112667974541329,
                4.926618160074192,
                4.7827586161939575,
                4.682534754397381,
                4.62229993388848,
                4.594185515675356,
            ],
            p: [
                0.410453546047064,
                -0.9101874083173581,
                1.410293958754594,
                0.1604155787225188,
                -0.6603541455965674,
                1.9102569707332995,
            ],
            b: [0.21051503544678088, -0.31082081680504564],
        },
    )
}

// `total_steps` counts the warm-up: the cosine spans the 12 - 3 steps after it.
// PyTorch:
//   run(lambda ps: Adam(ps, lr=0.02), steps=12,
//       make_sched=warmup(lambda opt: CosineAnnealingLR(opt, T_max=12 - 3, eta_min=0.001), 3))
#[test]
fn cosine_warmup() -> anyhow::Result<()> {
    check(
        "adam:lr=0.02,sched=cosine(12,0.001),warmup=3",
        &Expected {
            lrs: &[
                0.006666666666666666,
                0.013333333333333332,
                0.019999999999999997,
                0.02,
                0.01942707989746613,
                0.01777742220963029,
                0.01525,
                0.012149657687835838,
                0.00885034231216416,
                0.00575,
                0.003222577790369709,
                0.001572920102533871,
            ],
            norms: &[
                5.575995566936903,
                5.49377202176038,
                5.3336654429887265,
                5.104309231659508,
                4.887840718897907,
                4.689735366585279,
                4.5187722460855495,
                4.379855794346495,
                4.2742613863055245,
                4.200202797313665,
                4.153427374063063,
                4.127714039655229,
            ],
            p: [
                0.35780873281990266,
                -0.8567875722747229,
                1.3572703566893887,
                0.10793907747573019,
                -0.6075049300341007,
                1.8570789429111714,
            ],
            b: [0.15817920701366198, -0.2594963010470497],
        },
    )
}
// The pure function, on the values PyTorch printed above, and where we depart from PyTorch.

#[test]
fn lr_at_warmup_is_linear_from_lr_over_w() {
    let cfg: emc_optim::OptimConfig = "sgd:lr=0.4,warmup=4".parse().unwrap();
    let lrs: Vec<f64> = (0..6).map(|t| emc_optim::lr_at(&cfg, t)).collect();
    assert_eq!(lrs, [0.1, 0.2, 0.30000000000000004, 0.4, 0.4, 0.4]);
}

// PyTorch's CosineAnnealingLR climbs back to the base lr after T_max steps (its recursive form
// is periodic); we hold min_lr instead, since a run longer than `total_steps` is a config slip.
#[test]
fn cosine_holds_min_lr_after_total_steps() {
    let cfg: emc_optim::OptimConfig = "adam:lr=0.02,sched=cosine(12,0.001),warmup=3"
        .parse()
        .unwrap();
    assert!(emc_optim::lr_at(&cfg, 11) > 0.001);
    for t in 12..40 {
        assert_eq!(emc_optim::lr_at(&cfg, t), 0.001, "step {t}");
    }
}

#[test]
fn step_schedule_decays_every_step_size_steps_after_warmup() {
    let cfg: emc_optim::OptimConfig = "sgd:lr=1,sched=step(2,0.5),warmup=1".parse().unwrap();
    let lrs: Vec<f64> = (0..8).map(|t| emc_optim::lr_at(&cfg, t)).collect();
    assert_eq!(lrs, [1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.125]);
}
