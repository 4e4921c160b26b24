"""LD-Grad vs CW-L2 and FMN on the Bayes-optimal classifier of mnist5k 0-vs-6 synthetic pairs.

Run: OMP_NUM_THREADS=1 .venv/bin/python -W ignore benchmarks/ldgrad.py
     -> prints ratios, writes benchmarks/results/ldgrad.json
Setup: one MFA per class (K=5, l=6, reg_covar=1e-3, 400 train images per class; K=5 had
the best held-out log-likelihood among 1, 2, 3, 5, 8, 12), symmetric and asymmetric
variants, 500 samples per class for accuracy and LD-Grad; on the first 100 correctly
classified of them: LD-Grad, CW-L2 at the paper's settings (500 steps, 3 binary-search
steps, lr 0.01, initial c 1e-2), CW-L2 with a search that reaches the logit scale (initial
c 1e-7, 12 search steps) and FMN (100 steps); box=None. Mean L2 over the points every
attack fooled; speed = CW (paper settings) time / LD-Grad time on the same 100 points.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from advlab.attacks import CWL2, FMN, AttackResult
from advlab.bayes import LDGrad, fit_class_mfas, make_synthetic
from advlab.data import load_dataset
from advlab.store import atomic_write_json

ATTACKS: dict[str, Any] = {
    "ldgrad": lambda: LDGrad(),
    "cw_paper": lambda: CWL2(box=None),
    "cw_search": lambda: CWL2(box=None, initial_const=1e-7, search_steps=12),
    "fmn": lambda: FMN(box=None),
}


def timed(name: str, clf: torch.nn.Module, x: torch.Tensor, y: torch.Tensor
          ) -> tuple[AttackResult, float]:
    t = time.perf_counter()
    res = ATTACKS[name]()(clf, x, y)
    return res, time.perf_counter() - t


def variant_numbers(pair: Any) -> dict[str, Any]:
    clf = pair.classifier("exact")
    xs, ys = pair.sample(500, random_state=1)
    correct = clf(xs).argmax(1) == ys
    ld, t_all = timed("ldgrad", clf, xs, ys)
    r: dict[str, Any] = {
        "bayes_accuracy": float(correct.float().mean()),
        "ldgrad_success_on_correct": float(ld.success[correct].float().mean()),
        "ldgrad_mean_l2": float(ld.norms[correct].mean()), "ldgrad_s_1000": t_all}
    idx = correct.nonzero().squeeze(1)[:100]
    runs = {name: timed(name, clf, xs[idx], ys[idx]) for name in ATTACKS}
    both = torch.stack([res.success for res, _ in runs.values()]).all(0)
    r["n_common_100"] = int(both.sum())
    for name, (res, sec) in runs.items():
        r[name] = {"success": float(res.success.float().mean()),
                   "mean_l2": float(res.norms[both].mean()), "s": sec}
    for name in ("cw_paper", "cw_search", "fmn"):
        r[f"l2_ldgrad_over_{name}"] = r["ldgrad"]["mean_l2"] / r[name]["mean_l2"]
        r[f"speed_vs_{name}"] = r[name]["s"] / r["ldgrad"]["s"]
    return r


def main() -> None:
    torch.manual_seed(0)
    x, y = load_dataset("mnist5k", "train")
    keep = (y == 0) | (y == 6)
    x, y = x[keep], y[keep]
    m0, m1 = fit_class_mfas(x, y, (0, 6), n_components=5, n_factors=6, random_state=0,
                            max_iter=100, reg_covar=1e-3)
    res: dict[str, Any] = {"setup": "mnist5k 0/6, K=5, l=6, reg_covar=1e-3, noise_std=0.001",
                           "torch_threads": torch.get_num_threads()}
    for variant in ("symmetric", "asymmetric"):
        r = res[variant] = variant_numbers(make_synthetic(m0, m1, variant=variant, data=x))
        print(f"{variant}: Bayes acc {r['bayes_accuracy']:.3f}; LD-Grad success on correct "
              f"{r['ldgrad_success_on_correct']:.3f}, mean L2 {r['ldgrad_mean_l2']:.3f} "
              f"(1000 pts, {r['ldgrad_s_1000']:.2f}s)")
        for name in ATTACKS:
            print(f"  {name:10s} success {r[name]['success']:.2f} mean L2 {r[name]['mean_l2']:.4f} "
                  f"({r['n_common_100']} common pts) {r[name]['s']:.2f}s")
        print(f"  LD/CW-paper L2 {r['l2_ldgrad_over_cw_paper']:.3f}, LD/CW-search "
              f"{r['l2_ldgrad_over_cw_search']:.3f}, LD/FMN {r['l2_ldgrad_over_fmn']:.3f}; "
              f"speed vs CW-paper x{r['speed_vs_cw_paper']:.0f}, vs CW-search "
              f"x{r['speed_vs_cw_search']:.0f}, vs FMN x{r['speed_vs_fmn']:.1f}")
    res["sym_over_asym_l2"] = res["symmetric"]["ldgrad_mean_l2"] / res["asymmetric"]["ldgrad_mean_l2"]
    print(f"symmetric / asymmetric LD-Grad mean L2: {res['sym_over_asym_l2']:.1f}")
    out = Path(__file__).parent / "results" / "ldgrad.json"
    atomic_write_json(out, res)
    print("wrote", out)


if __name__ == "__main__":
    main()
