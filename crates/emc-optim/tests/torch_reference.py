"""Produces the expected numbers in tests/{sgd,adam,schedule,clip}.rs with PyTorch.

Run with any PyTorch 2.x (the numbers in the tests came from torch 2.15.0, CPU, float64):
    python3 crates/emc-optim/tests/torch_reference.py
Torch is not a dependency of the project; this script only documents where the numbers came from.
"""
import torch
from torch.optim import SGD, Adam, AdamW
from torch.optim.lr_scheduler import ConstantLR, CosineAnnealingLR, LinearLR, SequentialLR, StepLR

torch.set_default_dtype(torch.float64)

# The problem (tests/common/mod.rs builds the same in candle):
#   loss = 0.5 * sum(A * p^2) + sum(C * p) + 0.5 * sum((p @ b - y)^2)
# p is 3x2, b has 2 entries, `frozen` never gets a gradient (so it is skipped).
A = torch.tensor([[1.0, 2.0], [0.5, 3.0], [1.5, 0.8]])
C = torch.tensor([[0.1, -0.3], [0.2, 0.4], [-0.5, 0.25]])
Y = torch.tensor([1.0, -1.0, 0.5])


def problem():
    p = torch.tensor([[0.5, -1.0], [1.5, 0.25], [-0.75, 2.0]], requires_grad=True)
    b = torch.tensor([0.3, -0.4], requires_grad=True)
    frozen = torch.tensor([1.0, 2.0], requires_grad=True)
    return [p, b, frozen]


def loss_fn(p, b):
    return 0.5 * (A * p * p).sum() + (C * p).sum() + 0.5 * ((p @ b - Y) ** 2).sum()


def run(make_opt, steps, clip=None, make_sched=None):
    """Returns (lr used by each step, grad norm before clipping at each step, final p, final b)."""
    params = problem()
    opt = make_opt(params)
    sched = make_sched(opt) if make_sched else None
    lrs, norms = [], []
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(params[0], params[1]).backward()
        norm = torch.nn.utils.clip_grad_norm_(params, clip if clip is not None else float("inf"))
        lrs.append(opt.param_groups[0]["lr"])
        norms.append(norm.item())
        opt.step()
        if sched:
            sched.step()
    return lrs, norms, params[0].detach().flatten().tolist(), params[1].detach().tolist()


def warmup(main, w):
    """Our warm-up: lr * (t + 1) / w for t < w, then `main` from its own step 0."""
    return lambda opt: SequentialLR(
        opt, [LinearLR(opt, start_factor=1 / w, end_factor=1.0, total_iters=w - 1), main(opt)], milestones=[w]
    )


CASES = {
    # tests/sgd.rs
    "sgd_plain": dict(make_opt=lambda ps: SGD(ps, lr=0.1), steps=5),
    "sgd_momentum": dict(make_opt=lambda ps: SGD(ps, lr=0.05, momentum=0.9), steps=5),
    "sgd_dampening": dict(make_opt=lambda ps: SGD(ps, lr=0.05, momentum=0.9, dampening=0.5), steps=5),
    "sgd_nesterov": dict(make_opt=lambda ps: SGD(ps, lr=0.05, momentum=0.9, nesterov=True), steps=5),
    "sgd_weight_decay": dict(make_opt=lambda ps: SGD(ps, lr=0.1, weight_decay=0.1), steps=5),
    "sgd_momentum_dampening_weight_decay": dict(
        make_opt=lambda ps: SGD(ps, lr=0.05, momentum=0.8, dampening=0.1, weight_decay=0.05), steps=5
    ),
    "sgd_nesterov_weight_decay": dict(
        make_opt=lambda ps: SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.05), steps=5
    ),
    # tests/adam.rs
    "adam": dict(make_opt=lambda ps: Adam(ps, lr=0.01), steps=5),
    "adam_weight_decay": dict(
        make_opt=lambda ps: Adam(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1), steps=5
    ),
    "adamw": dict(make_opt=lambda ps: AdamW(ps, lr=0.01, weight_decay=0.1), steps=5),
    "adamw_defaults": dict(make_opt=lambda ps: AdamW(ps, lr=0.01), steps=5),
    # tests/schedule.rs
    "constant_warmup": dict(
        make_opt=lambda ps: SGD(ps, lr=0.05, momentum=0.9), steps=8,
        make_sched=warmup(lambda opt: ConstantLR(opt, factor=1.0), 3),
    ),
    "step": dict(
        make_opt=lambda ps: SGD(ps, lr=0.05, momentum=0.9), steps=8,
        make_sched=lambda opt: StepLR(opt, step_size=3, gamma=0.5),
    ),
    "step_warmup": dict(
        make_opt=lambda ps: SGD(ps, lr=0.05, momentum=0.9), steps=10,
        make_sched=warmup(lambda opt: StepLR(opt, step_size=3, gamma=0.5), 2),
    ),
    "step_warmup_1": dict(
        make_opt=lambda ps: SGD(ps, lr=0.05, momentum=0.9), steps=6,
        make_sched=warmup(lambda opt: StepLR(opt, step_size=2, gamma=0.1), 1),
    ),
    "cosine": dict(
        make_opt=lambda ps: Adam(ps, lr=0.02), steps=8,
        make_sched=lambda opt: CosineAnnealingLR(opt, T_max=8, eta_min=0.0),
    ),
    "cosine_warmup": dict(
        make_opt=lambda ps: Adam(ps, lr=0.02), steps=12,
        make_sched=warmup(lambda opt: CosineAnnealingLR(opt, T_max=12 - 3, eta_min=0.001), 3),
    ),
    # tests/clip.rs
    "sgd_clip": dict(make_opt=lambda ps: SGD(ps, lr=0.1, momentum=0.9), steps=5, clip=1.0),
    "sgd_clip_not_binding": dict(make_opt=lambda ps: SGD(ps, lr=0.1), steps=5, clip=100.0),
    "adamw_clip_cosine_warmup": dict(
        make_opt=lambda ps: AdamW(ps, lr=0.02, weight_decay=0.05), steps=10, clip=0.5,
        make_sched=warmup(lambda opt: CosineAnnealingLR(opt, T_max=10 - 2, eta_min=0.002), 2),
    ),
}


def rust(xs):
    return "[" + ", ".join(repr(float(x)) for x in xs) + "]"


if __name__ == "__main__":
    print(f"# torch {torch.__version__}")
    for name, case in CASES.items():
        lrs, norms, p, b = run(**case)
        print(f"{name}:\n    lrs: &{rust(lrs)},\n    norms: &{rust(norms)},\n    p: {rust(p)},\n    b: {rust(b)},")
