"""Benchmark: D_R construction throughput against its bound.

The bound of representation inversion is the model's own forward + backward-to-input
throughput on the same batch (one of each per step). This script measures, on the small
CNN (untrained, mnist5k-shaped, batch 256, CPU), in the same process and interleaved:

* bound: ``model(x)`` -> cross-entropy -> ``autograd.grad`` w.r.t. x, in image-steps/s;
* construction: one step of :func:`advlab.features.robustify` (features forward, squared
  distance, gradient to the input, per-sample normalised step, clip), alternated step by
  step with the bound's, plus robustify's once-per-batch target and final-distance
  forwards amortised over the steps (an end-to-end wall-clock comparison of the whole
  ``robustify`` call is recorded too);

and prints their ratio (target >= 0.9). Results go to benchmarks/results/construct.json.

Usage: ``python benchmarks/construct.py [--steps 60] [--batch 256]``
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from advlab.features import robustify
from advlab.features.robustify import inversion_step
from advlab.models import build_model
from advlab.store import atomic_write_json


def bound_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The bound's unit of work: one forward + one backward to the input on x (N, C, H, W)."""
    xr = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(xr), y, reduction="sum")
    (g,) = torch.autograd.grad(loss, xr)
    return g


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleaved(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, x0: torch.Tensor,
                steps: int) -> tuple[list[float], list[float], list[float]]:
    """Per-step seconds of the bound and of robustify's step, alternated step by step.

    The machine is shared, so load changes from one second to the next: alternating the
    two kinds of step makes both see the same load, and medians drop the spikes. Also
    returns robustify's once-per-batch work (target forward + final-distance forward).
    """
    with torch.no_grad():
        target = model.features(x)
    xr = x0.clone()
    t_bound, t_step, t_batch = [], [], []
    for _ in range(steps):
        t_bound.append(timed(lambda: bound_step(model, x, y)))
        t0 = time.perf_counter()
        xr = inversion_step(model, xr, target, 0.1)
        t_step.append(time.perf_counter() - t0)
    for _ in range(5):
        t_batch.append(timed(lambda: _no_grad_features(model, x)) * 2)
    return t_bound, t_step, t_batch


def _no_grad_features(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.features(x)


def end_to_end(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, x0: torch.Tensor,
               steps: int) -> tuple[float, float]:
    """Wall image-steps/s of the bound loop and of the whole robustify call, back to back."""
    tb = timed(lambda: [bound_step(model, x, y) for _ in range(steps)])
    tc = timed(lambda: robustify(model, x, y, x0=x0, steps=steps, step_size=0.1,
                                 batch_size=x.shape[0]))
    return x.shape[0] * steps / tb, x.shape[0] * steps / tc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "construct.json"))
    args = ap.parse_args()

    torch.manual_seed(0)
    model = build_model("cnn", in_shape=(1, 28, 28), num_classes=10).eval()
    x = torch.rand(args.batch, 1, 28, 28)
    x0 = torch.rand(args.batch, 1, 28, 28)
    y = torch.randint(0, 10, (args.batch,))
    for _ in range(3):  # warm-up (allocator, kernels)
        bound_step(model, x, y)
    t_bound, t_step, t_batch = interleaved(model, x, y, x0, args.steps)
    n = args.batch
    bound = n / statistics.median(t_bound)
    # robustify at `steps` steps per batch: steps x step + once-per-batch forwards.
    per_step = statistics.median(t_step) + statistics.median(t_batch) / args.steps
    construct = n / per_step
    e2e_bound, e2e_construct = end_to_end(model, x, y, x0, args.steps)
    result = {
        "benchmark": "construct",
        "what": "robustify (D_R) image-steps/s vs forward+backward-to-input image-steps/s",
        "method": "per-step times of the bound and of robustify's step alternated step by step "
                  "(medians), plus robustify's two once-per-batch forwards amortised over steps",
        "model": "cnn (untrained), input (1, 28, 28), 10 classes",
        "batch": n, "steps": args.steps, "device": "cpu", "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "bound_img_steps_per_s": bound, "construct_img_steps_per_s": construct,
        "ratio": construct / bound,
        "bound_step_s": {"median": statistics.median(t_bound), "min": min(t_bound)},
        "construct_step_s": {"median": statistics.median(t_step), "min": min(t_step)},
        "ratio_of_min_step_times": min(t_bound) / min(t_step),
        "end_to_end_img_steps_per_s": {"bound": e2e_bound, "robustify": e2e_construct,
                                       "ratio": e2e_construct / e2e_bound,
                                       "note": "back-to-back wall clock, noisy on a shared machine"},
        "target": 0.9,
    }
    atomic_write_json(args.out, result)
    print(f"bound (fwd+bwd to input): {bound:,.0f} image-steps/s")
    print(f"robustify (D_R):          {construct:,.0f} image-steps/s")
    print(f"ratio {result['ratio']:.3f} (target >= 0.9); min-step ratio "
          f"{result['ratio_of_min_step_times']:.3f}; end-to-end ratio "
          f"{e2e_construct / e2e_bound:.3f} -> {args.out}")


if __name__ == "__main__":
    main()
