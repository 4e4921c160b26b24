"""Diagnosis for benchmarks/autoattack.py: where the time of an AutoAttack evaluation goes.

On the same model (the tests' mnist5k CNN) and points as benchmarks/autoattack.py:

* ``torchattacks_members``: CPU time of each of torchattacks' four attacks with the
  reference settings (APGD, APGD-T, FAB multi-targeted, Square; seed 0), each on the points
  the ones before it left robust, per eps, in both memory layouts (the model as trained,
  and a copy converted to channels-last). Our per-attack times are in autoattack.json.
* ``throughput``: images per CPU second of one forward (no graph) and one forward-backward
  (input gradient) at batch sizes 25 to 500, in both layouts: whether batching the 9
  targets of APGD-T / FAB-T together, or the memory format, would speed the attacks up.
* ``fab_t_pull_back``: the fraction of FAB-T's steps, on the points the standard ensemble
  leaves robust at eps 1.5 before FAB-T, after which the iterate is adversarial beyond eps
  and is pulled back towards the clean point (each such point needs a new
  forward-backward, so reusing the step's forward-backward for the success check would
  save only when this fraction is small).

Usage: OMP_NUM_THREADS=1 python benchmarks/autoattack_profile.py [--n 100] [--eps 1.5,2]
Writes benchmarks/results/autoattack_profile.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

import advlab
from advlab.attacks.apgd import _ranked_targets
from advlab.attacks.fab import FABT, _box_tensors
from advlab.attacks.threat import norms, resolve_box
from advlab.evaluate import autoattack
from advlab.seeding import seeded_subset
from advlab.store import atomic_write_json

sys.path.insert(0, str(Path(__file__).parent))
from autoattack import fixture_cnn, torchattacks_members  # noqa: E402


def members(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
            eps_list: list[float]) -> dict[str, Any]:
    """CPU seconds and robust accuracy after each torchattacks member, per eps."""
    out: dict[str, Any] = {}
    for eps in eps_list:
        with torch.no_grad():
            robust = model(x).argmax(1) == y
        row: dict[str, Any] = {}
        for name, atk in torchattacks_members(model, "l2", eps, 0).items():
            c = time.process_time()
            todo = torch.nonzero(robust).flatten()
            x_adv = atk(x[todo], y[todo])
            with torch.no_grad():
                robust[todo] = model(x_adv).argmax(1) == y[todo]
            row[name] = {"seconds_cpu": time.process_time() - c,
                         "robust_accuracy_after": float(robust.float().mean())}
            print(f"eps {eps:g} {name}: {row[name]}", flush=True)
        out[f"{eps:g}"] = row
    return out


def throughput(model: torch.nn.Module, shape: tuple[int, ...]) -> dict[str, Any]:
    out = {}
    for b in (25, 50, 100, 250, 500):
        x = torch.rand(b, *shape)
        reps = max(2000 // b, 5)
        with torch.no_grad():
            model(x)
            c = time.process_time()
            for _ in range(reps):
                model(x)
            fwd = (time.process_time() - c) / reps
        xg = x.clone().requires_grad_(True)
        c = time.process_time()
        for _ in range(reps):
            (g,) = torch.autograd.grad(model(xg).sum(), xg)
        fb = (time.process_time() - c) / reps
        out[str(b)] = {"forward_images_per_s": b / fwd, "forward_backward_images_per_s": b / fb}
    return out


def pull_back_fraction(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                       eps: float) -> dict[str, Any]:
    """FAB-T's steps (as :meth:`advlab.attacks.fab.FABT._fab` takes them) on ``x``."""
    atk = FABT(norm="l2", steps=100)
    bounds = resolve_box(atk.box, x)
    lo, hi = _box_tensors(bounds, x)
    active = pulled = 0
    for t in _ranked_targets(model, x, y, 9):
        i, x1 = torch.arange(len(x)), x.clone()
        g, grad = atk._linearise(model, x1, y, t)
        for _ in range(100):
            x1 = atk._step(x[i], x1, g, grad, lo[i], hi[i], bounds, i)
            with torch.no_grad():
                adv = model(x1).argmax(1) != y[i]
            hit = adv & (norms(x1 - x[i], "l2") <= eps)
            far = adv & ~hit
            active, pulled = active + len(i), pulled + int(far.sum())
            x1[far] = x[i[far]] + (x1[far] - x[i[far]]) * float(atk.config["beta"])
            i, x1 = i[~hit], x1[~hit]
            if len(i) == 0:
                break
            g, grad = atk._linearise(model, x1, y[i], t[i])
    return {"points": len(x), "eps": eps, "steps": active, "pulled_back": pulled,
            "fraction": pulled / max(active, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--eps", default="1.5,2")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"
                                         / "autoattack_profile.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    import torchattacks

    base = fixture_cnn().eval()
    cl = copy.deepcopy(base).to(memory_format=torch.channels_last)
    x, y = advlab.load_dataset("mnist5k", "test")
    idx = seeded_subset(len(x), args.n, 0)
    x, y = x[idx], y[idx]
    eps_list = [float(e) for e in args.eps.split(",")]
    res: dict[str, Any] = {
        "n": len(x), "eps": eps_list, "threads": 1, "cpu_count": os.cpu_count(),
        "loadavg_1_5_15_at_start": os.getloadavg(), "torch_version": torch.__version__,
        "torchattacks_version": torchattacks.__version__, "advlab_version": advlab.__version__,
        "command": " ".join(sys.argv)}
    res["torchattacks_members"] = {"contiguous": members(base, x, y, eps_list),
                                   "channels-last": members(cl, x, y, eps_list)}
    res["throughput"] = {"contiguous": throughput(base, tuple(x.shape[1:])),
                         "channels-last": throughput(cl, tuple(x.shape[1:]))}
    before = autoattack(cl, x, y, norm="l2", eps=eps_list[0], version="apgd")
    still = before.robust
    res["fab_t_pull_back"] = pull_back_fraction(cl, x[still], y[still], eps_list[0])
    res["loadavg_1_5_15_at_end"] = os.getloadavg()
    print(json.dumps(res, indent=1))
    atomic_write_json(args.out, res)


if __name__ == "__main__":
    main()
