"""Mixture of Factor Analyzers (Ghahramani & Hinton 1996), fitted by EM in torch.

Each component is N(mu_k, A_k A_k^T + D_k) with A_k (d, l) and D_k a diagonal of
per-dimension variances. EM costs O(N K d l) per iteration and never forms a d x d
matrix (see :mod:`advlab.bayes.lowrank`). Data larger than memory is streamed: ``fit``
accepts a tensor, a re-iterable of batches (list, DataLoader) or a callable returning a
fresh iterator of batches; each EM iteration is one pass accumulating the E-step sums.

Degenerate data: constant dimensions (e.g. MNIST border pixels) are handled by the
variance floor ``reg_covar`` (their variance becomes exactly the floor, which also makes
the EM M-step a constrained maximisation, so the likelihood still never decreases).
NaN / inf, fewer samples than components, and k-means clusters with fewer than
``n_factors + 1`` points raise :class:`~advlab.errors.AdvlabError`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from sklearn.base import BaseEstimator, DensityMixin
from torch import Tensor

from advlab.bayes import lowrank
from advlab.bayes._init import init_params
from advlab.bayes._sklearn import (
    NotFittedError,
    array_to_tensor,
    as_output,
    check_tensor,
    is_batch_source,
    seed_from,
)
from advlab.errors import AdvlabError, bad_argument
from advlab.progress import progress
from advlab.seeding import generator
from advlab.store import atomic_path, atomic_write_json, read_json, sha256_file

Source = Tensor | Iterable[Any] | Callable[[], Iterable[Any]]
_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_SCORE_ROWS = 512  # rows scored per matrix product: x and its square stay in cache (2x faster)
_PARAMS = ("n_components", "n_factors", "max_iter", "tol", "reg_covar", "init",
           "init_size", "batch_size", "device", "dtype", "random_state")


def _generator(random_state: Any, device: torch.device) -> torch.Generator:
    """A torch generator from ``random_state``: a torch.Generator (used as is), an int, a
    NumPy RandomState / Generator (one seed drawn from it) or None (a random seed)."""
    if isinstance(random_state, torch.Generator):
        return random_state
    seed = seed_from(random_state)
    return generator(seed if seed is not None else int(torch.randint(2**62, (1,)).item()), device=device)


class _Batches:
    """Re-iterable view of a data source as (B, d) tensors on a device/dtype."""

    def __init__(self, source: Source, batch_size: int, device: torch.device,
                 dtype: torch.dtype) -> None:
        if isinstance(source, Iterator):
            raise bad_argument("x", type(source).__name__, "a tensor, a re-iterable of "
                               "batches (list, DataLoader) or a callable returning a "
                               "fresh iterator", "EM needs one pass per iteration")
        self.source, self.batch_size, self.device, self.dtype = source, batch_size, device, dtype
        self.input_shape: tuple[int, ...] | None = None

    def _prep(self, b: Any) -> Tensor:
        if isinstance(b, (tuple, list)):
            b = b[0]  # (x, y) pairs from a DataLoader
        if not isinstance(b, Tensor):
            raise bad_argument("x", type(b).__name__, "batches of tensors (N, d) or (N, C, H, W)")
        if b.ndim < 2:
            raise bad_argument("x", tuple(b.shape), "shape (N, d) or (N, C, H, W)")
        if self.input_shape is None:
            self.input_shape = tuple(b.shape[1:])
        elif tuple(b.shape[1:]) != self.input_shape:
            raise bad_argument("x", tuple(b.shape), f"every batch of shape (B, *{self.input_shape})")
        b = b.reshape(b.shape[0], -1).to(self.device, self.dtype)
        if not bool(torch.isfinite(b).all()):
            bad = int((~torch.isfinite(b)).any(1).sum())
            raise AdvlabError(f"x: {bad} samples contain NaN or inf; remove or impute them "
                              "before fitting")
        return b

    def __iter__(self) -> Iterator[Tensor]:
        src = self.source
        if isinstance(src, Tensor):
            for i in range(0, src.shape[0], self.batch_size):
                yield self._prep(src[i:i + self.batch_size])
            return
        it = src() if callable(src) else src
        for b in it:
            yield self._prep(b)

    def head(self, n: int) -> Tensor:
        """The first ``n`` samples (or all, when fewer), concatenated: (n', d)."""
        parts, got = [], 0
        for b in self:
            parts.append(b[: n - got])
            got += parts[-1].shape[0]
            if got >= n:
                break
        if not parts:
            raise bad_argument("x", "no samples", "at least n_components samples")
        return torch.cat(parts)


class MFA(DensityMixin, BaseEstimator):
    """Mixture of Factor Analyzers, a scikit-learn density estimator.

    Follows scikit-learn's estimator API: ``get_params(deep)`` / ``set_params``,
    ``sklearn.base.clone``, ``fit`` returns self, ``score`` (mean log-likelihood),
    ``predict`` / ``predict_proba`` (components). Inputs are tensors (results are tensors)
    or 2-D array-likes (validated as scikit-learn does; results are NumPy arrays).

    Args:
        n_components: K, the number of Gaussians.
        n_factors: l, latent dimension of every component.
        max_iter: maximum EM iterations (passes over the data).
        tol: stop when the mean per-sample log-likelihood improves by less than this (nats).
        reg_covar: variance floor of the diagonal noise D (also handles constant pixels).
        init: ``"kmeans"`` -- k-means++ / Lloyd, then probabilistic PCA per cluster.
        init_size: at most this many leading samples are used for the initialisation.
        batch_size: samples per E-step batch (memory O(batch_size * d)).
        device: ``"cpu"``, ``"cuda"`` or None (CUDA when available).
        dtype: ``"float64"`` (default, exact to 1e-10) or ``"float32"`` (faster on GPU).
        random_state: int, torch.Generator, NumPy RandomState or None.

    Fitted attributes: ``weights_`` (K,), ``means_`` (K, d), ``factors_`` (K, d, l),
    ``noise_`` (K, d) diagonal variances, ``input_shape_``, ``n_features_in_`` (d),
    ``n_iter_``, ``converged_``, ``ll_history_`` (mean training log-likelihood before each
    M-step; non-decreasing).
    """

    def __init__(self, n_components: int = 10, n_factors: int = 6, *, max_iter: int = 100,
                 tol: float = 1e-3, reg_covar: float = 1e-6, init: str = "kmeans",
                 init_size: int = 20000, batch_size: int = 4096, device: str | None = None,
                 dtype: str = "float64", random_state: Any = None) -> None:
        self.n_components = n_components
        self.n_factors = n_factors
        self.max_iter = max_iter
        self.tol = tol
        self.reg_covar = reg_covar
        self.init = init
        self.init_size = init_size
        self.batch_size = batch_size
        self.device = device
        self.dtype = dtype
        self.random_state = random_state

    # ------------------------------------------------------------------ parameters
    def _json_params(self) -> dict[str, Any]:
        """The constructor parameters as JSON values (a generator random_state becomes None)."""
        p = {k: getattr(self, k) for k in _PARAMS}
        if not isinstance(p["random_state"], int) or isinstance(p["random_state"], bool):
            p["random_state"] = None
        return p

    def _validate(self) -> None:
        for name in ("n_components", "n_factors", "max_iter", "init_size", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise bad_argument(name, v, "an integer >= 1")
        for name in ("tol", "reg_covar"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise bad_argument(name, v, "a finite number >= 0")
        if self.reg_covar <= 0:
            raise bad_argument("reg_covar", self.reg_covar, "a variance floor > 0")
        if self.init != "kmeans":
            raise bad_argument("init", self.init, "'kmeans'")
        if self.dtype not in _DTYPES:
            raise bad_argument("dtype", self.dtype, "'float64' or 'float32'")
        if self.device not in (None, "cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise bad_argument("device", self.device, "'cpu', 'cuda' or None")

    def _torch_device(self) -> torch.device:
        if self.device is None:
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    # ------------------------------------------------------------------ fitting
    def fit(self, x: Source | Any, y: Any = None) -> MFA:
        """Fit by EM. ``x``: tensor (N, d) / (N, C, H, W), re-iterable or callable of
        batches, or a 2-D array-like (N, d). ``y`` is ignored."""
        self._validate()
        if not is_batch_source(x):
            x = array_to_tensor(self, x, reset=True)
        dev, dt = self._torch_device(), _DTYPES[self.dtype]
        data = _Batches(x, self.batch_size, dev, dt)
        head = data.head(self.init_size)
        n_head, d = head.shape
        if n_head < self.n_components:
            raise bad_argument("n_components", self.n_components,
                               f"at most the number of samples (n_samples = {n_head})")
        if self.n_factors >= d:
            raise bad_argument("n_factors", self.n_factors,
                               f"fewer than the number of features (n_features = {d})")
        if n_head < self.n_components * (self.n_factors + 1):
            raise bad_argument("n_components", self.n_components,
                               f"at most n_samples // (n_factors + 1) = "
                               f"{n_head // (self.n_factors + 1)} (n_samples = {n_head})",
                               "each factor analyser needs n_factors + 1 points")
        gen = _generator(self.random_state, dev)
        params = init_params(head, self.n_components, self.n_factors, self.reg_covar, gen)
        del head
        history: list[float] = []
        self.converged_ = False
        bar = progress(range(self.max_iter), desc="MFA EM", unit="iteration")
        for _ in bar:
            stats, ll, n = _e_step(data, lowrank.prepare(*params))
            history.append(ll / n)
            params = _m_step(stats, n, self.reg_covar)
            bar.set_postfix(ll=f"{history[-1]:.3f}")
            if len(history) > 1 and abs(history[-1] - history[-2]) < self.tol:
                self.converged_ = True
                break
        self.weights_, self.means_, self.factors_, self.noise_ = params
        self.input_shape_ = data.input_shape or (d,)
        self.n_features_in_ = d
        self.n_iter_ = len(history)
        self.ll_history_ = history
        return self

    # ------------------------------------------------------------------ inference
    def _check_fitted(self) -> None:
        if not hasattr(self, "means_"):
            raise NotFittedError("MFA: this instance is not fitted yet; call fit(x) or "
                                 "MFA.load(dir)")

    def mixture(self) -> lowrank.LowRankMixture:
        """The fitted parameters with precomputed Cholesky factors (for classifiers)."""
        self._check_fitted()
        return lowrank.prepare(self.weights_, self.means_, self.factors_, self.noise_)

    def _flat(self, x: Tensor | Any) -> Tensor:
        """A tensor (N, ...) or a 2-D array-like as (N, d) in the fitted dtype and device."""
        d = self.means_.shape[1]
        if not isinstance(x, Tensor):
            x = array_to_tensor(self, x, reset=False)
        check_tensor(self, x, d)
        return x.reshape(x.shape[0], d).to(self.means_.device, self.means_.dtype)

    def component_log_likelihoods(self, x: Tensor | Any) -> Tensor:
        """log pi_k + log N(x; mu_k, A_k A_k^T + D_k): (N, ...) -> (N, K), log pi included.

        ``logsumexp`` over K gives :meth:`score_samples`; softmax gives :meth:`predict_proba`.
        Always a tensor (the public methods below follow the input's type).
        """
        self._check_fitted()
        x, mix = self._flat(x), self.mixture()
        mats = lowrank.scoring_matrices(mix) if x.dtype == torch.float64 else None
        step = min(self.batch_size, _SCORE_ROWS)
        parts = [lowrank.component_logpdf(x[i:i + step], mix, mats)
                 for i in range(0, x.shape[0], step)]
        out = torch.cat(parts) if parts else x.new_zeros(0, mix.n_components)
        # finite x gives finite log N (before log pi); checking the (N, K) result is
        # cheaper than a pass over the (N, d) input
        if not bool(torch.isfinite(out).all()):
            raise AdvlabError("x: contains NaN or inf")
        return out + mix.log_weights

    def score_samples(self, x: Tensor | Any) -> Any:
        """Log-density log p(x) per sample: (N, ...) -> (N,) (tensor in, tensor out)."""
        return as_output(torch.logsumexp(self.component_log_likelihoods(x), dim=1), x)

    def score(self, x: Tensor | Any, y: Any = None) -> float:
        """Mean log-likelihood per sample (nats); ``y`` is ignored."""
        return float(torch.logsumexp(self.component_log_likelihoods(x), dim=1).mean())

    def predict_proba(self, x: Tensor | Any) -> Any:
        """Responsibilities p(k | x): (N, ...) -> (N, K), rows sum to 1."""
        return as_output(torch.softmax(self.component_log_likelihoods(x), dim=1), x)

    def predict(self, x: Tensor | Any) -> Any:
        """Most responsible component per sample: (N, ...) -> (N,) int64."""
        return as_output(self.component_log_likelihoods(x).argmax(1), x)

    def sample(self, n: int, random_state: Any = None) -> tuple[Tensor, Tensor]:
        """Draw ``n`` samples x = mu_k + A_k z + sqrt(D_k) eps (noise included).

        Returns:
            x (n, *input_shape_) in the fitted dtype (not clipped), component (n,) int64.
        """
        self._check_fitted()
        if not isinstance(n, int) or n < 0:
            raise bad_argument("n", n, "an integer >= 0")
        g = _generator(random_state, self.means_.device)
        dev, dt = self.means_.device, self.means_.dtype
        comp = torch.multinomial(self.weights_, n, replacement=True, generator=g) if n else \
            torch.zeros(0, dtype=torch.long, device=dev)
        z = torch.randn(n, self.factors_.shape[2], generator=g, device=dev, dtype=dt)
        eps = torch.randn(n, self.means_.shape[1], generator=g, device=dev, dtype=dt)
        x = self.means_[comp] + (self.factors_[comp] @ z[:, :, None]).squeeze(2) \
            + self.noise_[comp].sqrt() * eps
        return x.reshape(n, *self.input_shape_), comp

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``mfa.safetensors`` + ``mfa.json`` (params, fit info, sha256) atomically."""
        self._check_fitted()
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        tensors = {k: getattr(self, k + "_").detach().cpu().contiguous()
                   for k in ("weights", "means", "factors", "noise")}
        with atomic_path(out / "mfa.safetensors") as tmp:
            save_file(tensors, str(tmp))
        meta = {"format": "advlab-mfa/1", "params": {**self._json_params(), "device": None},
                "input_shape": list(self.input_shape_), "n_iter": self.n_iter_,
                "converged": self.converged_, "ll_history": self.ll_history_,
                "sha256": sha256_file(out / "mfa.safetensors")}
        atomic_write_json(out / "mfa.json", meta)
        return out

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str | None = "cpu") -> MFA:
        """Read a folder written by :meth:`save`, verifying its hash."""
        p = Path(path)
        meta = read_json(p / "mfa.json")
        if not isinstance(meta, dict) or meta.get("format") != "advlab-mfa/1":
            raise AdvlabError(f"{p / 'mfa.json'}: not an advlab MFA file (format advlab-mfa/1)")
        if sha256_file(p / "mfa.safetensors") != meta.get("sha256"):
            raise AdvlabError(f"{p / 'mfa.safetensors'}: sha256 does not match mfa.json; "
                              "the file is corrupted or was modified")
        model = cls(**{**meta["params"], "device": device})
        t = load_file(str(p / "mfa.safetensors"), device=str(model._torch_device()))
        return model.set_params_from(t["weights"], t["means"], t["factors"], t["noise"],
                                     input_shape=tuple(meta["input_shape"]),
                                     n_iter=meta["n_iter"], converged=meta["converged"],
                                     ll_history=meta["ll_history"])

    def set_params_from(self, weights: Tensor, means: Tensor, factors: Tensor, noise: Tensor,
                        *, input_shape: tuple[int, ...] | None = None, n_iter: int = 0,
                        converged: bool = False, ll_history: list[float] | None = None) -> MFA:
        """Install given parameters (a known MFA, or a modified copy) as the fitted state.

        Shapes: weights (K,), means (K, d), factors (K, d, l), noise (K, d) variances > 0.
        """
        k, d = means.shape
        if weights.shape != (k,) or factors.shape[:2] != (k, d) or noise.shape != (k, d):
            raise AdvlabError(f"MFA parameters: inconsistent shapes weights {tuple(weights.shape)}"
                              f", means {(k, d)}, factors {tuple(factors.shape)}, "
                              f"noise {tuple(noise.shape)}")
        if bool((noise <= 0).any()) or bool((weights < 0).any()):
            raise AdvlabError("MFA parameters: noise variances must be > 0 and weights >= 0")
        dt = _DTYPES.get(self.dtype, torch.float64)
        self.weights_, self.means_, self.factors_, self.noise_ = (
            t.to(dt) for t in (weights / weights.sum(), means, factors, noise))
        self.input_shape_ = input_shape or (d,)
        self.n_features_in_ = int(d)
        self.n_iter_, self.converged_, self.ll_history_ = n_iter, converged, ll_history or []
        self.n_components, self.n_factors = k, int(factors.shape[2])
        return self


# ---------------------------------------------------------------------- EM maths
def _e_step(data: _Batches, mix: lowrank.LowRankMixture) -> tuple[dict[str, Tensor], float, int]:
    """One pass: sufficient statistics of the E-step, total log-likelihood, N.

    Statistics (h = responsibilities, m = E[z | x, k]):
        s0 (K,), sx (K, d), sxx (K, d), sxz (K, d, l), sz (K, l), szz (K, l, l).
    """
    k_, d, l_ = mix.factors.shape
    z = mix.means
    s = {"s0": z.new_zeros(k_), "sx": z.new_zeros(k_, d), "sxx": z.new_zeros(k_, d),
         "sxz": z.new_zeros(k_, d, l_), "sz": z.new_zeros(k_, l_), "smm": z.new_zeros(k_, l_, l_)}
    total, n = 0.0, 0
    for x in data:
        lat, logp = [], []
        for k in range(k_):
            q, m = lowrank.quad_and_latent(x - mix.means[k], mix.factors[k], mix.noise[k],
                                           mix.chol[k])
            lat.append(m)
            logp.append(mix.log_weights[k] - 0.5 * (q + mix.logdet[k] + d * lowrank.LOG_2PI))
        joint = torch.stack(logp, 1)                                       # (B,K)
        norm = torch.logsumexp(joint, 1)
        h = torch.exp(joint - norm[:, None])
        total, n = total + float(norm.sum()), n + x.shape[0]
        s["s0"] += h.sum(0)
        s["sx"] += h.T @ x
        s["sxx"] += h.T @ x.square()
        for k in range(k_):
            hm = h[:, k:k + 1] * lat[k]                                    # (B,l)
            s["sxz"][k] += x.T @ hm
            s["sz"][k] += hm.sum(0)
            s["smm"][k] += hm.T @ lat[k]
    # E[z z^T] = M^-1 + m m^T: add the posterior covariance once per component
    s["szz"] = s.pop("smm") + s["s0"][:, None, None] * torch.cholesky_inverse(mix.chol)
    return s, total, n


def _m_step(s: dict[str, Tensor], n: int, floor: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Joint update of [A, mu] (augmented latent z~ = [z; 1]) and of D, with D >= floor."""
    s0 = s["s0"].clamp_min(1e-12 * n)
    l_ = s["sz"].shape[1]
    g = s0.new_zeros(s0.shape[0], l_ + 1, l_ + 1)                          # E[z~ z~^T] sums
    g[:, :l_, :l_], g[:, :l_, l_], g[:, l_, :l_], g[:, l_, l_] = s["szz"], s["sz"], s["sz"], s0
    c = torch.cat([s["sxz"], s["sx"][:, :, None]], dim=2)                  # (K,d,l+1)
    a_aug = torch.linalg.solve(g, c.transpose(1, 2)).transpose(1, 2)       # (K,d,l+1)
    noise = ((s["sxx"] - (a_aug * c).sum(2)) / s0[:, None]).clamp_min(floor)
    return s0 / n, a_aug[:, :, l_].contiguous(), a_aug[:, :, :l_].contiguous(), noise


__all__ = ["MFA"]
