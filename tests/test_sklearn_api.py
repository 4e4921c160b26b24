"""MFA and BayesOptimalClassifier as scikit-learn estimators: scikit-learn's own estimator
checks, clone / get_params / set_params, and use inside scikit-learn's model selection."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import check_is_fitted

from advlab.bayes import MFA, BayesOptimalClassifier
from advlab.errors import AdvlabError

# Checks not run, each with its reason. Every other check scikit-learn yields for these
# estimators runs and must pass (check_array_api_input skips itself unless SCIPY_ARRAY_API
# is set; the estimators compute in torch, not through the array API).
PICKLE = ("advlab never unpickles anything (project rule); estimators persist with "
          "MFA.save / MFA.load (safetensors + JSON). The check passes when run by hand.")
SKIPPED = {
    ("MFA", "check_estimators_pickle"): PICKLE,
    ("BayesOptimalClassifier", "check_estimators_pickle"): PICKLE,
    ("BayesOptimalClassifier", "check_no_attributes_set_in_init"):
        "BayesOptimalClassifier is also a torch nn.Module, whose __init__ sets the public "
        "`training` flag (train / eval mode); it sets nothing else.",
}

ESTIMATORS = [MFA(n_components=2, n_factors=1, random_state=0),
              BayesOptimalClassifier(MFA(n_components=1, n_factors=1, random_state=0))]


def _name(check: Callable[..., Any]) -> str:
    return check.func.__name__ if isinstance(check, functools.partial) else check.__name__


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_estimator_checks(estimator: Any, check: Callable[..., Any]) -> None:
    key = (type(estimator).__name__, _name(check))
    if key in SKIPPED:
        pytest.skip(SKIPPED[key])
    torch.set_num_threads(1)
    check(estimator)


def _blobs(n: int = 200, d: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(seed)
    y = rng.randint(0, 2, n)
    x = rng.randn(n, d) + 2.5 * y[:, None] * np.eye(d)[0]
    return x, y


def test_clone_get_params_set_params() -> None:
    m = MFA(n_components=3, n_factors=2, random_state=5)
    c = clone(m)
    assert c is not m and c.get_params() == m.get_params()
    assert clone(MFA()).get_params() == MFA().get_params()
    clf = BayesOptimalClassifier(MFA(2, 1), mode="max_component")
    params = clf.get_params(deep=True)
    assert params["mfa0__n_components"] == 2 and params["mode"] == "max_component"
    clf.set_params(mfa0__n_components=4, mode="exact")
    assert clf.mfa0.n_components == 4 and clf.mode == "exact"
    with pytest.raises(ValueError, match="Invalid parameter"):
        clf.set_params(n_components=3)


def test_fitted_attributes_and_clone_is_unfitted() -> None:
    x, y = _blobs()
    m = MFA(2, 1, random_state=0).fit(x)
    check_is_fitted(m)
    for attr in ("weights_", "means_", "factors_", "noise_", "n_features_in_", "n_iter_"):
        assert hasattr(m, attr)
    with pytest.raises(NotFittedError):
        clone(m).predict(x)
    clf = BayesOptimalClassifier(MFA(1, 1, random_state=0)).fit(x, y)
    check_is_fitted(clf)
    assert list(clf.classes_) == [0, 1] and clf.n_features_in_ == x.shape[1]
    fresh = clone(clf)
    with pytest.raises(NotFittedError, match="not fitted") as err:
        fresh.predict(x)
    assert isinstance(err.value, AdvlabError)


def test_random_state_makes_fits_reproducible() -> None:
    x, _ = _blobs(300, 4)
    a = MFA(3, 1, max_iter=5, random_state=7).fit(x)
    b = MFA(3, 1, max_iter=5, random_state=7).fit(x)
    assert np.array_equal(a.means_.numpy(), b.means_.numpy())
    c = MFA(3, 1, max_iter=5, random_state=np.random.RandomState(7)).fit(x)  # accepted too
    assert c.means_.shape == a.means_.shape


def test_classifier_probabilities_and_decision_match_the_module() -> None:
    """predict_proba = softmax(logits), decision_function = exact LLR, both input types."""
    x, y = _blobs()
    clf = BayesOptimalClassifier(MFA(1, 2, random_state=0)).fit(x, y)
    xt = torch.tensor(x)
    logits = clf(xt)
    proba = clf.predict_proba(x)
    assert isinstance(proba, np.ndarray) and np.allclose(proba.sum(1), 1.0)
    assert np.allclose(proba, torch.softmax(logits, 1).numpy(), atol=1e-12)
    llr = clf.decision_function(xt)
    assert isinstance(llr, torch.Tensor)
    assert torch.allclose(llr, logits[:, 1] - logits[:, 0], atol=1e-9)
    dense = [math.nan, math.nan]
    for c in (0, 1):  # the exact class log-likelihood of a 1-component MFA is one Gaussian
        m = clf.mfas_[c]
        cov = m.factors_[0] @ m.factors_[0].T + torch.diag(m.noise_[0])
        dense[c] = torch.distributions.MultivariateNormal(m.means_[0], cov).log_prob(xt)
    assert torch.allclose(llr, dense[1] - dense[0], rtol=1e-8, atol=1e-8)
    assert np.array_equal(clf.predict(x), clf.predict(xt).numpy())
    assert clf.score(x, y) > 0.85


def test_ready_made_classifier_matches_fitted_one() -> None:
    """Built from two fitted MFAs (the historical form) it needs no fit and agrees."""
    x, y = _blobs()
    fitted = BayesOptimalClassifier(MFA(1, 1, random_state=0)).fit(x, y)
    ready = BayesOptimalClassifier(*fitted.mfas_)
    check_is_fitted(ready)
    assert np.allclose(ready.predict_proba(x), fitted.predict_proba(x))
    assert not hasattr(clone(ready), "classes_")


def test_string_labels_and_errors() -> None:
    x, y = _blobs()
    names = np.array(["cat", "dog"])[y]
    clf = BayesOptimalClassifier(MFA(1, 1, random_state=0)).fit(x, names)
    assert set(clf.predict(x)) <= {"cat", "dog"} and clf.score(x, names) > 0.85
    with pytest.raises(AdvlabError, match="Only binary classification"):
        BayesOptimalClassifier(MFA(1, 1)).fit(x, np.arange(len(x)) % 3)
    with pytest.raises(AdvlabError, match="mode"):
        BayesOptimalClassifier(MFA(1, 1), mode="map").fit(x, y)


def test_works_inside_sklearn_model_selection() -> None:
    x, y = _blobs(240)
    scores = cross_val_score(BayesOptimalClassifier(MFA(1, 1, random_state=0)), x, y, cv=3)
    assert scores.shape == (3,) and float(scores.min()) > 0.8
    grid = GridSearchCV(BayesOptimalClassifier(MFA(1, 1, random_state=0)),
                        {"mfa0__n_factors": [1, 2]}, cv=3).fit(x, y)
    assert grid.best_params_["mfa0__n_factors"] in (1, 2)
    dens = GridSearchCV(MFA(1, 1, random_state=0), {"n_components": [1, 2]}, cv=3).fit(x)
    assert dens.best_estimator_.n_components in (1, 2)
