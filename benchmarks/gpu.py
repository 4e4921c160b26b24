"""GPU speed paths: image-steps per second of PGD and of representation inversion.

    python benchmarks/gpu.py            # on a GPU machine, no arguments, < 10 minutes
    python benchmarks/gpu.py --smoke    # anywhere: the small 'cnn', tiny batch and steps,
                                        # no torch.compile (checks the script, measures nothing)

For a ResNet-50 (the features paper's CIFAR ResNet-50, random weights, eval mode) on
CIFAR-shaped data (3 x 32 x 32), each setting of the speed paths (``advlab.precision``):

    fp32, bf16, bf16 + channels_last, each eager and compiled (torch.compile)

measures three throughputs in image-steps per second (images x steps / seconds):

* ``forward_backward``: the model's own forward and backward to the input (cross-entropy),
  with nothing around it: the ceiling for any gradient attack;
* ``pgd``: ``advlab.attacks.pgd.pgd_perturb`` (L2, the adversarial-training and D_rand /
  D_det inner loop);
* ``construct``: ``advlab.features.robustify`` (D_R / D_NR representation inversion, with
  its float32 distances at the end);

and their ratios to ``forward_backward`` (how much of the model's speed the loops keep) and
to fp32 eager (what each speed path buys). Every configuration gets a fresh model, warm-up
steps (which include the compilation) that are not timed, and a CUDA synchronisation around
each timed region. Configurations that would overrun ``--budget-s`` are skipped and listed.
Writes one JSON file (``benchmarks/results/gpu.json``; ``--smoke``: ``gpu_smoke.json``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from advlab.attacks.pgd import pgd_perturb
from advlab.features import robustify
from advlab.models import build_model
from advlab.precision import check_precision, speed_paths
from advlab.provenance import environment
from advlab.store import atomic_write_json

RESULTS = Path(__file__).resolve().parent / "results"
#: (precision, channels_last, compile)
CONFIGS: list[tuple[str, bool, bool]] = [
    ("fp32", False, False), ("bf16", False, False), ("bf16", True, False),
    ("fp32", False, True), ("bf16", False, True), ("bf16", True, True)]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(fn: Callable[[], Any], device: str, repeats: int) -> float:
    """Seconds per call of ``fn``, over ``repeats`` calls after one untimed call."""
    fn()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    _sync(device)
    return (time.perf_counter() - t0) / repeats


def _forward_backward(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One forward and backward to the input: the gradient (N, C, H, W)."""
    xg = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(xg), y), xg)
    return g


def measure(precision: str, channels_last: bool, compile: bool, *, device: str, batch: int,
            steps: int, repeats: int, arch: str = "resnet50") -> dict[str, Any]:
    """The three throughputs of one configuration (image-steps / s) and the warm-up time."""
    torch.manual_seed(0)
    if compile:  # a fresh cache: earlier configurations' graphs must not count against
        torch._dynamo.reset()  # dynamo's recompile limit (past it, dynamo runs eagerly)
    model = build_model(arch, in_shape=(3, 32, 32), num_classes=10).to(device).eval()
    fast = speed_paths(model, precision=precision, channels_last=channels_last, compile=compile)
    x = torch.rand(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    x0 = torch.rand(batch, 3, 32, 32, device=device)
    t0 = time.perf_counter()
    fb = _timed(lambda: _forward_backward(fast, x, y), device, repeats * steps)
    pgd = _timed(lambda: pgd_perturb(fast, x, y, norm="l2", eps=0.5, steps=steps, step_size=0.1,
                                     random_start=False), device, repeats)
    inv = _timed(lambda: robustify(fast, x, y, x0=x0, steps=steps, step_size=0.1, batch_size=batch),
                 device, repeats)
    rates = {"forward_backward": batch / fb, "pgd": batch * steps / pgd,
             "construct": batch * steps / inv}
    return {"precision": precision, "channels_last": channels_last, "compile": compile,
            "image_steps_per_s": rates,
            "ratio_to_forward_backward": {k: rates[k] / rates["forward_backward"]
                                          for k in ("pgd", "construct")},
            "seconds": time.perf_counter() - t0}


def _name(precision: str, channels_last: bool, compile: bool) -> str:
    return precision + ("+channels_last" if channels_last else "") + ("+compile" if compile else "")


def run(*, device: str, batch: int, steps: int, repeats: int, budget_s: float,
        configs: list[tuple[str, bool, bool]], arch: str = "resnet50") -> dict[str, Any]:
    """Measure every configuration that fits in ``budget_s``; the JSON document."""
    start = time.perf_counter()
    results: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    longest = 0.0
    for prec, cl, comp in configs:
        name = _name(prec, cl, comp)
        try:
            check_precision(prec, device)
        except Exception as e:  # noqa: BLE001 - recorded, the other configurations go on
            skipped[name] = str(e)
            continue
        left = budget_s - (time.perf_counter() - start)
        need = longest * (4 if comp else 1.2)  # a compiled run also pays its compilation
        if left < need:
            skipped[name] = f"budget: {left:.0f} s left, about {need:.0f} s needed"
            continue
        r = measure(prec, cl, comp, device=device, batch=batch, steps=steps, repeats=repeats,
                    arch=arch)
        longest = max(longest, r["seconds"])
        results[name] = r
        rates = r["image_steps_per_s"]
        print(f"{name:28s} fwd+bwd {rates['forward_backward']:10.1f}  pgd {rates['pgd']:10.1f}  "
              f"construct {rates['construct']:10.1f} image-steps/s  ({r['seconds']:.0f} s)", flush=True)
    base = results.get("fp32")
    if base is not None:
        for r in results.values():
            r["speedup_over_fp32_eager"] = {
                k: r["image_steps_per_s"][k] / base["image_steps_per_s"][k]
                for k in ("forward_backward", "pgd", "construct")}
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") else None
    return {"model": f"{arch} (CIFAR stem, 10 classes, random weights, eval mode)",
            "input_shape": [3, 32, 32], "batch": batch, "steps": steps, "repeats": repeats,
            "unit": "image-steps per second (images x steps / s)", "device": device, "gpu": gpu,
            "results": results, "skipped": skipped, "wall_s": time.perf_counter() - start,
            "provenance": environment(device)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true",
                    help="tiny run anywhere (the small 'cnn', batch 2, 2 steps, no torch.compile): "
                         "checks the script; a ResNet-50 pass takes seconds on a CPU")
    ap.add_argument("--model", default=None, help="architecture (resnet50; smoke: cnn)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=None, help="images per batch (256; smoke 2)")
    ap.add_argument("--steps", type=int, default=None, help="attack / inversion steps (20; smoke 2)")
    ap.add_argument("--budget-s", type=float, default=480.0,
                    help="skip configurations that would end after this many seconds")
    ap.add_argument("--compile", action="store_true", help="with --smoke: also the compiled ones")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if not args.device.startswith("cuda"):
        torch.set_num_threads(1)  # small CPU kernels: one thread, as in the other benchmarks
    configs = CONFIGS if not args.smoke or args.compile else [c for c in CONFIGS if not c[2]]
    doc = run(device=args.device, batch=args.batch or (2 if args.smoke else 256),
              steps=args.steps or (2 if args.smoke else 20), repeats=1 if args.smoke else 3,
              budget_s=args.budget_s, configs=configs,
              arch=args.model or ("cnn" if args.smoke else "resnet50"))
    doc["command"] = "python benchmarks/gpu.py" + (" --smoke" if args.smoke else "")
    if args.smoke and not args.compile:
        doc["skipped"].update({_name(*c): "smoke: torch.compile of a ResNet-50 takes minutes on a CPU"
                               for c in CONFIGS if c[2]})
    out = args.out or RESULTS / ("gpu_smoke.json" if args.smoke else "gpu.json")
    atomic_write_json(out, doc)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
