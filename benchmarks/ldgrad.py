"""LD-Grad vs CW-L2 on the Bayes-optimal classifier of mnist5k 0-vs-6 synthetic pairs.

Run: .venv/bin/python benchmarks/ldgrad.py -> prints ratios, writes benchmarks/results/ldgrad.json
Setup: one MFA per class (K=5, l=6, reg_covar=1e-3, 400 train images per class; K=5 had
the best held-out log-likelihood among 1, 2, 3, 5, 8, 12), symmetric and asymmetric
variants, 500 samples per class for accuracy and LD-Grad, 100 points for CW-L2 (the
paper's settings: 500 steps, 3 binary-search steps, lr 0.01; box=None).
"""

from __future__ import annotations

import time
from pathlib import Path

from advlab.attacks import CWL2
from advlab.bayes import LDGrad, fit_class_mfas, make_synthetic
from advlab.data import load_dataset
from advlab.store import atomic_write_json


def main() -> None:
    x, y = load_dataset("mnist5k", "train")
    keep = (y == 0) | (y == 6)
    x, y = x[keep], y[keep]
    m0, m1 = fit_class_mfas(x, y, (0, 6), n_components=5, n_factors=6, random_state=0,
                            max_iter=100, reg_covar=1e-3)
    res: dict = {"setup": "mnist5k 0/6, K=5, l=6, reg_covar=1e-3, noise_std=0.001"}
    for variant in ("symmetric", "asymmetric"):
        pair = make_synthetic(m0, m1, variant=variant, data=x)
        clf = pair.classifier("exact")
        xs, ys = pair.sample(500, random_state=1)
        acc = float((clf(xs).argmax(1) == ys).float().mean())
        t = time.perf_counter()
        ld = LDGrad()(clf, xs, ys)
        t_ld_all = time.perf_counter() - t
        ok = ld.success & ~ld.clean_success
        xa, ya = xs[:100], ys[:100]
        t = time.perf_counter()
        ld100 = LDGrad()(clf, xa, ya)
        t_ld = time.perf_counter() - t
        t = time.perf_counter()
        cw = CWL2(box=None)(clf, xa, ya)
        t_cw = time.perf_counter() - t
        both = ld100.success & cw.success & ~ld100.clean_success
        r = {"bayes_accuracy": acc, "ldgrad_success": float(ld.success.float().mean()),
             "ldgrad_mean_l2": float(ld.norms[ok].mean()), "ldgrad_s_1000": t_ld_all,
             "cw_success_100": float(cw.success.float().mean()),
             "ldgrad_mean_l2_100": float(ld100.norms[both].mean()),
             "cw_mean_l2_100": float(cw.norms[both].mean()), "ldgrad_s_100": t_ld,
             "cw_s_100": t_cw, "speedup": t_cw / t_ld}
        r["l2_ratio_ld_over_cw"] = r["ldgrad_mean_l2_100"] / r["cw_mean_l2_100"]
        res[variant] = r
        print(f"{variant}: Bayes acc {acc:.3f}; LD-Grad success {r['ldgrad_success']:.3f} "
              f"mean L2 {r['ldgrad_mean_l2']:.3f} (1000 pts, {t_ld_all:.2f}s); on 100 pts "
              f"LD {r['ldgrad_mean_l2_100']:.3f} vs CW {r['cw_mean_l2_100']:.3f} "
              f"(ratio {r['l2_ratio_ld_over_cw']:.2f}), speed x{r['speedup']:.0f}")
    res["sym_over_asym_l2"] = res["symmetric"]["ldgrad_mean_l2"] / res["asymmetric"]["ldgrad_mean_l2"]
    print(f"symmetric / asymmetric mean L2: {res['sym_over_asym_l2']:.1f}")
    out = Path(__file__).parent / "results" / "ldgrad.json"
    atomic_write_json(out, res)
    print("wrote", out)


if __name__ == "__main__":
    main()
