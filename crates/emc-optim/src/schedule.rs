//! Learning-rate schedules (with linear warm-up) as a pure function of the step index; see
//! [`lr_at`].

use crate::config::{OptimConfig, Schedule};

/// The learning rate that step `step` (0-based) uses under `cfg`.
///
/// Step `t` (0-based: the first call to [`Optimizer::step`](crate::Optimizer::step) is `t = 0`)
/// with base lr `η`, `w = warmup_steps` and `s = t - w`:
///
/// | phase / schedule | lr at step `t` |
/// |---|---|
/// | warm-up, `t < w` | `η · (t + 1) / w` |
/// | `Constant` | `η` |
/// | `Step { step_size, gamma }` | `η · gamma^⌊s / step_size⌋` |
/// | `Cosine { total_steps, min_lr }`, `s < T` where `T = total_steps - w` | `min_lr + (η - min_lr) · (1 + cos(π s / T)) / 2` |
/// | `Cosine`, `s ≥ T` | `min_lr` (PyTorch's `CosineAnnealingLR` would climb back up; we hold) |
/// | `CosineBudget` | `η` until resolved: [`build`](crate::build) refuses it unresolved, see [`OptimConfig::for_budget`] |
///
/// This is PyTorch's
/// ```python
/// warm = LinearLR(opt, start_factor=1 / w, end_factor=1.0, total_iters=w - 1)
/// sched = SequentialLR(opt, [warm, main], milestones=[w])   # just `main` when w == 0
/// # main: ConstantLR(opt, factor=1.0) | StepLR(opt, step_size, gamma)
/// #       | CosineAnnealingLR(opt, T_max=total_steps - w, eta_min=min_lr)
/// # each step: opt.step(); sched.step()
/// ```
/// so warm-up reaches the full `η` on its last step `t = w - 1`, and the main schedule then
/// starts from its own step 0 (also `η`) at `t = w`. It is also Hugging Face's
/// `get_cosine_schedule_with_warmup` with the warm-up shifted by one step (theirs starts at 0).
pub fn lr_at(cfg: &OptimConfig, step: usize) -> f64 {
    let (lr, w) = (cfg.lr, cfg.warmup_steps);
    if step < w {
        return lr * (step + 1) as f64 / w as f64;
    }
    let s = step - w;
    match cfg.schedule {
        Schedule::Constant | Schedule::CosineBudget { .. } => lr,
        Schedule::Step { step_size, gamma } => lr * gamma.powf((s / step_size.max(1)) as f64),
        Schedule::Cosine {
            total_steps,
            min_lr,
        } => {
            let span = total_steps.saturating_sub(w);
            if s >= span {
                min_lr
            } else {
                let cos = (std::f64::consts::PI * s as f64 / span as f64).cos();
                min_lr + (lr - min_lr) * (1.0 + cos) / 2.0
            }
        }
    }
}
