"""The paper's evaluations (Tables 1, 7-10; Figures 3, 8) over the trained models.

Every function takes the run's state (:class:`~advlab.experiments.ilyas2019.stages.Ilyas`:
its config, data and earlier stage results) and a stage folder, and returns JSON.
Robust accuracy is :mod:`advlab.evaluate`'s default protocol (untargeted L2 APGD-CE, then
APGD-DLR on the points still robust, ``eval_steps`` iterations each), on a fixed seeded
subset of the test split.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from advlab.data import load_dataset
from advlab.report.format import eps_key
from advlab.seeding import derive_seed

if TYPE_CHECKING:
    from advlab.experiments.ilyas2019.stages import Ilyas as Pipeline

#: Table 7 rows -> the stage that trained the model
TABLE7_ROWS: dict[str, str] = {
    "standard": "source_standard", "adversarial": "source_robust",
    "d_nr": "train_d_nr", "d_r": "train_d_r",
    "d_nr_noise": "train_d_nr_noise", "d_r_noise": "train_d_r_noise",
    "original": "train_original", "original_noise": "train_original_noise",
}


def accuracies(pipe: Pipeline, checkpoint: str, x: torch.Tensor, y: torch.Tensor,
               eps: tuple[float, ...] | list[float]) -> dict[str, Any]:
    """Clean accuracy and robust accuracy at each eps of one model on (x, y)."""
    from advlab.evaluate.accuracy import clean_accuracy, robust_accuracy

    model = pipe.model(checkpoint)
    robust = robust_accuracy(model, x.to(pipe.device), y.to(pipe.device), norm="l2",
                             eps=list(eps), steps=pipe.cfg.eval_steps, seed=pipe.seed,
                             checks=pipe.cfg.eval_checks)
    return {"clean": clean_accuracy(model, x.to(pipe.device), y.to(pipe.device)),
            "robust": {eps_key(e): float(a) for e, a in robust.items()}}


def table7_row(pipe: Pipeline, d: Path, *, row: str) -> dict[str, Any]:
    """One row of Table 7 / Figure 2b: clean and robust test accuracy of one model."""
    x, y = pipe.eval
    return {**accuracies(pipe, pipe.ckpt(TABLE7_ROWS[row]), x, y, pipe.cfg.eval_eps),
            "n": int(x.shape[0])}


def table8(pipe: Pipeline, d: Path) -> dict[str, Any]:
    """Table 8: the D_R model's robust accuracy on D_R train, D_R test and the test set."""
    from advlab.experiments.ilyas2019.stages import subset

    eps = min(pipe.cfg.eval_eps)
    n = pipe.cfg.n_eval
    sets = {
        "robust_train": subset(load_dataset(pipe.artifact("d_r")), n, derive_seed(pipe.seed, "table8")),
        "robust_test": subset(load_dataset(pipe.artifact("d_r_test")), n, derive_seed(pipe.seed, "table8")),
        "standard_test": pipe.eval,
    }
    out: dict[str, Any] = {"eps": eps, "steps": pipe.cfg.eval_steps}
    for name, (x, y) in sets.items():
        acc = accuracies(pipe, pipe.ckpt("train_d_r"), x, y, [eps])
        out[name] = acc["robust"][eps_key(eps)]
        out[f"{name}_clean"] = acc["clean"]
        out[f"{name}_n"] = int(x.shape[0])
    return out


def figure8(pipe: Pipeline, d: Path) -> dict[str, Any]:
    """Figure 8: robust accuracy of the D_R model against the number of PGD steps."""
    from advlab.evaluate.accuracy import accuracy_vs_steps
    from advlab.experiments.ilyas2019.stages import subset

    x, y = subset(pipe.eval, pipe.cfg.n_fig8, derive_seed(pipe.seed, "figure8"))
    curves = {}
    for row in ("d_r", "standard"):
        model = pipe.model(pipe.ckpt(TABLE7_ROWS[row]))
        acc = accuracy_vs_steps(model, x.to(pipe.device), y.to(pipe.device), norm="l2",
                                eps=pipe.cfg.fig8_eps, steps_list=list(pipe.cfg.fig8_steps),
                                seed=pipe.seed)
        curves[row] = [float(acc[int(s)]) for s in pipe.cfg.fig8_steps]
    return {"eps": pipe.cfg.fig8_eps, "steps": list(pipe.cfg.fig8_steps), "n": int(x.shape[0]),
            "accuracy": curves}


def relabel_tables(pipe: Pipeline, d: Path) -> dict[str, Any]:
    """Tables 1, 9 and 10: test accuracy of models trained on D, D_rand and D_det.

    Table 10 also scores the D_det models on the test set relabelled t(y) = (y + 1) mod C.
    """
    from advlab.evaluate.accuracy import clean_accuracy

    x, y = (t.to(pipe.device) for t in pipe.test)
    num_classes = int(pipe.test[1].max()) + 1
    y_shift = (y + 1) % num_classes

    def acc(stage: str, labels: torch.Tensor) -> float:
        return clean_accuracy(pipe.model(pipe.ckpt(stage)), x, labels)

    d_acc = acc("source_standard", y)
    out: dict[str, Any] = {"n_test": int(x.shape[0]), "num_classes": num_classes}
    for source, suffix in (("standard", ""), ("robust", "_robust")):
        reached = {k: pipe.results[f"construct_{k}{suffix}"]["stats"].get("reached_rate")
                   for k in ("d_rand", "d_det")}
        out[source] = {
            "D": d_acc, "D_rand": acc(f"train_d_rand{suffix}", y),
            "D_det": acc(f"train_d_det{suffix}", y),
            "D_det_relabelled": acc(f"train_d_det{suffix}", y_shift),
            "reached": reached,
        }
    return out


def transfer(pipe: Pipeline, d: Path) -> dict[str, Any]:
    """Figure 3: untargeted transfer rate from the standard source to each architecture
    trained on D, against the test accuracy of that architecture trained on D_det."""
    from advlab.evaluate import transfer_success

    x, y = (t.to(pipe.device) for t in pipe.eval)
    source = pipe.model(pipe.ckpt("source_standard"))
    targets = {label: pipe.model(pipe.ckpt(f"transfer_{label}", "on_d"))
               for label in pipe.cfg.transfer_archs}
    rates = transfer_success(source, targets, x, y, norm="l2", eps=pipe.cfg.transfer_eps,
                             steps=pipe.cfg.transfer_steps)
    archs = {}
    for label in pipe.cfg.transfer_archs:
        res = pipe.results[f"transfer_{label}"]
        archs[label] = {
            "arch": res["arch"], "transfer_rate": float(rates["targets"][label]),
            "transfer_rate_correct": float(rates["targets_correct"][label]),
            "test_acc_d_det": res["on_d_det"]["test_acc"], "test_acc_d": res["on_d"]["test_acc"],
        }
    return {"eps": pipe.cfg.transfer_eps, "steps": pipe.cfg.transfer_steps, "n": int(x.shape[0]),
            "source_success": float(rates["source"]), "archs": archs,
            "pearson": pearson([a["test_acc_d_det"] for a in archs.values()],
                               [a["transfer_rate_correct"] for a in archs.values()])}


def pearson(a: list[float], b: list[float]) -> float | None:
    """Pearson correlation of two equally long lists (None when undefined)."""
    if len(a) < 2:
        return None
    ta, tb = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    ta, tb = ta - ta.mean(), tb - tb.mean()
    den = float(ta.norm() * tb.norm())
    return None if den == 0 or math.isnan(den) else float((ta * tb).sum()) / den
