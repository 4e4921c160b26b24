"""Channels-last against the default memory format on the CPU, for the CPU presets' networks.

    python benchmarks/cpu_speed.py            # writes benchmarks/results/cpu_speed.json

For each network of the features recipe's CPU presets (the CNN, the all-convolutional
net and the MLP of Figure 3) on Fashion-MNIST-shaped inputs (1 x 28 x 28), it measures
images per second, best of ``repeats`` timed rounds after two warm-up calls, in one run:

* ``train``: one SGD step (forward, backward, update) on a batch of 128;
* ``invert``: the inversion's step, forward to the representation and backward to the
  input, on a batch of 256 (D_R / D_NR construction);
* ``attack``: forward to the logits and backward to the input, batch 256 (PGD, APGD,
  the relabelling);
* ``eval``: a forward pass without gradients, batch 500 (test accuracy).

Both formats compute the same function: it also records the largest difference of the
logits and of the input gradients between them, relative to their largest magnitude.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from advlab.models import build_model
from advlab.precision import speed_paths
from advlab.provenance import environment
from advlab.store import atomic_write_json

RESULTS = Path(__file__).resolve().parent / "results" / "cpu_speed.json"
NETS: dict[str, tuple[str, dict[str, Any]]] = {
    "cnn": ("cnn", {}), "allconv": ("allconv", {"width": 16}), "mlp": ("mlp", {}),
}


def _rate(fn: Callable[[], None], images: int, calls: int, repeats: int) -> float:
    """Images per second of ``fn`` (each call handles ``images``), best of ``repeats``."""
    fn()
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, time.perf_counter() - t0)
    return images * calls / best


def _input_grad(model: nn.Module, x: torch.Tensor, features: bool) -> torch.Tensor:
    xr = x.clone().requires_grad_(True)
    out = model.features(xr) if features else model(xr)  # type: ignore[operator]  # Classifier API
    (g,) = torch.autograd.grad(out.square().sum(), xr)
    return g


def _input_grad_only(model: nn.Module, x: torch.Tensor, features: bool) -> None:
    _input_grad(model, x, features)


def measure(name: str, channels_last: bool, repeats: int, calls: int) -> dict[str, float]:
    """Images per second of each operation for one network and memory format."""
    arch, kwargs = NETS[name]
    torch.manual_seed(0)
    base = build_model(arch, in_shape=(1, 28, 28), num_classes=10, **kwargs)
    model = speed_paths(base, channels_last=channels_last)
    x, y = torch.rand(500, 1, 28, 28), torch.randint(0, 10, (500,))
    opt = torch.optim.SGD(base.parameters(), lr=1e-3)

    def train() -> None:
        loss = nn.functional.cross_entropy(model(x[:128]), y[:128])
        opt.zero_grad()
        loss.backward()
        opt.step()

    def evaluate() -> None:
        with torch.no_grad():
            model(x)

    rates = {"train": _rate(train, 128, calls, repeats)}
    model.eval()
    rates["invert"] = _rate(lambda: _input_grad_only(model, x[:256], True), 256, calls, repeats)
    rates["attack"] = _rate(lambda: _input_grad_only(model, x[:256], False), 256, calls, repeats)
    rates["eval"] = _rate(evaluate, 500, calls, repeats)
    return rates


def agreement(name: str) -> dict[str, float]:
    """Largest relative difference of logits and input gradients between the two formats."""
    arch, kwargs = NETS[name]
    torch.manual_seed(0)
    a = build_model(arch, in_shape=(1, 28, 28), num_classes=10, **kwargs).eval()
    b = build_model(arch, in_shape=(1, 28, 28), num_classes=10, **kwargs).eval()
    b.load_state_dict(a.state_dict())
    fast = speed_paths(b, channels_last=True)
    x = torch.rand(256, 1, 28, 28)
    with torch.no_grad():
        la, lb = a(x), fast(x)
    ga, gb = _input_grad(a, x, False), _input_grad(fast, x, False)
    return {"logits": float((la - lb).abs().max() / la.abs().max()),
            "input_gradient": float((ga - gb).abs().max() / ga.abs().max())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--calls", type=int, default=8)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    doc: dict[str, Any] = {"command": "python benchmarks/cpu_speed.py", "repeats": args.repeats,
                           "calls": args.calls, "threads": torch.get_num_threads(),
                           "provenance": environment("cpu"), "nets": {}}
    for name in NETS:
        default = measure(name, False, args.repeats, args.calls)
        last = measure(name, True, args.repeats, args.calls)
        doc["nets"][name] = {
            "images_per_s": {"default": default, "channels_last": last},
            "speedup": {k: last[k] / default[k] for k in default},
            "relative_difference": agreement(name),
        }
        print(name, {k: round(v, 2) for k, v in doc["nets"][name]["speedup"].items()}, flush=True)
    atomic_write_json(args.out, doc)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
