"""Peer table: advlab's default robust-accuracy protocol against torchattacks PGD.

On the shared standard mnist5k CNN (the test fixture's training: ``cnn``, 3 epochs, batch
64, Adam 1e-3, seed 0) and the 1,000 mnist5k test points, robust accuracy of

* ours: ``advlab.evaluate.robust_accuracy(model, x, y, norm=..., eps=[...], steps=S)`` with
  every other argument at its default (APGD-CE, then APGD-DLR on the points still robust);
* the former default: PGD with step 2.5 eps / S and a random start (``step_size`` given);
* each peer configuration: torchattacks ``PGDL2`` (L2) / ``PGD`` (Linf) with ``steps=S``,
  ``alpha`` in {eps/4, eps/10}, ``random_start`` in {False, True} (global seed 0);

for S in {20, 40} (and more with ``--steps``), at L2 eps 0.5, 1, 1.5, 2 and Linf eps
0.05, 0.1, 0.15, 0.2. Besides each accuracy, the table counts the points a peer fools that
ours does not (the per-point flags), and the gradient evaluations ours spent.

Usage: OMP_NUM_THREADS=1 python benchmarks/eval_protocol.py [--checkpoint DIR] [--n 1000]
       [--steps 20,40] [--cache FILE]
``--cache`` keeps the peers' per-point flags in a safetensors file, so that a rerun only
recomputes ours. Writes benchmarks/results/eval_protocol.json and prints the table.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import advlab
from advlab.store import atomic_write_json

GRID = {"l2": [0.5, 1.0, 1.5, 2.0], "linf": [0.05, 0.1, 0.15, 0.2]}
PEERS = {"eps/4": 4.0, "eps/10": 10.0}


def fixture_cnn(seed: int = 0) -> torch.nn.Module:
    """The tests' shared ``mnist5k_cnn``: advlab's trainer with the fixture's config."""
    from advlab.train import TrainConfig, train

    cfg = TrainConfig(dataset="mnist5k", model="cnn", epochs=3, batch_size=64, lr=1e-3,
                      seed=seed, checkpoint_every_seconds=1e9)
    with tempfile.TemporaryDirectory() as d:
        train(cfg, d)
        return advlab.load_model(Path(d) / "last")


def peer_key(norm: str, eps: float, steps: int, step: str, rs: bool) -> str:
    return f"{norm}|{eps:g}|{steps}|{step}|{'rs' if rs else 'no-rs'}"


def peer_flags(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str,
               eps: float, steps: int, step: str, rs: bool) -> torch.Tensor:
    """Per-point robust flags (N,) bool of one torchattacks PGD configuration."""
    import torchattacks

    cls = torchattacks.PGDL2 if norm == "l2" else torchattacks.PGD
    torch.manual_seed(0)
    atk = cls(model, eps=eps, alpha=eps / PEERS[step], steps=steps, random_start=rs)
    x_adv = atk(x, y)
    with torch.no_grad():
        return model(x_adv).argmax(1) == y


def load_cache(path: str | None) -> dict[str, torch.Tensor]:
    if path and Path(path).exists():
        from safetensors.torch import load_file

        return load_file(path)
    return {}


def save_cache(path: str | None, cache: dict[str, torch.Tensor]) -> None:
    if path:
        from safetensors.torch import save_file

        from advlab.store import atomic_path

        with atomic_path(Path(path)) as tmp:
            save_file(cache, str(tmp))


def count_gradients(model: torch.nn.Module) -> tuple[torch.nn.Module, list[int]]:
    """Wrap ``model`` so that every forward with grad enabled adds its batch size to a counter."""
    counter = [0]

    class Counted(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if torch.is_grad_enabled() and x.requires_grad:
                counter[0] += len(x)
            return self.inner(x)

    return Counted().eval(), counter


def ours(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str,
         steps: int) -> tuple[dict[float, torch.Tensor], int, float]:
    """Our default protocol's per-point robust flags at every eps of the grid, the number of
    image-gradients it spent and its wall time."""
    from advlab.evaluate import robust_flags

    counted, counter = count_gradients(model)
    t = time.perf_counter()
    flags = robust_flags(counted, x, y, norm=norm, eps=GRID[norm], steps=steps, checks=False)
    return flags, counter[0], time.perf_counter() - t


def former(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str,
           steps: int) -> tuple[dict[float, float], int]:
    """The former default (PGD, step 2.5 eps / steps, random start): accuracy per eps and
    image-gradients."""
    from advlab.evaluate import robust_accuracy

    counted, counter = count_gradients(model)
    acc = {e: robust_accuracy(counted, x, y, norm=norm, eps=e, steps=steps,
                              step_size=2.5 * e / steps, checks=False)[e] for e in GRID[norm]}
    return acc, counter[0]


def table(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps_list: list[int],
          cache: dict[str, torch.Tensor], cache_path: str | None,
          norms: list[str]) -> dict[str, Any]:
    rows, cost = [], []
    for norm in norms:
        for steps in steps_list:
            mine, grads, secs = ours(model, x, y, norm, steps)
            old, old_grads = former(model, x, y, norm, steps)
            print(f"ours {norm} steps={steps}: {secs:.1f}s, {grads} image-gradients "
                  f"(former default: {old_grads})", flush=True)
            for eps in GRID[norm]:
                row: dict[str, Any] = {"norm": norm, "eps": eps, "steps": steps,
                                       "ours": float(mine[eps].float().mean()),
                                       "former_default": old[eps], "peers": {},
                                       "peer_only_fooled": {}}
                for step in PEERS:
                    for rs in (False, True):
                        key = peer_key(norm, eps, steps, step, rs)
                        if key not in cache:
                            cache[key] = peer_flags(model, x, y, norm, eps, steps, step, rs)
                            save_cache(cache_path, cache)
                        name = f"{step}{', random start' if rs else ''}"
                        row["peers"][name] = float(cache[key].float().mean())
                        row["peer_only_fooled"][name] = int((mine[eps] & ~cache[key]).sum())
                row["ours_minus_best_peer_points"] = 100 * (row["ours"] - min(row["peers"].values()))
                rows.append(row)
            cost.append({"norm": norm, "steps": steps, "ours_image_gradients": grads,
                         "former_default_image_gradients": old_grads, "ours_seconds": secs})
    return {"rows": rows, "cost": cost}


def print_table(rows: list[dict[str, Any]]) -> None:
    names = list(rows[0]["peers"])
    print(f"{'norm':5s} {'eps':>5s} {'steps':>5s} {'ours':>6s} {'former':>6s} " +
          " ".join(f"{n:>22s}" for n in names) + f" {'ours-best':>9s}")
    for r in rows:
        cells = " ".join(f"{100 * r['peers'][n]:>15.1f} ({r['peer_only_fooled'][n]:>3d})"
                         for n in names)
        print(f"{r['norm']:5s} {r['eps']:>5g} {r['steps']:>5d} {100 * r['ours']:>6.1f} "
              f"{100 * r['former_default']:>6.1f} {cells} "
              f"{r['ours_minus_best_peer_points']:>+9.1f}")
    print("robust accuracy in %; (k) = points that peer fools and ours does not")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--steps", default="20,40")
    ap.add_argument("--norms", default="l2,linf", help="comma-separated subset of l2,linf")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache", default=None, help="safetensors file for the peers' flags")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "eval_protocol.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = advlab.load_model(args.checkpoint) if args.checkpoint else fixture_cnn()
    x, y = advlab.load_dataset("mnist5k", "test")
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:args.n]
    x, y = x[idx], y[idx]
    steps_list = [int(s) for s in args.steps.split(",")]
    with torch.no_grad():
        clean = float((model(x).argmax(1) == y).float().mean())
    import shlex
    import sys

    from advlab.provenance import environment

    res = {"command": shlex.join(["python", *sys.argv]), "environment": environment(),
           "n": len(x), "clean_accuracy": clean, "threads": args.threads,
           "peer": "torchattacks PGDL2 (l2) / PGD (linf), global seed 0",
           "ours": "advlab.evaluate.robust_accuracy defaults",
           **table(model, x, y, steps_list, load_cache(args.cache), args.cache,
                   args.norms.split(","))}
    print_table(res["rows"])
    worst = max(r["ours_minus_best_peer_points"] for r in res["rows"])
    res["worst_ours_minus_best_peer_points"] = worst
    print(json.dumps({"worst_ours_minus_best_peer_points": worst}))
    atomic_write_json(args.out, res)


if __name__ == "__main__":
    main()
