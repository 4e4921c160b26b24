"""Training throughput: advlab's trainer vs a plain hand-written PyTorch loop.

Same model (small CNN), data (mnist5k train, 4,000 images), batch size, optimizer
(Adam) and thread count. Repetitions alternate (plain, ours, plain, ours, ...) so that
load on a shared machine hits both alike; the ratio of medians is printed. Our
images/s is the trainer's own train-phase measurement (``train_images_per_s``: every
batch, including mid-epoch checkpoint writes, excluding the per-epoch test
evaluation); the wall time of the whole ``train()`` call is printed too.

    .venv/bin/python benchmarks/train.py [--reps 5] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F

import advlab
from advlab.models import build_model
from advlab.train import TrainConfig, train


def plain_epoch(x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int) -> float:
    """One epoch of the textbook loop; returns images/s."""
    torch.manual_seed(seed)
    mean, std = x.mean().item(), x.std().item()
    model = build_model("cnn", in_shape=(1, 28, 28), num_classes=10, mean=mean, std=std)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    t = time.perf_counter()
    perm = torch.randperm(len(x))
    for i in range(0, len(x), batch_size):
        idx = perm[i:i + batch_size]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return len(x) / (time.perf_counter() - t)


def ours_epoch(batch_size: int, seed: int) -> tuple[float, float]:
    """One epoch of advlab's trainer; returns (train-phase images/s, whole-call seconds)."""
    cfg = TrainConfig(dataset="mnist5k", model="cnn", epochs=1, batch_size=batch_size, lr=1e-3,
                      seed=seed)
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        res = train(cfg, d)
        wall = time.perf_counter() - t
    return float(res.final["train_images_per_s"]), wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    x, y = advlab.load_dataset("mnist5k", "train")
    plain_epoch(x, y, args.batch_size, seed=99)  # warm-up (allocator, kernels)
    plain, ours, walls = [], [], []
    for r in range(args.reps):
        plain.append(plain_epoch(x, y, args.batch_size, seed=r))
        o, w = ours_epoch(args.batch_size, seed=r)
        ours.append(o)
        walls.append(w)
        print(f"rep {r}: plain {plain[-1]:.0f} img/s, advlab {ours[-1]:.0f} img/s "
              f"(whole train() call {w:.2f} s)")
    p, o = statistics.median(plain), statistics.median(ours)
    ratios = [a / b for a, b in zip(ours, plain, strict=True)]
    print(f"threads {torch.get_num_threads()}, batch {args.batch_size}, {len(x)} images/epoch")
    print(f"plain loop: {p:.0f} img/s; advlab trainer: {o:.0f} img/s (median of {args.reps})")
    print(f"ratio advlab/plain = {o / p:.3f} (median of per-rep ratios {statistics.median(ratios):.3f}; "
          f"target >= 0.95)")


if __name__ == "__main__":
    main()
