"""The paper's reported numbers, placed beside ours in the report (never used to compute).

Sources in Richardson & Weiss (ICLR 2020 submission):

* mean L2 on the symmetric MNIST datasets: the numbers printed above the histograms of
  Figures 17 (0 vs 6) and 18 (4 vs 5) - the same data as the MNIST bars of Figure 6;
  the 2 vs 7 bars of Figure 6 carry no printed value.
* asymmetric vs symmetric Bayes-optimal mean L2 for 0 vs 6: Figure 7 (0.5 vs 3.0).
* clean (adversarial) accuracy: Table 1.
* real CelebA Male/Female: Figure 12 (Appendix D.4.2).
"""

from __future__ import annotations

MODELS = ("bayes_optimal", "cnn", "linear_svm", "rbf_svm", "trades_cnn")
MODEL_TITLES = {
    "bayes_optimal": "Bayes-optimal",
    "cnn": "CNN (all-conv)",
    "linear_svm": "linear SVM",
    "rbf_svm": "RBF SVM",
    "trades_cnn": "TRADES CNN",
}

#: pair -> variant -> model -> mean L2 (Figures 7, 17, 18).
MEAN_L2: dict[str, dict[str, dict[str, float]]] = {
    "0-6": {"symmetric": {"bayes_optimal": 2.98, "cnn": 1.84, "linear_svm": 1.09, "rbf_svm": 2.69},
            "asymmetric": {"bayes_optimal": 0.5}},
    "4-5": {"symmetric": {"bayes_optimal": 3.16, "cnn": 2.22, "linear_svm": 1.02, "rbf_svm": 2.83}},
}

#: pair -> model -> (clean accuracy, adversarial accuracy) on the symmetric data (Table 1).
TABLE1: dict[str, dict[str, tuple[float, float]]] = {
    pair: {"bayes_optimal": (1.0, 0.0), "cnn": (1.0, 0.0), "linear_svm": (1.0, 0.0),
           "rbf_svm": (1.0, rbf_adv)}
    for pair, rbf_adv in (("0-6", 0.04), ("2-7", 0.07), ("4-5", 0.08))
}

#: CelebA Male/Female, models trained and tested on real images (Figure 12):
#: model -> (clean accuracy, adversarial accuracy, mean L2).
REAL_CELEBA_MALE: dict[str, tuple[float, float, float]] = {
    "cnn": (0.963, 0.037, 0.59),
    "linear_svm": (0.900, 0.10, 0.15),
    "rbf_svm": (0.893, 0.16, 2.99),
}


def paper_mean_l2(pair: str, variant: str, model: str) -> float | None:
    """The paper's mean L2 for an MNIST pair (None where the paper prints none)."""
    return MEAN_L2.get(pair, {}).get(variant, {}).get(model)
