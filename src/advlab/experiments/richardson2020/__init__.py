"""``advlab reproduce richardson2020``: A Bayes-Optimal View on Adversarial Examples.

Fits one MFA per class of a real pair of classes, builds symmetric and asymmetric
synthetic datasets whose Bayes-optimal classifier is known, and compares the minimum-L2
adversarial perturbations of the Bayes-optimal classifier, the all-conv CNN, linear and
RBF SVMs and a TRADES CNN (Figures 4, 6, 7, 9, 10, 11, Table 1, Appendix D.4).

    >>> from advlab.experiments import richardson2020
    >>> results = richardson2020.run("runs/rw", dataset="mnist5k", scale="quick")
    >>> results["datasets"]["mnist5k:0-6"]["symmetric"]["cnn"]["mean_l2"]

See docs/richardson2020.md.
"""

from advlab.experiments.richardson2020.config import RichardsonConfig, make_config
from advlab.experiments.richardson2020.report import add_report_sections
from advlab.experiments.richardson2020.run import run

#: Measured wall time (s) of ``scale="quick"`` (mnist5k, pair 0-6, every stage) on an
#: idle 2-core CPU machine inside `make demo` from a fresh clone: 19 s (the same run took
#: 1252 s while the machine was shared by eight busy processes).
QUICK_BUDGET_S = 20.0

__all__ = ["run", "add_report_sections", "RichardsonConfig", "make_config", "QUICK_BUDGET_S"]
