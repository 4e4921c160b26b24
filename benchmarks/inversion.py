"""Benchmark: representation distance against gradient evaluations, paper vs polyak optimizer.

The representation inversion behind D_R / D_NR minimises f = ``||g(x_r) - g(x)||`` over
x_r in [0, 1]^d (features paper, Section 3.1, Figure 5). Its cost is counted in gradient
evaluations: one forward and one backward to the input per sample and step. On robust
(L2 PGD-trained, eps 2) CNNs and N training images, this script records the median over
samples of the relative distance f / ``||g(x)||`` at each sample's best iterate so far,
after every step, for:

* ``paper``: fixed normalised steps of 0.1 (Table 5: 1000 steps from an image; footnote
  16: 10x the steps from noise), the library's default;
* ``polyak``: the library's faster optimizer, normalised steps of length
  ``min(1.0, 0.5 f / ||grad f||)`` (half Polyak's step for a minimum of 0, capped at 10x
  the paper's step), for a quarter of the paper's steps; then once more through
  :func:`advlab.features.robustify` with a per-sample stop (``tol``) at the paper's
  final median, counting each sample's gradient evaluations until it stops;
* candidates that were tried and not chosen, for the record (same budget): normalised
  steps whose length decays on a half cosine from 0.5 to 0 over the budget (the first
  idea), a per-sample "bold driver" (start 0.2, x1.2 after a decrease, x0.5 after an
  increase), and Polyak's step with caps 0.5 and 2.

Both optimizers' curves come from one run each (neither step rule depends on the number
of steps) with the library's update (normalised step, clip to [0, 1]);
``robustify(optimizer="polyak")`` gives the same end point (recorded beside it). The ratio is the paper schedule's gradient evaluations per
sample divided by the number polyak needs for a median at most the paper's final one
(without tol: the first step where the curve gets there; with tol: the mean over samples).
Results go to ``benchmarks/results/inversion.json``.

Sources: ``--mnist-source`` (default: trained here into ``runs/bench-inversion/`` with the
``ilyas2019`` quick preset's robust settings, a few minutes) and ``--fmnist-source``
(default: the robust source of ``scripts/inversion_equivalence.py``; skipped when absent).

Usage: ``python benchmarks/inversion.py [--n 256] [--n-noise 64] [--threads 1]
[--datasets mnist5k,fashion-mnist] [--inits image,noise] [--candidates]``
"""

from __future__ import annotations

import argparse
import math
import platform
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

import advlab
from advlab.features import POLYAK_FACTOR, robustify
from advlab.features.robustify import image_init_indices, noise_init
from advlab.store import atomic_write_json, read_json

ROOT = Path(__file__).resolve().parent.parent
PAPER_STEP = 0.1  # Table 5, CIFAR-10 column (the library's default)
PAPER_STEPS = {"image": 1000, "noise": 10_000}  # Table 5 and footnote 16
POLYAK_CAP = 1.0  # POLYAK_DEFAULTS: 10x the paper's step
#: length rule: (step k, distance f (N,), ||grad f^2|| (N,), state) -> step lengths (N,)
Rule = Callable[[int, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]], torch.Tensor]


def train_mnist_source(out: Path) -> Path:
    """The quick preset's robust source: CNN, mnist5k, L2 PGD-7 (step eps/5) at eps 2,
    SGD lr 0.05 momentum 0.9 weight decay 5e-4, batch 128, 6 epochs (resumes if present)."""
    from advlab.train import AdvConfig, TrainConfig, train

    cfg = TrainConfig(dataset="mnist5k (adversarial)", model="cnn", epochs=6, batch_size=128,
                      optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=5e-4, augment="none",
                      adversarial=AdvConfig(kind="pgd", norm="l2", eps=2.0, steps=7), seed=0,
                      device="cpu")
    train(cfg, out, train_data=advlab.load_dataset("mnist5k", "train"),
          test_data=advlab.load_dataset("mnist5k", "test"))
    return out / "last"


def problem(dataset: str, n: int, init: str, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """N training images x and their starts x0 (another image, or noise), both (N, C, H, W)."""
    x_all, _ = advlab.load_dataset(dataset, "train")
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(x_all.shape[0], generator=gen)[:n]
    if init == "image":
        return x_all[idx], x_all[image_init_indices(idx, x_all.shape[0], generator=gen)]
    return x_all[idx], noise_init(tuple(x_all[idx].shape), std=0.25, generator=gen)


def fixed(length: float) -> Rule:
    return lambda k, f, gsq, st: torch.full_like(f, length)


def polyak(cap: float) -> Rule:
    """min(cap, POLYAK_FACTOR f / ||grad f||), with ||grad f|| = ||grad f^2|| / (2 f)."""
    return lambda k, f, gsq, st: (POLYAK_FACTOR * 2 * f**2 / gsq).clamp(max=cap)


def cosine(start: float, steps: int) -> Rule:
    return lambda k, f, gsq, st: torch.full_like(f, start * 0.5 * (1 + math.cos(math.pi * k / steps)))


def bold_driver(start: float, up: float, down: float) -> Rule:
    def rule(k: int, f: torch.Tensor, gsq: torch.Tensor, st: dict[str, torch.Tensor]) -> torch.Tensor:
        if "length" not in st:
            st["length"] = torch.full_like(f, start)
        else:
            st["length"] = torch.where(f < st["f"], st["length"] * up, st["length"] * down)
        st["f"] = f
        return st["length"]
    return rule


def curve(model: nn.Module, x: torch.Tensor, x0: torch.Tensor, steps: int,
          rule: Rule) -> tuple[list[float], dict[str, float]]:
    """Median relative distance of the best of iterates 0..k, for k = 0..steps (what
    ``robustify(steps=k)`` returns after k gradient evaluations), and end-point stats."""
    with torch.no_grad():
        target = model.features(x)  # type: ignore[operator]
    ref = target.norm(dim=1)
    xr, best, state = x0.clone(), torch.full((x.shape[0],), math.inf), {}
    medians = []
    for k in range(steps + 1):
        if k == steps:
            with torch.no_grad():
                d = (model.features(xr) - target).norm(dim=1)  # type: ignore[operator]
        else:  # the library's normalised step and clipping, lengths from the rule
            xg = xr.detach().requires_grad_(True)
            sq = (model.features(xg) - target).pow(2).sum(dim=1)  # type: ignore[operator]
            (g,) = torch.autograd.grad(sq.sum(), xg)
            d = sq.detach().sqrt()
            gnorm = g.flatten(1).norm(dim=1).clamp_min(1e-12)
            scale = (rule(k, d, gnorm, state) / gnorm).view((-1,) + (1,) * (x.ndim - 1))
            xr = (xr - g * scale).clamp(0.0, 1.0).detach()
        best = torch.minimum(best, d)
        medians.append(float((best / ref).median()))
    end = {"rel_median": medians[-1], "rel_mean": float((best / ref).mean()),
           "last_iterate_rel_median": float((d / ref).median()),
           "best_before_last_rate": float((best < d).double().mean())}
    return medians, end


def first_at(medians: list[float], goal: float) -> int | None:
    """The first number of gradient evaluations whose median is <= goal."""
    return next((k for k, m in enumerate(medians) if m <= goal), None)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def bench(model: nn.Module, x: torch.Tensor, x0: torch.Tensor, steps: int,
          candidates: bool) -> dict[str, Any]:
    """Paper curve, polyak curve and tol run, the ratios; optionally the candidates."""
    y = torch.zeros(len(x), dtype=torch.long)
    (paper, paper_end), t_paper = timed(lambda: curve(model, x, x0, steps, fixed(PAPER_STEP)))
    goal = paper_end["rel_median"]
    budget = steps // 4
    (pol, pol_end), t_pol = timed(lambda: curve(model, x, x0, budget, polyak(POLYAK_CAP)))
    (_, d_lib), t_lib = timed(lambda: robustify(model, x, y, x0=x0, steps=budget, step_size=POLYAK_CAP,
                                                optimizer="polyak"))
    (_, d_tol), t_tol = timed(lambda: robustify(model, x, y, x0=x0, steps=budget, step_size=POLYAK_CAP,
                                                optimizer="polyak", tol=goal))
    k = first_at(pol, goal)
    tol_evals = float(d_tol.grad_evals.double().mean())
    tol_median = float(d_tol.relative.median())
    print(f"  paper {steps}: median {goal:.4f} ({t_paper:.0f} s); polyak reaches it at {k} "
          f"(median {pol[-1]:.4f} at {budget}); with tol: median {tol_median:.4f} at "
          f"{tol_evals:.1f} evals ({t_tol:.0f} s)", flush=True)
    out: dict[str, Any] = {
        "paper": {"steps": steps, "step_size": PAPER_STEP, **paper_end, "seconds": t_paper,
                  "curve_every_10": paper[::10]},
        "polyak": {"steps": budget, "step_size": POLYAK_CAP, **pol_end, "seconds": t_pol,
                   "curve": pol, "robustify_rel_median": float(d_lib.relative.median()),
                   "robustify_seconds": t_lib},
        "polyak_tol": {"steps": budget, "step_size": POLYAK_CAP, "tol": goal,
                       "rel_median": tol_median, "rel_mean": float(d_tol.relative.mean()),
                       "grad_evals_mean": tol_evals, "stopped_rate": float(
                           (d_tol.grad_evals < budget).double().mean()), "seconds": t_tol},
        "goal_rel_median": goal,
        "polyak_evals_to_goal": k,
        "ratio": steps / k if k else None,
        "ratio_with_tol": steps / tol_evals if tol_median <= goal else None,
    }
    if candidates:
        rules = {"cosine 0.5 -> 0": cosine(0.5, budget), "bold driver 0.2 x1.2/x0.5": bold_driver(0.2, 1.2, 0.5),
                 "polyak cap 0.5": polyak(0.5), "polyak cap 2": polyak(2.0)}
        out["candidates"] = {}
        for name, rule in rules.items():
            med, end = curve(model, x, x0, budget, rule)
            out["candidates"][name] = {**end, "curve_every_10": med[::10],
                                       "evals_to_goal": first_at(med, goal)}
            print(f"    {name}: {end['rel_median']:.4f} at {budget}, goal at "
                  f"{first_at(med, goal)}", flush=True)
    return out


def merge(paths: list[str], out: str) -> None:
    """One result file from several runs of this script (each keeps its command line)."""
    parts = [read_json(p) for p in paths]
    merged = {**parts[0], "results": {}, "commands": []}
    for part in parts:
        merged["results"].update(part["results"])
        merged["commands"].append(part.get("command"))
    merged.pop("command", None)
    atomic_write_json(out, merged)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=256, help="images per dataset (image starts)")
    ap.add_argument("--n-noise", type=int, default=64, help="images per dataset (noise starts)")
    ap.add_argument("--datasets", default="mnist5k,fashion-mnist")
    ap.add_argument("--inits", default="image,noise")
    ap.add_argument("--image-steps", type=int, default=PAPER_STEPS["image"])
    ap.add_argument("--noise-steps", type=int, default=PAPER_STEPS["noise"])
    ap.add_argument("--candidates", action="store_true", help="also the rules not chosen (image starts)")
    ap.add_argument("--mnist-source", default=None)
    ap.add_argument("--fmnist-source", default=str(ROOT / "runs/inversion-eq/source/last"))
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/inversion.json"))
    ap.add_argument("--merge", nargs="+", default=None,
                    help="only merge these result files (e.g. one per dataset, run in parallel) into --out")
    args = ap.parse_args()
    if args.merge:
        merge(args.merge, args.out)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    mnist = args.mnist_source or str(train_mnist_source(ROOT / "runs/bench-inversion/mnist5k-robust"))
    sources = {"mnist5k": mnist, "fashion-mnist": args.fmnist_source}
    result: dict[str, Any] = {
        "benchmark": "inversion", "what": __doc__.split("\n\n")[1].replace("\n", " "),
        "command": shlex.join(["python", *sys.argv]),
        "cost_unit": "gradient evaluations per sample (one forward + one backward to the input)",
        "threads": torch.get_num_threads(), "machine": platform.processor() or platform.machine(),
        "results": {},
    }
    for dataset in args.datasets.split(","):
        if not Path(sources[dataset]).exists():
            result["results"][dataset] = {"skipped": f"no source model at {sources[dataset]}"}
            continue
        model = advlab.load_model(sources[dataset], device="cpu").eval()
        for init in args.inits.split(","):
            n = args.n if init == "image" else args.n_noise
            steps = args.image_steps if init == "image" else args.noise_steps
            print(f"{dataset}, {init} starts, {n} images", flush=True)
            x, x0 = problem(dataset, n, init)
            res = bench(model, x, x0, steps, candidates=args.candidates and init == "image")
            result["results"][f"{dataset}/{init}"] = {"source": sources[dataset], "n": n, **res}
            atomic_write_json(args.out, result)  # partial results survive an interruption
    atomic_write_json(args.out, result)


if __name__ == "__main__":
    main()
