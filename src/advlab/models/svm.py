"""Linear and RBF SVMs fitted with scikit-learn, exported as differentiable torch modules.

The module computes the SVM decision function from its support vectors ``s_i``, dual
coefficients ``a_i`` and intercept ``b``:

* linear: ``f(x) = sum_i a_i <s_i, x> + b``
* rbf:    ``f(x) = sum_i a_i exp(-gamma ||x - s_i||^2) + b``

on flattened images (no normalisation: the Bayes-optimal paper trains SVMs on the raw
vectorised pixels). Binary problems give logits (N, 2) = [-f/2, f/2], so that
``logit1 - logit0 == decision_function``; with K > 2 classes, one binary SVM per class
(one-vs-rest, ``OneVsRestClassifier(SVC)``) and logits (N, K) = their decision
functions. Arithmetic runs in float64; outputs take the input's dtype.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from advlab.errors import AdvlabError

Kind = Literal["linear", "rbf"]


class SVMModule(nn.Module):
    """A kernel SVM as a torch module (weights frozen: ``requires_grad=False``).

    Args:
        in_shape: (C, H, W); num_classes: K >= 2.
        kind: ``linear`` or ``rbf``; gamma: the RBF kernel width (ignored for linear).
        n_support: S, number of stored support vectors; n_outputs: 1 (binary) or K.
    """

    config: dict
    gamma_: Tensor

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int, *, kind: Kind,
                 n_support: int, n_outputs: int, gamma: float = 1.0) -> None:
        super().__init__()
        if kind not in ("linear", "rbf"):
            raise AdvlabError(f"kind: got {kind!r}; expected linear or rbf")
        if n_outputs not in (1, num_classes) or (n_outputs == 1) != (num_classes == 2):
            raise AdvlabError(f"n_outputs: got {n_outputs}; expected 1 for 2 classes, else {num_classes}")
        self.kind, self.in_shape, self.num_classes = kind, tuple(in_shape), num_classes
        d = math.prod(in_shape)
        f64 = torch.float64
        self.support_vectors = nn.Parameter(torch.zeros(n_support, d, dtype=f64), requires_grad=False)
        self.dual_coef = nn.Parameter(torch.zeros(n_outputs, n_support, dtype=f64), requires_grad=False)
        self.intercept = nn.Parameter(torch.zeros(n_outputs, dtype=f64), requires_grad=False)
        self.register_buffer("gamma_", torch.tensor(float(gamma), dtype=f64))
        self.config = {}

    @property
    def gamma(self) -> float:
        """The RBF kernel width gamma in exp(-gamma ||x - s||^2)."""
        return float(self.gamma_)

    def decision(self, x: Tensor) -> Tensor:
        """Decision functions: (N, C, H, W) -> (N, n_outputs), float64."""
        z = x.flatten(1).to(torch.float64)
        sv = self.support_vectors
        if self.kind == "linear":
            return z @ (self.dual_coef @ sv).T + self.intercept
        d2 = (z * z).sum(1, keepdim=True) - 2.0 * z @ sv.T + (sv * sv).sum(1)[None, :]
        k = torch.exp(-self.gamma_ * d2.clamp_min(0.0))  # (N, S)
        return k @ self.dual_coef.T + self.intercept

    def decision_grad(self, x: Tensor) -> Tensor:
        """Closed-form gradient of the binary decision function f: (N, C, H, W) -> same shape."""
        if self.dual_coef.shape[0] != 1:
            raise AdvlabError("decision_grad: only for binary SVMs (use autograd for K > 2)")
        z = x.flatten(1).to(torch.float64)
        a, sv = self.dual_coef[0], self.support_vectors
        if self.kind == "linear":
            g = (a @ sv).expand_as(z)
        else:
            d2 = (z * z).sum(1, keepdim=True) - 2.0 * z @ sv.T + (sv * sv).sum(1)[None, :]
            w = a[None, :] * torch.exp(-self.gamma_ * d2.clamp_min(0.0))  # (N, S)
            g = -2.0 * self.gamma_ * (w.sum(1, keepdim=True) * z - w @ sv)
        return g.view_as(x).to(x.dtype)

    def features(self, x: Tensor) -> Tensor:
        """Flattened pixels (N, D): the SVM acts on the raw vectorised image."""
        return x.flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, K): [-f/2, f/2] for a binary SVM, else the K one-vs-rest f_k."""
        f = self.decision(x)
        if f.shape[1] == 1:
            f = torch.cat([-f / 2, f / 2], dim=1)
        return f.to(x.dtype if x.is_floating_point() else torch.float32)


def _resolve_gamma(gamma: float | str, z: np.ndarray) -> float:
    if gamma == "scale":
        return float(1.0 / (z.shape[1] * z.var()))
    if gamma == "auto":
        return 1.0 / z.shape[1]
    try:
        g = float(gamma)
    except (TypeError, ValueError):
        raise AdvlabError(f"gamma: got {gamma!r}; expected a number > 0, 'scale' or 'auto'") from None
    if not g > 0:
        raise AdvlabError(f"gamma: got {gamma!r}; expected a number > 0, 'scale' or 'auto'")
    return g


def _stack(machines: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate the support vectors of fitted binary scikit-learn SVCs: (S, D), coefs (M, S), intercepts (M,)."""
    svs = [m.support_vectors_ for m in machines]
    coef = np.zeros((len(machines), sum(len(s) for s in svs)))
    start = 0
    for i, m in enumerate(machines):
        n = len(svs[i])
        coef[i, start:start + n] = m.dual_coef_[0]
        start += n
    icpt = np.array([m.intercept_[0] for m in machines])
    return np.concatenate(svs), coef, icpt


def fit_svm(x: Tensor, y: Tensor, kind: Kind = "linear", C: float = 1.0,
            gamma: float | str = "scale") -> nn.Module:
    """Fit an SVM on flattened images and return it as a torch module.

    Args:
        x: (N, C, H, W) images; y: (N,) int64 labels in 0..K-1 (K >= 2).
        kind: ``linear`` or ``rbf``; C: the soft-margin penalty.
        gamma: RBF width: a number, ``scale`` (1 / (D * Var x)) or ``auto`` (1 / D);
            resolved to a number, stored and exposed as ``model.gamma``.

    Returns:
        An eval-mode :class:`SVMModule` (arch ``linear_svm`` / ``rbf_svm``) with
        ``config``; ``model.estimator`` holds the fitted scikit-learn object.
    """
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import SVC

    from advlab.models import build_model

    if kind not in ("linear", "rbf"):
        raise AdvlabError(f"kind: got {kind!r}; expected linear or rbf")
    if not C > 0:
        raise AdvlabError(f"C: got {C!r}; expected a number > 0")
    z = x.detach().flatten(1).double().cpu().numpy()
    labels = y.detach().cpu().numpy()
    k = int(labels.max()) + 1
    if k < 2 or len(np.unique(labels)) < 2:
        raise AdvlabError(f"y: got {len(np.unique(labels))} class(es); expected at least 2")
    g = _resolve_gamma(gamma, z)
    svc = SVC(kernel=kind, C=C, gamma=g)
    est = (svc if k == 2 else OneVsRestClassifier(svc)).fit(z, labels)
    machines = [est] if k == 2 else est.estimators_
    sv, coef, icpt = _stack(machines)
    model = build_model(f"{kind}_svm", in_shape=tuple(x.shape[1:]), num_classes=k,
                        n_support=len(sv), n_outputs=1 if k == 2 else k, gamma=g)
    assert isinstance(model, SVMModule)
    with torch.no_grad():
        model.support_vectors.copy_(torch.from_numpy(sv))
        model.dual_coef.copy_(torch.from_numpy(coef))
        model.intercept.copy_(torch.from_numpy(icpt))
    model.estimator = est
    return model.eval()
