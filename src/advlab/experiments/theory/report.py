"""Report sections of the theory studies (tables from results.json, the figures, provenance)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advlab.experiments.engine import RunContext, config_dict
from advlab.experiments.findings import add_scorecard
from advlab.report import Report

TITLES = {"gaussian": "Theory: Gaussian robust MLE (features paper, Section 4 / App. E)",
          "toy2d": "Theory: 2-D Bayes-optimal classifiers (Bayes-optimal paper, Section 2)"}


def write_report(ctx: RunContext, results: dict[str, Any]) -> None:
    """The study's own report.md / report.html."""
    rep = Report(TITLES[results["kind"]], command=results["command"],
                 config=config_dict(ctx.config))
    add_scorecard(rep, results["findings"])
    add_report_sections(rep, results, ctx.out)
    rep.write(ctx.out)


def add_report_sections(rep: Report, results: dict[str, Any], run_dir: Path | None = None,
                        prefix: str = "") -> None:
    """Append the study's sections; figure paths are ``prefix + figures/...``."""
    if results["kind"] == "gaussian":
        _gaussian(rep, results, prefix)
    else:
        _toy2d(rep, results, prefix)


def _gaussian(rep: Report, r: dict[str, Any], prefix: str) -> None:
    t1 = r["theorem1"]
    s = rep.section("Theorem 1: adversarial loss gap of the Lagrangian adversary")
    s.text(f"d = {t1['d']}, C = {t1['C']:.4g} (> 1/sigma_min), {t1['n']} Monte-Carlo samples. "
           "'mahalanobis' is the paper's convention (loss = squared Mahalanobis distance, constants "
           "dropped); 'nll' is the true Gaussian NLL, for which the corrected closed form is "
           "(tr[(I + (2C Sigma* - I)^-1)^2] - d) / 2 (docs/theory.md).")
    s.table(["loss", "closed form", "Monte Carlo", "s.e.", "z (closed form)", "z (formula as printed)"],
            [[k, t1[k]["closed_form"], t1[k]["monte_carlo"], t1[k]["standard_error"], t1[k]["z_score"],
              t1[k]["printed_formula_z_score"]] for k in ("mahalanobis", "nll")])
    iso = t1["isotropic"]
    s.text(f"Fixed trace: isotropic gap {iso['gap']:.4f} vs smallest of {iso['draws']} random covariances "
           f"with the same trace {iso['random_same_trace_min_gap']:.4f} (isotropic is the minimum: "
           f"{iso['isotropic_is_minimum']}).")
    t2 = r["theorem2"]
    s = rep.section("Theorem 2: robust covariance, closed form vs numerical robust MLE")
    s.text(f"Relaxed problem (14)/(20), adversarial training on exact expectations: max relative error over "
           f"diagonal entries, dimensions and eps = {t2['max_relative_error']:.2e}; learned mean vs mu*: "
           f"max abs error {t2['mu_max_abs_error']:.2e}.")
    s.table(["d", "eps", "lambda", "max rel. err", "mean rel. err", "|mu - mu*|", "lambda*eps"],
            [[x["d"], x["eps"], x["lambda"], f"{x['max_relative_error']:.1e}", f"{x['mean_relative_error']:.1e}",
              f"{x['mu_max_abs_error']:.1e}", x["lambda_times_eps"]] for x in t2["relaxed"]])
    s.table(["d", "n", "eps", "max rel. gap", "mean rel. gap", "max rel. gap vs population"],
            [[x["d"], x["n"], x["eps"], x["max_relative_gap"], x["mean_relative_gap"],
              x["max_relative_gap_vs_population"]] for x in t2["per_sample"]],
            caption="Per-sample problem (13) vs the relaxed closed form on the same sample")
    s.figure(f"{prefix}figures/theorem2_covariance_vs_eps.png", "Learned variances vs eps (d = 2)")
    s.figure(f"{prefix}figures/figure4_gaussian_robust_mle.png",
             "Features paper Fig. 4: the learned covariance blends with the identity as eps grows")
    t3 = r["theorem3"]
    s = rep.section("Theorem 3: gradient alignment")
    s.table(["d", "eps", "cos(mu, grad) closed form", "cos numerical fit", "worst-case cos", "worst-case (numeric)",
             "cond(Sigma)"],
            [[x["d"], x["eps"], x["cosine_closed_form"], x["cosine_numerical_fit"], x["worst_case_cosine"],
              x["worst_case_cosine_numeric"], x["condition_number"]] for x in t3["rows"]])
    s.text(f"Robust worst-case cosine larger than the standard one at every eps: {t3['robust_worst_case_better']}.")
    f14 = r["figure14"]
    s = rep.section("Figure 14: accurate but not robust (ERM) vs accurate and robust")
    s.table(["classifier", "accuracy", f"robust acc. (L2 eps={f14['eps']})", "median margin", "angle (deg)"],
            [[k, v["accuracy"], v["robust_accuracy"], v["median_margin"], v["angle_deg"]]
             for k, v in f14["classifiers"].items()])
    s.figure(f"{prefix}figures/figure14_robust_vs_accurate.png", "Features paper Fig. 14 analogue")
    s.provenance(r["command"], seed=r["seed"])


def _toy2d(rep: Report, r: dict[str, Any], prefix: str) -> None:
    s = rep.section("Figure 2: eight 2-D distributions and their Bayes-optimal boundaries")
    s.table(["panel", "distribution", "Bayes accuracy", "median dist. class 1", "median dist. class 2",
             "fraction within 0.5"],
            [[k, v["title"], v["bayes_accuracy"], v["median_distance_class1"], v["median_distance_class2"],
              v["fraction_within_0.5"]] for k, v in r["problems"].items()])
    s.figure(f"{prefix}figures/figure2_bayes_optimal_regions.png", "Bayes-optimal paper Fig. 2 (a-h)")
    s.figure(f"{prefix}figures/distance_to_boundary.png", "Distances to the Bayes-optimal boundary")
    o1 = r["observation1"]
    s = rep.section("Observations 1 and 3")
    s.table(["sigma_1", "median distance (class 1)"], [[k, v] for k, v in o1["median_distance"].items()],
            caption=f"Observation 1 (panel f): monotone decrease = {o1['monotone']}")
    s.figure(f"{prefix}figures/observation1_sigma1.png", "Observation 1")
    o3 = r["observation3"]
    s.table(["table", "fraction of class-1 points one level from a flip", "median levels",
             "largest level probability of x2"],
            [[k, v["fraction_one_level_from_flip"], v["median_levels"], v["max_marginal_level_probability"]]
             for k, v in o3.items()], caption="Observation 3 (discrete tables)")
    s.provenance(r["command"], seed=r["seed"])
