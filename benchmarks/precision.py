"""bf16 / fp16 autocast against float32 on the CPU: robust accuracy and construction distances.

    python benchmarks/precision.py            # writes benchmarks/results/precision.json

One small CNN is trained on mnist5k (1 epoch, seed 0, float32). Then, at each precision
(``advlab.precision.speed_paths``):

* robust accuracy of the first ``n`` test points under the default evaluation protocol
  (APGD-CE then APGD-DLR, L2, ``steps`` iterations, sanity checks off) at two radii;
  success is verified in
  float32 in every case, so only the examples the attack finds can differ;
* D_R-style representation inversion (``advlab.features.robustify``) of the first
  ``n_construct`` training images from other training images: the relative representation
  distances of the returned iterates (recomputed in float32);
* D_det-style relabelling (``advlab.features.relabel``, L2 eps 4, steps of 0.5): the
  fraction of targets reached.

``tests/test_precision.py`` runs the same measurement and holds it to the stated
tolerances (docs/scale.md, "GPU speed paths").
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from advlab.data import load_dataset
from advlab.evaluate import robust_accuracy
from advlab.features import RelabelConfig, relabel, robustify
from advlab.precision import speed_paths
from advlab.provenance import environment
from advlab.store import atomic_write_json
from advlab.train import TrainConfig, train

RESULTS = Path(__file__).resolve().parent / "results" / "precision.json"
#: the radii of the robust-accuracy comparison (L2, pixel units, 28x28 MNIST)
EPS = (1.0, 2.0)


def source_model(out: Path) -> torch.nn.Module:
    """A small CNN trained on mnist5k for one epoch (float32, seed 0), in eval mode."""
    cfg = TrainConfig(dataset="mnist5k", model="cnn", epochs=1, batch_size=64, lr=1e-3, seed=0,
                      checkpoint_every_seconds=1e9)
    return train(cfg, out).model.eval()


def measure(model: torch.nn.Module, precision: str, *, n: int = 200, steps: int = 10,
            n_construct: int = 32, construct_steps: int = 20) -> dict[str, Any]:
    """The figures of one precision (see the module docstring)."""
    fast = speed_paths(model, precision=precision)
    x, y = load_dataset("mnist5k", split="test")
    t0 = time.perf_counter()
    acc = robust_accuracy(fast, x[:n], y[:n], norm="l2", eps=list(EPS), steps=steps, seed=0,
                          checks=False)
    xt, yt = load_dataset("mnist5k", split="train")
    xc, yc = xt[:n_construct], yt[:n_construct]
    x0 = xt[n_construct:2 * n_construct]
    _, dist = robustify(fast, xc, yc, x0=x0, steps=construct_steps, step_size=0.5, batch_size=64)
    rel = relabel(fast, xc, yc, mode="det", num_classes=10, generator=torch.Generator().manual_seed(0),
                  config=RelabelConfig(eps=4.0, steps=construct_steps, step_size=0.5))
    return {"robust_accuracy": {f"{e:g}": float(acc[e]) for e in EPS},
            "relative_distance": dist.relative.tolist(),
            "relative_distance_mean": float(dist.relative.mean()),
            "relabel_reached": float(rel.reached.float().mean()),
            "seconds": time.perf_counter() - t0}


def agreement(model: torch.nn.Module, low: str, ref: dict[str, Any] | None = None,
              **kw: Any) -> dict[str, Any]:
    """``low`` against fp32 (``ref``: fp32's figures, measured here when None): each one's
    figures and the differences the tests bound."""
    ref = ref if ref is not None else measure(model, "fp32", **kw)
    got = measure(model, low, **kw)
    d_rel = [abs(a - b) for a, b in zip(ref["relative_distance"], got["relative_distance"],
                                          strict=True)]
    return {"fp32": ref, low: got,
            "robust_accuracy_points": {e: 100 * abs(got["robust_accuracy"][e] - ref["robust_accuracy"][e])
                                       for e in ref["robust_accuracy"]},
            "relative_distance_max_abs_diff": max(d_rel),
            "relative_distance_mean_abs_diff": sum(d_rel) / len(d_rel),
            "relabel_reached_points": 100 * abs(got["relabel_reached"] - ref["relabel_reached"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--work", type=Path, default=Path("/tmp/advlab-precision-bench"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    model = source_model(args.work / "cnn")
    doc: dict[str, Any] = {"command": "python benchmarks/precision.py", "n": 200, "steps": 10,
                           "eps_l2": list(EPS), "n_construct": 32, "construct_steps": 20,
                           "provenance": environment("cpu")}
    for low in ("bf16", "fp16"):
        doc[low] = agreement(model, low)
        print(low, json.dumps({k: v for k, v in doc[low].items() if k not in ("fp32", low)}))
    doc["wall_s"] = time.perf_counter() - t0
    atomic_write_json(args.out, doc)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
