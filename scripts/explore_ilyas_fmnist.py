"""Explorations behind the features-paper medium preset on Fashion-MNIST (docs/ilyas2019.md).

Four studies, each writing ``<out>/<study>.json`` (and its models / artifacts under
``<out>``); every number in docs/ilyas2019.md's "Fashion-MNIST explorations" comes from
here, with the seeds below:

* ``probe``: standard CNN (8 epochs) and L2 PGD-7 adversarially trained CNNs (eps 1 and
  2, 6 epochs) on 5,000 training images (seed 0). Untargeted PGD-20 robust accuracy on
  500 test images (seed 1) at eps 0.5-3, and the rate at which targeted PGD-20 (step
  2.5 eps/20, targets uniform over the other classes) reaches its target at eps 1-3, on
  the source itself and on the other two models. This chose the medium preset's
  evaluation eps (1.5: standard broken, robust not) and relabelling eps (2.0).
* ``dr``: D_R from the eps-1 and the eps-2 source (2,000 images, 100 inversion steps of
  0.1, image start), trained 20 epochs with and without random-crop augmentation, against
  the same 2,000 images unmodified. Needs ``probe`` first.
* ``det``: D_det at larger relabelling eps (5,000 images, 20 steps of 2.5 eps/20) from
  the standard and the robust source of a medium run (``--run``), trained as the preset
  trains (20 epochs, random crops); accuracy on the test set and on the test set
  relabelled y+1. Asks whether Table 1's D_det reproduces once eps is large enough.
* ``convergence``: relative representation distance and the source's accuracy on x_r
  after 50-800 inversion steps (256 images, eps-1 source): fixed step 0.1 against a
  step decaying linearly from 0.5. Needs ``probe`` first.

Usage: ``python scripts/explore_ilyas_fmnist.py {probe,dr,det,convergence} --out DIR``
(``--threads 1`` to share the machine; about 5, 10, 8 and 6 minutes on one core).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch

import advlab
from advlab.attacks.pgd import pgd_perturb
from advlab.data.artifact import read_card
from advlab.evaluate.accuracy import clean_accuracy, robust_accuracy
from advlab.experiments.ilyas2019 import stages
from advlab.experiments.ilyas2019.config import TrainSettings
from advlab.features import construct_dataset
from advlab.features.relabel import choose_targets
from advlab.features.robustify import inversion_step
from advlab.store import atomic_write_json

DATASET = "fashion-mnist"
SOURCES = {"standard": None, "robust1": 1.0, "robust2": 2.0}


def _eval_set() -> stages.Data:
    return stages.subset(advlab.load_dataset(DATASET, "test"), 500, 1)


def _train(out: Path, settings: TrainSettings, data: stages.Data, test: stages.Data, label: str,
           adv_eps: float | None = None) -> tuple[torch.nn.Module, float]:
    """Train the CNN into ``out`` (seed 0, CPU); return its last model and test accuracy."""
    r = stages.train_model(out, settings, data, test, arch="cnn", model_kwargs={}, seed=0,
                           device="cpu", label=label, adv_eps=adv_eps)
    return stages.load(str(out / "last"), "cpu"), r["test_acc"]


def probe(out: Path) -> dict[str, Any]:
    """Robust accuracy of the three sources and targeted reach rates (see module doc)."""
    train = stages.subset(advlab.load_dataset(DATASET, "train"), 5000, 0)
    test = advlab.load_dataset(DATASET, "test")
    ev = _eval_set()
    res: dict[str, Any] = {}
    models = {}
    for name, eps in SOURCES.items():
        t0 = time.time()
        settings = TrainSettings(epochs=8 if eps is None else 6)
        models[name], test_acc = _train(out / name, settings, train, test, name, adv_eps=eps)
        ra = robust_accuracy(models[name], ev[0], ev[1], norm="l2", eps=[0.5, 1.0, 1.5, 2.0, 3.0],
                             steps=20, checks=False)
        res[name] = {"clean": test_acc, "robust": {str(k): v for k, v in ra.items()},
                     "seconds": time.time() - t0}
        print(name, res[name], flush=True)
    x, y = ev[0][:300], ev[1][:300]
    target = choose_targets(y, 10, "rand", generator=torch.Generator().manual_seed(0))
    res["reach"] = {}
    for name, m in models.items():
        for eps in (1.0, 1.5, 2.0, 3.0):
            xa = pgd_perturb(m, x, y, norm="l2", eps=eps, steps=20, step_size=2.5 * eps / 20,
                             random_start=False, target=target)
            with torch.no_grad():
                rates = {other: (m2(xa).argmax(1) == target).float().mean().item()
                         for other, m2 in models.items()}
            res["reach"][f"{name}@{eps}"] = rates  # rates[name]: on the source itself
            print(name, eps, rates, flush=True)
    return res


def dr(out: Path, probe_dir: Path, *, sources: list[str], augments: list[str], n: int = 2000,
       steps: int = 100) -> dict[str, Any]:
    """D_R from the given sources and a control (the same images unmodified), each trained
    20 epochs under each augmentation; robust accuracy at eps 0.5 / 1 / 1.5."""
    test = advlab.load_dataset(DATASET, "test")
    ev = _eval_set()
    res: dict[str, Any] = {"n": n, "steps": steps, "step_size": 0.1}
    sets: dict[str, stages.Data] = {}
    for src in sources:
        path = construct_dataset("robust", source_checkpoint=str(probe_dir / src / "last"),
                                 dataset=DATASET, out=out / f"dr_{src}_{steps}", n=n, steps=steps,
                                 step_size=0.1, init="image", seed=0, shard_size=500)
        sets[f"dr_{src}"] = advlab.load_dataset(str(path))
        res[f"stats_{src}"] = read_card(path).get("provenance", {}).get("stats", {})
    # the same n images unmodified (construct_dataset's subset depends only on seed and n)
    idx = stages.sample_index(str(out / f"dr_{sources[0]}_{steps}"))
    x, y = advlab.load_dataset(DATASET, "train")
    sets["control"] = (x[idx], y[idx])
    for aug in augments:
        for key, data in sets.items():
            name = f"{key}_{steps}" if key != "control" else key
            name += "" if aug == "none" else f"_{aug}"
            settings = TrainSettings(epochs=20, lr_drop_epochs=(15,), augment=aug)
            m, test_acc = _train(out / f"train_{name}", settings, data, test, name)
            ra = robust_accuracy(m, ev[0], ev[1], norm="l2", eps=[0.5, 1.0, 1.5], steps=20,
                                 checks=False)
            res[name] = {"clean": test_acc,
                         "robust": {str(k): round(v, 3) for k, v in ra.items()}}
            print(name, res[name], flush=True)
    return res


def det(out: Path, run: Path, eps_list: list[float], n: int = 5000) -> dict[str, Any]:
    """D_det from a medium run's standard and robust sources at each eps (see module doc)."""
    test = advlab.load_dataset(DATASET, "test")
    y_shift = choose_targets(test[1], 10, "det", generator=torch.Generator())
    res: dict[str, Any] = {"run": str(run), "n": n}
    for eps in eps_list:
        for src in ("standard", "robust"):
            name = f"d_det_{src}_eps{eps}"
            path = construct_dataset("det", source_checkpoint=str(run / f"source_{src}" / "last"),
                                     dataset=DATASET, out=out / name, n=n, steps=20,
                                     step_size=2.5 * eps / 20, eps=eps, seed=0, shard_size=1000)
            stats = read_card(path).get("provenance", {}).get("stats", {})
            settings = TrainSettings(epochs=20, lr_drop_epochs=(15,), augment="crop")
            m, test_acc = _train(out / f"train_{name}", settings, advlab.load_dataset(str(path)),
                                 test, name)
            res[name] = {"reached": stats.get("reached_rate"), "test_acc": test_acc,
                         "relabelled_acc": clean_accuracy(m, test[0], y_shift)}
            print(name, res[name], flush=True)
    return res


def convergence(probe_dir: Path, steps: int = 800) -> dict[str, Any]:
    """Inversion progress with a fixed and a decaying step (256 images, eps-1 source)."""
    x, y = advlab.load_dataset(DATASET, "train")
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(x.shape[0], generator=g)[:256]
    i0 = torch.randperm(x.shape[0], generator=g)[:256]
    xb, yb, x0 = x[idx], y[idx], x[i0]
    m = stages.load(str(probe_dir / "robust1" / "last"), "cpu")
    with torch.no_grad():
        target = m.features(xb)  # type: ignore[operator]
        acc_x = (m(xb).argmax(1) == yb).float().mean().item()
    res: dict[str, Any] = {"source_acc_on_x": acc_x}
    schedules = {"fixed 0.1": lambda t: 0.1,
                 "linear 0.5 -> 0": lambda t: 0.5 * (1 - t / steps) + 0.005}
    marks = {50, 100, 200, 400, 800}
    for name, sched in schedules.items():
        xr = x0.clone()
        for t in range(1, steps + 1):
            xr = inversion_step(m, xr, target, sched(t - 1))
            if t in marks:
                with torch.no_grad():
                    rel = (m.features(xr) - target).norm(dim=1) / target.norm(dim=1)  # type: ignore[operator]
                    pred = m(xr).argmax(1)
                row = {"rel_mean": rel.mean().item(), "rel_median": rel.median().item(),
                       "source_acc_on_xr": (pred == yb).float().mean().item(),
                       "agree_with_x": (pred == m(xb).argmax(1)).float().mean().item(),
                       "dist_to_x0": (xr - x0).flatten(1).norm(dim=1).mean().item()}
                res[f"{name} @ {t}"] = row
                print(name, t, row, flush=True)
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("study", choices=["probe", "dr", "det", "convergence"])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--dr-sources", default="robust1,robust2",
                        help="dr: comma-separated probe models to invert")
    parser.add_argument("--dr-steps", type=int, default=100, help="dr: inversion steps of 0.1")
    parser.add_argument("--augment", default="none,crop", help="dr: comma-separated augmentations")
    parser.add_argument("--run", type=Path, default=Path("runs/ilyas-fmnist"),
                        help="det: a medium run folder (its source_standard / source_robust)")
    parser.add_argument("--eps", default="2.5,3.0", help="det: comma-separated relabelling eps")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    probe_dir = args.out / "probe"
    if args.study == "probe":
        res = probe(probe_dir)
    elif args.study == "dr":
        res = dr(args.out / "dr", probe_dir, sources=args.dr_sources.split(","),
                 augments=args.augment.split(","), steps=args.dr_steps)
    elif args.study == "det":
        res = det(args.out / "det", args.run, [float(e) for e in args.eps.split(",")])
    else:
        res = convergence(probe_dir)
    res["command"] = shlex.join(["python", *sys.argv])
    tag = f"_{args.dr_steps}" if args.study == "dr" else ""
    atomic_write_json(args.out / f"{args.study}{tag}.json", res)


if __name__ == "__main__":
    main()
