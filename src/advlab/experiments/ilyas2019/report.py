"""The recipe's report sections: our tables beside the paper's CIFAR-10 values, figures,
and a provenance block (command, config, seed) under every table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advlab.experiments.engine import RunContext
from advlab.experiments.findings import add_scorecard
from advlab.experiments.ilyas2019.figures import FIGURES
from advlab.report import Report, Section
from advlab.report.format import pct as _pct
from advlab.store import read_json

# The paper's CIFAR-10 numbers (fractions), by table (Ilyas et al. 2019, App. D).
PAPER_TABLE7 = {  # clean, robust at eps 0.25, robust at eps 0.5 (L2)
    "standard": (0.9525, 0.0449, 0.0), "adversarial": (0.9083, 0.8248, 0.7090),
    "d_nr": (0.8768, 0.0082, 0.0), "d_nr_noise": (0.4560, 0.0150, 0.0),
    "d_r": (0.8540, 0.4820, 0.2185), "d_r_noise": (0.8410, 0.4827, 0.2940),
}
PAPER_TABLE8 = {"robust_train": 0.7733, "robust_test": 0.6249, "standard_test": 0.4827}
PAPER_TABLE9 = {"standard": {"D": 0.953, "D_rand": 0.633, "D_det": 0.437},
                "robust": {"D": 0.953, "D_rand": 0.252, "D_det": 0.058}}
PAPER_TABLE10 = {"standard": (0.437, 0.162), "robust": (0.058, 0.655)}
ROW_NAMES = {
    "standard": "Standard training (D)", "adversarial": "Adversarial training (D)",
    "d_nr": "D_NR (from images)", "d_nr_noise": "D_NR (from noise)",
    "d_r": "D_R (from images)", "d_r_noise": "D_R (from noise)",
    "original": "control: same images as D_R, unmodified",
    "original_noise": "control: same images as D_R from noise, unmodified",
}


def _provenance(sec: Section, results: dict[str, Any], run_dir: Path) -> None:
    cfg_path = run_dir / "config.json"
    config = read_json(cfg_path).get("config") if cfg_path.exists() else None
    sec.provenance(results.get("command", ""), config, results.get("seed"))


def _table7(rep: Report, res: dict[str, Any], run_dir: Path, prefix: str) -> None:
    t = res["table7"]
    eps = [str(e) for e in t["rows"]["standard"]["robust"]]
    sec = rep.section("Table 7 / Figure 2b: robust and non-robust datasets (Section 3.1)")
    sec.text(f"Clean and L2 robust accuracy (APGD-CE, then APGD-DLR on the points still robust, "
             f"{t['steps']} steps each) on {t['n']} "
             f"test images of {res['dataset']}, for models trained on D, adversarially, and on "
             "the constructed sets. Paper: CIFAR-10, eps 0.25 / 0.5.")
    headers = ["model", "clean", *[f"robust eps={e}" for e in eps],
               "paper clean", "paper eps=0.25", "paper eps=0.5"]
    rows = []
    for name, r in t["rows"].items():
        paper = PAPER_TABLE7.get(name, (None, None, None))
        rows.append([ROW_NAMES.get(name, name), _pct(r["clean"]),
                     *[_pct(r["robust"][e]) for e in eps], *[_pct(p) for p in paper]])
    sec.table(headers, rows, caption="Table 7 (ours beside the paper's CIFAR-10 values)")
    sec.figure(f"{prefix}figures/fig2b_accuracy.png", FIGURES["fig2b_accuracy"])
    _provenance(sec, res, run_dir)
    grids = rep.section("Figures 2a and 7: samples of the robust and non-robust datasets")
    grids.figure(f"{prefix}figures/fig2a_samples.png", FIGURES["fig2a_samples"])
    grids.figure(f"{prefix}figures/fig7_noise_samples.png", FIGURES["fig7_noise_samples"])
    _convergence(grids, res)


def _convergence(sec: Any, res: dict[str, Any]) -> None:
    """Did every construction do what the paper's does? Its stated criterion, met or not."""
    conv = res.get("convergence", {})
    if not conv:
        return
    judged = {k: v for k, v in conv.items() if v["met"] is not None}
    missed = [k for k, v in judged.items() if not v["met"]]
    controls = [k for k in conv if k not in judged]
    sec.text(f"{len(judged) - len(missed)} of {len(judged)} constructions meet their criterion "
             "(inversions: median relative representation distance ‖g(x_r) − g(x)‖ / ‖g(x)‖; "
             "relabellings: the fraction of images the source assigns their new label)."
             + (f" Not met: {', '.join(missed)}. Findings built on them rest on a construction "
                "that did not get where the paper's does." if missed else "")
             + (f" {', '.join(controls)}: controls, judged by no reach rate (a robust source "
                "resists relabelling; that is Tables 9-10's finding)." if controls else ""))
    sec.table(["set", "built by", "value", "criterion", "met"],
              [[k, v["built_by"], f"{v['value']:.3f}", v["criterion"], _met(v["met"])]
               for k, v in conv.items()], caption="Constructions against their criteria")


def _met(met: bool | None) -> str:
    return "n/a" if met is None else "yes" if met else "NO"


def _table8(rep: Report, res: dict[str, Any], run_dir: Path, prefix: str) -> None:
    t, f8 = res["table8"], res["figure8"]
    sec = rep.section("Table 8 and Figure 8: the D_R model under attack")
    sec.text(f"Robust accuracy (L2, eps={t['eps']}) of the model trained on D_R, on D_R's own "
             "training images, on a D_R test set built from test images, and on the test set.")
    sec.table(["evaluated on", "robust acc", "clean acc", "paper (CIFAR-10, eps 0.25)"],
              [[k.replace("_", " "), _pct(t[k]), _pct(t[f"{k}_clean"]), _pct(PAPER_TABLE8[k])]
               for k in ("robust_train", "robust_test", "standard_test")], caption="Table 8")
    _provenance(sec, res, run_dir)
    sec.table(["PGD steps", *f8["accuracy"]],
              [[s, *[_pct(f8["accuracy"][m][i]) for m in f8["accuracy"]]] for i, s in enumerate(f8["steps"])],
              caption=f"Figure 8: robust accuracy at eps={f8['eps']} on {f8['n']} test images "
                      "(paper: plateaus at 48.27% on CIFAR-10, eps 0.25)")
    sec.figure(f"{prefix}figures/fig8_steps.png", FIGURES["fig8_steps"])
    _provenance(sec, res, run_dir)


def _relabel(rep: Report, res: dict[str, Any], run_dir: Path, prefix: str) -> None:
    t9, t10 = res["table9"], res["table10"]
    sec = rep.section("Tables 1, 9, 10 and Figure 10: non-robust features suffice (Section 3.2)")
    sec.text(f"Test accuracy on the original test set of models trained on D, D_rand and D_det "
             f"(targeted L2 PGD, eps={t9['eps']}), built with a standard (Table 1) or a robust "
             "(Table 9) source model; last epoch, not the best. 'reached' is the fraction of "
             "constructed images the source model classifies as their new label.")
    rows = []
    for src in ("standard", "robust"):
        p = PAPER_TABLE9[src]
        r = t9["reached"][src]
        rows.append([src, *[_pct(t9[src][k]) for k in ("D", "D_rand", "D_det")],
                     _pct(r.get("d_rand")), _pct(r.get("d_det")),
                     *[_pct(p[k]) for k in ("D", "D_rand", "D_det")]])
    sec.table(["source model", "D", "D_rand", "D_det", "reached rand", "reached det",
               "paper D", "paper D_rand", "paper D_det"], rows,
              caption="Tables 1 (standard source) and 9 (robust source)")
    _provenance(sec, res, run_dir)
    sec.table(["D_det source", "test set D", "relabelled t(y)=(y+1) mod C", "paper D", "paper relabelled"],
              [[src, _pct(t10[src]["D"]), _pct(t10[src]["relabelled"]), *map(_pct, PAPER_TABLE10[src])]
               for src in ("standard", "robust")], caption="Table 10")
    _provenance(sec, res, run_dir)
    sec.figure(f"{prefix}figures/fig10_curves.png", FIGURES["fig10_curves"])
    sec.figure(f"{prefix}figures/fig9_relabel_samples.png", FIGURES["fig9_relabel_samples"])


def _transfer(rep: Report, res: dict[str, Any], run_dir: Path, prefix: str) -> None:
    t = res["transfer"]
    sec = rep.section("Figure 3: transferability and non-robust features (Section 3.3)")
    corr = "undefined" if t.get("pearson") is None else f"{t['pearson']:.2f}"
    sec.text(f"Untargeted L2 PGD (eps={t['eps']}, {t['steps']} steps) on {t['n']} test images "
             "against the standard source model; the transfer rate is the fraction of those "
             "images that fool each architecture trained on D, among the images that architecture "
             "classifies correctly (beside it, over all images). Paper (CIFAR-10, ResNet-50 "
             "source): architectures that learn better from D_det are fooled more often (a "
             f"positive relation). Pearson correlation here: {corr}.")
    sec.table(["architecture", "test acc (trained on D_det)",
               "transfer rate (points the target gets right)", "transfer rate (all points)",
               "test acc (trained on D)"],
              [[k, _pct(a["test_acc_d_det"]), _pct(a.get("transfer_rate_correct")),
                _pct(a["transfer_rate"]), _pct(a["test_acc_d"])]
               for k, a in t["archs"].items()], caption="Figure 3 data")
    sec.figure(f"{prefix}figures/fig3_transfer.png", FIGURES["fig3_transfer"])
    _provenance(sec, res, run_dir)


def add_report_sections(report: Report, results: dict[str, Any], run_dir: Path, prefix: str = "") -> None:
    """Append the recipe's sections (tables beside the paper's values, figures, provenance)."""
    run_dir = Path(run_dir)
    intro = report.section("Adversarial examples are not bugs, they are features (Ilyas et al. 2019)")
    src = results.get("sources", {})
    intro.text(f"Dataset {results['dataset']}, scale {results['scale']}, seed {results['seed']}. "
               f"Source models: standard test accuracy {_pct(src.get('standard'))}, adversarially "
               f"trained {_pct(src.get('robust'))}. The paper's numbers are CIFAR-10 with "
               "ResNet-50; at small scale absolute values differ. See docs/ilyas2019.md for "
               "what reproduces and what does not.")
    _table7(report, results, run_dir, prefix)
    _table8(report, results, run_dir, prefix)
    _relabel(report, results, run_dir, prefix)
    _transfer(report, results, run_dir, prefix)


def write_report(ctx: RunContext, results: dict[str, Any]) -> None:
    """This recipe's own report.md / report.html (just its sections)."""
    rep = Report("Reproduction: Ilyas et al. 2019", command=results.get("command", ""))
    add_scorecard(rep, results["findings"])
    add_report_sections(rep, results, ctx.out)
    rep.write(ctx.out)
