"""Is D_R built by the polyak inversion optimizer equivalent to the paper's? (Fashion-MNIST)

The features paper builds D_R by minimising f = ``||g(x_r) - g(x)||`` with fixed
normalised steps (Table 5: 1000 steps of 0.1). ``advlab`` adds a ``polyak`` optimizer
(steps of length ``min(1, 0.5 f / ||grad f||)``) that reaches the same representation
distance in fewer gradient evaluations (``benchmarks/inversion.py``). This script checks that the datasets it
builds train the same models: the same Table 7 row within seed noise.

Protocol (fixed before any result was seen):

* Source: one CNN adversarially trained on 20,000 Fashion-MNIST training images (subset
  seed 0): L2 PGD-7 (step eps/5) at eps 2, SGD lr 0.05 (x0.1 after epoch 6), momentum
  0.9, weight decay 5e-4, batch 128, 8 epochs (the medium preset's robust source).
* For each seed s in {0, 1}: D_R from N training images (``construct_dataset`` seed s:
  the same subset and the same image starts for both optimizers), first with the paper's
  optimizer (1000 steps of 0.1), then with the polyak optimizer (at most 250 steps, a
  quarter, each at most 1.0 long) and a per-sample stop at the paper set's median
  relative distance: both sets then have the same median distance.
* A CNN trained on each set (and, as a control, on the same N images unmodified) with the
  medium preset's ``constructed_train``: SGD lr 0.05 (x0.1 after epoch 15), momentum 0.9,
  weight decay 5e-4, batch 128, 20 epochs, random crops; training seed s.
* Evaluation: clean accuracy on the 10,000 test images; L2 robust accuracy at eps 0.5,
  1.0, 1.5 on 1,000 test images (seed 1234), a point counting as robust only if it
  survives the library's default protocol (APGD-CE then APGD-DLR, 50 steps each), PGD-50
  with step eps/10 and PGD-50 with step eps/4 (no random start).
* "Within seed noise": for each metric, |mean over seeds (polyak) - mean over seeds
  (paper)| is at most the larger of (a) either optimizer's between-seed difference and
  (b) two binomial standard errors of a difference of two accuracies on the evaluation
  set, 2 sqrt(2 p (1 - p) / n_eval). The verdict is ``equivalent`` when every metric
  passes.

Stages (each resumes; ``all`` runs them in order): ``source``, ``construct``, ``train``,
``eval``. Raw results: ``docs/results/inversion/equivalence.json`` (``--results``).

Usage: ``python scripts/inversion_equivalence.py all --out runs/inversion-eq --threads 1
[--seeds 0,1] [--n 500]``
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

import advlab
from advlab.attacks.pgd import PGD
from advlab.data.artifact import read_card
from advlab.evaluate.accuracy import clean_accuracy, robust_flags
from advlab.features import construct_dataset
from advlab.store import atomic_write_json, read_json
from advlab.train import AdvConfig, TrainConfig, train

DATASET = "fashion-mnist"
EVAL_EPS = (0.5, 1.0, 1.5)
N_EVAL, EVAL_SEED = 1000, 1234
PAPER = {"optimizer": "paper", "steps": 1000, "step_size": 0.1}
POLYAK = {"optimizer": "polyak", "steps": 250, "step_size": 1.0}
EPOCHS = 20  # constructed_train of the medium preset (lr drop after epoch 15)
Data = tuple[torch.Tensor, torch.Tensor]


def _subset(data: Data, n: int, seed: int) -> Data:
    idx = torch.randperm(data[0].shape[0], generator=torch.Generator().manual_seed(seed))[:n]
    return data[0][idx], data[1][idx]


def source(out: Path) -> Path:
    """Train (or resume) the robust source; return its ``last/`` checkpoint."""
    cfg = TrainConfig(dataset="fashion-mnist[20k] (adversarial)", model="cnn", epochs=8,
                      batch_size=128, optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=5e-4,
                      lr_drop_epochs=(6,), augment="none",
                      adversarial=AdvConfig(kind="pgd", norm="l2", eps=2.0, steps=7), seed=0,
                      device="cpu")
    train(cfg, out / "source", train_data=_subset(advlab.load_dataset(DATASET, "train"), 20000, 0),
          test_data=advlab.load_dataset(DATASET, "test"))
    return out / "source" / "last"


def _build(out: Path, name: str, seed: int, n: int, **kw: Any) -> dict[str, Any]:
    """Construct (or find) one D_R; its wall time is kept beside it (``NAME.timing.json``)."""
    t0 = time.time()
    path = construct_dataset("robust", source_checkpoint=str(out / "source" / "last"),
                             dataset=DATASET, out=out / name, n=n, seed=seed, init="image",
                             shard_size=500, **kw)
    timing = out / f"{name}.timing.json"
    if not timing.exists():
        atomic_write_json(timing, {"seconds": time.time() - t0, "threads": torch.get_num_threads()})
    card = read_card(path)
    return {"path": name, **read_json(timing), "stats": card["provenance"]["stats"],
            "optimizer": card["provenance"]["optimizer"], "sha256": card["sha256"]}


def construct(out: Path, seed: int, n: int) -> dict[str, Any]:
    """Paper D_R, then polyak D_R stopping at the paper set's median (same subset, starts)."""
    paper = _build(out, f"d_r_paper_s{seed}", seed, n, **PAPER)
    tol = paper["stats"]["rep_rel_median"]
    polyak = _build(out, f"d_r_polyak_s{seed}", seed, n, tol=tol, **POLYAK)
    return {"paper": paper, "polyak": polyak}


def _train_one(out: Path, name: str, data: Data, test: Data, seed: int) -> Path:
    cfg = TrainConfig(dataset=name, model="cnn", epochs=EPOCHS, batch_size=128, optimizer="sgd",
                      lr=0.05, momentum=0.9, weight_decay=5e-4, lr_drop_epochs=(EPOCHS * 3 // 4,),
                      augment="crop", seed=seed, device="cpu")
    train(cfg, out / f"train_{name}", train_data=data, test_data=test)
    return out / f"train_{name}" / "last"


def train_all(out: Path, seed: int, n: int) -> dict[str, str]:
    """A CNN on each D_R of the seed and on the same n images unmodified (the control)."""
    from safetensors.torch import load_file

    test = _subset(advlab.load_dataset(DATASET, "test"), N_EVAL, EVAL_SEED)
    models = {}
    for opt in ("paper", "polyak"):
        name = f"d_r_{opt}_s{seed}"
        models[name] = str(_train_one(out, name, advlab.load_dataset(str(out / name)), test, seed))
    idx = load_file(str(out / f"d_r_paper_s{seed}" / "samples.safetensors"))["index"]
    x, y = advlab.load_dataset(DATASET, "train")
    models[f"control_s{seed}"] = str(_train_one(out, f"control_s{seed}", (x[idx], y[idx]), test, seed))
    return models


def robust(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Robust accuracy per eps: robust only if the default protocol and both PGD-50
    configurations fail."""
    flags = robust_flags(model, x, y, norm="l2", eps=list(EVAL_EPS), steps=50, checks=False)
    fooled = {e: ~flags[e].cpu() for e in EVAL_EPS}
    for rel_step in (5.0, 12.5):  # step = rel_step * eps / 50: eps/10 and eps/4
        res = PGD(norm="l2", steps=50, rel_step=rel_step, random_start=False)(model, x, y,
                                                                              eps=list(EVAL_EPS))
        for e in EVAL_EPS:
            fooled[e] |= res.per_eps[e].success.cpu()
    return {str(e): int((~fooled[e]).sum()) / len(x) for e in EVAL_EPS}


def evaluate(models: dict[str, str], out: Path) -> dict[str, dict[str, Any]]:
    """Each model's row; kept in ``out/eval/NAME.json`` (keyed by its weights' hash), so a
    rerun evaluates only the models it has not evaluated yet."""
    test = advlab.load_dataset(DATASET, "test")
    x, y = _subset(test, N_EVAL, EVAL_SEED)
    rows = {}
    for name, ck in models.items():
        cache = out / "eval" / f"{name}.json"
        weights = read_json(Path(ck) / "config.json").get("weights_sha256")
        if cache.exists() and read_json(cache).get("weights_sha256") == weights:
            rows[name] = {k: v for k, v in read_json(cache).items() if k != "weights_sha256"}
            continue
        t0 = time.time()
        m = advlab.load_model(ck, device="cpu").eval()
        rows[name] = {"clean": clean_accuracy(m, *test), "robust": robust(m, x, y),
                      "seconds": time.time() - t0}
        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(cache, {**rows[name], "weights_sha256": weights})
        print(name, rows[name], flush=True)
    return rows


def verdict(rows: dict[str, dict[str, Any]], seeds: list[int]) -> dict[str, Any]:
    """Apply the pre-stated "within seed noise" criterion to every metric."""
    def metric(name: str, key: str) -> float:
        r = rows[name]
        return float(r["clean"] if key == "clean" else r["robust"][key])

    out: dict[str, Any] = {}
    for key in ["clean", *map(str, EVAL_EPS)]:
        vals = {o: [metric(f"d_r_{o}_s{s}", key) for s in seeds] for o in ("paper", "polyak")}
        means = {o: sum(v) / len(v) for o, v in vals.items()}
        seed_diff = max(max(v) - min(v) for v in vals.values())
        p = (means["paper"] + means["polyak"]) / 2
        n = 10000 if key == "clean" else N_EVAL
        se2 = 2 * math.sqrt(2 * p * (1 - p) / n)
        diff = abs(means["polyak"] - means["paper"])
        out[key] = {"paper": vals["paper"], "polyak": vals["polyak"], "optimizer_diff": diff,
                    "seed_diff": seed_diff, "two_se": se2, "bound": max(seed_diff, se2),
                    "within_seed_noise": diff <= max(seed_diff, se2)}
    out["verdict"] = "equivalent" if all(v["within_seed_noise"] for v in out.values()) \
        else "not equivalent"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=["source", "construct", "train", "eval", "all"])
    ap.add_argument("--out", default="runs/inversion-eq")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--n", type=int, default=500, help="images per D_R")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--results", default="docs/results/inversion/equivalence.json")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out, seeds = Path(args.out), [int(s) for s in args.seeds.split(",")]
    if args.stage in ("source", "all"):
        source(out)
    for s in seeds:  # construct and train write only under --out: seeds can run in parallel
        if args.stage in ("construct", "all"):
            construct(out, s, args.n)
        if args.stage in ("train", "all"):
            train_all(out, s, args.n)
    if args.stage in ("eval", "all"):  # finds everything already built, then evaluates
        res: dict[str, Any] = {
            "command": shlex.join([Path(sys.executable).name, *sys.argv]),
            "protocol": "\n\n".join(__doc__.split("\n\n")[2:4]), "n": args.n, "n_eval": N_EVAL,
            "eval_eps": list(EVAL_EPS), "paper": PAPER, "polyak": POLYAK,
            "source": read_json(out / "source" / "metrics.json")["history"][-1],
            "constructions": {str(s): construct(out, s, args.n) for s in seeds}}
        models = {k: v for s in seeds for k, v in train_all(out, s, args.n).items()}
        res["eval"] = evaluate({"source": str(source(out)), **models}, out)
        res["criterion"] = verdict(res["eval"], seeds)
        atomic_write_json(args.results, res)


if __name__ == "__main__":
    main()
