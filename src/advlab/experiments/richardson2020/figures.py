"""Figures of the Bayes-optimal recipe (written atomically, no global matplotlib backend).

* :func:`perturbation_grid` - Figures 4, 7 and 13-18: per row, originals, adversarials,
  magnified perturbations and a histogram of per-pixel changes (0-255 scale).
* :func:`model_bars` - Figures 6, 11 and 12: mean L2 per model, paper values as markers.
* :func:`sweep_plot` - Figures 9 and 10: CNN mean L2 against a setting, the
  Bayes-optimal classifier as a dashed line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from advlab.experiments.engine import RunContext
from advlab.experiments.richardson2020.config import RichardsonConfig
from advlab.experiments.richardson2020.paper import MEAN_L2, MODEL_TITLES, MODELS
from advlab.experiments.richardson2020.stages import load_examples
from advlab.experiments.richardson2020.stages import states as stage_states
from advlab.report.figures import save_figure, subplots
from advlab.store import atomic_write_json


def _img(a: np.ndarray) -> np.ndarray:
    """(C, H, W) -> an array imshow understands: (H, W) gray or (H, W, 3) colour, clipped for display."""
    a = np.clip(a, 0.0, 1.0)
    return a[0] if a.shape[0] == 1 else np.transpose(a, (1, 2, 0))


Row = tuple[str, np.ndarray, np.ndarray, float, Sequence[float] | None]


def perturbation_grid(path: Path, rows: Sequence[Row], n_show: int = 5) -> Path:  # noqa: C901
    """Originals, adversarials, perturbations and a per-pixel histogram, one block per row.

    Args:
        path: the PNG to write.
        rows: ``(label, x0, x_adv, mean_l2, hist_counts)``; ``x0``/``x_adv`` shape
            (N, C, H, W), N >= 1; ``hist_counts``: counts of |delta| * 255 in bins of 5
            over every attacked point (:func:`advlab.evaluate.min_norm_stats`), or None to
            histogram the shown images. Display clips to [0, 1] (synthetic samples may
            leave the box; the data do not).
        n_show: images shown per row.

    The perturbation ``x_adv - x0`` is magnified by ``0.5 / max|delta|`` around gray 0.5,
    as in the paper's "magnified for visibility" panels.
    """
    n_rows = len(rows)
    fig, axes = subplots(3 * n_rows, n_show + 1, figsize=(1.3 * (n_show + 1) + 1.6, 1.35 * 3 * n_rows),
                             squeeze=False, gridspec_kw={"width_ratios": [1] * n_show + [2.2]})
    for r, (label, x0, xa, l2, hist) in enumerate(rows):
        k = min(n_show, len(x0))
        delta = xa[:k] - x0[:k]
        scale = 0.5 / max(float(np.abs(delta).max()), 1e-12)
        for j in range(n_show):
            for i, (arr, cmap) in enumerate(((x0, "gray"), (xa, "gray"), (0.5 + scale * delta, "seismic"))):
                ax = axes[3 * r + i, j]
                ax.axis("off")
                if j < k:
                    ax.imshow(_img(arr[j]), cmap=cmap if arr.shape[1] == 1 else None, vmin=0, vmax=1)
        for i, name in enumerate(("original", "adversarial", f"delta x{scale:.0f}")):
            axes[3 * r + i, 0].set_title(name if i else f"{label}: {name}", fontsize=7, loc="left")
        hist_ax = axes[3 * r, n_show]
        for i in (1, 2):
            axes[3 * r + i, n_show].axis("off")
        if hist is None:
            changes = np.abs(xa - x0).ravel() * 255.0
            counts = np.histogram(np.clip(changes, 0, 254.9), bins=np.arange(0, 260, 5))[0].astype(np.float64)
        else:
            counts = np.asarray(hist, dtype=np.float64)
        hist_ax.bar(np.arange(len(counts)) * 5.0, counts / max(counts.sum(), 1.0), width=5.0,
                    align="edge", color="tab:blue")
        if counts.sum() > 0:
            hist_ax.set_yscale("log")
        hist_ax.set_xlim(0, 100)
        hist_ax.set_title(f"|change| per pixel (0-255); mean L2 {l2:.2f}", fontsize=7)
        hist_ax.tick_params(labelsize=6)
    fig.tight_layout()
    return save_figure(fig, path)


def model_bars(path: Path, groups: dict[str, dict[str, float | None]],
               paper: dict[str, dict[str, float]] | None = None, ylabel: str = "mean L2 of the attack",
               title: str = "") -> Path:
    """Grouped bars: ``groups[group][model] = value`` (None = not run), paper values as black ticks.

    Args:
        groups: e.g. ``{"mnist5k:0-6": {"bayes_optimal": 2.9, "cnn": 1.1, ...}}``.
        paper: the same shape, the paper's values (markers ``x``), missing entries skipped.
    """
    models = list(dict.fromkeys(m for g in groups.values() for m in g))
    names = list(groups)
    width = 0.8 / max(len(names), 1)
    fig, ax = subplots(figsize=(max(4.5, 1.3 * len(models) + 1), 3.2))
    xs = np.arange(len(models))
    for i, g in enumerate(names):
        vals = [groups[g].get(m) for m in models]
        h = [float(v) if v is not None and math.isfinite(float(v)) else 0.0 for v in vals]
        ax.bar(xs + i * width, h, width, label=g)
        for m_i, m in enumerate(models):
            pv = (paper or {}).get(g, {}).get(m)
            if pv is not None:
                ax.plot(xs[m_i] + i * width, pv, "kx", ms=7)
    ax.set_xticks(xs + width * (len(names) - 1) / 2, [m.replace("_", " ") for m in models], fontsize=8)
    ax.set_ylabel(ylabel)
    if paper:
        ax.plot([], [], "kx", label="paper (MNIST)")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def sweep_plot(path: Path, panels: Sequence[tuple[str, Sequence[float], dict[str, Sequence[float]], float | None]],
               log_x: bool = False, title: str = "") -> Path:
    """One panel per sweep: ``(xlabel, xs, {curve: ys}, bayes_optimal_l2)``.

    The Bayes-optimal mean L2 (if given) is drawn as a dashed horizontal line, as in
    the paper's Figures 9 and 10.
    """
    fig, axes = subplots(1, len(panels), figsize=(4.0 * len(panels), 3.0), squeeze=False)
    for ax, (xlabel, xs, curves, bo) in zip(axes[0], panels, strict=True):
        for name, ys in curves.items():
            ax.plot(xs, [float(y) for y in ys], "o-", label=name)
        if bo is not None and math.isfinite(float(bo)):
            ax.axhline(float(bo), ls="--", color="k", label="Bayes-optimal")
        if log_x:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("mean L2 of the attack")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def _row(stage_dir: Path, label: str, stage: dict[str, Any]) -> Row:
    x0, xa = load_examples(stage_dir)
    return (label, x0.numpy(), xa.numpy(), float(stage["mean_l2"]), stage.get("hist_counts"))


def make_all(ctx: RunContext, results: dict[str, Any]) -> None:
    """Write every figure into ``OUT/figures`` and their index, ``figures/index.json``."""
    index = draw(ctx.out, ctx.config, stage_states(ctx), results)
    atomic_write_json(ctx.figures / "index.json", index)


def draw(root: Path, cfg: RichardsonConfig, states: dict[str, dict[str, Any]],
         results: dict[str, Any]) -> dict[str, str]:
    """Write every figure into ``root/figures``; return ``{figure id: relative path}``."""
    out: dict[str, str] = {}
    fig = root / "figures"
    for pair, state in states.items():
        rows = [_row(root / pair / v / "bayes_optimal", f"{v} Bayes-optimal", state[v]["bayes_optimal"])
                for v in ("asymmetric", "symmetric")]
        perturbation_grid(fig / f"fig7-bayes-{pair}.png", rows)
        out[f"fig7:{pair}"] = f"figures/fig7-bayes-{pair}.png"
        sym = [m for m in MODELS if m in state["symmetric"]]
        rows = [_row(root / pair / "symmetric" / m, MODEL_TITLES[m], state["symmetric"][m]) for m in sym]
        perturbation_grid(fig / f"fig13-models-{pair}.png", rows)
        out[f"fig13:{pair}"] = f"figures/fig13-models-{pair}.png"
    groups = {k: {m: r["mean_l2"] for m, r in d["symmetric"].items() if m != "trades_cnn"}
              for k, d in results["datasets"].items()}
    paper = {k: MEAN_L2[k.split(":")[1]]["symmetric"] for k in groups
             if cfg.dataset in ("mnist", "mnist5k") and k.split(":")[1] in MEAN_L2}
    model_bars(fig / "fig6-mean-l2.png", groups, paper,
                       title="Symmetric datasets: mean L2 of the minimum-norm attack (Figure 6)")
    out["fig6"] = "figures/fig6-mean-l2.png"
    trades = {k: {m: d["symmetric"][m]["mean_l2"] for m in ("bayes_optimal", "cnn", "trades_cnn")
                  if m in d["symmetric"]} for k, d in results["datasets"].items()}
    if any("trades_cnn" in g for g in trades.values()):
        model_bars(fig / "fig11-trades.png", trades, title="TRADES CNN (Figure 11)")
        out["fig11"] = "figures/fig11-trades.png"
    out.update(_draw_sweeps_and_real(root, results, states))
    return out


def _draw_sweeps_and_real(root: Path, results: dict[str, Any], states: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    fig = root / "figures"
    for key, sw in results["sweeps"].items():
        panels = [(xl, sw[n]["x"], {"CNN": sw[n]["cnn"]}, sw[n]["bayes_optimal"])
                  for n, xl in (("samples", "training samples (on the fly, one pass)"),
                                ("width", "CNN width (first-layer filters)")) if n in sw]
        if panels:
            sweep_plot(fig / "fig9-sweeps.png", panels, title=f"{key}: Figure 9")
            out["fig9"] = "figures/fig9-sweeps.png"
        if "noise" in sw:
            nz = sw["noise"]
            main = results["datasets"][key]["symmetric"]
            sweep_plot(fig / "fig10-noise.png", [(
                "noise std of the symmetric densities", nz["x"],
                {"CNN": nz["cnn"], "Bayes-optimal (measured)": nz["bayes_optimal"]},
                main["bayes_optimal"]["mean_l2"])], log_x=True, title=f"{key}: Figure 10")
            out["fig10"] = "figures/fig10-noise.png"
    for key, models in results["real"].items():
        pair = key.split(":")[1]
        model_bars(fig / "fig12-real.png", {key: {m: r["mean_l2"] for m, r in models.items()}},
                           title="Models trained and attacked on the real images (App. D.4)")
        rows = [_row(root / pair / "real" / m, MODEL_TITLES[m], states[pair]["real"][m]) for m in models]
        perturbation_grid(fig / "fig12-real-examples.png", rows)
        out["fig12"], out["fig12-examples"] = "figures/fig12-real.png", "figures/fig12-real-examples.png"
        break  # the paper shows one real dataset
    return out

