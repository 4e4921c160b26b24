"""The Bayes-optimal classifier of two MFA class densities, as a torch module.

For data sampled from ``p_0 = mfa0`` and ``p_1 = mfa1`` with equal class priors, the
Bayes-optimal decision compares ``log p_0(x)`` and ``log p_1(x)``. The module returns
logits (N, 2) whose entries are these class log-likelihoods (plus log 1/2), so

* ``mode="exact"``: ``logits[:, 1] - logits[:, 0]`` is the exact log-likelihood ratio
  ``log p_1(x) - log p_0(x)`` (logsumexp over components, log pi included);
* ``mode="max_component"``: each class is scored by its most likely component,
  ``max_k log pi_k + log N_k(x)`` -- the form the paper uses (Section 3, after Richardson
  & Weiss 2018); it differs from the exact form by at most ``log K``.

Every attack works on it unchanged (it is differentiable); :meth:`pair_gap` additionally
gives LD-Grad the closed-form log-likelihood gap between two chosen components and its
gradient. Computation runs in the MFA's dtype (float64 by default) and the logits are
returned in the input's dtype.

It is also a scikit-learn binary classifier: ``BayesOptimalClassifier(MFA(5, 6)).fit(X, y)``
fits one MFA per class (clones of the templates ``mfa0`` / ``mfa1``), and ``predict``,
``predict_proba``, ``decision_function`` (the log-likelihood ratio) and ``score``
(accuracy) follow scikit-learn; ``sklearn.base.clone`` gives an unfitted copy. Built from
two already fitted MFAs it is ready at once, as before (no ``fit`` needed).
"""

from __future__ import annotations

import math
from typing import Any, TypeGuard

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d, validate_data
from torch import Tensor, nn

from advlab.bayes import lowrank
from advlab.bayes._sklearn import NotFittedError, array_to_tensor, as_output, check_tensor
from advlab.bayes.mfa import MFA
from advlab.errors import AdvlabError, bad_argument

MODES = ("exact", "max_component")
_FIELDS = ("log_weights", "means", "factors", "noise", "chol", "logdet")


def _fitted(m: Any) -> TypeGuard[MFA]:
    return isinstance(m, MFA) and hasattr(m, "means_")


def _check_mode(mode: Any) -> None:
    if mode not in MODES:
        raise bad_argument("mode", mode, "'exact' or 'max_component'")


class BayesOptimalClassifier(ClassifierMixin, BaseEstimator, nn.Module):
    """Two-class Bayes-optimal classifier for MFA class densities with equal priors.

    Args:
        mfa0, mfa1: the class densities of class 0 and class 1. Fitted :class:`MFA` (or
            ones built with ``MFA.set_params_from``) of the same input shape make the
            classifier ready at once; unfitted ones are templates that :meth:`fit` clones
            and fits on each class. ``mfa0=None`` means ``MFA()``; ``mfa1=None`` means
            the same template as ``mfa0``.
        mode: ``"exact"`` or ``"max_component"`` (see the module docstring).

    Input (N, *input_shape) or (N, d); output logits (N, 2), column c for ``classes_[c]``.

    Fitted attributes: ``classes_`` (2,), ``mfas_`` (the two fitted MFAs),
    ``n_features_in_`` (d), ``input_shape_``.
    """

    def __init__(self, mfa0: MFA | None = None, mfa1: MFA | None = None,
                 mode: str = "exact") -> None:
        super().__init__()
        self.mfa0 = mfa0
        self.mfa1 = mfa1
        self.mode = mode
        if _fitted(mfa0) and _fitted(mfa1):  # ready-made (the historical form)
            _check_mode(mode)
            self._install(mfa0, mfa1, np.array([0, 1]))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        assert tags.classifier_tags is not None
        tags.classifier_tags.multi_class = False
        return tags

    # ------------------------------------------------------------------ fitting
    def _install(self, mfa0: MFA, mfa1: MFA, classes: np.ndarray) -> None:
        """Register the two fitted mixtures as buffers (the module's state)."""
        mixes = (mfa0.mixture(), mfa1.mixture())
        if mixes[0].dim != mixes[1].dim:
            raise bad_argument("mfa1", f"dimension {mixes[1].dim}",
                               f"the dimension of mfa0 ({mixes[0].dim})")
        for c, mix in enumerate(mixes):
            for f in _FIELDS:
                self.register_buffer(f"c{c}_{f}", getattr(mix, f).detach().clone())
        self.input_shape_ = tuple(mfa0.input_shape_)
        self.n_features_in_ = int(mixes[0].dim)
        self.mfas_ = (mfa0, mfa1)
        self.classes_ = classes

    def fit(self, x: Tensor | Any, y: Tensor | Any) -> BayesOptimalClassifier:
        """Fit one MFA per class: clones of ``mfa0`` (class ``classes_[0]``) and ``mfa1``.

        Args:
            x: tensor (N, d) / (N, C, H, W) or a 2-D array-like (N, d).
            y: (N,) labels with exactly two distinct values.
        """
        _check_mode(self.mode)
        if isinstance(x, Tensor):
            if y is None:
                raise bad_argument("y", None, "labels (N,) (this classifier requires y)")
            y_arr = column_or_1d(y.cpu().numpy() if isinstance(y, Tensor) else np.asarray(y),
                                 warn=True)
            if y_arr.shape[0] != x.shape[0]:
                raise bad_argument("y", f"{y_arr.shape[0]} labels", f"{x.shape[0]} (one per sample)")
        else:
            arr, y_arr = validate_data(self, x, y, dtype=(np.float64, np.float32))
            x = torch.tensor(np.asarray(arr, dtype=np.float64))
        check_classification_targets(y_arr)
        classes, idx = np.unique(y_arr, return_inverse=True)
        if len(classes) != 2:
            raise AdvlabError(
                f"y: has {len(classes)} class{'es' if len(classes) != 1 else ''} "
                f"({', '.join(map(str, classes[:5]))}). Only binary classification is supported. "
                "Fit one classifier per pair of classes.", param="y")
        t0 = self.mfa0 if self.mfa0 is not None else MFA()
        t1 = self.mfa1 if self.mfa1 is not None else t0
        sel = torch.as_tensor(idx)
        fitted = [clone(t).fit(x[sel == c]) for c, t in enumerate((t0, t1))]
        self._install(fitted[0], fitted[1], classes)
        return self

    def _check_fitted(self) -> None:
        if "classes_" not in vars(self):
            raise NotFittedError("BayesOptimalClassifier: this instance is not fitted yet; call "
                                 "fit(x, y) or build it from two fitted MFAs")

    # ------------------------------------------------------------------ torch module
    def mixture(self, c: int) -> lowrank.LowRankMixture:
        """The precomputed mixture of class ``c`` (0 or 1), on the module's device."""
        self._check_fitted()
        return lowrank.LowRankMixture(*(getattr(self, f"c{c}_{f}") for f in _FIELDS))

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The input shape of the fitted densities (``input_shape_``)."""
        self._check_fitted()
        return self.input_shape_

    @property
    def dim(self) -> int:
        return int(self.mixture(0).means.shape[1])

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the class densities are evaluated in (the MFAs', float64 by default)."""
        return self.mixture(0).means.dtype

    def _flat(self, x: Tensor) -> Tensor:
        if x.ndim < 2 or x[0].numel() != self.dim:
            raise bad_argument("x", tuple(x.shape), f"shape (N, {self.dim}) or (N, *{self.input_shape})")
        return x.reshape(x.shape[0], self.dim).to(self.dtype)

    def component_scores(self, x: Tensor, c: int) -> Tensor:
        """log pi_k + log N_k(x) for the components of class ``c``: (N, ...) -> (N, K_c)."""
        mix = self.mixture(c)
        return lowrank.component_logpdf(self._flat(x), mix) + mix.log_weights

    def class_log_likelihoods(self, x: Tensor) -> Tensor:
        """log p_c(x) (exact) or max-component score per class: (N, ...) -> (N, 2), float64."""
        _check_mode(self.mode)
        cols = []
        for c in (0, 1):
            s = self.component_scores(x, c)
            cols.append(torch.logsumexp(s, 1) if self.mode == "exact" else s.amax(1))
        return torch.stack(cols, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, 2) = class log-likelihoods + log 1/2, in x's dtype."""
        return (self.class_log_likelihoods(x) + math.log(0.5)).to(x.dtype)

    # ------------------------------------------------------------------ scikit-learn
    def _input(self, x: Tensor | Any) -> Tensor:
        self._check_fitted()
        if not isinstance(x, Tensor):
            x = array_to_tensor(self, x, reset=False)
        check_tensor(self, x, self.dim)
        return x.to(self.mixture(0).means.device)

    def decision_function(self, x: Tensor | Any) -> Any:
        """The log-likelihood ratio log p_1(x) - log p_0(x): (N, ...) -> (N,), float64;
        positive means ``classes_[1]``."""
        ll = self.class_log_likelihoods(self._input(x))
        return as_output(ll[:, 1] - ll[:, 0], x)

    def predict_proba(self, x: Tensor | Any) -> Any:
        """Posterior class probabilities with equal priors: (N, ...) -> (N, 2), float64."""
        return as_output(torch.softmax(self.class_log_likelihoods(self._input(x)), 1), x)

    def predict_log_proba(self, x: Tensor | Any) -> Any:
        """Log posterior class probabilities: (N, ...) -> (N, 2), float64."""
        return as_output(torch.log_softmax(self.class_log_likelihoods(self._input(x)), 1), x)

    def predict(self, x: Tensor | Any) -> Any:
        """Labels ``classes_[argmax]``: (N,). A tensor for tensor input and numeric
        classes, else a NumPy array."""
        idx = self.class_log_likelihoods(self._input(x)).argmax(1)
        if isinstance(x, Tensor) and self.classes_.dtype.kind in "iub":
            return torch.as_tensor(self.classes_, device=idx.device)[idx]
        return self.classes_[idx.cpu().numpy()]

    def pair_gap(self, x: Tensor, y: Tensor, source: Tensor, target: Tensor
                 ) -> tuple[Tensor, Tensor]:
        """Closed-form gap between a source and a target component, and its gradient.

        ``gap(x) = [log pi_s + log N_s(x)]_{class y} - [log pi_t + log N_t(x)]_{class 1-y}``;
        ``grad = Sigma_t^-1 (x - mu_t) - Sigma_s^-1 (x - mu_s)`` (Woodbury, O(d l)).

        Args:
            x: (N, d) float64 points; y: (N,) classes of the source components;
            source, target: (N,) component indices in class y and in class 1 - y.
        Returns:
            gap (N,), grad (N, d).
        """
        gap = torch.empty(x.shape[0], dtype=x.dtype, device=x.device)
        grad = torch.empty_like(x)
        for c in (0, 1):
            idx = (y == c).nonzero().squeeze(1)
            if idx.numel() == 0:
                continue
            ms, mt = self.mixture(c), self.mixture(1 - c)
            xs, s, t = x[idx], source[idx], target[idx]
            gap[idx] = lowrank.gathered_logpdf(xs, ms, s) - lowrank.gathered_logpdf(xs, mt, t)
            grad[idx] = lowrank.gathered_precision(xs - mt.means[t], mt, t) \
                - lowrank.gathered_precision(xs - ms.means[s], ms, s)
        return gap, grad


__all__ = ["BayesOptimalClassifier", "MODES"]
