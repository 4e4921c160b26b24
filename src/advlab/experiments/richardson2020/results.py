"""Assemble results.json from the stage summaries and flag what looks wrong."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from advlab.experiments.engine import RunContext
from advlab.experiments.findings import judge
from advlab.experiments.richardson2020.config import RichardsonConfig
from advlab.experiments.richardson2020.paper import MODELS
from advlab.experiments.richardson2020.stages import states as stage_states

#: the per-model keys copied into results.json (the histogram stays in the stage folder)
METRIC_KEYS = ("clean_accuracy", "adversarial_accuracy", "mean_l2", "median_l2", "n_attacked",
               "success_rate", "frac_pixels_within_5", "per_attack", "width", "val_accuracy",
               "gamma", "gamma_factor", "n_support", "eps", "beta")

DEFINITIONS = {
    "clean_accuracy": "accuracy on the whole test set (synthetic samples, or real test images)",
    "adversarial_accuracy": "fraction of the attacked test points still classified correctly "
                            "after the unbounded minimum-L2 attack (correct and every attack "
                            "failed; misclassified points count as errors) - Table 1's bracket",
    "mean_l2": "mean L2 norm of the smallest successful perturbation over correctly classified "
               "attacked points (the paper's definition, Section 3)",
}


def _metrics(stage: dict[str, Any]) -> dict[str, Any]:
    return {k: stage[k] for k in METRIC_KEYS if k in stage}


def _sweeps(state: dict[str, Any], base_std: float) -> dict[str, Any]:
    """Figure 9 / 10 series: ``{"width"|"samples"|"noise": {"x", "cnn", "bayes_optimal"}}``."""
    bo = state["symmetric"]["bayes_optimal"]["mean_l2"]
    out: dict[str, Any] = {}
    for name, key, xkey in (("width", "sweep_width", "width"), ("samples", "sweep_samples", "n_samples")):
        items = list(state.get(key, {}).values())
        if items:
            out[name] = {"x": [it[xkey] for it in items], "cnn": [it["mean_l2"] for it in items],
                         "cnn_accuracy": [it["clean_accuracy"] for it in items], "bayes_optimal": bo}
    noise = [(float(k), v) for k, v in state.get("sweep_noise", {}).items()]
    if noise:
        rows = sorted([(s, v["cnn"]["mean_l2"], v["bayes_optimal"]["mean_l2"]) for s, v in noise]
                      + [(base_std, state["symmetric"]["cnn"]["mean_l2"], bo)])
        out["noise"] = {"x": [r[0] for r in rows], "cnn": [r[1] for r in rows],
                        "bayes_optimal": [r[2] for r in rows]}
    return out


def checks(datasets: dict[str, Any], real: dict[str, Any]) -> list[str]:
    """Plain warnings: incomplete unbounded attacks, low accuracy, a missing asymmetry."""
    notes = []
    groups = [(f"{key} {v}", models) for key, d in datasets.items() for v, models in d.items()]
    groups += [(f"{key} real", models) for key, models in real.items()]
    for where, models in groups:
        for m, r in models.items():
            rate = float(r["success_rate"])
            if rate == rate and rate < 0.99:
                notes.append(f"{where} {m}: the unbounded attack failed on "
                             f"{1 - rate:.0%} of correctly classified points; their "
                             "distance is unknown (mean L2 excludes them, adversarial accuracy "
                             "counts them as robust)")
            if m == "bayes_optimal" and float(r["clean_accuracy"]) < 0.95:
                notes.append(f"{where} bayes_optimal: clean accuracy {r['clean_accuracy']:.3f} < 0.95")
    for key, d in datasets.items():
        sym = float(d["symmetric"]["bayes_optimal"]["mean_l2"])
        asym = float(d["asymmetric"]["bayes_optimal"]["mean_l2"])
        if not sym > 2 * asym:
            notes.append(f"{key}: symmetric Bayes-optimal mean L2 {sym:.2f} is not several times "
                         f"the asymmetric one {asym:.2f}")
    return notes


def collect(ctx: RunContext) -> dict[str, Any]:
    """results.json (the engine adds command, seed, provenance)."""
    cfg: RichardsonConfig = ctx.config
    out = assemble(cfg, stage_states(ctx))
    out["stage_seconds"] = {k: v.get("seconds") for k, v in ctx.results.items() if isinstance(v, dict)}
    return {"findings": judge("richardson2020", out), **out}


def assemble(cfg: RichardsonConfig, states: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``datasets[<dataset>:<pair>][symmetric|asymmetric][model]`` + extras."""
    datasets, real, sweeps, synthetic, selection = {}, {}, {}, {}, {}
    for pair, state in states.items():
        key = f"{cfg.dataset}:{pair}"
        datasets[key] = {v: {m: _metrics(state[v][m]) for m in MODELS if m in state.get(v, {})}
                         for v in ("symmetric", "asymmetric")}
        synthetic[key] = state["synthetic"]
        sym = state["symmetric"]
        selection[key] = {k: sym[m][f] for k, m, f in (
            ("cnn_width", "cnn", "width"), ("cnn_search", "cnn", "search"), ("rbf_gamma", "rbf_svm", "gamma"),
            ("rbf_gamma_factor", "rbf_svm", "gamma_factor"), ("rbf_search", "rbf_svm", "search"))
            if m in sym and f in sym[m]}
        if "real" in state:
            real[key] = {m: _metrics(r) for m, r in state["real"].items()}
        if "sweep_width" in state or "sweep_samples" in state or "sweep_noise" in state:
            sweeps[key] = _sweeps(state, cfg.symmetric_noise_std)
    return {"config": asdict(cfg), "scale": cfg.scale,
            "dataset": cfg.dataset, "pairs": list(cfg.pairs), "definitions": DEFINITIONS,
            "datasets": datasets, "selection": selection, "synthetic": synthetic,
            "sweeps": sweeps, "real": real, "checks": checks(datasets, real)}
