"""Benchmark: advlab's AutoAttack ensemble against torchattacks' on the shared mnist5k CNN.

Runs on the same model (the test fixture's training) and points, in one process:

* ours: ``advlab.evaluate.autoattack(model, x, y, norm=..., eps=[...])`` (standard version:
  APGD-CE, APGD-T with 9 targets, FAB-T with 9 targets, 100 iterations each; Square 5,000
  queries), every eps in one call;
* ``torchattacks-standard``: torchattacks' four attacks with the same settings, chained by
  its ``MultiAttack`` (each attack on the points still robust), once per eps - the
  configuration of AutoAttack's reference implementation, hence the equal-accuracy peer;
* ``torchattacks-class``: ``torchattacks.AutoAttack(version="standard")`` as shipped, once
  per eps. It leaves APGD, APGD-T and FAB at torchattacks' default of 10 iterations, so it
  is cheaper and weaker; reported for reference (``--skip-class`` leaves it out).

Each memory layout of ``--layouts`` is timed like for like: ``contiguous`` gives both the
model as trained; ``channels-last`` gives ours the model through advlab's speed path
(``advlab.precision.speed_paths(model, channels_last=True)``, what ``--channels-last`` does
on the command line) and torchattacks a copy converted with
``model.to(memory_format=torch.channels_last)``, so both run the same convolutions. The
runs alternate (ours first in the first layout, torchattacks first in the next). Both wall
and CPU time are recorded: with one thread the CPU time is the work done, and it is what a
busy shared machine distorts least. Then, in the last layout, ``--our-seeds`` and
``--peer-seeds`` beyond the first give each side's seed-to-seed spread (accuracy only), and
``--plus`` runs our ``plus`` version (accuracy and time).

The parity criterion of the peer tests is recorded as declared before the run: at every
eps, ours (seed 0) <= torchattacks-standard (seed 0) + 0.5 percentage points.

Usage: OMP_NUM_THREADS=1 python benchmarks/autoattack.py [--checkpoint DIR] [--n 100]
       [--norm l2] [--eps 1.5,2] [--layouts contiguous,channels-last] [--threads 1]
       [--our-seeds 0] [--peer-seeds 0,1] [--skip-class] [--plus] [--out FILE]
Writes benchmarks/results/autoattack.json (or --out).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch

import advlab
from advlab.evaluate import autoattack
from advlab.precision import speed_paths
from advlab.seeding import seeded_subset
from advlab.store import atomic_write_json


def fixture_cnn(seed: int = 0) -> torch.nn.Module:
    """The tests' shared ``mnist5k_cnn`` (advlab's trainer with the fixture's config)."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from eval_protocol import fixture_cnn as make

    return make(seed)


def torchattacks_members(model: torch.nn.Module, norm: str, eps: float,
                         seed: int) -> dict[str, Any]:
    """torchattacks' four AutoAttack members with the reference implementation's settings,
    by our names, in AutoAttack's order."""
    import torchattacks

    n = "L2" if norm == "l2" else "Linf"
    return {
        "apgd-ce": torchattacks.APGD(model, norm=n, eps=eps, steps=100, n_restarts=1,
                                     loss="ce", seed=seed),
        "apgd-t": torchattacks.APGDT(model, norm=n, eps=eps, steps=100, n_restarts=1,
                                     n_classes=10, seed=seed),
        "fab-t": torchattacks.FAB(model, norm=n, eps=eps, steps=100, n_restarts=1,
                                  multi_targeted=True, n_classes=10, seed=seed),
        "square": torchattacks.Square(model, norm=n, eps=eps, n_queries=5000, n_restarts=1,
                                      seed=seed),
    }


def torchattacks_standard(model: torch.nn.Module, norm: str, eps: float, seed: int) -> Any:
    """:func:`torchattacks_members` chained by torchattacks' MultiAttack (each on the
    points still robust)."""
    from torchattacks.wrappers.multiattack import MultiAttack

    return MultiAttack(list(torchattacks_members(model, norm, eps, seed).values()))


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
             eps_list: list[float], seed: int = 0, version: str = "standard"
             ) -> tuple[dict[float, torch.Tensor], tuple[float, float], dict[str, Any]]:
    t, c = time.perf_counter(), time.process_time()
    res = autoattack(model, x, y, norm=norm, eps=eps_list, seed=seed, version=version)
    secs = (time.perf_counter() - t, time.process_time() - c)
    per = res.per_eps
    detail = {f"{e:g}": {"accuracy_after": per[e].accuracy_after, "seconds": per[e].seconds}
              for e in eps_list}
    return {e: per[e].robust for e in eps_list}, secs, detail


def layout_models(model: torch.nn.Module, layout: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(ours, torchattacks') copies of ``model`` in ``layout``."""
    ours, peer = copy.deepcopy(model).eval(), copy.deepcopy(model).eval()
    if layout == "contiguous":
        return ours, peer
    if layout == "channels-last":
        return (speed_paths(ours, channels_last=True),
                peer.to(memory_format=torch.channels_last))
    raise SystemExit(f"--layouts: unknown layout {layout!r} (contiguous or channels-last)")


def accuracy(flags: dict[float, torch.Tensor]) -> dict[str, float]:
    return {f"{e:g}": float(f.float().mean()) for e, f in flags.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--norm", default="l2")
    ap.add_argument("--eps", default="1.5,2")
    ap.add_argument("--layouts", default="contiguous,channels-last")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-class", action="store_true", help="skip torchattacks.AutoAttack")
    ap.add_argument("--plus", action="store_true",
                    help="also run our plus version (seed 0, last layout): accuracy and time")
    ap.add_argument("--our-seeds", default="0",
                    help="seeds of ours; the first is timed, the others run in the last layout")
    ap.add_argument("--peer-seeds", default="0,1",
                    help="seeds of torchattacks-standard; the first is timed against ours, "
                         "the others (run after, last layout) give its seed-to-seed spread")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "autoattack.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import torchattacks

    base = advlab.load_model(args.checkpoint) if args.checkpoint else fixture_cnn()
    x, y = advlab.load_dataset("mnist5k", "test")
    idx = seeded_subset(len(x), args.n, 0)
    x, y = x[idx], y[idx]
    eps_list = [float(e) for e in args.eps.split(",")]
    norm = args.norm
    tn = "L2" if norm == "l2" else "Linf"
    our_seeds = [int(v) for v in args.our_seeds.split(",")]
    peer_seeds = [int(v) for v in args.peer_seeds.split(",")]
    layouts = args.layouts.split(",")
    res: dict[str, Any] = {
        "n": len(x), "norm": norm, "eps": eps_list, "threads": args.threads,
        "cpu_count": os.cpu_count(), "loadavg_1_5_15_at_start": os.getloadavg(),
        "torch_version": torch.__version__, "torchattacks_version": torchattacks.__version__,
        "advlab_version": advlab.__version__, "layouts": {},
        "criterion": "at every eps: ours (seed 0) <= torchattacks-standard (seed 0) + 0.005",
    }
    for k, layout in enumerate(layouts):
        ours_model, peer_model = layout_models(base, layout)
        entry: dict[str, Any] = {}
        for who in (["ours", "std"] if k % 2 == 0 else ["std", "ours"]):
            if who == "ours":
                o_flags, secs, detail = ours_run(ours_model, x, y, norm, eps_list, our_seeds[0])
                entry["ours"] = {"seed": our_seeds[0], "robust_accuracy": accuracy(o_flags),
                                 "seconds_wall_cpu": secs, "per_eps": detail}
            else:
                s_flags, secs = peer_run(
                    lambda e, m=peer_model: torchattacks_standard(m, norm, e, peer_seeds[0]),
                    peer_model, x, y, eps_list)
                entry["torchattacks_standard"] = {
                    "seed": peer_seeds[0], "robust_accuracy": accuracy(s_flags),
                    "seconds_wall_cpu": secs}
            print(f"{layout}: {who} {secs[0]:.1f}s wall, {secs[1]:.1f}s CPU", flush=True)
        entry["torchattacks_standard"]["points_it_fools_that_ours_does_not"] = {
            f"{e:g}": int((o_flags[e] & ~s_flags[e]).sum()) for e in eps_list}
        entry["points_ours_fools_that_it_does_not"] = {
            f"{e:g}": int((s_flags[e] & ~o_flags[e]).sum()) for e in eps_list}
        for j, name in enumerate(("wall", "cpu")):
            entry[f"speedup_{name}"] = (entry["torchattacks_standard"]["seconds_wall_cpu"][j]
                                        / entry["ours"]["seconds_wall_cpu"][j])
        entry["parity_met"] = all(float(o_flags[e].float().mean())
                                  <= float(s_flags[e].float().mean()) + 0.005 + 1e-9
                                  for e in eps_list)
        res["layouts"][layout] = entry
    if "contiguous" in res["layouts"] and "channels-last" in res["layouts"]:
        res["speedup_cpu_ours_channels_last_vs_torchattacks_contiguous"] = (
            res["layouts"]["contiguous"]["torchattacks_standard"]["seconds_wall_cpu"][1]
            / res["layouts"]["channels-last"]["ours"]["seconds_wall_cpu"][1])
    last = res["layouts"][layouts[-1]]
    spread: dict[str, Any] = {
        "ours": {str(our_seeds[0]): last["ours"]["robust_accuracy"]},
        "torchattacks_standard": {str(peer_seeds[0]):
                                  last["torchattacks_standard"]["robust_accuracy"]}}
    for s in our_seeds[1:]:
        f, secs, _ = ours_run(ours_model, x, y, norm, eps_list, s)
        spread["ours"][str(s)] = accuracy(f)
        print(f"ours seed {s}: {secs[1]:.1f}s CPU {accuracy(f)}", flush=True)
    for s in peer_seeds[1:]:
        f, secs = peer_run(lambda e, s=s: torchattacks_standard(peer_model, norm, e, s),
                           peer_model, x, y, eps_list)
        spread["torchattacks_standard"][str(s)] = accuracy(f)
        print(f"torchattacks-standard seed {s}: {secs[1]:.1f}s CPU {accuracy(f)}", flush=True)
    for side in spread.values():
        side["mean"] = {f"{e:g}": statistics.mean(v[f"{e:g}"] for v in side.values())
                        for e in eps_list}
    res["seeds"] = spread
    if args.plus:
        f, secs, detail = ours_run(ours_model, x, y, norm, eps_list, 0, "plus")
        res["ours_plus"] = {"layout": layouts[-1], "seed": 0, "robust_accuracy": accuracy(f),
                            "seconds_wall_cpu": secs, "per_eps": detail}
        print(f"ours plus: {secs[1]:.1f}s CPU {accuracy(f)}", flush=True)
    if not args.skip_class:
        c_flags, secs = peer_run(
            lambda e: torchattacks.AutoAttack(peer_model, norm=tn, eps=e, version="standard",
                                              n_classes=10, seed=0), peer_model, x, y, eps_list)
        res["torchattacks_class"] = {"layout": layouts[-1], "robust_accuracy": accuracy(c_flags),
                                     "seconds_wall_cpu": secs}
    res["loadavg_1_5_15_at_end"] = os.getloadavg()
    print(json.dumps(res, indent=1))
    atomic_write_json(args.out, res)


if __name__ == "__main__":
    main()
