"""Assemble results.json from the stage summaries, flag what looks wrong, draw the figures."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from advlab.experiments.richardson2020 import figures
from advlab.experiments.richardson2020.config import RichardsonConfig
from advlab.experiments.richardson2020.paper import MEAN_L2, MODEL_TITLES, MODELS
from advlab.experiments.richardson2020.stages import load_examples

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


def assemble(cfg: RichardsonConfig, states: dict[str, dict[str, Any]], command: str,
             elapsed_s: float) -> dict[str, Any]:
    """results.json: ``datasets[<dataset>:<pair>][symmetric|asymmetric][model]`` + extras."""
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
    config = {k: v for k, v in asdict(cfg).items() if k != "extra"}
    return {"recipe": "richardson2020", "command": command, "seed": cfg.seed, "config": config,
            "scale": cfg.scale,
            "dataset": cfg.dataset, "pairs": list(cfg.pairs), "definitions": DEFINITIONS,
            "datasets": datasets, "selection": selection, "synthetic": synthetic,
            "sweeps": sweeps, "real": real, "checks": checks(datasets, real),
            "elapsed_s": round(elapsed_s, 1)}


def _row(stage_dir: Path, label: str, stage: dict[str, Any]) -> figures.Row:
    x0, xa = load_examples(stage_dir)
    return (label, x0.numpy(), xa.numpy(), float(stage["mean_l2"]), stage.get("hist_counts"))


def draw(root: Path, cfg: RichardsonConfig, states: dict[str, dict[str, Any]],
         results: dict[str, Any]) -> dict[str, str]:
    """Write every figure into ``root/figures``; return ``{figure id: relative path}``."""
    out: dict[str, str] = {}
    fig = root / "figures"
    for pair, state in states.items():
        rows = [_row(root / pair / v / "bayes_optimal", f"{v} Bayes-optimal", state[v]["bayes_optimal"])
                for v in ("asymmetric", "symmetric")]
        figures.perturbation_grid(fig / f"fig7-bayes-{pair}.png", rows)
        out[f"fig7:{pair}"] = f"figures/fig7-bayes-{pair}.png"
        sym = [m for m in MODELS if m in state["symmetric"]]
        rows = [_row(root / pair / "symmetric" / m, MODEL_TITLES[m], state["symmetric"][m]) for m in sym]
        figures.perturbation_grid(fig / f"fig13-models-{pair}.png", rows)
        out[f"fig13:{pair}"] = f"figures/fig13-models-{pair}.png"
    groups = {k: {m: r["mean_l2"] for m, r in d["symmetric"].items() if m != "trades_cnn"}
              for k, d in results["datasets"].items()}
    paper = {k: MEAN_L2[k.split(":")[1]]["symmetric"] for k in groups
             if cfg.dataset in ("mnist", "mnist5k") and k.split(":")[1] in MEAN_L2}
    figures.model_bars(fig / "fig6-mean-l2.png", groups, paper,
                       title="Symmetric datasets: mean L2 of the minimum-norm attack (Figure 6)")
    out["fig6"] = "figures/fig6-mean-l2.png"
    trades = {k: {m: d["symmetric"][m]["mean_l2"] for m in ("bayes_optimal", "cnn", "trades_cnn")
                  if m in d["symmetric"]} for k, d in results["datasets"].items()}
    if any("trades_cnn" in g for g in trades.values()):
        figures.model_bars(fig / "fig11-trades.png", trades, title="TRADES CNN (Figure 11)")
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
            figures.sweep_plot(fig / "fig9-sweeps.png", panels, title=f"{key}: Figure 9")
            out["fig9"] = "figures/fig9-sweeps.png"
        if "noise" in sw:
            nz = sw["noise"]
            main = results["datasets"][key]["symmetric"]
            figures.sweep_plot(fig / "fig10-noise.png", [(
                "noise std of the symmetric densities", nz["x"],
                {"CNN": nz["cnn"], "Bayes-optimal (measured)": nz["bayes_optimal"]},
                main["bayes_optimal"]["mean_l2"])], log_x=True, title=f"{key}: Figure 10")
            out["fig10"] = "figures/fig10-noise.png"
    for key, models in results["real"].items():
        pair = key.split(":")[1]
        figures.model_bars(fig / "fig12-real.png", {key: {m: r["mean_l2"] for m, r in models.items()}},
                           title="Models trained and attacked on the real images (App. D.4)")
        rows = [_row(root / pair / "real" / m, MODEL_TITLES[m], states[pair]["real"][m]) for m in models]
        figures.perturbation_grid(fig / "fig12-real-examples.png", rows)
        out["fig12"], out["fig12-examples"] = "figures/fig12-real.png", "figures/fig12-real-examples.png"
        break  # the paper shows one real dataset
    return out

