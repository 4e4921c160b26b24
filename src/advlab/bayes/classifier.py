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
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from advlab.bayes import lowrank
from advlab.bayes.mfa import MFA
from advlab.errors import bad_argument

MODES = ("exact", "max_component")
_FIELDS = ("log_weights", "means", "factors", "noise", "chol", "logdet")


class BayesOptimalClassifier(nn.Module):
    """Two-class Bayes-optimal classifier for MFA class densities with equal priors.

    Args:
        mfa0, mfa1: fitted :class:`MFA` (or ones built with ``MFA.set_params_from``)
            of the same input shape; class 0 and class 1.
        mode: ``"exact"`` or ``"max_component"`` (see the module docstring).

    Input (N, *input_shape) or (N, d); output logits (N, 2).
    """

    def __init__(self, mfa0: MFA, mfa1: MFA, mode: str = "exact") -> None:
        super().__init__()
        if mode not in MODES:
            raise bad_argument("mode", mode, "'exact' or 'max_component'")
        mixes = (mfa0.mixture(), mfa1.mixture())
        if mixes[0].dim != mixes[1].dim:
            raise bad_argument("mfa1", f"dimension {mixes[1].dim}",
                               f"the dimension of mfa0 ({mixes[0].dim})")
        self.mode = mode
        self.input_shape = tuple(mfa0.input_shape_)
        for c, mix in enumerate(mixes):
            for f in _FIELDS:
                self.register_buffer(f"c{c}_{f}", getattr(mix, f).detach().clone())

    def mixture(self, c: int) -> lowrank.LowRankMixture:
        """The precomputed mixture of class ``c`` (0 or 1), on the module's device."""
        return lowrank.LowRankMixture(*(getattr(self, f"c{c}_{f}") for f in _FIELDS))

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
        cols = []
        for c in (0, 1):
            s = self.component_scores(x, c)
            cols.append(torch.logsumexp(s, 1) if self.mode == "exact" else s.amax(1))
        return torch.stack(cols, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, 2) = class log-likelihoods + log 1/2, in x's dtype."""
        return (self.class_log_likelihoods(x) + math.log(0.5)).to(x.dtype)

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
