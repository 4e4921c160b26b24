"""The papers' claims that the recipes measure, each with a numeric criterion, declared once.

Every claim has an id, the claim in one sentence, its reference in the paper, a criterion
with its threshold, and one line on why that threshold. :func:`judge` applies the
criteria of a recipe to its results.json and returns the scorecard: one verdict per
claim, ``reproduces``, ``does not reproduce`` or ``not testable here`` (with the reason).

The criteria are the same for every dataset and scale, and were written before the runs
they judge; they are never tuned to a run's numbers. Where a difference of two accuracies
is judged, the margin is ``max(3 points, 2 standard errors)``, the standard error of a
difference of two independent binomial proportions on the ``n`` evaluated points: a
real effect at the run's sample size, not sampling noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from advlab.report import Report

REPRODUCES, FAILS, UNTESTABLE = "reproduces", "does not reproduce", "not testable here"
#: the smallest accuracy difference (fraction) that counts as an effect
MIN_GAP = 0.03


class NotTestable(Exception):
    """Raised by a check whose inputs this run did not measure (the message says why)."""


Outcome = tuple[dict[str, Any], bool]  # (the values the criterion used, whether it holds)


@dataclass(frozen=True)
class Finding:
    """One claim of a paper and how a run is judged against it."""

    id: str
    recipe: str
    claim: str
    reference: str
    criterion: str
    why: str
    check: Callable[[dict[str, Any]], Outcome]

    def judge(self, results: dict[str, Any]) -> dict[str, Any]:
        """``{id, claim, reference, criterion, values, verdict, reason}`` for one run."""
        out = {"id": self.id, "claim": self.claim, "reference": self.reference,
               "criterion": self.criterion, "why": self.why}
        try:
            values, ok = self.check(results)
        except NotTestable as e:
            return {**out, "values": {}, "verdict": UNTESTABLE, "reason": str(e)}
        except (KeyError, TypeError, IndexError) as e:
            return {**out, "values": {}, "verdict": UNTESTABLE,
                    "reason": f"this run did not measure it (missing {e})"}
        return {**out, "values": values, "verdict": REPRODUCES if ok else FAILS,
                "reason": "the criterion holds" if ok else "the criterion does not hold"}


# ------------------------------------------------------------------ statistics


def se_diff(a: float, b: float, n: int) -> float:
    """Standard error of the difference of two proportions measured on ``n`` points each."""
    return math.sqrt(max(a * (1 - a), 0.0) / n + max(b * (1 - b), 0.0) / n) if n > 0 else math.inf


def margin(a: float, b: float, n: int) -> float:
    """The smallest difference that counts: ``max(MIN_GAP, 2 * se_diff)``."""
    return max(MIN_GAP, 2 * se_diff(a, b, n))


def _r(x: float) -> float:
    return round(float(x), 4)


def _l2(v: Any, what: str) -> float:
    """A mean L2 from results.json; None (NaN: no attack succeeded) is not testable."""
    x = math.nan if v is None else float(v)
    if math.isnan(x):
        raise NotTestable(f"{what}: mean L2 undefined (no attack succeeded on that model)")
    return x


# ------------------------------------------------------------------ features paper


def _table7(res: dict[str, Any], row: str) -> tuple[dict[str, float], float]:
    """(robust accuracy per eps key, clean accuracy) of a Table 7 row."""
    r = res["table7"]["rows"][row]
    return {k: float(v) for k, v in r["robust"].items()}, float(r["clean"])


def more_robust(a: str, b: str) -> Callable[[dict[str, Any]], Outcome]:
    """Row ``a`` is more robust than row ``b``: the mean over the evaluated eps of
    robust(a) - robust(b) is at least ``max(3 points, 2 s.e.)``."""
    def check(res: dict[str, Any]) -> Outcome:
        ra, _ = _table7(res, a)
        rb, _ = _table7(res, b)
        n = int(res["table7"]["n"])
        diffs = [ra[k] - rb[k] for k in ra]
        need = sum(margin(ra[k], rb[k], n) for k in ra) / len(ra)
        gap = sum(diffs) / len(diffs)
        return ({f"robust {a}": {k: _r(v) for k, v in ra.items()},
                 f"robust {b}": {k: _r(v) for k, v in rb.items()},
                 "mean gap": _r(gap), "needed": _r(need), "n": n}, gap >= need)
    return check


def _largest(res: dict[str, Any]) -> str:
    return max(res["table7"]["rows"]["standard"]["robust"], key=float)


def standard_not_robust(res: dict[str, Any]) -> Outcome:
    rob, clean = _table7(res, "standard")
    e = _largest(res)
    return {"clean": _r(clean), f"robust at eps {e}": _r(rob[e])}, rob[e] <= 0.25 * clean


def adversarial_robust(res: dict[str, Any]) -> Outcome:
    values, ok = more_robust("adversarial", "standard")(res)
    rob, clean = _table7(res, "adversarial")
    e = _largest(res)
    values.update({"adversarial clean": _r(clean), f"adversarial robust at eps {e}": _r(rob[e])})
    return values, ok and rob[e] >= 0.5 * clean


def d_nr_nonrobust(res: dict[str, Any]) -> Outcome:
    rob, clean = _table7(res, "d_nr")
    _, clean_std = _table7(res, "standard")
    e = _largest(res)
    return ({"D_NR clean": _r(clean), "standard clean": _r(clean_std),
             f"D_NR robust at eps {e}": _r(rob[e])},
            clean >= 0.7 * clean_std and rob[e] <= 0.10)


def _chance(res: dict[str, Any]) -> tuple[float, int]:
    rel = res["relabel"]
    return 1.0 / int(rel["num_classes"]), int(rel["n_test"])


def above_chance(which: str) -> Callable[[dict[str, Any]], Outcome]:
    def check(res: dict[str, Any]) -> Outcome:
        p, n = _chance(res)
        acc = float(res["table1"][which])
        need = p + margin(acc, p, n)
        return {f"{which} test accuracy": _r(acc), "chance": _r(p), "needed": _r(need)}, acc >= need
    return check


def robust_source_fails(res: dict[str, Any]) -> Outcome:
    p, n = _chance(res)
    std, rob = res["table9"]["standard"], res["table9"]["robust"]
    rand_drop = float(std["D_rand"]) - float(rob["D_rand"])
    rand_need = margin(float(std["D_rand"]), float(rob["D_rand"]), n)
    det_max = p + 2 * math.sqrt(p * (1 - p) / n)
    ok = rand_drop >= rand_need and float(rob["D_det"]) <= det_max
    return ({"D_rand standard source": _r(std["D_rand"]), "D_rand robust source": _r(rob["D_rand"]),
             "needed drop": _r(rand_need), "D_det robust source": _r(rob["D_det"]),
             "D_det allowed at most": _r(det_max)}, ok)


def robust_source_permuted(res: dict[str, Any]) -> Outcome:
    p, n = _chance(res)
    t = res["table10"]["robust"]
    rel, orig = float(t["relabelled"]), float(t["D"])
    need = p + margin(rel, p, n)
    return ({"on t(y) = y+1": _r(rel), "on y": _r(orig), "needed": _r(need)},
            rel >= need and rel > orig)


def table8_order(res: dict[str, Any]) -> Outcome:
    t = res["table8"]
    a, b, c = (float(t[k]) for k in ("robust_train", "robust_test", "standard_test"))
    need = margin(a, c, min(int(t[f"{k}_n"]) for k in ("robust_train", "standard_test")))
    return ({"D_R train": _r(a), "D_R test": _r(b), "test set": _r(c), "needed train - test set": _r(need)},
            a >= b >= c and a - c >= need)


def figure8_plateau(res: dict[str, Any]) -> Outcome:
    f = res["figure8"]
    curve = [float(v) for v in f["accuracy"]["d_r"]]
    if len(curve) < 3:
        raise NotTestable("fewer than three step counts were evaluated")
    n = int(f["n"])
    drop = curve[-2] - curve[-1]
    need = margin(curve[-2], curve[-1], n)
    return ({"steps": f["steps"][-2:], "robust accuracy": [_r(curve[-2]), _r(curve[-1])],
             "drop": _r(drop), "allowed": _r(need)}, drop <= need)


def figure3_transfer(res: dict[str, Any]) -> Outcome:
    p, n = _chance(res)
    archs = res["transfer"]["archs"]
    accs = {k: float(a["test_acc_d_det"]) for k, a in archs.items()}
    learners = [k for k, a in accs.items() if a >= p + margin(a, p, n)]
    if len(learners) < 3:
        raise NotTestable(f"only {len(learners)} of {len(accs)} architectures learn from D_det above "
                          "chance; a correlation over models that learnt nothing means nothing")
    rate_key = "transfer_rate_correct" if "transfer_rate_correct" in next(iter(archs.values())) \
        else "transfer_rate"
    xs = [accs[k] for k in learners]
    ys = [float(archs[k][rate_key]) for k in learners]
    r = _pearson(xs, ys)
    return {"architectures": learners, "pearson": None if r is None else _r(r)}, r is not None and r >= 0.5


def _pearson(a: list[float], b: list[float]) -> float | None:
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    sa = math.sqrt(sum((x - ma) ** 2 for x in a))
    sb = math.sqrt(sum((y - mb) ** 2 for y in b))
    if sa == 0 or sb == 0:
        return None
    return sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True)) / (sa * sb)


def _f(id_: str, claim: str, ref: str, criterion: str, why: str,
       check: Callable[[dict[str, Any]], Outcome], recipe: str = "ilyas2019") -> Finding:
    return Finding(id_, recipe, claim, ref, criterion, why, check)


_MORE = "mean over the evaluated eps of robust({a}) - robust({b}) >= max(3 points, 2 s.e.)"
_MORE_WHY = ("averaging over the evaluated radii avoids picking one radius per dataset; 2 s.e. of "
             "a difference of proportions separates an effect from sampling noise")

ILYAS: tuple[Finding, ...] = (
    _f("ilyas.standard_not_robust", "Standard training gives an accurate but non-robust model.",
       "Table 7", "robust accuracy at the largest evaluated eps <= 1/4 of the clean accuracy",
       "non-robust means a small perturbation removes most of the accuracy", standard_not_robust),
    _f("ilyas.adversarial_robust", "Adversarial training gives a robust model.", "Table 7",
       _MORE.format(a="adversarial", b="standard") + ", and at the largest eps it keeps >= 1/2 of "
       "its clean accuracy", "robust means the accuracy survives the attack, not just beats "
       "a collapsed model", adversarial_robust),
    _f("ilyas.d_nr_nonrobust", "A model trained on D_NR keeps good clean accuracy but has "
       "robust accuracy near zero.", "Table 7, Section 3.1",
       "clean(D_NR) >= 0.7 x clean(standard) and robust(D_NR) <= 10% at the largest eps",
       "the paper: 87.7% clean (standard 95.3%) and 0% robust", d_nr_nonrobust),
    _f("ilyas.d_r_vs_d_nr", "Training on D_R gives a more robust model than training on D_NR.",
       "Table 7, Section 3.1", _MORE.format(a="D_R", b="D_NR"), _MORE_WHY, more_robust("d_r", "d_nr")),
    _f("ilyas.d_r_vs_standard", "Standard training on D_R gives a model more robust than standard "
       "training on D.", "Table 7, Figure 2b", _MORE.format(a="D_R", b="standard"), _MORE_WHY,
       more_robust("d_r", "standard")),
    _f("ilyas.d_r_vs_same_images", "D_R beats the same number of unmodified images trained the "
       "same way (our control: small training sets alone make models more robust).",
       "Table 7 (control not in the paper)", _MORE.format(a="D_R", b="same images"), _MORE_WHY,
       more_robust("d_r", "original")),
    _f("ilyas.d_r_noise_vs_d_nr_noise", "From noise, D_R still gives a more robust model than D_NR.",
       "Table 7, Figure 7", _MORE.format(a="D_R noise", b="D_NR noise"), _MORE_WHY,
       more_robust("d_r_noise", "d_nr_noise")),
    _f("ilyas.d_r_noise_vs_standard", "From noise, D_R gives a model more robust than standard "
       "training on D.", "Table 7", _MORE.format(a="D_R noise", b="standard"), _MORE_WHY,
       more_robust("d_r_noise", "standard")),
    _f("ilyas.d_r_noise_vs_same_images", "From noise, D_R beats the same number of unmodified "
       "images trained the same way (our control).", "Table 7 (control not in the paper)",
       _MORE.format(a="D_R noise", b="same images"), _MORE_WHY,
       more_robust("d_r_noise", "original_noise")),
    _f("ilyas.d_rand_generalises", "A model trained on D_rand (only non-robust features agree with "
       "the labels) is accurate on the original test set.", "Table 1, Section 3.2",
       "test accuracy >= chance + max(3 points, 2 s.e.)", "above chance by more than sampling "
       "noise: the paper reports 63.3% on CIFAR-10 (chance 10%)", above_chance("D_rand")),
    _f("ilyas.d_det_generalises", "A model trained on D_det (robust features point to the wrong "
       "class) is still accurate on the original test set.", "Table 1, Section 3.2",
       "test accuracy >= chance + max(3 points, 2 s.e.)", "the paper reports 43.7% (chance 10%)",
       above_chance("D_det")),
    _f("ilyas.robust_source_fails", "Built from a robust model, D_rand and D_det no longer teach "
       "the original labels.", "Table 9", "D_rand(robust source) <= D_rand(standard source) - "
       "max(3 points, 2 s.e.), and D_det(robust source) <= chance + 2 s.e.",
       "the paper: 25.2% vs 63.3%, and 5.8% (chance 10%)", robust_source_fails),
    _f("ilyas.robust_source_d_det_permuted", "The D_det model of a robust source predicts the "
       "permuted labels t(y) = y+1.", "Table 10", "accuracy on t(y) >= chance + max(3 points, "
       "2 s.e.) and above its accuracy on y", "the paper: 65.5% on t(y) vs 5.8% on y",
       robust_source_permuted),
    _f("ilyas.table8_order", "The D_R model is most robust on D_R's training images, then on a "
       "D_R test set, then on the original test set.", "Table 8",
       "robust(D_R train) >= robust(D_R test) >= robust(test set), with D_R train and the test set apart by >= "
       "max(3 points, 2 s.e.)", "the claim is the ordering (paper: 77.3% > 62.5% > 48.3%); a "
       "tie of three zeros is no ordering", table8_order),
    _f("ilyas.figure8_plateau", "The D_R model's robust accuracy plateaus as PGD gets more steps.",
       "Figure 8", "between the two largest step counts, robust accuracy drops by at most "
       "max(3 points, 2 s.e.)", "a plateau means more steps stop finding adversarial examples",
       figure8_plateau),
    _f("ilyas.figure3_transfer", "Architectures that learn better from D_det are fooled more "
       "often by transferred adversarial examples.", "Figure 3, Section 3.3",
       "Pearson correlation >= 0.5 between D_det test accuracy and transfer rate over the "
       "architectures that learn D_det above chance (>= 3 needed)", "the paper shows a strong "
       "positive relation; models at chance carry no signal", figure3_transfer),
)


# ------------------------------------------------------------------ theory (both papers)


def theorem1(res: dict[str, Any]) -> Outcome:
    t = res["theorem1"]
    z = float(t["mahalanobis"]["z_score"])
    iso = bool(t["isotropic"]["isotropic_is_minimum"])
    return {"z (closed form vs Monte Carlo)": _r(z), "isotropic is the minimum": iso}, abs(z) <= 3 and iso


def theorem2(res: dict[str, Any]) -> Outcome:
    err = float(res["theorem2"]["max_relative_error"])
    return {"max relative error": err}, err <= 1e-3


def theorem3(res: dict[str, Any]) -> Outcome:
    ok = bool(res["theorem3"]["robust_worst_case_better"])
    return {"robust worst-case cosine larger at every eps": ok}, ok


def figure14(res: dict[str, Any]) -> Outcome:
    c = res["figure14"]["classifiers"]
    erm, rob = c["ERM, squared loss (LDA)"], c[next(k for k in c if k.startswith("robust"))]
    ok = (erm["accuracy"] >= 0.9 and erm["robust_accuracy"] <= 0.1
          and rob["accuracy"] >= 0.9 and rob["robust_accuracy"] >= 0.9)
    return {"ERM accuracy / robust": [_r(erm["accuracy"]), _r(erm["robust_accuracy"])],
            "robust training accuracy / robust": [_r(rob["accuracy"]), _r(rob["robust_accuracy"])]}, ok


def observation1(res: dict[str, Any]) -> Outcome:
    o = res["observation1"]
    med = [float(o["median_distance"][str(s)]) for s in o["sigma1"]]
    ok = bool(o["monotone"]) and med[-1] <= 0.05 * med[0]
    return {"sigma_1": o["sigma1"], "median distance": [_r(m) for m in med]}, ok


def observation2(res: dict[str, Any]) -> Outcome:
    p = res["problems"]
    sym, asym = float(p["d"]["median_distance_class1"]), float(p["h"]["median_distance_class1"])
    return {"median distance, symmetric mixtures (d)": _r(sym),
            "median distance, with a rare broad component (h)": _r(asym)}, asym <= 0.25 * sym


def observation3(res: dict[str, Any]) -> Outcome:
    o = res["observation3"]
    a, s = float(o["asymmetric_g"]["fraction_one_level_from_flip"]), \
        float(o["symmetric_c"]["fraction_one_level_from_flip"])
    return {"asymmetric table (g)": _r(a), "symmetric table (c)": _r(s)}, a >= 0.9 and s <= 0.1


def observation4(res: dict[str, Any]) -> Outcome:
    raise NotTestable("Figure 2 has no mixture of discrete tables; Observation 4 applies "
                      "Observation 3 to one component, whose single-table case is judged above")


def _t(id_: str, kind: str, claim: str, ref: str, criterion: str, why: str,
       check: Callable[[dict[str, Any]], Outcome]) -> Finding:
    return Finding(id_, f"theory-{kind}", claim, ref, criterion, why, check)


THEORY: tuple[Finding, ...] = (
    _t("ilyas.theorem1", "gaussian", "The Lagrangian adversary's loss gap has the closed form of "
       "Theorem 1, smallest for an isotropic covariance.", "Theorem 1 (App. E)",
       "|z| <= 3 between the closed form and Monte Carlo, and the isotropic covariance gives "
       "the smallest gap of random ones with the same trace", "3 s.e. of the Monte Carlo "
       "estimate", theorem1),
    _t("ilyas.theorem2", "gaussian", "The robust MLE's covariance has Theorem 2's closed form.",
       "Theorem 2 (App. E)", "max relative error <= 1e-3 against the numerical robust MLE",
       "both are exact up to optimiser tolerance", theorem2),
    _t("ilyas.theorem3", "gaussian", "Robust training aligns the classifier's gradient with the "
       "mean better in the worst case.", "Theorem 3 (App. E)",
       "worst-case cosine of the robust model larger at every eps", "the theorem's inequality",
       theorem3),
    _t("ilyas.figure14", "gaussian", "ERM can be accurate but not robust, while robust training "
       "is both.", "Figure 14 (App. E)", "ERM: accuracy >= 90% and robust <= 10%; robust "
       "training: both >= 90%", "the figure's contrast, with room for sampling", figure14),
    _t("rw.observation1", "toy2d", "When one class has a direction of tiny variance, almost every "
       "point of that class is close to the Bayes-optimal boundary.", "Observation 1, Figure 2",
       "median distance decreases monotonically as sigma_1 shrinks, to <= 1/20 of its value at "
       "sigma_1 = 1", "'arbitrarily close' as sigma_1 -> 0", observation1),
    _t("rw.observation2", "toy2d", "The same holds for well-separated Gaussian mixtures when one "
       "component is asymmetric to another.", "Observation 2, Figure 2d/h",
       "median distance with a rare broad component (h) <= 1/4 of the symmetric mixtures' (d)",
       "a large effect, not a subtle one", observation2),
    _t("rw.observation3", "toy2d", "With a near-deterministic discrete feature, almost every point "
       "of that class is one quantisation level from a flip.", "Observation 3, Figure 2c/g",
       ">= 90% of class-1 points one level from a flip in the asymmetric table, <= 10% in the "
       "symmetric one", "'almost any point', contrasted with the symmetric case", observation3),
    _t("rw.observation4", "toy2d", "The same holds for well-separated mixtures of discrete "
       "feature tables.", "Observation 4", "(no data)", "(no data)", observation4),
)


# ------------------------------------------------------------------ Bayes-optimal paper


def _per_pair(res: dict[str, Any], fn: Callable[[dict[str, Any]], tuple[dict[str, Any], bool]]
              ) -> Outcome:
    values, oks = {}, []
    for key, d in res["datasets"].items():
        v, ok = fn(d)
        values[key] = v
        oks.append(ok)
    return values, bool(oks) and all(oks)


def bo_symmetric_vs_asymmetric(res: dict[str, Any]) -> Outcome:
    def one(d: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        s = _l2(d["symmetric"]["bayes_optimal"]["mean_l2"], "symmetric Bayes-optimal")
        a = _l2(d["asymmetric"]["bayes_optimal"]["mean_l2"], "asymmetric Bayes-optimal")
        return {"symmetric": _r(s), "asymmetric": _r(a)}, s >= 3 * a
    return _per_pair(res, one)


def model_vs_bo(model: str, below: bool) -> Callable[[dict[str, Any]], Outcome]:
    def check(res: dict[str, Any]) -> Outcome:
        def one(d: dict[str, Any]) -> tuple[dict[str, Any], bool]:
            bo = _l2(d["symmetric"]["bayes_optimal"]["mean_l2"], "Bayes-optimal")
            m = _l2(d["symmetric"][model]["mean_l2"], model)
            return {"Bayes-optimal": _r(bo), model: _r(m)}, (m <= 0.75 * bo) if below else (m >= 0.75 * bo)
        return _per_pair(res, one)
    return check


def trades_slight(res: dict[str, Any]) -> Outcome:
    def one(d: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        s = d["symmetric"]
        bo, cnn, tr = (_l2(s[m]["mean_l2"], m) for m in ("bayes_optimal", "cnn", "trades_cnn"))
        return {"Bayes-optimal": _r(bo), "cnn": _r(cnn), "trades_cnn": _r(tr)}, cnn < tr <= 0.75 * bo
    return _per_pair(res, one)


def sweep_gap(which: str) -> Callable[[dict[str, Any]], Outcome]:
    def check(res: dict[str, Any]) -> Outcome:
        if not res["sweeps"]:
            raise NotTestable("the sweeps did not run")
        key, sw = next(iter(res["sweeps"].items()))
        s = sw[which]
        cnn, bo = _l2(s["cnn"][-1], "cnn"), _l2(s["bayes_optimal"], "Bayes-optimal")
        return {"dataset": key, which: s["x"][-1], "cnn": _r(cnn), "Bayes-optimal": _r(bo)}, cnn <= 0.75 * bo
    return check


def noise_sweep(res: dict[str, Any]) -> Outcome:
    if not res["sweeps"]:
        raise NotTestable("the sweeps did not run")
    key, sw = next(iter(res["sweeps"].items()))
    s = sw["noise"]
    bo = [_l2(v, "Bayes-optimal") for v in s["bayes_optimal"]]
    cnn = [_l2(v, "cnn") for v in s["cnn"]]
    stable = abs(bo[-1] - bo[0]) <= 0.2 * bo[0]
    gap = all(c <= 0.75 * b for c, b in zip(cnn, bo, strict=True))
    return ({"dataset": key, "noise std": s["x"], "Bayes-optimal": [_r(v) for v in bo],
             "cnn": [_r(v) for v in cnn]}, stable and gap)


def _b(id_: str, claim: str, ref: str, criterion: str, why: str,
       check: Callable[[dict[str, Any]], Outcome]) -> Finding:
    return Finding(id_, "richardson2020", claim, ref, criterion, why, check)


_GAP_WHY = "the paper's gaps are large (e.g. CNN 1.84 vs Bayes-optimal 2.98 on MNIST 0-6)"
RICHARDSON: tuple[Finding, ...] = (
    _b("rw.bayes_optimal_symmetric_vs_asymmetric", "The Bayes-optimal classifier is robust on "
       "symmetric data and brittle on asymmetric data.", "Figure 7, Section 4",
       "mean L2 (symmetric) >= 3 x mean L2 (asymmetric), for every pair", "the paper reports "
       "about 6x; 3x rules out noise while allowing a pair-dependent gap",
       bo_symmetric_vs_asymmetric),
    _b("rw.cnn_below_bayes_optimal", "On symmetric data the CNN is far less robust than the "
       "Bayes-optimal classifier.", "Figure 6, Table 1", "mean L2 (CNN) <= 0.75 x mean L2 "
       "(Bayes-optimal), for every pair", _GAP_WHY, model_vs_bo("cnn", below=True)),
    _b("rw.linear_svm_below_bayes_optimal", "On symmetric data the linear SVM is far less robust "
       "than the Bayes-optimal classifier.", "Figure 6, Table 1", "mean L2 (linear SVM) <= 0.75 x "
       "mean L2 (Bayes-optimal), for every pair", "the paper: 1.09 vs 2.98 on MNIST 0-6",
       model_vs_bo("linear_svm", below=True)),
    _b("rw.rbf_svm_close_to_bayes_optimal", "The RBF SVM comes close to the Bayes-optimal "
       "classifier's robustness.", "Figure 6, Table 1", "mean L2 (RBF SVM) >= 0.75 x mean L2 "
       "(Bayes-optimal), for every pair", "the paper: 2.69 vs 2.98 on MNIST 0-6",
       model_vs_bo("rbf_svm", below=False)),
    _b("rw.width_does_not_close_gap", "Wider CNNs do not close the gap.", "Figure 9 (right)",
       "mean L2 of the widest CNN <= 0.75 x Bayes-optimal", _GAP_WHY, sweep_gap("width")),
    _b("rw.samples_do_not_close_gap", "More training samples do not close the gap.",
       "Figure 9 (left)", "mean L2 of the CNN trained on the most samples <= 0.75 x "
       "Bayes-optimal", _GAP_WHY, sweep_gap("samples")),
    _b("rw.noise_sweep", "A 50x larger noise std leaves the Bayes-optimal classifier's robustness "
       "unchanged and the CNN still far below it.", "Figure 10, App. D.2",
       "Bayes-optimal mean L2 changes by <= 20% across the sweep; CNN <= 0.75 x Bayes-optimal "
       "at every std", "'no effect' within the attack's spread; the gap persists", noise_sweep),
    _b("rw.trades_helps_slightly", "Adversarial (TRADES) training helps only slightly.",
       "Figure 11, App. D.3", "CNN < TRADES CNN <= 0.75 x Bayes-optimal (mean L2), for every pair",
       "'slightly more robust, still far from the Bayes-optimal model'", trades_slight),
)

ALL: tuple[Finding, ...] = ILYAS + THEORY + RICHARDSON


def judge(recipe: str, results: dict[str, Any]) -> list[dict[str, Any]]:
    """The scorecard of one run of ``recipe`` (``ilyas2019``, ``richardson2020``,
    ``theory-gaussian``, ``theory-toy2d``)."""
    return [f.judge(results) for f in ALL if f.recipe == recipe]


def summary(findings: list[dict[str, Any]]) -> str:
    """``"N of M findings reproduce (K do not, L not testable here)"``."""
    count = {v: sum(f["verdict"] == v for f in findings) for v in (REPRODUCES, FAILS, UNTESTABLE)}
    return (f"{count[REPRODUCES]} of {len(findings)} findings reproduce ({count[FAILS]} do not, "
            f"{count[UNTESTABLE]} not testable here)")


def add_scorecard(report: Report, findings: list[dict[str, Any]], title: str = "Scorecard") -> None:
    """The report's opening section: one line of counts, then every finding and its verdict."""
    sec = report.section(f"{title}: {summary(findings)}")
    sec.text("Each claim of the paper that this run measures, judged by a criterion declared in "
             "advlab (`advlab/experiments/findings.py`) before the run, the same for every dataset "
             "and scale. See docs/findings.md.")
    sec.table(["finding", "reference", "verdict", "criterion", "values / reason"],
              [[f["claim"], f["reference"], f"**{f['verdict']}**", f["criterion"],
                _values_text(f)] for f in findings])


def _values_text(f: dict[str, Any]) -> str:
    if f["verdict"] == UNTESTABLE:
        return f["reason"]
    return "; ".join(f"{k}: {v}" for k, v in f["values"].items())


__all__ = ["ALL", "FAILS", "ILYAS", "REPRODUCES", "RICHARDSON", "THEORY", "UNTESTABLE", "Finding",
           "NotTestable", "add_scorecard", "judge", "margin", "se_diff", "summary"]
