"""Figures of the theory studies (written atomically; no global matplotlib backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.patches import Ellipse

from advlab.report.figures import save_figure, subplots
from advlab.theory.linear2d import Linear
from advlab.theory.toy2d import HI, LO, Problem

C1, C2 = "#d62728", "#1f77b4"


def _ellipse(ax: Any, mean: np.ndarray, var: np.ndarray, color: str, ls: str = "-", lw: float = 1.6) -> None:
    for k in (1, 2):
        ax.add_patch(Ellipse(tuple(mean), 2 * k * np.sqrt(var[0]), 2 * k * np.sqrt(var[1]), fill=False,
                             color=color, ls=ls, lw=lw if k == 1 else lw / 2))


def figure4(path: Path, mu: torch.Tensor, sigma_star: torch.Tensor, fits: list[tuple[float, torch.Tensor]],
            x: torch.Tensor, y: torch.Tensor) -> None:
    """Features paper Fig. 4: learned covariance and boundary per eps (2-D).

    ``fits``: (eps, Sigma_r diagonal (2,)) from the numerical robust MLE; x (n, 2), y (n,).
    """
    fig, axes = subplots(1, len(fits), figsize=(3.3 * len(fits), 3.4), sharey=True)
    m = mu.numpy()
    for ax, (eps, sig) in zip(np.atleast_1d(axes), fits, strict=True):
        ax.scatter(x[:, 0], x[:, 1], c=np.where(y.numpy() > 0, C1, C2), s=3, alpha=0.35, lw=0)
        for sgn, col in ((1, C1), (-1, C2)):
            _ellipse(ax, sgn * m, sigma_star.numpy(), "grey", "--", 1.0)
            _ellipse(ax, sgn * m, sig.numpy(), col)
        w = (mu / sig).numpy()  # boundary w^T x = 0, gradient direction w
        t = np.linspace(-5, 5, 2)
        ax.plot(t * w[1], -t * w[0], "k-", lw=1.5, label="boundary")
        ax.annotate("", xy=tuple(1.5 * w / np.linalg.norm(w)), xytext=(0, 0),
                    arrowprops={"arrowstyle": "->", "color": "k"})
        ax.annotate("", xy=tuple(1.5 * m / np.linalg.norm(m)), xytext=(0, 0),
                    arrowprops={"arrowstyle": "->", "color": "green"})
        ax.set_title("standard MLE" if eps == 0 else f"L2-robust MLE, eps={eps:g}", fontsize=9)
        ax.set_xlim(-4, 4)
        ax.set_ylim(-3, 3)
        ax.set_aspect("equal")
        ax.set_xlabel("x1")
    np.atleast_1d(axes)[0].set_ylabel("x2")
    fig.suptitle("Learned N(±mu, Sigma_r) (solid, 1 and 2 sd), true Sigma* (dashed), boundary (black), "
                 "gradient Sigma^-1 mu (black arrow) vs mu (green)", fontsize=8)
    save_figure(fig, path)


def theorem2_curves(path: Path, eps: np.ndarray, closed: np.ndarray, relaxed: dict[float, np.ndarray],
                    per_sample: dict[float, np.ndarray]) -> None:
    """Diagonal of Sigma_r vs eps: closed form (lines), relaxed numerics (o), per-sample (x)."""
    fig, ax = subplots(figsize=(5.2, 3.6))
    for i in range(closed.shape[1]):
        ax.plot(eps, closed[:, i], "-", label=f"closed form, Sigma_r[{i},{i}]")
    for e, v in relaxed.items():
        ax.plot([e] * len(v), v, "ko", ms=4, mfc="none")
    for e, v in per_sample.items():
        ax.plot([e] * len(v), v, "rx", ms=5)
    ax.plot([], [], "ko", mfc="none", label="numerical robust MLE, relaxed (14)")
    ax.plot([], [], "rx", label="numerical robust MLE, per-sample (13)")
    ax.set_xlabel("eps (L2)")
    ax.set_ylabel("learned variance")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    ax.set_title("Theorem 2, d = 2: the covariance blends with the identity", fontsize=9)
    save_figure(fig, path)


def figure14(path: Path, clfs: dict[str, Linear], x: torch.Tensor, y: torch.Tensor, eps: float) -> None:
    """Features paper Fig. 14: ERM boundaries vs the robust one, with the eps-tube of each."""
    fig, ax = subplots(figsize=(5.2, 4.6))
    ax.scatter(x[:, 0], x[:, 1], c=np.where(y.numpy() > 0, C1, C2), s=5, lw=0)
    t = np.linspace(-1.2, 1.2, 200)
    styles = ["g-", "g--", "m:", "k-"]
    for (name, c), st in zip(clfs.items(), styles, strict=False):
        w, b = c.w.numpy(), c.b
        if abs(w[1]) > abs(w[0]):
            ax.plot(t, -(w[0] * t + b) / w[1], st, lw=1.6, label=name)
        else:
            ax.plot(-(w[1] * t + b) / w[0], t, st, lw=1.6, label=name)
    ax.set_xlim(-1.05, 1.05)
    ax.set_ylim(-1.05, 1.05)
    ax.set_aspect("equal")
    ax.set_xlabel("x1 (robust feature)")
    ax.set_ylabel("x2 (non-robust feature)")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"Accurate but not robust (ERM) vs accurate and robust (eps={eps:g})", fontsize=9)
    save_figure(fig, path)


def figure2(path: Path, problems: dict[str, Problem], samples: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Bayes-optimal paper Fig. 2: decision regions, boundary and samples of the 8 panels."""
    fig, axes = subplots(2, 4, figsize=(14, 7.2))
    g = np.linspace(LO, HI, 500)
    xx, yy = np.meshgrid(g, g, indexing="xy")
    grid = np.stack([xx, yy], -1)
    for ax, (key, p) in zip(axes.ravel(), problems.items(), strict=True):
        dec = p.decide(grid)
        ax.contourf(xx, yy, dec, levels=[0.5, 1.5, 2.5], colors=["#f6c8c8", "#c8daf0"])
        ax.contour(xx, yy, np.clip(p.log_ratio(grid), -50, 50), levels=[0.0], colors="k", linewidths=0.8)
        x, y = samples[key]
        ax.scatter(x[y == 1, 0], x[y == 1, 1], s=2, c=C1, lw=0)
        ax.scatter(x[y == 2, 0], x[y == 2, 1], s=2, c=C2, lw=0)
        ax.set_title(f"({key}) {p.title}", fontsize=8)
        ax.set_xlim(LO, HI)
        ax.set_ylim(LO, HI)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=6)
    fig.suptitle("Bayes-optimal regions (class 1 red, class 2 blue) and boundary (black). "
                 "Top: symmetric; bottom: asymmetric", fontsize=10)
    save_figure(fig, path)


def distance_histograms(path: Path, problems: dict[str, Problem], distances: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Histograms of the distance to the Bayes-optimal boundary, per class and panel."""
    fig, axes = subplots(2, 4, figsize=(14, 5.6))
    for ax, key in zip(axes.ravel(), problems, strict=True):
        d, y = distances[key]
        bins = np.linspace(0, max(float(np.percentile(d, 99)), 1e-3), 40)
        ax.hist(np.clip(d[y == 1], 0, bins[-1]), bins=bins, color=C1, alpha=0.6, label="class 1")
        ax.hist(np.clip(d[y == 2], 0, bins[-1]), bins=bins, color=C2, alpha=0.6, label="class 2")
        ax.set_title(f"({key}) median {np.median(d[y == 1]):.2f} / {np.median(d[y == 2]):.2f}", fontsize=8)
        ax.tick_params(labelsize=6)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Distance from samples to the Bayes-optimal boundary (medians: class 1 / class 2)", fontsize=10)
    save_figure(fig, path)


def observation1(path: Path, sigma1: list[float], median: list[float]) -> None:
    """Median distance of class-1 points to the boundary vs class 1's minimal sd."""
    fig, ax = subplots(figsize=(4.6, 3.4))
    ax.loglog(sigma1, median, "o-")
    ax.set_xlabel("sigma_1 (minimal sd of class 1)")
    ax.set_ylabel("median distance to boundary")
    ax.set_title("Observation 1: class-1 points approach the boundary", fontsize=9)
    ax.invert_xaxis()
    save_figure(fig, path)
