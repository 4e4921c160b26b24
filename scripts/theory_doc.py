"""Write the numbers of docs/theory.md from the committed raw results of the theory studies.

    python scripts/theory_doc.py            # rewrite the generated blocks of docs/theory.md
    python scripts/theory_doc.py --check    # exit 1 when docs/theory.md is stale

The raw results are ``docs/results/theory/{gaussian,toy2d}/results.json`` (with their
``config.json``), made by ``advlab theory gaussian|toy2d --out DIR --seed 0`` (full
settings, no ``--quick``) and copied there. Every number of the page sits between
``<!-- generated: NAME -->`` and ``<!-- end generated -->`` and is written here; the prose
around the blocks is hand-written.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from advlab.store import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "theory.md"
RESULTS = ROOT / "docs" / "results" / "theory"
BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)

Res = dict[str, Any]


def load(kind: str) -> Res:
    """The committed results.json of ``kind``; refuses a ``--quick`` run."""
    res: Res = json.loads((RESULTS / kind / "results.json").read_text())
    if res["quick"] or res["kind"] != kind:
        raise SystemExit(f"{RESULTS / kind}: expected a full (not --quick) {kind} run")
    return res


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
            *("| " + " | ".join(str(c) for c in r) + " |" for r in rows)]


def _source(kind: str, res: Res) -> list[str]:
    git = res["provenance"]["git"]
    return [f"Source: `docs/results/theory/{kind}/results.json` (and `config.json`), made by "
            f"`advlab theory {kind} --out OUT --seed {res['seed']}` (full settings, not `--quick`; "
            f"code at commit {git['commit'][:7]}{' with local edits' if git['dirty'] else ''})."]


def theorem1(g: Res) -> list[str]:
    t1 = g["theorem1"]
    rows = [[k, f"{t1[k]['closed_form']:.4f}", f"{t1[k]['monte_carlo']:.4f} ± {t1[k]['standard_error']:.4f}",
             f"{t1[k]['z_score']:.2f}", f"{t1[k]['printed_formula_z_score']:.1f}"] for k in ("mahalanobis", "nll")]
    iso = t1["isotropic"]
    return [f"d = {t1['d']}, C = 2/sigma_min = {t1['C']:.4g}, {t1['n']:,} Monte-Carlo samples:", "",
            *_table(["loss", "closed form", "Monte Carlo ± s.e.", "z", "z of the printed formula"], rows), "",
            f"Fixed trace: the isotropic gap is {iso['gap']:.4f}; the smallest of {iso['draws']} random "
            f"covariances with the same trace has {iso['random_same_trace_min_gap']:.4f} "
            f"(isotropic is the minimum: {iso['isotropic_is_minimum']})."]


def theorem2(g: Res) -> list[str]:
    t2, c = g["theorem2"], g["config"]
    rel = t2["relaxed"]
    small = min(c["eps"])
    le = ", ".join(f"{r['lambda_times_eps'] / r['sqrt_trace_inv_sigma']:.3f} (d = {r['d']})"
                   for r in rel if r["eps"] == small)
    return [f"Relaxed problem: max relative error of the learned variances against the closed form, "
            f"over every entry, d in {c['dims']} and eps in {c['eps']}: {t2['max_relative_error']:.1e}; "
            f"max abs error of the learned mu against mu*: {t2['mu_max_abs_error']:.1e}. "
            f"`lambda * eps / sqrt(tr Sigma*^-1)` at eps = {small:g}: {le}; it tends to 1 only as "
            f"eps -> 0 (tests/test_theory.py checks it at eps = 1e-4).",
            "", *_table(["d", "n", "eps", "per-sample vs relaxed: max rel. gap", "mean rel. gap",
                         "max rel. gap vs population"],
                        [[r["d"], r["n"], r["eps"], f"{r['max_relative_gap']:.4f}", f"{r['mean_relative_gap']:.4f}",
                          f"{r['max_relative_gap_vs_population']:.4f}"] for r in t2["per_sample"]])]


def theorem3(g: Res) -> list[str]:
    t3 = g["theorem3"]
    gap = max(abs(r["worst_case_cosine"] - r["worst_case_cosine_numeric"]) for r in t3["rows"])
    rows = [[r["d"], r["eps"], f"{r['cosine_closed_form']:.4f}", f"{r['cosine_numerical_fit']:.4f}",
             f"{r['worst_case_cosine']:.4f}", f"{r['condition_number']:.2f}"] for r in t3["rows"]]
    return [*_table(["d", "eps", "cos(mu*, grad), closed form", "numerical fit", "worst case over mu",
                     "cond(Sigma)"], rows), "",
            f"Worst case: Lemma 8's formula and the numerical minimisation differ by at most {gap:.1e}. "
            f"Robust worst-case cosine above the standard one at every eps > 0: {t3['robust_worst_case_better']}."]


def figure14(g: Res) -> list[str]:
    f14 = g["figure14"]
    rows = [[k, f"{v['accuracy']:.3f}", f"{v['robust_accuracy']:.3f}", f"{v['median_margin']:.3f}",
             f"{v['angle_deg']:.1f}"] for k, v in f14["classifiers"].items()]
    n = g["config"]["fig14_n"]
    return [f"Test-set numbers at L2 eps = {f14['eps']:g} (trained on {n} points, tested on {n} fresh ones):", "",
            *_table(["classifier", "accuracy", "robust accuracy", "median margin", "angle of w from x1 (deg)"], rows)]


def problems(t: Res) -> list[str]:
    c = t["config"]
    rows = [[f"{k} {v['title']}", f"{v['bayes_accuracy']:.3f}", f"{v['median_distance_class1']:.3f}",
             f"{v['median_distance_class2']:.3f}", f"{v['fraction_within_0.5']:.3f}"] for k, v in t["problems"].items()]
    return [f"{c['n_per_class']:,} points per class, contour grid {c['contour_grid']} x {c['contour_grid']}:", "",
            *_table(["panel", "Bayes accuracy", "median distance class 1", "class 2", "fraction within 0.5"], rows)]


def observation1(t: Res) -> list[str]:
    o1 = t["observation1"]
    return [f"Panel f, {t['config']['obs1_n']:,} class-1 points, exact distances:", "",
            *_table(["sigma_1", *(f"{s:g}" for s in o1["sigma1"])],
                    [["median distance", *(f"{o1['median_distance'][str(s)]:.4f}" for s in o1["sigma1"])]]), "",
            f"Monotone decrease: {o1['monotone']}."]


def observation3(t: Res) -> list[str]:
    g, c = t["observation3"]["asymmetric_g"], t["observation3"]["symmetric_c"]

    def levels(v: float) -> str:
        return f"{v:g} level" + ("" if v == 1 else "s")

    return [f"In g, x2 takes one level with probability {g['max_marginal_level_probability']:.4f} under class 1; "
            f"a change of one quantisation level in one feature flips the Bayes decision for "
            f"{100 * g['fraction_one_level_from_flip']:.2f}% of class-1 points (median distance "
            f"{levels(g['median_levels'])}); in the symmetric table c, for "
            f"{100 * c['fraction_one_level_from_flip']:.2f}% (median {levels(c['median_levels'])})."]


BLOCKS: dict[str, tuple[str, Callable[[Res], list[str]]]] = {
    "gaussian-source": ("gaussian", lambda r: _source("gaussian", r)),
    "theorem1": ("gaussian", theorem1), "theorem2": ("gaussian", theorem2),
    "theorem3": ("gaussian", theorem3), "figure14": ("gaussian", figure14),
    "toy2d-source": ("toy2d", lambda r: _source("toy2d", r)),
    "problems": ("toy2d", problems), "observation1": ("toy2d", observation1),
    "observation3": ("toy2d", observation3),
}


def render(doc: str) -> str:
    """``doc`` with every generated block rewritten; unknown or missing blocks are errors."""
    results = {k: load(k) for k in ("gaussian", "toy2d")}
    found = [m["name"] for m in BLOCK.finditer(doc)]
    if sorted(found) != sorted(BLOCKS):
        raise SystemExit(f"{DOC}: blocks {sorted(found)}, expected {sorted(BLOCKS)}")

    def body(m: re.Match[str]) -> str:
        kind, make = BLOCKS[m["name"]]
        return m.group(1) + "\n".join(make(results[kind])) + "\n" + m.group(4)

    return BLOCK.sub(body, doc)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check that docs/theory.md is current")
    args = ap.parse_args()
    doc = DOC.read_text()
    text = render(doc)
    if args.check:
        sys.exit(0 if doc == text else 1)
    atomic_write_text(DOC, text)
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
