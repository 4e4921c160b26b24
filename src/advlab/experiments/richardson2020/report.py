"""Report sections of the Bayes-optimal recipe, beside the paper's numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advlab.experiments.engine import RunContext
from advlab.experiments.findings import add_scorecard
from advlab.experiments.richardson2020.config import RichardsonConfig
from advlab.experiments.richardson2020.paper import MEAN_L2, MODEL_TITLES, REAL_CELEBA_MALE, TABLE1
from advlab.report import Report, Section
from advlab.store import read_json


def _num(v: Any) -> float:
    """A number read back from JSON, where NaN / inf are stored as strings."""
    return float("nan") if v is None else float(v)


def _pct(v: Any) -> str:
    x = _num(v)
    return "—" if x != x else f"{100 * x:.0f}%"


def _l2(v: Any) -> str:
    x = _num(v)
    return "—" if x != x else f"{x:.2f}"


def _paper_l2(key: str, variant: str, model: str) -> str:
    pair = key.split(":")[1]
    if not key.startswith(("mnist:", "mnist5k:")):
        return "—"
    return _l2(MEAN_L2.get(pair, {}).get(variant, {}).get(model))


def _paper_acc(key: str, model: str) -> str:
    pair = key.split(":")[1]
    if not key.startswith(("mnist:", "mnist5k:")) or pair not in TABLE1 or model not in TABLE1[pair]:
        return "—"
    clean, adv = TABLE1[pair][model]
    return f"{_pct(clean)} ({_pct(adv)})"


def _provenance(sec: Section, results: dict[str, Any]) -> None:
    sec.provenance(results["command"], config=results.get("config"), seed=results["seed"])


def _bayes_section(rep: Report, results: dict[str, Any], prefix: str, figs: dict[str, str]) -> None:
    sec = rep.section("Bayes-optimal classifier: symmetric vs asymmetric data (Figures 4, 7)")
    sec.text("One MFA per class is fitted to the real images of the pair. *Symmetric*: every "
             "noise std set to the same small value; *asymmetric*: plus one spherical outlier "
             "component per class (variance 0.5) along the 50th principal direction. The "
             "Bayes-optimal classifier is attacked with LD-Grad (Appendix C.2), unbounded, "
             "no box (MFA samples leave [0, 1] and are not clipped).")
    rows = []
    for key, d in results["datasets"].items():
        for v in ("asymmetric", "symmetric"):
            r = d[v]["bayes_optimal"]
            rows.append([key, v, _pct(r["clean_accuracy"]), _pct(r["adversarial_accuracy"]),
                         _l2(r["mean_l2"]), _l2(r["median_l2"]), _paper_l2(key, v, "bayes_optimal")])
        ratio = _num(d["symmetric"]["bayes_optimal"]["mean_l2"]) / _num(d["asymmetric"]["bayes_optimal"]["mean_l2"])
        paper = "6.0x" if key.startswith(("mnist:0-6", "mnist5k:0-6")) else "—"
        rows.append([key, "ratio sym / asym", "", "", f"{ratio:.1f}x", "", paper])
    sec.table(["dataset", "variant", "clean acc", "adv acc", "mean L2", "median L2", "paper mean L2"],
              rows, caption="Bayes-optimal classifier under the unbounded minimum-L2 attack")
    _provenance(sec, results)
    for k, path in figs.items():
        if k.startswith("fig7:"):
            sec.figure(prefix + path, f"{k[5:]}: originals, adversarials, magnified perturbations "
                       "and per-pixel change histograms (asymmetric top, symmetric bottom)")


def _models_section(rep: Report, results: dict[str, Any], prefix: str, figs: dict[str, str]) -> None:
    sec = rep.section("Bayes-optimal vs CNN vs SVMs on the symmetric data (Figure 6, Table 1)")
    sec.text("Every model is trained on the same symmetric samples and attacked on the same "
             "test points. Paper values: mean L2 from Figures 17/18 (MNIST 0-6, 4-5), clean "
             "(adversarial) accuracy from Table 1.")
    rows = []
    for key, d in results["datasets"].items():
        for v, models in d.items():
            for m, r in models.items():
                if v == "asymmetric" and m == "bayes_optimal":
                    continue
                rows.append([key, v, MODEL_TITLES[m], _pct(r["clean_accuracy"]),
                             _pct(r["adversarial_accuracy"]), _l2(r["mean_l2"]),
                             _paper_acc(key, m) if v == "symmetric" else "—",
                             _paper_l2(key, v, m)])
    sec.table(["dataset", "variant", "model", "clean acc", "adv acc", "mean L2",
               "paper clean (adv)", "paper mean L2"], rows, caption="Table 1 and Figure 6")
    _provenance(sec, results)
    if "fig6" in figs:
        sec.figure(prefix + figs["fig6"], "Mean L2 per model; black x: the paper's MNIST values")
    for k, path in figs.items():
        if k.startswith("fig13:"):
            sec.figure(prefix + path, f"{k[6:]}: adversarials of every model (Figures 13-18)")
    _selection_table(sec, results)


def _selection_table(sec: Section, results: dict[str, Any]) -> None:
    rows = []
    for key, s in results["selection"].items():
        cnn = ", ".join(f"w{int(w)}: {_pct(a)}" for w, a in s.get("cnn_search", []))
        rbf = ", ".join(f"{f:g}x: {_pct(a)}" for f, _, a in s.get("rbf_search", []))
        rows.append([key, s.get("cnn_width"), cnn, f"{s.get('rbf_gamma_factor', 0):g}x scale", rbf])
    sec.table(["dataset", "CNN width", "width search (val acc)", "RBF gamma", "gamma search (val acc)"],
              rows, caption="Model selection on fresh validation samples (App. B.3, B.5)")


def _sweep_section(rep: Report, results: dict[str, Any], prefix: str, figs: dict[str, str]) -> None:
    if not results["sweeps"] and "fig11" not in figs:
        return
    sec = rep.section("CNN width, training samples, noise, TRADES (Figures 9, 10, 11)")
    rows = []
    for key, sw in results["sweeps"].items():
        for name, label in (("width", "width"), ("samples", "samples (one pass)"), ("noise", "noise std")):
            if name in sw:
                for x, c, bo in zip(sw[name]["x"], sw[name]["cnn"], _bo_list(sw[name]), strict=True):
                    rows.append([key, label, f"{x:g}", _l2(c), _l2(bo)])
    sec.table(["dataset", "sweep", "value", "CNN mean L2", "Bayes-optimal mean L2"], rows,
              caption="Figures 9 and 10: CNN mean L2 per setting, Bayes-optimal on the same data")
    _provenance(sec, results)
    for k, cap in (("fig9", "Figure 9: CNN mean L2 vs training samples and width; dashed: Bayes-optimal"),
                   ("fig10", "Figure 10: mean L2 vs the noise std of the symmetric densities"),
                   ("fig11", "Figure 11: Bayes-optimal vs CNN vs TRADES CNN (beta 10)")):
        if k in figs:
            sec.figure(prefix + figs[k], cap)


def _bo_list(series: dict[str, Any]) -> list[Any]:
    bo = series["bayes_optimal"]
    return bo if isinstance(bo, list) else [bo] * len(series["x"])


def _real_section(rep: Report, results: dict[str, Any], prefix: str, figs: dict[str, str]) -> None:
    if not results["real"]:
        return
    sec = rep.section("Models trained and attacked on the real images (Appendix D.4)")
    rows = []
    for key, models in results["real"].items():
        for m, r in models.items():
            p = REAL_CELEBA_MALE.get(m)
            rows.append([key, MODEL_TITLES[m], _pct(r["clean_accuracy"]), _pct(r["adversarial_accuracy"]),
                         _l2(r["mean_l2"]), f"{_pct(p[0])} / {_pct(p[1])} / {p[2]:.2f}" if p else "—"])
    sec.table(["dataset", "model", "clean acc", "adv acc", "mean L2", "paper CelebA Male (clean/adv/L2)"],
              rows, caption="Real data, box [0, 1]")
    _provenance(sec, results)
    for k in ("fig12", "fig12-examples"):
        if k in figs:
            sec.figure(prefix + figs[k], "Real data: mean L2 per model" if k == "fig12" else "Real data: adversarials")


def add_report_sections(report: Report, results: dict[str, Any], run_dir: Path, prefix: str = "") -> None:
    """Append this recipe's sections (tables beside the paper, figures, provenance) to ``report``.

    Figure paths are ``prefix + "figures/..."`` (relative to the report's folder).
    """
    figs = read_json(Path(run_dir) / "figures" / "index.json") if (Path(run_dir) / "figures" / "index.json").exists() else {}
    _bayes_section(report, results, prefix, figs)
    _models_section(report, results, prefix, figs)
    _sweep_section(report, results, prefix, figs)
    _real_section(report, results, prefix, figs)
    sec = report.section("Definitions and checks")
    sec.text("\n\n".join(f"**{k}**: {v}." for k, v in results["definitions"].items()))
    sec.text("Checks: " + ("none raised." if not results["checks"] else "\n\n" + "\n\n".join(
        f"- {c}" for c in results["checks"])))


def write_report(ctx: RunContext, results: dict[str, Any]) -> None:
    """This recipe's own report.md / report.html."""
    cfg: RichardsonConfig = ctx.config
    rep = Report("A Bayes-optimal view on adversarial examples (Richardson & Weiss): reproduction",
                 command=results["command"], config={"scale": cfg.scale, "dataset": cfg.dataset,
                                                     "pairs": list(cfg.pairs), "seed": cfg.seed})
    add_scorecard(rep, results["findings"])
    add_report_sections(rep, results, ctx.out)
    rep.write(ctx.out)
