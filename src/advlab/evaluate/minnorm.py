"""Minimum-norm statistics (Bayes-optimal paper: mean / median L2 over successful attacks and
histograms of per-pixel changes on the 0-255 scale, Figures 4, 6 and 13-18)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from advlab.attacks.base import AttackResult
from advlab.errors import bad_argument

#: histogram bins of |delta| * 255 (width 5; the last bin collects everything >= 250)
BIN_EDGES = np.arange(0, 260, 5, dtype=np.float64)


def min_norm_stats(result: AttackResult, x: Tensor) -> dict[str, Any]:
    """Statistics of a minimum-norm attack result on clean images ``x`` (N,C,H,W).

    As in the Bayes-optimal paper, means are taken over *successful attacks on correctly
    classified points* (points already misclassified, i.e. ``result.clean_success``, are
    excluded). Returns a JSON-able dict: ``n``, ``n_correct``, ``success_rate`` (fooled /
    correctly classified), ``mean_l2``, ``median_l2`` (nan when nothing succeeded),
    ``frac_pixels_within_5`` (fraction of changed pixels with |delta| <= 5/255),
    ``hist_counts`` and ``hist_edges`` (|delta| on the 0-255 scale, pixels of successful
    points).
    """
    if result.x_adv.shape != x.shape:
        raise bad_argument("x", tuple(x.shape), f"the attacked images, shape {tuple(result.x_adv.shape)}")
    correct = ~result.clean_success
    ok = result.success & correct
    n_l2 = result.norms[ok].double().cpu()
    delta = ((result.x_adv[ok] - x[ok]).abs().flatten() * 255.0).cpu()
    counts, _ = np.histogram(np.clip(delta.numpy(), 0, BIN_EDGES[-1] - 1e-9), bins=BIN_EDGES)
    n_correct = int(correct.sum())
    return {
        "n": len(x),
        "n_correct": n_correct,
        "success_rate": float(ok.sum()) / n_correct if n_correct else float("nan"),
        "mean_l2": float(n_l2.mean()) if len(n_l2) else float("nan"),
        "median_l2": float(n_l2.median()) if len(n_l2) else float("nan"),
        "frac_pixels_within_5": float((delta <= 5.0).double().mean()) if len(delta) else float("nan"),
        "hist_counts": counts.tolist(),
        "hist_edges": BIN_EDGES.tolist(),
    }


def fraction_within(result: AttackResult, eps: float) -> float:
    """Fraction of all N points whose minimal norm is <= eps (misclassified points count, at 0)."""
    return float((result.norms <= eps).float().mean())


def plot_perturbation_histogram(stats: dict[str, Any], path: str | os.PathLike[str],
                                title: str | None = None) -> Path:
    """Bar plot of ``stats["hist_counts"]`` (log scale) with the mean L2 in the title; PNG at path.

    Uses :mod:`advlab.report.figures`: no global matplotlib backend is set.
    """
    from advlab.report.figures import save_figure, subplots

    edges = np.asarray(stats["hist_edges"], dtype=np.float64)
    counts = np.asarray(stats["hist_counts"], dtype=np.float64)
    total = max(counts.sum(), 1.0)
    fig, ax = subplots(figsize=(4.5, 3.2))
    ax.bar(edges[:-1], counts / total, width=np.diff(edges), align="edge", color="#4c72b0")
    if counts.sum() > 0:
        ax.set_yscale("log")
    ax.set_xlabel("|perturbation| per pixel (0-255 scale)")
    ax.set_ylabel("fraction of pixels")
    head = f"mean L2 = {stats['mean_l2']:.2f}"
    ax.set_title(head if title is None else f"{title}\n{head}")
    fig.tight_layout()
    return save_figure(fig, path, dpi=120, tight=False)


__all__ = ["min_norm_stats", "fraction_within", "plot_perturbation_histogram"]
