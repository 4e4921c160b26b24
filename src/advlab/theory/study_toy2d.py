"""The ``toy2d`` study: the eight panels of the Bayes-optimal paper's Fig. 2, Observations 1 and 3."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from advlab.theory import figures
from advlab.theory.boundary import boundary_distance, gaussian_pair_distance, table_distance
from advlab.theory.toy2d import Table, asymmetric_elliptical, eight_problems


@dataclass(frozen=True)
class Toy2dConfig:
    """Sample sizes of the toy2d study (per class)."""

    n_per_class: int = 2000
    obs1_sigma1: tuple[float, ...] = (1.0, 0.5, 0.25, 0.1, 0.05, 0.02, 0.01)
    obs1_n: int = 2000
    contour_grid: int = 2001

    @staticmethod
    def preset(quick: bool) -> Toy2dConfig:
        return Toy2dConfig(n_per_class=400, obs1_n=1000, contour_grid=1201) if quick else Toy2dConfig()


def observation3(problem: Any, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Fraction of class-1 points one quantisation level (4-neighbour cell) from a flip."""
    _, levels = table_distance(problem, x[y == 1])
    p1 = problem.p1
    if not isinstance(p1, Table):
        raise TypeError(f"observation 3 needs a discrete problem; got {problem.key!r}")
    top = float(np.sort(p1.p.sum(0))[-1])  # largest marginal probability of a level of x2
    return {"fraction_one_level_from_flip": float((levels <= 1.0).mean()),
            "median_levels": float(np.median(levels)), "max_marginal_level_probability": top}


def observation1(cfg: Toy2dConfig, rng: np.random.Generator) -> dict[str, Any]:
    """Median class-1 distance to the boundary as class 1's minimal sd shrinks (panel f)."""
    med = {}
    for s in cfg.obs1_sigma1:
        p = asymmetric_elliptical(s)
        x = p.p1.sample(cfg.obs1_n, rng)
        med[str(s)] = float(np.median(gaussian_pair_distance(p.p1, p.p2, x)))  # type: ignore[arg-type]
    vals = [med[str(s)] for s in cfg.obs1_sigma1]
    return {"sigma1": list(cfg.obs1_sigma1), "median_distance": med,
            "monotone": bool(all(a > b for a, b in zip(vals, vals[1:], strict=False)))}


def run(out: Path, seed: int, quick: bool) -> dict[str, Any]:
    """Run the study, write figures under ``out/figures``; return the results dict."""
    cfg = Toy2dConfig.preset(quick)
    rng = np.random.default_rng(seed)
    problems = eight_problems()
    samples, dists, rows = {}, {}, {}
    for key, p in tqdm(problems.items(), desc="toy2d distances", disable=None, leave=False):
        x, y = p.sample(cfg.n_per_class, rng)
        d = boundary_distance(p, x, grid=cfg.contour_grid)
        samples[key], dists[key] = (x, y), (d, y)
        rows[key] = {"title": p.title, "bayes_accuracy": float((p.decide(x) == y).mean()),
                     "median_distance_class1": float(np.median(d[y == 1])),
                     "median_distance_class2": float(np.median(d[y == 2])),
                     "fraction_within_0.5": float((d < 0.5).mean())}
    res: dict[str, Any] = {"config": asdict(cfg), "problems": rows, "observation1": observation1(cfg, rng),
                           "observation3": {"symmetric_c": observation3(problems["c"], *samples["c"]),
                                            "asymmetric_g": observation3(problems["g"], *samples["g"])}}
    figures.figure2(out / "figures" / "figure2_bayes_optimal_regions.png", problems, samples)
    figures.distance_histograms(out / "figures" / "distance_to_boundary.png", problems, dists)
    o1 = res["observation1"]
    figures.observation1(out / "figures" / "observation1_sigma1.png", o1["sigma1"],
                         [o1["median_distance"][str(s)] for s in o1["sigma1"]])
    return res
