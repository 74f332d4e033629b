#!/usr/bin/env python3
"""PyTorch's training throughput on the workloads of `emc bench`, for comparison.

`emc bench --torch PYTHON` runs this script with the given interpreter (at the same thread
count, minimum steps and minimum seconds) and prints the ratio of its own figures to these
beside each workload. It can also be run by hand. It is not part of the build: torch is
needed only here.

Setup (a CPU build of torch is enough; any recent version):
    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch numpy
Run, from the repository root:
    /tmp/torchenv/bin/python scripts/torch_reference.py --threads 2
    /tmp/torchenv/bin/python scripts/torch_reference.py --threads 1 --only mlp

The protocol is the one of `crates/emc-train/src/bench.rs`, workload for workload: random
normal inputs, labels `i % 10`, mean cross-entropy, plain SGD with learning rate 0.01, one
optimizer step per batch with the loss read back, three untimed warm-up steps, then at
least `--min-steps` steps and `--min-seconds` seconds. Full-batch gradient descent
accumulates the mean-loss gradient over equal chunks before its single step.

Output: a header line, then one line per workload in the form `emc bench` prints and
parses: `NAME  X samples/s  (Y ms/step, N steps)`.
"""

import argparse
import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

CLASSES = 10


def mlp(inputs: int, hidden: list[int]) -> nn.Module:
    """`mlp:AxB:relu`: flatten, then linear + ReLU per hidden layer, then a linear head."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = inputs
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, CLASSES))
    return nn.Sequential(*layers)


def cnn(shape: tuple[int, int, int], channels: list[int], pool_all: bool) -> nn.Module:
    """`cnn:A,B:relu:pool=all|last:flatten`: conv3x3 (padding 1, bias) + ReLU per entry of
    `channels`, a 2x2 max-pool after every block (`pool=all`) or after the last only
    (`pool=last`), then flatten into a linear head."""
    c, h, w = shape
    layers: list[nn.Module] = []
    for i, out in enumerate(channels):
        layers += [nn.Conv2d(c, out, 3, padding=1), nn.ReLU()]
        c = out
        if pool_all or i == len(channels) - 1:
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
    layers += [nn.Flatten(), nn.Linear(c * h * w, CLASSES)]
    return nn.Sequential(*layers)


class EncoderBlock(nn.Module):
    """Pre-norm transformer block: x + attn(norm1(x)), then x + mlp(norm2(x)); the attention
    written out (one qkv projection, scaled scores, softmax, weighted values, projection),
    the MLP with the erf form of GELU."""

    def __init__(self, dim: int, heads: int, mlp_dim: int):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, mlp_dim)
        self.fc2 = nn.Linear(mlp_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape  # [N, T, D]
        head_dim = d // self.heads
        qkv = self.qkv(self.norm1(x)).view(n, t, 3, self.heads, head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each [N, H, T, D/H]
        scores = (q @ k.transpose(-2, -1)) * head_dim**-0.5  # [N, H, T, T]
        mixed = scores.softmax(dim=-1) @ v  # [N, H, T, D/H]
        x = x + self.proj(mixed.transpose(1, 2).reshape(n, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class Vit(nn.Module):
    """`vit:patchP,dD,depthL,headsH,mlpM,pool=mean`: non-overlapping PxP patches embedded by
    one linear map (a PxP convolution with stride P), a learned position embedding, L
    pre-norm blocks, a final layer norm, the mean over the tokens and a linear head."""

    def __init__(self, shape, patch: int, dim: int, depth: int, heads: int, mlp_dim: int):
        super().__init__()
        c, h, w = shape
        self.patch = patch
        self.embed = nn.Linear(c * patch * patch, dim)
        tokens = (h // patch) * (w // patch)
        self.pos = nn.Parameter(0.02 * torch.randn(1, tokens, dim))
        self.blocks = nn.ModuleList(EncoderBlock(dim, heads, mlp_dim) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        p = self.patch
        gh, gw = h // p, w // p
        # [N, C, gh, p, gw, p] -> [N, gh, gw, C, p, p]: each patch's (channel, row, col)
        # values in the order of a [D, C, p, p] convolution kernel.
        patches = x.view(n, c, gh, p, gw, p).permute(0, 2, 4, 1, 3, 5)
        tokens = self.embed(patches.reshape(n, gh * gw, c * p * p)) + self.pos  # [N, T, D]
        for block in self.blocks:
            tokens = block(tokens)
        return self.head(self.norm(tokens).mean(dim=1))


MNIST = (1, 28, 28)
MNIST14 = (1, 14, 14)
CIFAR = (3, 32, 32)


@dataclass
class Workload:
    """One workload of `emc bench` (`emc_train::bench::all_workloads`)."""

    name: str
    key: str
    model: Callable[[], nn.Module]
    shape: tuple[int, int, int]
    batch: int
    # Full-batch gradient descent accumulated over this many chunks (0: a minibatch step).
    full_batch_chunks: int = 0


WORKLOADS = [
    Workload("mlp_784-512-512-10_b128", "mlp", lambda: mlp(784, [512, 512]), MNIST, 128),
    Workload("cnn_32-64_pool_b128", "cnn", lambda: cnn(CIFAR, [32, 64], False), CIFAR, 128),
    Workload(
        "vit_d128_l4_h4_p4_b128",
        "vit",
        lambda: Vit(CIFAR, patch=4, dim=128, depth=4, heads=4, mlp_dim=256),
        CIFAR,
        128,
    ),
    Workload(
        "mlp_full_batch_gd_n4096", "gd", lambda: mlp(784, [512, 512]), MNIST, 4096, 4
    ),
    Workload("cnn_4-8_pool_14x14_b32", "tiny32", lambda: cnn(MNIST14, [4, 8], True), MNIST14, 32),
    Workload(
        "cnn_4-8_pool_14x14_b256", "tiny256", lambda: cnn(MNIST14, [4, 8], True), MNIST14, 256
    ),
]


def make_step(w: Workload, model: nn.Module) -> Callable[[], float]:
    """One optimizer step of `w` on fixed random data; returns the loss read back."""
    x = torch.randn(w.batch, *w.shape)
    y = torch.arange(w.batch) % CLASSES
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def minibatch() -> float:
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    def full_batch() -> float:
        # The exact mean-loss gradient: each chunk adds its summed loss over the whole n.
        chunk = -(-w.batch // w.full_batch_chunks)
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for start in range(0, w.batch, chunk):
            xs, ys = x[start : start + chunk], y[start : start + chunk]
            loss = F.cross_entropy(model(xs), ys, reduction="sum") / w.batch
            loss.backward()
            total += loss.item()
        opt.step()
        return total

    return full_batch if w.full_batch_chunks else minibatch


def measure(w: Workload, min_seconds: float, min_steps: int) -> str:
    """Times `w` and returns its output line."""
    step = make_step(w, w.model())
    for _ in range(3):
        step()
    steps, start = 0, time.perf_counter()
    while steps < min_steps or time.perf_counter() - start < min_seconds:
        step()
        steps += 1
    seconds = time.perf_counter() - start
    rate = steps * w.batch / seconds
    return f"{w.name:<28} {rate:>12.1f} samples/s  ({1000 * seconds / steps:8.2f} ms/step, {steps} steps)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--only", choices=[w.key for w in WORKLOADS], help="one workload")
    parser.add_argument("--min-seconds", type=float, default=3.0, help="timed seconds, at least")
    parser.add_argument("--min-steps", type=int, default=5, help="timed steps, at least")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}", flush=True)
    for w in WORKLOADS:
        if args.only in (None, w.key):
            print(measure(w, args.min_seconds, args.min_steps), flush=True)


if __name__ == "__main__":
    main()
