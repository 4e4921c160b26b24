"""The recipe's figures: sample grids (Figures 2a, 7, 9), Figure 2b's bars, Figure 3's
transfer scatter, Figure 8's steps curve and Figure 10's training curves.

Every figure is written atomically to ``<run>/figures/<name>.png`` by
:func:`advlab.report.figures.save_figure` (no global matplotlib backend is set).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from advlab.data import load_dataset
from advlab.experiments.engine import RunContext
from advlab.experiments.ilyas2019.stages import Ilyas, sample_index
from advlab.report.figures import save_figure, subplots

FIGURES: dict[str, str] = {
    "fig2a_samples": "Figure 2a: D, D_R and D_NR (inversion started from another training image)",
    "fig7_noise_samples": "Figure 7: D, D_R and D_NR when the inversion starts from noise",
    "fig9_relabel_samples": "Figure 9: D; D_rand / D_det from the standard source; the same from the robust source",
    "fig2b_accuracy": "Figure 2b: clean and robust test accuracy of each model (Table 7)",
    "fig8_steps": "Figure 8: robust accuracy of the D_R model against PGD steps",
    "fig10_curves": "Figure 10: test accuracy on D while training on D_rand / D_det",
    "fig3_transfer": "Figure 3: transfer rate from the standard source vs test accuracy after training on D_det",
}


def sample_grid(path: Path, rows: list[tuple[str, torch.Tensor]], col_titles: list[str] | None = None) -> None:
    """A grid of images: one row per (label, images (k, C, H, W)) pair, k columns."""
    k = max(r[1].shape[0] for r in rows)
    fig, axes = subplots(len(rows), k, figsize=(1.1 * k + 1.2, 1.2 * len(rows)), squeeze=False)
    for i, (label, imgs) in enumerate(rows):
        for j in range(k):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < imgs.shape[0]:
                img = imgs[j].detach().cpu().clamp(0, 1)
                ax.imshow((img[0] if img.shape[0] == 1 else img.permute(1, 2, 0)).numpy(),
                          cmap="gray" if img.shape[0] == 1 else None, vmin=0, vmax=1)
            if j == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
            if i == 0 and col_titles and j < len(col_titles):
                ax.set_title(col_titles[j], fontsize=7)
    save_figure(fig, path)


def _grids(pipe: Ilyas, k: int = 8) -> None:
    """Figures 2a, 7 and 9: the same source images across the constructed sets."""
    x_train, y_train = pipe.full_train
    for fig, names in (("fig2a_samples", ("d_r", "d_nr")), ("fig7_noise_samples", ("d_r_noise", "d_nr_noise"))):
        sets = {n: load_dataset(pipe.artifact(n)) for n in names}
        idx = _spread(sample_index(pipe.artifact(names[0])), k)
        rows = [("D", x_train[idx])]
        for n in names:
            pos = _positions(sample_index(pipe.artifact(n)), idx)
            rows.append((n.upper().replace("_NOISE", " (noise)"), sets[n][0][pos]))
        titles = [f"y={int(c)}" for c in y_train[idx]]
        sample_grid(pipe.ctx.figures / f"{fig}.png", rows, titles)
    idx = _spread(sample_index(pipe.artifact("d_det")), k)
    rows = [("D", x_train[idx])]
    for n in ("d_rand", "d_det", "d_rand_robust", "d_det_robust"):
        pos = _positions(sample_index(pipe.artifact(n)), idx)
        x, _ = load_dataset(pipe.artifact(n))
        rows.append((n.replace("_robust", " (robust src)"), x[pos]))
    sample_grid(pipe.ctx.figures / "fig9_relabel_samples.png", rows,
                [f"{int(a)}->{int(a + 1) % (int(y_train.max()) + 1)}" for a in y_train[idx]])


def _spread(index: torch.Tensor, k: int) -> torch.Tensor:
    """k source indices spread evenly over a constructed set (its rows are sorted by
    source index, and some datasets are sorted by label), so the grid shows many classes."""
    pick = torch.linspace(0, index.numel() - 1, min(k, index.numel())).round().long()
    return index[pick]


def _positions(index: torch.Tensor, wanted: torch.Tensor) -> torch.Tensor:
    """Rows of a constructed set whose source index is in ``wanted`` (falls back to the first)."""
    where = {int(v): i for i, v in enumerate(index.tolist())}
    return torch.tensor([where.get(int(w), j) for j, w in enumerate(wanted.tolist())])


def accuracy_bars(path: Path, table7: dict[str, Any]) -> None:
    """Figure 2b: grouped bars of clean and robust accuracy per model."""
    rows = table7["rows"]
    names = list(rows)
    keys = ["clean", *rows[names[0]]["robust"]]
    fig, ax = subplots(figsize=(1.3 * len(names) + 2, 3.2))
    width = 0.8 / len(keys)
    for j, key in enumerate(keys):
        vals = [100 * (rows[n]["clean"] if key == "clean" else rows[n]["robust"][key]) for n in names]
        ax.bar([i + j * width for i in range(len(names))], vals, width,
               label="clean" if key == "clean" else f"robust, eps={key}")
    ax.set_xticks([i + width * (len(keys) - 1) / 2 for i in range(len(names))], names, fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7)
    save_figure(fig, path)


def steps_curve(path: Path, fig8: dict[str, Any]) -> None:
    """Figure 8: robust accuracy against the number of PGD steps (log x)."""
    fig, ax = subplots(figsize=(4.5, 3.2))
    for name, acc in fig8["accuracy"].items():
        ax.plot(fig8["steps"], [100 * a for a in acc], marker="o", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("PGD steps")
    ax.set_ylabel(f"robust accuracy at eps={fig8['eps']} (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def training_curves(path: Path, curves: dict[str, list[dict[str, Any]]]) -> None:
    """Figure 10: train and test accuracy per epoch, 2 x 2 (rand/det x standard/robust)."""
    fig, axes = subplots(2, 2, figsize=(8, 5.5), squeeze=False)
    for i, kind in enumerate(("d_rand", "d_det")):
        for j, suffix in enumerate(("", "_robust")):
            ax, hist = axes[i][j], curves.get(kind + suffix, [])
            ep = [h["epoch"] for h in hist]
            ax.plot(ep, [100 * (h["train_acc"] or 0) for h in hist], label="train (constructed)")
            ax.plot(ep, [100 * (h["test_acc"] or 0) for h in hist], label="test (original D)")
            ax.set_title(f"{kind}, {'robust' if suffix else 'standard'} source", fontsize=9)
            ax.set_ylim(0, 100)
            ax.set_xlabel("epoch")
            ax.set_ylabel("accuracy (%)")
            ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def transfer_scatter(path: Path, transfer: dict[str, Any]) -> None:
    """Figure 3: transfer success rate against test accuracy of the D_det-trained model."""
    fig, ax = subplots(figsize=(4.5, 3.4))
    for label, a in transfer["archs"].items():
        ax.scatter(100 * a["test_acc_d_det"], 100 * a["transfer_rate"])
        ax.annotate(label, (100 * a["test_acc_d_det"], 100 * a["transfer_rate"]), fontsize=8,
                    xytext=(4, 2), textcoords="offset points")
    ax.set_xlabel("test accuracy on D after training on D_det (%)")
    ax.set_ylabel(f"transfer success rate, eps={transfer['eps']} (%)")
    save_figure(fig, path)


def make_all(ctx: RunContext, results: dict[str, Any]) -> None:
    """Write every figure of :data:`FIGURES` into the run's ``figures/``."""
    fig = ctx.figures
    _grids(Ilyas(ctx))
    accuracy_bars(fig / "fig2b_accuracy.png", results["table7"])
    steps_curve(fig / "fig8_steps.png", results["figure8"])
    training_curves(fig / "fig10_curves.png", results["figure10"])
    transfer_scatter(fig / "fig3_transfer.png", results["transfer"])
