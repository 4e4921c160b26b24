"""MFA densities, synthetic datasets with a known Bayes-optimal classifier, and LD-Grad.

Richardson & Weiss, Sections 3-4 and Appendices B-C. See docs/bayes.md.

    >>> from advlab.bayes import MFA, fit_class_mfas, make_synthetic, LDGrad
    >>> m0, m1 = fit_class_mfas(x, y, classes=(0, 6), n_components=5, n_factors=6)
    >>> pair = make_synthetic(m0, m1, variant="asymmetric", data=x)
    >>> clf = pair.classifier()                       # logits (N, 2), exact LLR
    >>> res = LDGrad()(clf, *pair.sample(100, 0))     # AttackResult: x_adv, success, norms
"""

from advlab.bayes._sklearn import NotFittedError
from advlab.bayes.classifier import BayesOptimalClassifier
from advlab.bayes.ldgrad import LDGrad
from advlab.bayes.lowrank import LowRankMixture
from advlab.bayes.mfa import MFA
from advlab.bayes.synthetic import (
    SyntheticPair,
    components_for,
    fit_class_mfas,
    make_synthetic,
    outlier_direction,
    symmetric_mfa,
    with_outlier,
)

__all__ = ["MFA", "LowRankMixture", "BayesOptimalClassifier", "LDGrad", "NotFittedError", "SyntheticPair",
           "components_for", "fit_class_mfas", "make_synthetic", "outlier_direction",
           "symmetric_mfa", "with_outlier"]
