"""Diagnosis for benchmarks/autoattack.py: at ONE eps alone, advlab's ensemble and, on the
points it leaves robust, each member of torchattacks' reference-settings ensemble.

benchmarks/autoattack.py evaluates every eps in one call (a point robust at a smaller eps
is attacked again at the larger one, the others are carried over). This script runs our
ensemble at a single eps on the same 100 points and model, then asks torchattacks' APGD,
APGD-T, FAB (multi-targeted) and Square (the settings of the reference implementation)
to fool the points ours left robust. A point one of them fools is one ours missed.

Usage: OMP_NUM_THREADS=1 python benchmarks/autoattack_members.py [--eps 2] [--n 100]
       [--version standard|apgd]
Writes benchmarks/results/autoattack_members.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

import advlab
from advlab.evaluate import autoattack
from advlab.store import atomic_write_json


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eps", type=float, default=2.0)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--version", default="standard")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "autoattack_members.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from autoattack import torchattacks_members
    from eval_protocol import fixture_cnn

    model = fixture_cnn(0)
    x, y = advlab.load_dataset("mnist5k", "test")
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:args.n]
    x, y = x[idx], y[idx]
    t = time.process_time()
    res = autoattack(model, x, y, norm="l2", eps=args.eps, version=args.version, seed=0)
    out: dict[str, Any] = {
        "n": args.n, "norm": "l2", "eps": args.eps, "version": args.version,
        "ours": {"robust_accuracy": res.robust_accuracy, "accuracy_after": res.accuracy_after,
                 "seconds_cpu": time.process_time() - t},
        "peers_on_points_ours_left_robust": {}}
    print(json.dumps(out["ours"]), flush=True)
    robust = torch.nonzero(res.robust).flatten()
    for name, atk in torchattacks_members(model, "l2", args.eps, 0).items():
        t = time.process_time()
        xa = atk(x[robust], y[robust])
        with torch.no_grad():
            fooled = model(xa).argmax(1) != y[robust]
        out["peers_on_points_ours_left_robust"][name] = {
            "attacked": len(robust), "fooled": int(fooled.sum()),
            "fooled_indices": robust[fooled].tolist(), "seconds_cpu": time.process_time() - t}
        print(name, json.dumps(out["peers_on_points_ours_left_robust"][name]), flush=True)
    atomic_write_json(args.out, out)


if __name__ == "__main__":
    main()
