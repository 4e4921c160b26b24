"""Per-epoch evaluation during training: clean test accuracy and, optionally, robust
accuracy (PGD) on a fixed test subset. Sharded over DDP ranks and summed."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from advlab.precision import full_precision
from advlab.seeding import derive_seed
from advlab.train import distributed as dd
from advlab.train.config import TrainConfig


@torch.no_grad()
def _correct(model: nn.Module, x: Tensor, y: Tensor, batch: int, device: str) -> int:
    hits, model = 0, full_precision(model)  # accuracy is decided in float32
    for i in range(0, len(x), batch):
        xb, yb = x[i:i + batch].to(device), y[i:i + batch].to(device)
        hits += int((model(xb).argmax(1) == yb).sum())
    return hits


def _robust_correct(model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig, device: str) -> int:
    from advlab.attacks.pgd import pgd_perturb

    threat = cfg.eval_threat()
    assert threat is not None
    norm, eps = threat
    steps = cfg.robust_eval_steps
    hits = 0
    for i in range(0, len(x), cfg.eval_batch_size):
        xb, yb = x[i:i + cfg.eval_batch_size].to(device), y[i:i + cfg.eval_batch_size].to(device)
        x_adv = pgd_perturb(model, xb, yb, norm=norm, eps=eps, steps=steps,
                            step_size=2.5 * eps / steps, random_start=True)
        with torch.no_grad():
            hits += int((full_precision(model)(x_adv).argmax(1) == yb).sum())
    return hits


def _robust_over_chunks(model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig,
                        info: dd.DistInfo, device: str, epoch: int) -> int:
    """PGD-robust count over this rank's chunks of (x (n, C, H, W), y (n,)). The chunk layout
    depends on n only and each chunk's random start on its index, so the sum over ranks is
    the same for any number of processes (:mod:`advlab.evaluate.split`)."""
    from advlab.evaluate.split import chunks

    hits, bounds = 0, chunks(len(x), cfg.eval_batch_size)
    for i in range(info.rank, len(bounds), info.world):
        lo, hi = bounds[i]
        torch.manual_seed(derive_seed(cfg.seed, epoch, i, 0xE7A1))
        hits += _robust_correct(model, x[lo:hi], y[lo:hi], cfg, device)
    return hits


def evaluate(model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig, info: dd.DistInfo,
             device: str, epoch: int) -> dict[str, Any]:
    """Test accuracy (and robust accuracy on the first ``robust_eval_subset`` points).

    Args:
        model: the model (not DDP-wrapped; with its speed paths, :mod:`advlab.precision`:
            the attack runs in its precision, accuracy is decided in float32); put in eval
            mode here, restored afterwards.
        x, y: test set (N, C, H, W), (N,).

    Returns:
        {"test_acc": float} plus {"robust_acc", "robust_norm", "robust_eps"} when enabled.
    """
    was = model.training
    model.eval()
    try:
        sl = slice(info.rank, None, info.world)
        correct = _correct(model, x[sl], y[sl], cfg.eval_batch_size, device)
        out: dict[str, Any] = {}
        threat = cfg.eval_threat()
        rob = 0
        n_rob = min(cfg.robust_eval_subset, len(x))
        if threat is not None:
            rob = _robust_over_chunks(model, x[:n_rob], y[:n_rob], cfg, info, device, epoch)
        n_ok, n_rob_ok = dd.all_sum(info, [float(correct), float(rob)], device)
        out["test_acc"] = n_ok / len(x)
        if threat is not None:
            out.update(robust_acc=n_rob_ok / n_rob, robust_norm=threat[0], robust_eps=threat[1],
                       robust_n=n_rob)
        return out
    finally:
        model.train(was)
