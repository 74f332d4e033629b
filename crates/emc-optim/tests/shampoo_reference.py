"""Produces the expected numbers in tests/shampoo.rs with torch-optimizer's Shampoo.

Run with any PyTorch 2.x and torch-optimizer 0.3 (the numbers in the tests came from torch
2.15.0 and torch-optimizer 0.3.0, CPU, float64):
    pip install torch torch-optimizer
    python3 crates/emc-optim/tests/shampoo_reference.py
Neither is a dependency of the project; this script only documents where the numbers came from.
"""
import torch
from torch_optimizer import Shampoo

from torch_reference import rust, run

torch.set_default_dtype(torch.float64)

CASES = {
    "shampoo": dict(make_opt=lambda ps: Shampoo(ps, lr=0.02), steps=6),
    "shampoo_momentum_weight_decay": dict(
        make_opt=lambda ps: Shampoo(ps, lr=0.02, momentum=0.9, weight_decay=0.1), steps=6
    ),
    "shampoo_update_freq_2": dict(
        make_opt=lambda ps: Shampoo(ps, lr=0.1, epsilon=1e-2, update_freq=2), steps=6
    ),
    "shampoo_update_freq_3_momentum_weight_decay": dict(
        make_opt=lambda ps: Shampoo(ps, lr=0.05, momentum=0.5, weight_decay=0.01, epsilon=1.0, update_freq=3),
        steps=7,
    ),
    "shampoo_clip": dict(make_opt=lambda ps: Shampoo(ps, lr=0.05, epsilon=1e-2), steps=5, clip=1.0),
}


# Tensors of order 0, 3 and 4 (a conv weight's order):
#   loss = sum_x 0.5 * sum(A_x * x^2) + sum(C_x * x) + 0.5 * (sum(x^2 over all) - 1)^2
# with A_x = 1 + (i mod 5) / 4 and C_x = ((i mod 7) - 3) / 10 over the row-major index i.
def coefs(shape):
    i = torch.arange(torch.Size(shape).numel(), dtype=torch.float64)
    return (1 + (i % 5) / 4).reshape(shape), ((i % 7 - 3) / 10).reshape(shape)


def tensors_problem():
    # Initial values: (((i * 37) mod 17) - 8) / 10 over the row-major index i (s: 0.7).
    def init(shape):
        i = torch.arange(torch.Size(shape).numel(), dtype=torch.float64)
        return (((i * 37) % 17 - 8) / 10).reshape(shape).requires_grad_(True)

    return [init((3, 2, 2, 2)), init((2, 3, 4)), torch.tensor(0.7, requires_grad=True)]


def tensors_loss(params):
    total = 0.0
    sq = 0.0
    for x in params:
        a, c = coefs(x.shape)
        total = total + 0.5 * (a * x * x).sum() + (c * x).sum()
        sq = sq + (x * x).sum()
    return total + 0.5 * (sq - 1) ** 2


def run_tensors(make_opt, steps):
    params = tensors_problem()
    opt = make_opt(params)
    for _ in range(steps):
        opt.zero_grad()
        tensors_loss(params).backward()
        opt.step()
    return [x.detach().flatten().tolist() for x in params]


TENSOR_CASES = {
    "shampoo_tensors": dict(make_opt=lambda ps: Shampoo(ps, lr=0.02, momentum=0.3, weight_decay=0.05), steps=5),
    "shampoo_tensors_update_freq_2": dict(
        make_opt=lambda ps: Shampoo(ps, lr=0.02, epsilon=1e-3, update_freq=2), steps=5
    ),
}


# A small MLP, 3 -> 4 (tanh) -> 3, cross-entropy over 5 fixed samples. Inputs and initial
# weights are (((i * 37) mod 17) - 8) / 10 over the row-major index i, scaled by `scale`.
def filled(shape, scale=1.0):
    i = torch.arange(torch.Size(shape).numel(), dtype=torch.float64)
    return ((((i * 37) % 17 - 8) / 10) * scale).reshape(shape)


X = filled((5, 3), 2.0)
LABELS = torch.tensor([0, 2, 1, 1, 0])


def run_mlp(make_opt, steps):
    params = [filled(s).requires_grad_(True) for s in [(4, 3), (4,), (3, 4), (3,)]]
    w1, b1, w2, b2 = params
    opt = make_opt(params)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        logits = torch.tanh(X @ w1.T + b1) @ w2.T + b2
        loss = torch.nn.functional.cross_entropy(logits, LABELS)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    return losses, [x.detach().flatten().tolist() for x in params]


MLP_CASES = {
    "shampoo_mlp": dict(make_opt=lambda ps: Shampoo(ps, lr=0.05, momentum=0.5, weight_decay=0.01, epsilon=0.1), steps=8),
    "shampoo_mlp_update_freq_2": dict(make_opt=lambda ps: Shampoo(ps, lr=0.1, epsilon=1e-2, update_freq=2), steps=8),
}

if __name__ == "__main__":
    print(f"# torch {torch.__version__}")
    for name, case in CASES.items():
        lrs, norms, p, b = run(**case)
        print(f"{name}:\n    lrs: &{rust(lrs)},\n    norms: &{rust(norms)},\n    p: {rust(p)},\n    b: {rust(b)},")
    for name, case in TENSOR_CASES.items():
        w4, w3, s = run_tensors(**case)
        print(f"{name}:\n    w4: {rust(w4)},\n    w3: {rust(w3)},\n    s: {rust(s)},")
    for name, case in MLP_CASES.items():
        losses, (w1, b1, w2, b2) = run_mlp(**case)
        print(f"{name}:\n    losses: &{rust(losses)},")
        print(f"    w1: {rust(w1)},\n    b1: {rust(b1)},\n    w2: {rust(w2)},\n    b2: {rust(b2)},")
