"""The ``gaussian`` study: Theorems 1-3 of the features paper checked numerically, Fig. 4, Fig. 14."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from advlab.theory import figures, linear2d
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


@dataclass(frozen=True)
class GaussianConfig:
    """Sizes of the gaussian study; ``quick`` keeps it well under a minute on 2 cores."""

    eps: tuple[float, ...] = (0.5, 1.0, 2.0)
    dims: tuple[int, ...] = (2, 10, 100)
    per_sample_n: tuple[int, ...] = (20000, 20000, 5000)
    per_sample_eps: tuple[float, ...] = (0.5, 1.0, 2.0)
    mc_n: int = 400_000
    t1_dim: int = 10
    fig4_eps: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0)
    fig14_n: int = 1000
    fig14_eps: float = 0.2

    @staticmethod
    def preset(quick: bool) -> GaussianConfig:
        if not quick:
            return GaussianConfig()
        return GaussianConfig(per_sample_n=(5000, 5000, 1500), per_sample_eps=(1.0,), mc_n=100_000)


FIG4_MU = (1.0, 0.3)
FIG4_SIGMA = (1.0, 0.05)


def model_for(d: int, generator: torch.Generator) -> GaussianModel:
    """A d-dim model: variances log-uniform in [0.01, 1], mean N(0, I/d) * 2 (seeded)."""
    if d == 2:
        return GaussianModel(torch.tensor(FIG4_MU), torch.tensor(FIG4_SIGMA))
    sigma = torch.exp(torch.empty(d, dtype=DTYPE).uniform_(math.log(0.01), 0.0, generator=generator))
    mu = 2 * torch.randn(d, generator=generator, dtype=DTYPE) / math.sqrt(d)
    return GaussianModel(mu, sigma)


def _rel(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    r = ((a - b) / b).abs()
    return float(r.max()), float(r.mean())


def theorem1(cfg: GaussianConfig, g: torch.Generator) -> dict[str, Any]:
    """Closed form vs Monte Carlo, both conventions; and the isotropic minimiser claim."""
    m = model_for(cfg.t1_dim, torch.Generator().manual_seed(g.initial_seed() + cfg.t1_dim))
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
    for d, eps in tqdm(jobs, desc="theorem 2 (relaxed)", disable=None, leave=False):
        m = model_for(d, torch.Generator().manual_seed(g.initial_seed() + d))
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
    for d, n, eps in tqdm(ps_jobs, desc="theorem 2 (per-sample)", disable=None, leave=False):
        m = model_for(d, torch.Generator().manual_seed(g.initial_seed() + d))
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
        m = model_for(d, torch.Generator().manual_seed(g.initial_seed() + d))
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


def run(out: Path, seed: int, quick: bool) -> dict[str, Any]:
    """Run the study, write figures under ``out/figures``; return the results dict."""
    cfg = GaussianConfig.preset(quick)
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
