"""The theory studies: the features paper's Gaussian robust MLE (Section 4, App. E:
Theorems 1-3, Figs. 4 and 14) and the Bayes-optimal paper's 2-D examples (Section 2:
Fig. 2, Observations 1 and 3), each one stage over the maths of :mod:`advlab.theory`.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from advlab.experiments.engine import RunContext, Stage
from advlab.experiments.theory import figures
from advlab.experiments.theory.config import GaussianConfig, TheoryConfig, Toy2dConfig
from advlab.progress import progress
from advlab.seeding import generator
from advlab.theory import linear2d
from advlab.theory.boundary import boundary_distance, gaussian_pair_distance, table_distance
from advlab.theory.gaussian import (
    DTYPE,
    GaussianModel,
    gradient_cosine,
    robust_covariance,
    robust_mle_per_sample,
    robust_mle_relaxed,
    theorem1_gap,
    theorem1_monte_carlo,
    worst_case_cosine,
    worst_case_cosine_numeric,
)
from advlab.theory.toy2d import Mixture, Table, asymmetric_elliptical, eight_problems

FIG4_MU = (1.0, 0.3)
FIG4_SIGMA = (1.0, 0.05)


def model_for(d: int, generator: torch.Generator) -> GaussianModel:
    """A d-dim model: variances log-uniform in [0.01, 1], mean N(0, I/d) * 2 (seeded)."""
    if d == 2:
        return GaussianModel(torch.tensor(FIG4_MU), torch.tensor(FIG4_SIGMA))
    sigma = torch.exp(torch.empty(d, dtype=DTYPE).uniform_(math.log(0.01), 0.0, generator=generator))
    mu = 2 * torch.randn(d, generator=generator, dtype=DTYPE) / math.sqrt(d)
    return GaussianModel(mu, sigma)


def model_generator(g: torch.Generator, d: int) -> torch.Generator:
    """The generator of the d-dim model: ``derive_seed(study seed, "model", d)``.

    Derived from the study's seed (``g.initial_seed()``), not from ``g``'s state, so the
    same ``d`` gets the same model in every theorem whatever was drawn before.
    """
    return generator(g.initial_seed(), "model", d)


def _rel(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    r = ((a - b) / b).abs()
    return float(r.max()), float(r.mean())


def theorem1(cfg: GaussianConfig, g: torch.Generator) -> dict[str, Any]:
    """Closed form vs Monte Carlo, both conventions; and the isotropic minimiser claim."""
    m = model_for(cfg.t1_dim, model_generator(g, cfg.t1_dim))
    c = 2.0 / float(m.sigma.min())
    out: dict[str, Any] = {"d": cfg.t1_dim, "C": c, "n": cfg.mc_n}
    for conv in ("mahalanobis", "nll"):
        mc, se = theorem1_monte_carlo(m, c, cfg.mc_n, g, conv)
        cf = theorem1_gap(m.sigma, c, conv)
        printed = theorem1_gap(m.sigma, c, "mahalanobis")
        out[conv] = {"closed_form": cf, "monte_carlo": mc, "standard_error": se,
                     "z_score": (cf - mc) / se, "printed_formula_z_score": (printed - mc) / se}
    out["z_score"] = out["mahalanobis"]["z_score"]
    # for a fixed trace, Sigma* = (k/d) I minimises the gap (C > 1/sigma_min for all draws)
    k, d = float(m.sigma.sum()), cfg.t1_dim
    iso = theorem1_gap(torch.full((d,), k / d, dtype=DTYPE), 4 * d / k)
    draws = torch.distributions.Dirichlet(torch.full((d,), 20.0, dtype=DTYPE)).sample((200,)) * k
    gaps = [theorem1_gap(s, 4 * d / k) for s in draws if float(s.min()) > k / (4 * d)]
    out["isotropic"] = {"gap": iso, "random_same_trace_min_gap": min(gaps), "draws": len(gaps),
                        "isotropic_is_minimum": bool(iso <= min(gaps))}
    return out


def theorem2(cfg: GaussianConfig, g: torch.Generator) -> tuple[dict[str, Any], dict[str, Any]]:
    """Closed form vs numerical robust MLE (relaxed (14) and per-sample (13))."""
    rows: list[dict[str, Any]] = []
    ps_rows: list[dict[str, Any]] = []
    curves: dict[str, dict[float, Any]] = {"relaxed": {}, "per_sample": {}}
    worst, mu_err = 0.0, 0.0
    jobs = [(d, e) for d in cfg.dims for e in cfg.eps]
    for d, eps in progress(jobs, desc="theorem 2 (relaxed)"):
        m = model_for(d, model_generator(g, d))
        closed, lam = robust_covariance(m.sigma, eps)
        fit = robust_mle_relaxed(m.mu, m.sigma, eps)
        mx, mean = _rel(fit.sigma, closed)
        worst, mu_err = max(worst, mx), max(mu_err, float((fit.mu - m.mu).abs().max()))
        rows.append({"d": d, "eps": eps, "lambda": lam, "max_relative_error": mx, "mean_relative_error": mean,
                     "mu_max_abs_error": float((fit.mu - m.mu).abs().max()), "lbfgs_iterations": fit.iterations,
                     "lambda_times_eps": lam * eps, "sqrt_trace_inv_sigma": float((1 / m.sigma).sum().sqrt())})
        if d == 2:
            curves["relaxed"][eps] = fit.sigma.numpy()
    ps_jobs = [(d, n, e) for d, n in zip(cfg.dims, cfg.per_sample_n, strict=True) for e in cfg.per_sample_eps]
    for d, n, eps in progress(ps_jobs, desc="theorem 2 (per-sample)"):
        m = model_for(d, model_generator(g, d))
        x = m.sample_centred(n, g)
        fit = robust_mle_per_sample(x, eps)
        emp, _ = robust_covariance(x.var(0, unbiased=False), eps)  # relaxed optimum on the same sample
        pop, _ = robust_covariance(m.sigma, eps)
        mx, mean = _rel(fit.sigma, emp)
        ps_rows.append({"d": d, "n": n, "eps": eps, "max_relative_gap": mx, "mean_relative_gap": mean,
                        "max_relative_gap_vs_population": _rel(fit.sigma, pop)[0],
                        "mu_max_abs_error": float((fit.mu - m.mu).abs().max())})
        if d == 2:
            curves["per_sample"][eps] = fit.sigma.numpy()
    res = {"max_relative_error": worst, "mu_max_abs_error": mu_err, "relaxed": rows, "per_sample": ps_rows}
    return res, curves


def theorem3(cfg: GaussianConfig, g: torch.Generator) -> dict[str, Any]:
    """Cosines between mu and the classifier's input gradient, standard vs robust."""
    rows = []
    for d in (2, cfg.t1_dim):
        m = model_for(d, model_generator(g, d))
        for eps in (0.0, *cfg.eps):
            sig = robust_covariance(m.sigma, eps)[0] if eps > 0 else m.sigma
            num = robust_mle_relaxed(m.mu, m.sigma, eps).sigma if eps > 0 else m.sigma
            rows.append({"d": d, "eps": eps, "cosine_closed_form": gradient_cosine(m.mu, sig),
                         "cosine_numerical_fit": gradient_cosine(m.mu, num),
                         "worst_case_cosine": worst_case_cosine(sig),
                         "worst_case_cosine_numeric": worst_case_cosine_numeric(sig, generator=g),
                         "condition_number": float(sig.max() / sig.min())})
    std = [r for r in rows if r["eps"] == 0]
    ok = all(r["worst_case_cosine"] > s["worst_case_cosine"] for s in std for r in rows
             if r["d"] == s["d"] and r["eps"] > 0)
    return {"rows": rows, "robust_worst_case_better": ok,
            "standard": {str(r["d"]): r["cosine_closed_form"] for r in std}}


def gaussian_study(out: Path, cfg: GaussianConfig, seed: int) -> dict[str, Any]:
    """Theorems 1-3, Figures 4 and 14; figures under ``out/figures``; return the results."""
    g = torch.Generator().manual_seed(seed)
    res: dict[str, Any] = {"config": asdict(cfg), "theorem1": theorem1(cfg, g)}
    res["theorem2"], curves = theorem2(cfg, g)
    res["theorem3"] = theorem3(cfg, g)
    m2 = model_for(2, g)
    fits = [(e, robust_mle_relaxed(m2.mu, m2.sigma, e).sigma if e > 0 else m2.sigma) for e in cfg.fig4_eps]
    x, y = m2.sample(600, g)
    figures.figure4(out / "figures" / "figure4_gaussian_robust_mle.png", m2.mu, m2.sigma, fits, x, y)
    grid = np.linspace(0.02, max(cfg.eps) * 1.1, 60)
    closed = np.stack([robust_covariance(m2.sigma, float(e))[0].numpy() for e in grid])
    figures.theorem2_curves(out / "figures" / "theorem2_covariance_vs_eps.png", grid, closed,
                            curves["relaxed"], curves["per_sample"])
    clfs, xt, yt, ev = linear2d.figure14_experiment(cfg.fig14_n, cfg.fig14_eps, g)
    figures.figure14(out / "figures" / "figure14_robust_vs_accurate.png", clfs, xt, yt, cfg.fig14_eps)
    res["figure14"] = {"eps": cfg.fig14_eps, "classifiers": ev}
    res["figure4"] = {"eps": list(cfg.fig4_eps), "sigma_r": [f.tolist() for _, f in fits],
                      "mu": m2.mu.tolist(), "sigma_star": m2.sigma.tolist()}
    return res


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
        assert isinstance(p.p1, Mixture) and isinstance(p.p2, Mixture)  # two Gaussians
        x = p.p1.sample(cfg.obs1_n, rng)
        med[str(s)] = float(np.median(gaussian_pair_distance(p.p1, p.p2, x)))
    vals = [med[str(s)] for s in cfg.obs1_sigma1]
    return {"sigma1": list(cfg.obs1_sigma1), "median_distance": med,
            "monotone": bool(all(a > b for a, b in zip(vals, vals[1:], strict=False)))}


def toy2d_study(out: Path, cfg: Toy2dConfig, seed: int) -> dict[str, Any]:
    """Figure 2's eight panels, Observations 1 and 3; figures under ``out/figures``."""
    rng = np.random.default_rng(seed)
    problems = eight_problems()
    samples, dists, rows = {}, {}, {}
    for key, p in progress(problems.items(), desc="toy2d distances"):
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


def stages(ctx: RunContext) -> list[Stage]:
    """One stage: the chosen study (figures go to ``OUT/figures``)."""
    cfg: TheoryConfig = ctx.config

    def study(d: Path) -> dict[str, Any]:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # tiny tensors: one thread is faster on a shared machine
        try:
            if cfg.kind == "gaussian":
                return gaussian_study(ctx.out, cfg.gaussian, ctx.seed)
            return toy2d_study(ctx.out, cfg.toy2d, ctx.seed)
        finally:
            torch.set_num_threads(threads)

    return [Stage(cfg.kind, study, title=f"theory: {cfg.kind}")]
