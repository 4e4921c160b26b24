"""D_det study: which setting decides whether D_det generalises (features paper, §3.2, Tables 1, 9, 10).

Question. The presets' D_det model fails (2.5 % on mnist5k quick, 6.5 % on Fashion-MNIST
medium, predicting y + 1). Which factor carries it: (a) the relabelling's steps and step
size (how far past the source's decision boundary the perturbation goes), (b) the source's
training (optimizer / epochs), (c) eps, or (d) the D_det model's training?

Protocol (declared before any result was seen; the evaluation is fixed and never tuned):

* Data. ``mnist5k`` (sources on all 4,000 training images) and ``fashion-mnist`` (sources on
  a seeded subset of 5,000 training images). D_det relabels N = 1,000 training images
  (seeded subset, the same images for every configuration of a dataset): t = (y + 1) mod 10,
  targeted L2 PGD from the image (no random start) with normalised steps, box [0, 1]
  (``advlab.features.relabel``, the code behind ``construct_dataset("det", ...)``). Every
  point is kept, reached or not, as in the paper.
* Sources (``cnn``, seed 0): ``sgd8`` = the quick preset's ``source_train`` (SGD lr 0.05,
  momentum 0.9, weight decay 5e-4, 8 epochs); ``adam5`` = the throwaway run's (Adam lr 1e-3,
  5 epochs, no weight decay); ``sgd3`` = sgd8 stopped at 3 epochs; ``robust`` = the quick
  preset's ``robust_train`` (sgd, 6 epochs) with L2 PGD-7 adversarial training at eps 2 (step
  eps/5), the Tables 9-10 control.
* D_det model (``cnn``): ``sgd10`` = the quick preset's ``det_train`` (SGD lr 0.05, 10
  epochs, no augmentation, seed 0: the same seed, hence the same initial weights, as the
  sources, as in the recipe); ``adam10`` (Adam lr 1e-3, 10 epochs); ``sgd30`` (30 epochs);
  ``crop`` (sgd10 with random crops, as the medium preset); ``seed1`` (sgd10 with seed 1: a
  different initialisation from the source's, and a measure of seed noise).
* Baseline: source sgd8, eps 2, Table 6's shape (100 steps of eps/5), D_det model sgd10.
  Contrast: the quick preset's shape (10 steps of 0.5). One factor at a time around the
  baseline: (a) steps 10 / 30 / 100 at step eps/5, and step eps/50 / eps/20 / eps/5 / eps/2
  at 100 steps; (b) source sgd8 / adam5 / sgd3; (c) eps 1 / 2 / 3 / 4; (d) D_det training
  sgd10 / adam10 / sgd30 / crop / seed1. Crossed points where a factor may interact: the
  quick shape with the adam5 source, at eps 3, and with D_det trainings adam10 / seed1; the
  throwaway run's combination (adam5 source, Table 6 shape, adam10 D_det model); the robust
  source at the baseline, at the quick shape and at eps 3. Fashion-MNIST runs a subset
  (``CONFIGS``), plus the medium preset's shape (20 steps of 0.25).
* Reported per configuration: targets reached (the source predicts t on x_adv), the mean
  ||x_adv - x||_2, the source's mean target margin (logit_t - max other logit) on x_adv and
  the fraction it still classifies as y; the D_det model's accuracy on the whole original
  test set with the original labels y and with the shifted labels (y + 1) mod 10, its final
  training accuracy on D_det, its per-epoch accuracy on the first 500 test points (original
  labels); seeds, sizes, seconds. Sources: clean test accuracy and L2 robust accuracy
  (default protocol, 20 steps, no sanity re-run) at eps 1 and 2 on the first 500 test points.
* Added after the first results (the D_det-training, source and eps points), and marked so
  in ``CONFIGS``: the number of relabelled images (N = 4,000, all of mnist5k's training
  images, at the quick shape); a second seed of the sgd8 and adam5 sources; the adam5
  source at eps 3; on Fashion-MNIST the adam5 source at the quick shape from two seeds and
  from its second seed at Table 6's shape, and the quick / medium shapes at eps 3; a robust
  source trained at eps 3 (``robust3``: PGD-7 at the relabelling eps, as the paper's CIFAR
  robust source is trained at its relabelling eps 0.5) relabelling at eps 3; D_det models
  from seeds 1 and 2 at eps 3 (``seed2`` = sgd10 from seed 2); the seed-1 sgd8 source at
  eps 3 with D_det models from seed 1 (the source's initial weights) and seed 0.
* Order: configurations run in the order of ``CONFIGS`` (most informative first), so a run cut
  short by the compute budget (about 80 minutes on a shared 2-core machine) has the main
  contrasts; configurations not run are reported as not run.

Usage (one torch thread; resumes: a configuration whose JSON exists is skipped)::

    python scripts/det_study.py run --dataset mnist5k
    python scripts/det_study.py run --dataset fashion-mnist
    python scripts/det_study.py plot      # docs/images/det-study-<dataset>.png from the JSON
    python scripts/det_study.py table     # the markdown tables of docs/det-study.md

Raw results: ``docs/results/det-study/<dataset>/<config>.json`` and ``sources.json``; models
and relabelled sets under ``--work`` (default ``runs/det-study``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import load_file, save_file
from torch import nn

import advlab
from advlab.evaluate.accuracy import clean_accuracy, robust_accuracy
from advlab.features import RelabelConfig, relabel
from advlab.models import load_model
from advlab.seeding import derive_seed, generator, seeded_subset
from advlab.store import atomic_path, atomic_write_json
from advlab.train import AdvConfig, TrainConfig, train

RESULTS = Path("docs/results/det-study")
IMAGES = Path("docs/images")
SEED = 0
N_RELABEL = 1000
MONITOR = 500  # test points scored after every training epoch (the final scores use all)
N_SOURCE = {"mnist5k": None, "fashion-mnist": 5000}


@dataclass(frozen=True)
class Settings:
    """One training run's hyper-parameters (as the recipe's ``TrainSettings``)."""

    epochs: int
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = 0.05
    weight_decay: float = 5e-4
    augment: Literal["none", "crop", "crop_flip"] = "none"
    seed: int = SEED
    adv_eps: float | None = None


SOURCES: dict[str, Settings] = {
    "sgd8": Settings(epochs=8),
    "adam5": Settings(epochs=5, optimizer="adam", lr=1e-3, weight_decay=0.0),
    "sgd3": Settings(epochs=3),
    "robust": Settings(epochs=6, adv_eps=2.0),
    # added after the first results: the same sources from another seed (source-seed noise)
    "sgd8_seed1": Settings(epochs=8, seed=1),
    "adam5_seed1": Settings(epochs=5, optimizer="adam", lr=1e-3, weight_decay=0.0, seed=1),
    # and a robust source trained at the relabelling eps 3 (the paper's robust source is
    # trained at its relabelling eps: 0.5 on CIFAR-10)
    "robust3": Settings(epochs=6, adv_eps=3.0),
}
DET_TRAIN: dict[str, Settings] = {
    "sgd10": Settings(epochs=10),
    "adam10": Settings(epochs=10, optimizer="adam", lr=1e-3, weight_decay=0.0),
    "sgd30": Settings(epochs=30),
    "crop": Settings(epochs=10, augment="crop"),
    "seed1": Settings(epochs=10, seed=1),
    "seed2": Settings(epochs=10, seed=2),  # † added after the first results
}


@dataclass(frozen=True)
class Config:
    """One D_det configuration: source, relabelling (eps, steps, step size), D_det training."""

    name: str
    factor: str
    source: str = "sgd8"
    eps: float = 2.0
    steps: int = 100
    step_size: float = 0.4
    det: str = "sgd10"
    n: int = N_RELABEL


def _t6(name: str, factor: str, eps: float = 2.0, **kw: Any) -> Config:
    """Table 6's shape at ``eps``: 100 steps of eps/5."""
    return Config(name, factor, eps=eps, steps=100, step_size=eps / 5, **kw)


def _quick(name: str, factor: str, **kw: Any) -> Config:
    """The quick preset's shape: 10 steps of 0.5 (absolute, whatever eps)."""
    return Config(name, factor, steps=10, step_size=0.5, **kw)


BASE = _t6("base", "baseline")
MNIST: list[Config] = [
    BASE, _quick("quick", "steps"),
    *[replace(BASE, name=f"det_{d}", factor="det_train", det=d)
      for d in ("adam10", "sgd30", "crop", "seed1")],
    _quick("quick_det_adam10", "crossed", det="adam10"), _quick("quick_det_seed1", "crossed", det="seed1"),
    _t6("src_adam5", "source", source="adam5"), _quick("quick_adam5", "crossed", source="adam5"),
    _t6("throwaway", "crossed", source="adam5", det="adam10"),
    _t6("robust", "robust", source="robust"), _quick("robust_quick", "robust", source="robust"),
    _t6("eps3", "eps", eps=3.0), _quick("quick_eps3", "crossed", eps=3.0),
    replace(BASE, name="steps10", factor="steps", steps=10),
    replace(BASE, name="steps30", factor="steps", steps=30),
    replace(BASE, name="step_eps20", factor="step_size", step_size=0.1),
    replace(BASE, name="step_eps2", factor="step_size", step_size=1.0),
    _t6("eps1", "eps", eps=1.0),
    _t6("src_sgd3", "source", source="sgd3"),
    _t6("eps4", "eps", eps=4.0),
    replace(BASE, name="step_eps50", factor="step_size", step_size=0.04),
    _t6("robust_eps3", "robust", eps=3.0, source="robust"),
    # added after the first results (sources and D_det training measured): the number of
    # relabelled images, N = all 4,000 training images, at the quick shape
    _quick("n4000_quick", "n", n=4000), _quick("n4000_adam5_quick", "n", n=4000, source="adam5"),
    # and the sources' seed, at the quick shape
    _quick("quick_sgd8_seed1", "crossed", source="sgd8_seed1"),
    _quick("quick_adam5_seed1", "crossed", source="adam5_seed1"),
    # and the adam5 source at eps 3 (Table 6's shape)
    _t6("eps3_adam5", "crossed", eps=3.0, source="adam5"),
    _t6("robust3_eps3", "robust", eps=3.0, source="robust3"),
    # and the D_det model's seed at eps 3 (two more initialisations)
    _t6("eps3_det_seed1", "crossed", eps=3.0, det="seed1"), _t6("eps3_det_seed2", "crossed", eps=3.0, det="seed2"),
    # and the seed-1 source at eps 3, with a D_det model from its seed (same initial
    # weights as the source) and from seed 0 (other initial weights)
    _t6("eps3_s1_det_seed1", "init", eps=3.0, source="sgd8_seed1", det="seed1"),
    _t6("eps3_s1_det_seed0", "init", eps=3.0, source="sgd8_seed1"),
]
FMNIST: list[Config] = [
    BASE, _quick("quick", "steps"),
    *[replace(BASE, name=f"det_{d}", factor="det_train", det=d) for d in ("adam10", "seed1", "crop")],
    replace(BASE, name="medium", factor="steps", steps=20, step_size=0.25),
    _t6("robust", "robust", source="robust"), _quick("robust_quick", "robust", source="robust"),
    _t6("src_adam5", "source", source="adam5"), _t6("eps3", "eps", eps=3.0),
    replace(BASE, name="steps10", factor="steps", steps=10),
    replace(BASE, name="step_eps20", factor="step_size", step_size=0.1),
    _t6("eps1", "eps", eps=1.0), _t6("robust_eps3", "robust", eps=3.0, source="robust"),
    # added after the first results: the adam5 source at the quick shape, from two seeds,
    # and from its second seed at Table 6's shape
    _quick("quick_adam5", "crossed", source="adam5"),
    _quick("quick_adam5_seed1", "crossed", source="adam5_seed1"),
    _t6("src_adam5_seed1", "source", source="adam5_seed1"),
    # and the shorter shapes at eps 3: the quick preset's and the medium preset's (eps/8)
    _quick("quick_eps3", "crossed", eps=3.0),
    Config("medium_eps3", "crossed", eps=3.0, steps=20, step_size=0.375),
    _t6("robust3_eps3", "robust", eps=3.0, source="robust3"),
    _t6("eps3_det_seed1", "crossed", eps=3.0, det="seed1"), _t6("eps3_det_seed2", "crossed", eps=3.0, det="seed2"),
    # and the seed-1 source at eps 3, with a D_det model from its seed (same initial
    # weights as the source) and from seed 0 (other initial weights)
    _t6("eps3_s1_det_seed1", "init", eps=3.0, source="sgd8_seed1", det="seed1"),
    _t6("eps3_s1_det_seed0", "init", eps=3.0, source="sgd8_seed1"),
]
CONFIGS = {"mnist5k": MNIST, "fashion-mnist": FMNIST}
Data = tuple[torch.Tensor, torch.Tensor]


def train_model(out: Path, s: Settings, data: Data, test: Data, label: str) -> tuple[nn.Module, list[dict[str, Any]]]:
    """Train the ``cnn`` with ``s`` into ``out`` (a finished run is returned as is)."""
    adv = None if s.adv_eps is None else AdvConfig(kind="pgd", norm="l2", eps=s.adv_eps, steps=7)
    cfg = TrainConfig(dataset=label, model="cnn", epochs=s.epochs, batch_size=128,
                      optimizer=s.optimizer, lr=s.lr, momentum=0.9,
                      weight_decay=s.weight_decay, augment=s.augment,
                      adversarial=adv, seed=s.seed, checkpoint_every_seconds=600.0)
    if (out / "results.json").exists():  # finished (perhaps by an older advlab): reuse last/
        history = json.loads((out / "metrics.json").read_text())["history"]
        model: nn.Module = load_model(str(out / "last"), device="cpu")
    else:
        r = train(cfg, out, train_data=data, test_data=(test[0][:MONITOR], test[1][:MONITOR]))
        model, history = r.model, r.history
    hist = [{"epoch": int(h["epoch"]), "train_acc": h.get("train_acc"), "test_acc": h.get("test_acc")}
            for h in history]
    return model.eval(), hist


class Study:
    """One dataset's sources, relabelled sets and D_det models (cached under ``work``)."""

    def __init__(self, dataset: str, work: Path) -> None:
        self.dataset, self.work = dataset, work / dataset
        self.res = RESULTS / dataset
        x, y = advlab.load_dataset(dataset, "train")
        idx = seeded_subset(x.shape[0], N_SOURCE[dataset], derive_seed(SEED, "det-study", "source"))
        self.source_data = (x[idx], y[idx])
        self.train_data = (x, y)
        self.test = advlab.load_dataset(dataset, "test")
        self.models: dict[str, nn.Module] = {}
        self.sets: dict[tuple[str, float, int, float, int], tuple[torch.Tensor, torch.Tensor, dict[str, Any]]] = {}

    def source(self, name: str) -> nn.Module:
        """The trained source ``name``; its record goes to ``sources.json`` once."""
        if name not in self.models:
            t0 = time.time()
            s = SOURCES[name]
            model, hist = train_model(self.work / "sources" / name, s, self.source_data, self.test, name)
            self.models[name] = model
            path = self.res / "sources.json"
            if name not in (json.loads(path.read_text()) if path.exists() else {}):
                entry = {"settings": asdict(s), "n_train": int(self.source_data[0].shape[0]),
                         "seed": s.seed, "clean_acc": clean_accuracy(model, *self.test),
                         "history_first_500_test": hist}
                xe, ye = (t[:500] for t in self.test)
                ra = robust_accuracy(model, xe, ye, norm="l2", eps=[1.0, 2.0], steps=20, checks=False)
                entry["robust_acc_500"] = {str(k): v for k, v in ra.items()}
                entry["seconds"] = time.time() - t0
                rec = json.loads(path.read_text()) if path.exists() else {}
                rec[name] = entry
                atomic_write_json(path, rec)
        return self.models[name]

    def relabel_data(self, n: int) -> Data:
        """``n`` images of the seeded relabelling draw (every image, in order, when n >= N)."""
        x, y = self.train_data
        rel = seeded_subset(x.shape[0], n, derive_seed(SEED, "det-study", "relabel"))
        return x[rel], y[rel]

    def relabelled(self, c: Config) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        key = (c.source, c.eps, c.steps, c.step_size, c.n)
        tag = "" if c.n == N_RELABEL else f"_n{c.n}"
        cache = self.work / "relabel" / f"{c.source}_eps{c.eps:g}_{c.steps}x{c.step_size:g}{tag}"
        if key not in self.sets and (cache / "stats.json").exists():
            t = load_file(str(cache / "set.safetensors"))
            self.sets[key] = (t["x_adv"], t["target"], json.loads((cache / "stats.json").read_text()))
        if key not in self.sets:
            model = self.source(c.source)
            t0 = time.time()
            x, y = self.relabel_data(c.n)
            rc = RelabelConfig(eps=c.eps, steps=c.steps, step_size=c.step_size)
            r = relabel(model, x, y, mode="det", num_classes=10, config=rc,
                        generator=generator(SEED, "det-study", "relabel-pgd"))
            with torch.no_grad():
                logits = model(r.x_adv)
            others = logits.scatter(1, r.target[:, None], float("-inf")).amax(1)
            margin = logits.gather(1, r.target[:, None])[:, 0] - others
            stats = {"reached": float(r.reached.float().mean()),
                     "delta_norm_mean": float(r.delta_norm.mean()),
                     "target_margin_mean": float(margin.mean()),
                     "target_margin_median": float(margin.median()),
                     "source_still_y": float((logits.argmax(1) == y).float().mean()),
                     "relabel_seconds": time.time() - t0}
            self.sets[key] = (r.x_adv, r.target, stats)
            cache.mkdir(parents=True, exist_ok=True)
            with atomic_path(cache / "set.safetensors") as tmp:
                save_file({"x_adv": r.x_adv.contiguous(), "target": r.target.contiguous()}, str(tmp))
            atomic_write_json(cache / "stats.json", stats)
        return self.sets[key]

    def run(self, c: Config) -> dict[str, Any]:
        x_adv, t, stats = self.relabelled(c)
        t0 = time.time()
        model, hist = train_model(self.work / "det" / c.name, DET_TRAIN[c.det], (x_adv, t), self.test,
                                  f"d_det {c.name}")
        xt, yt = self.test
        return {
            "config": asdict(c), "step_fraction_of_eps": c.step_size / c.eps,
            "source_settings": asdict(SOURCES[c.source]), "det_settings": asdict(DET_TRAIN[c.det]),
            "dataset": self.dataset, "n_relabel": int(t.shape[0]), "n_test": int(yt.shape[0]),
            "relabel": stats,
            "acc_original": clean_accuracy(model, xt, yt),
            "acc_shifted": clean_accuracy(model, xt, (yt + 1) % 10),
            "det_train_acc_final": hist[-1]["train_acc"], "history_first_500_test": hist,
            "train_seconds": time.time() - t0, "seed": SEED,
            "command": "python scripts/det_study.py " + shlex.join(sys.argv[1:]),
        }


def cmd_run(dataset: str, work: Path, only: list[str] | None) -> None:
    study = Study(dataset, work)
    study.res.mkdir(parents=True, exist_ok=True)
    for c in CONFIGS[dataset]:
        path = study.res / f"{c.name}.json"
        if path.exists() or (only and c.name not in only):
            continue
        t0 = time.time()
        out = study.run(c)
        atomic_write_json(path, out)
        print(f"[{dataset}] {c.name}: reached {out['relabel']['reached']:.3f} "
              f"orig {out['acc_original']:.3f} shifted {out['acc_shifted']:.3f} "
              f"({time.time() - t0:.0f}s)", flush=True)


def load_results(dataset: str) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((RESULTS / dataset).glob("*.json"))
            if p.stem != "sources"}


#: plot panels: (title, x label, configurations in x order); standard sgd8 source, eps 2 and
#: the sgd10 D_det model unless the panel varies it. The x position of a shape is the length
#: PGD can travel, steps x step / eps (1 = just enough to reach the ball's surface).
PANELS: list[tuple[str, str, tuple[str, ...]]] = [
    ("(a) relabelling: steps x step", "steps x step / eps (log)",
     ("steps10", "step_eps50", "quick", "medium", "step_eps20", "steps30", "base", "step_eps2")),
    ("(b) source training (100 x eps/5)", "source",
     ("base", "src_sgd3", "src_adam5", "src_adam5_seed1", "robust")),
    ("(b) source and its seed (10 x 0.5)", "source",
     ("quick", "quick_sgd8_seed1", "quick_adam5", "quick_adam5_seed1", "robust_quick")),
    ("(c) eps (100 steps of eps/5)", "eps", ("eps1", "base", "eps3", "eps4")),
    ("(d) D_det model training", "D_det training",
     ("base", "det_adam10", "det_sgd30", "det_crop", "det_seed1")),
    ("(e) relabelled images (10 x 0.5)", "N", ("quick", "n4000_quick")),
    ("(f) D_det model seed at eps 3", "source / D_det model",
     ("eps3", "eps3_det_seed1", "eps3_det_seed2", "eps3_s1_det_seed0", "eps3_s1_det_seed1")),
    ("(g) robust-source control", "source, eps",
     ("robust_quick", "robust", "robust_eps3", "robust3_eps3")),
]


def _x(panel: str, r: dict[str, Any]) -> Any:
    c = r["config"]
    if panel.startswith("(a)"):
        return c["steps"] * c["step_size"] / c["eps"]
    if panel.startswith("(c)"):
        return c["eps"]
    if panel.startswith("(e)"):
        return r["n_relabel"]
    if panel.startswith("(f)"):
        return f"{c['source']} / {c['det']}"
    if panel.startswith("(g)"):
        return f"{c['source']}, eps {c['eps']:g}" + (" (10 x 0.5)" if c["steps"] == 10 else "")
    return c["source"] if panel.startswith("(b)") else c["det"]


def _panel(ax: Any, title: str, xlabel: str, pts: list[tuple[Any, str, dict[str, Any]]]) -> None:
    """One factor: accuracy on y, on y + 1 and the reach rate against the factor."""
    categorical = bool(pts) and isinstance(pts[0][0], str)
    xs = list(range(len(pts))) if categorical else [p[0] for p in pts]
    for key, label, style in (("acc_original", "original labels y", "o-"),
                              ("acc_shifted", "shifted labels y+1", "s--")):
        ax.plot(xs, [100 * r[key] for _, _, r in pts], style, label=label)
    ax.plot(xs, [100 * r["relabel"]["reached"] for _, _, r in pts], "^:", color="grey",
            label="targets reached")
    if categorical:
        ax.set_xticks(xs, [str(p[0]) for p in pts], rotation=25, fontsize=7)
    if title.startswith("(a)"):
        ax.set_xscale("log")
        ax.set_xticks([2, 5, 10, 20, 50], ["2", "5", "10", "20", "50"])
        ax.minorticks_off()
        for x, name, r in pts:
            ax.annotate(name, (x, 100 * r["acc_original"]), fontsize=6, rotation=60,
                        xytext=(0, 4), textcoords="offset points")
    ax.axhline(10, color="black", lw=0.5, alpha=0.5)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)


def cmd_plot() -> None:
    from advlab.report.figures import save_figure, subplots

    for dataset in CONFIGS:
        results = load_results(dataset)
        panels = [(t, xl, [(_x(t, results[n]), n, results[n]) for n in names if n in results])
                  for t, xl, names in PANELS]
        panels = [p for p in panels if len(p[2]) > 1]
        if not panels:
            continue
        rows = (len(panels) + 2) // 3
        fig, axes = subplots(rows, 3, figsize=(12.0, 3.6 * rows), squeeze=False)
        fig.set_layout_engine("constrained")
        flat = list(axes.flat)
        for ax, (title, xlabel, pts) in zip(flat, panels, strict=False):
            if title.startswith("(a)"):
                pts.sort(key=lambda p: p[0])
            _panel(ax, title, xlabel, pts)
        for ax in flat[len(panels):]:
            ax.set_visible(False)
        for row in axes:
            row[0].set_ylabel("D_det model, % of test set")
        flat[0].legend(fontsize=7, loc="center left")
        fig.suptitle(f"D_det on {dataset} (N = {N_RELABEL} unless (e); baseline: sgd8 source, "
                     "eps 2, 100 steps of eps/5, sgd10 D_det model; line at chance)", fontsize=9)
        print(save_figure(fig, IMAGES / f"det-study-{dataset}.png"))


def cmd_table() -> None:
    head = ("| config | factor | source | eps | steps x step | D_det training | reached | "
            "mean margin | orig. labels | shifted labels | s relabel / train |")
    for dataset in CONFIGS:
        results = load_results(dataset)
        src = json.loads((RESULTS / dataset / "sources.json").read_text()) if results else {}
        print(f"\n### {dataset}\n\n| source | clean (all test) | robust eps 1 (first 500) | "
              "robust eps 2 (first 500) |\n|---|---|---|---|")
        for k, v in src.items():
            ra = v["robust_acc_500"]
            print(f"| {k} | {100 * v['clean_acc']:.1f}% | {100 * ra['1.0']:.1f}% | {100 * ra['2.0']:.1f}% |")
        print("\n" + head + "\n" + "|---" * 11 + "|")
        for c in CONFIGS[dataset]:
            r = results.get(c.name)
            if r is None:
                continue
            rel = r["relabel"]
            print(f"| {c.name} | {c.factor} | {c.source} | {c.eps:g} | {c.steps} x {c.step_size:g} "
                  f"(eps/{c.eps / c.step_size:.3g}) | {c.det} | {100 * rel['reached']:.1f}% | "
                  f"{rel['target_margin_mean']:.2f} | {100 * r['acc_original']:.1f}% | "
                  f"{100 * r['acc_shifted']:.1f}% | {rel['relabel_seconds']:.0f} / {r['train_seconds']:.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("run", "plot", "table"))
    ap.add_argument("--dataset", choices=tuple(CONFIGS), default="mnist5k")
    ap.add_argument("--work", type=Path, default=Path("runs/det-study"))
    ap.add_argument("--only", default=None, help="comma-separated config names")
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.what == "run":
        cmd_run(a.dataset, a.work, a.only.split(",") if a.only else None)
    elif a.what == "plot":
        cmd_plot()
    else:
        cmd_table()


if __name__ == "__main__":
    main()
