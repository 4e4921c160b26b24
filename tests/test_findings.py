"""The findings scorecard: criteria on hand-made results, verdicts and the summary line."""

from __future__ import annotations

import math

import pytest

from advlab.experiments import findings as F


def _ilyas(dr: float, std: float, n: int = 1000) -> dict:
    row = lambda r, c=0.9: {"clean": c, "robust": {"0.5": r, "1": r / 2}}  # noqa: E731
    rows = {"standard": row(std, 0.95), "adversarial": row(0.7, 0.85), "d_r": row(dr, 0.85),
            "d_nr": row(0.02, 0.85), "original": row(std), "d_r_noise": row(dr, 0.8),
            "d_nr_noise": row(0.02, 0.5), "original_noise": row(std)}
    return {"table7": {"n": n, "rows": rows}}


def test_margin_is_two_standard_errors_or_three_points() -> None:
    assert F.margin(0.5, 0.5, 100) == pytest.approx(2 * math.sqrt(0.5 * 0.5 / 100 * 2))
    assert F.margin(0.01, 0.01, 10**6) == F.MIN_GAP
    assert F.se_diff(0.3, 0.3, 0) == math.inf


@pytest.mark.parametrize("dr, std, verdict", [(0.40, 0.05, F.REPRODUCES), (0.06, 0.05, F.FAILS)])
def test_d_r_vs_standard(dr: float, std: float, verdict: str) -> None:
    out = {f["id"]: f for f in F.judge("ilyas2019", _ilyas(dr, std))}
    f = out["ilyas.d_r_vs_standard"]
    assert f["verdict"] == verdict and f["values"]["n"] == 1000
    assert f["values"]["mean gap"] == pytest.approx((dr - std) * 0.75)


def test_the_same_gap_needs_more_at_a_smaller_sample() -> None:
    big = {f["id"]: f for f in F.judge("ilyas2019", _ilyas(0.15, 0.05, n=5000))}
    small = {f["id"]: f for f in F.judge("ilyas2019", _ilyas(0.15, 0.05, n=50))}
    assert big["ilyas.d_r_vs_standard"]["verdict"] == F.REPRODUCES
    assert small["ilyas.d_r_vs_standard"]["verdict"] == F.FAILS


def test_missing_measurements_are_not_testable_with_a_reason() -> None:
    out = {f["id"]: f for f in F.judge("ilyas2019", _ilyas(0.4, 0.05))}
    f = out["ilyas.d_det_generalises"]
    assert f["verdict"] == F.UNTESTABLE and "relabel" in f["reason"]


def test_transfer_is_not_testable_when_no_model_learns_d_det() -> None:
    res = {"relabel": {"num_classes": 10, "n_test": 10000},
           "transfer": {"archs": {k: {"test_acc_d_det": 0.05, "transfer_rate": 0.5}
                                  for k in ("cnn", "mlp", "linear")}}}
    f = {f["id"]: f for f in F.judge("ilyas2019", res)}["ilyas.figure3_transfer"]
    assert f["verdict"] == F.UNTESTABLE and "0 of 3" in f["reason"]


def test_every_finding_is_declared_once_with_all_its_parts() -> None:
    ids = [f.id for f in F.ALL]
    assert len(ids) == len(set(ids)) >= 30
    for f in F.ALL:
        assert f.claim and f.reference and f.criterion and f.why
    assert {f.recipe for f in F.ALL} == {"ilyas2019", "richardson2020", "theory-gaussian",
                                         "theory-toy2d"}


def test_bayes_optimal_gap_per_pair() -> None:
    d = {"symmetric": {"bayes_optimal": {"mean_l2": 3.0}, "cnn": {"mean_l2": 1.5},
                       "linear_svm": {"mean_l2": 1.0}, "rbf_svm": {"mean_l2": 2.9},
                       "trades_cnn": {"mean_l2": 1.8}},
         "asymmetric": {"bayes_optimal": {"mean_l2": 0.5}}}
    res = {"datasets": {"mnist:0-6": d}, "sweeps": {}}
    out = {f["id"]: f["verdict"] for f in F.judge("richardson2020", res)}
    assert out["rw.bayes_optimal_symmetric_vs_asymmetric"] == F.REPRODUCES
    assert out["rw.cnn_below_bayes_optimal"] == F.REPRODUCES
    assert out["rw.rbf_svm_close_to_bayes_optimal"] == F.REPRODUCES
    assert out["rw.trades_helps_slightly"] == F.REPRODUCES
    assert out["rw.width_does_not_close_gap"] == F.UNTESTABLE


def test_summary_line_counts_each_verdict() -> None:
    fs = [{"verdict": F.REPRODUCES}, {"verdict": F.FAILS}, {"verdict": F.UNTESTABLE}]
    assert F.summary(fs) == "1 of 3 findings reproduce (1 do not, 1 not testable here)"


def test_docs_findings_page_is_generated_from_the_declarations() -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "findings_doc.py"
    spec = importlib.util.spec_from_file_location("findings_doc", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.DOC.read_text() == mod.render(), "run: python scripts/findings_doc.py"
