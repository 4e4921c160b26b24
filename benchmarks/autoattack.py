"""Benchmark: advlab's AutoAttack ensemble against torchattacks' on the shared mnist5k CNN.

Three runs on the same model (the test fixture's training) and points, in one process:

* ours: ``advlab.evaluate.autoattack(model, x, y, norm=..., eps=[...])`` (standard version:
  APGD-CE, APGD-T with 9 targets, FAB-T with 9 targets, 100 iterations each; Square 5,000
  queries), every eps in one call;
* ``torchattacks-standard``: torchattacks' four attacks with the same settings, chained by
  its ``MultiAttack`` (each attack on the points still robust), once per eps - the
  configuration of AutoAttack's reference implementation, hence the equal-accuracy peer;
* ``torchattacks-class``: ``torchattacks.AutoAttack(version="standard")`` as shipped, once
  per eps. It leaves APGD, APGD-T and FAB at torchattacks' default of 10 iterations, so it
  is cheaper and weaker; reported for reference.

The runs alternate (ours first on even repetitions, torchattacks-standard first on odd ones);
medians over repetitions. Both wall time and the process's CPU time are recorded: with one
thread the CPU time is the work done, and it is what a busy shared machine distorts least.
Robust accuracy per eps, times, our time per attack and the speed ratios (torchattacks-
standard / ours) are written to benchmarks/results/autoattack.json.

Usage: OMP_NUM_THREADS=1 python benchmarks/autoattack.py [--checkpoint DIR] [--n 100]
       [--norm l2] [--eps 1.5,2] [--repeats 1] [--threads 1] [--peer-seeds 0,1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch

import advlab
from advlab.evaluate import autoattack
from advlab.seeding import seeded_subset
from advlab.store import atomic_write_json


def fixture_cnn(seed: int = 0) -> torch.nn.Module:
    """The tests' shared ``mnist5k_cnn`` (advlab's trainer with the fixture's config)."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from eval_protocol import fixture_cnn as make

    return make(seed)


def torchattacks_standard(model: torch.nn.Module, norm: str, eps: float, seed: int) -> Any:
    """torchattacks' four AutoAttack members with the reference implementation's settings."""
    import torchattacks
    from torchattacks.wrappers.multiattack import MultiAttack

    n = "L2" if norm == "l2" else "Linf"
    return MultiAttack([
        torchattacks.APGD(model, norm=n, eps=eps, steps=100, n_restarts=1, loss="ce", seed=seed),
        torchattacks.APGDT(model, norm=n, eps=eps, steps=100, n_restarts=1, n_classes=10,
                           seed=seed),
        torchattacks.FAB(model, norm=n, eps=eps, steps=100, n_restarts=1, multi_targeted=True,
                         n_classes=10, seed=seed),
        torchattacks.Square(model, norm=n, eps=eps, n_queries=5000, n_restarts=1, seed=seed),
    ])


def peer_run(make: Any, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
             eps_list: list[float]) -> tuple[dict[float, torch.Tensor], tuple[float, float]]:
    """Per-eps robust flags of a torchattacks attack built by ``make(eps)``; (wall, CPU) s."""
    t, c = time.perf_counter(), time.process_time()
    flags = {}
    for e in eps_list:
        x_adv = make(e)(x, y)
        with torch.no_grad():
            flags[e] = model(x_adv).argmax(1) == y
    return flags, (time.perf_counter() - t, time.process_time() - c)


def ours_run(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str,
             eps_list: list[float]) -> tuple[dict[float, torch.Tensor], tuple[float, float],
                                             dict[str, Any]]:
    t, c = time.perf_counter(), time.process_time()
    res = autoattack(model, x, y, norm=norm, eps=eps_list, seed=0)
    secs = (time.perf_counter() - t, time.process_time() - c)
    per = res.per_eps
    detail = {f"{e:g}": {"accuracy_after": per[e].accuracy_after, "seconds": per[e].seconds}
              for e in eps_list}
    return {e: per[e].robust for e in eps_list}, secs, detail


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--norm", default="l2")
    ap.add_argument("--eps", default="1.5,2")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-class", action="store_true", help="skip torchattacks.AutoAttack")
    ap.add_argument("--peer-seeds", default="0,1",
                    help="seeds of torchattacks-standard; the first is timed against ours, "
                         "the others (run after) give its seed-to-seed spread")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "autoattack.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import torchattacks

    model = advlab.load_model(args.checkpoint) if args.checkpoint else fixture_cnn()
    x, y = advlab.load_dataset("mnist5k", "test")
    idx = seeded_subset(len(x), args.n, 0)
    x, y = x[idx], y[idx]
    eps_list = [float(e) for e in args.eps.split(",")]
    norm = args.norm
    tn = "L2" if norm == "l2" else "Linf"
    t_ours: list[tuple[float, float]] = []
    t_std: list[tuple[float, float]] = []
    load_start = os.getloadavg()
    for r in range(args.repeats):
        order = ["ours", "std"] if r % 2 == 0 else ["std", "ours"]
        for who in order:
            if who == "ours":
                o_flags, secs, detail = ours_run(model, x, y, norm, eps_list)
                t_ours.append(secs)
            else:
                s_flags, secs = peer_run(lambda e: torchattacks_standard(model, norm, e, 0),
                                         model, x, y, eps_list)
                t_std.append(secs)
            print(f"repetition {r}: {who} {secs[0]:.1f}s wall, {secs[1]:.1f}s CPU", flush=True)
    more = {}
    for s in [int(v) for v in args.peer_seeds.split(",")[1:]]:
        f, secs = peer_run(lambda e, s=s: torchattacks_standard(model, norm, e, s), model, x, y,
                           eps_list)
        more[str(s)] = {"robust_accuracy": {f"{e:g}": float(f[e].float().mean())
                                            for e in eps_list}, "seconds_wall_cpu": secs,
                         "points_it_fools_that_ours_does_not": {
                             f"{e:g}": int((o_flags[e] & ~f[e]).sum()) for e in eps_list}}
        print(f"torchattacks-standard seed {s}: {secs[0]:.1f}s wall, {secs[1]:.1f}s CPU",
              flush=True)
    res: dict[str, Any] = {
        "n": len(x), "norm": norm, "eps": eps_list, "threads": args.threads,
        "cpu_count": os.cpu_count(), "loadavg_1_5_15_at_start": load_start,
        "repeats": args.repeats, "torchattacks_version": torchattacks.__version__,
        "ours": {"robust_accuracy": {f"{e:g}": float(o_flags[e].float().mean()) for e in eps_list},
                 "seconds_wall_cpu": t_ours, "per_eps": detail},
        "torchattacks_standard": {
            "robust_accuracy": {f"{e:g}": float(s_flags[e].float().mean()) for e in eps_list},
            "seconds_wall_cpu": t_std,
            "points_it_fools_that_ours_does_not": {f"{e:g}": int((o_flags[e] & ~s_flags[e]).sum())
                                                   for e in eps_list}},
        "torchattacks_standard_other_seeds": more,
    }
    for k, name in enumerate(("wall", "cpu")):
        res[f"speedup_vs_standard_{name}"] = (statistics.median(t[k] for t in t_std)
                                              / statistics.median(t[k] for t in t_ours))
    if not args.skip_class:
        c_flags, secs = peer_run(
            lambda e: torchattacks.AutoAttack(model, norm=tn, eps=e, version="standard",
                                              n_classes=10, seed=0), model, x, y, eps_list)
        res["torchattacks_class"] = {
            "robust_accuracy": {f"{e:g}": float(c_flags[e].float().mean()) for e in eps_list},
            "seconds_wall_cpu": secs}
        res["speedup_vs_class_cpu"] = secs[1] / statistics.median(t[1] for t in t_ours)
    res["loadavg_1_5_15_at_end"] = os.getloadavg()
    print(json.dumps(res, indent=1))
    atomic_write_json(args.out, res)


if __name__ == "__main__":
    main()
