"""Synthetic datasets with a known Bayes-optimal classifier (Richardson & Weiss, App. B.1-B.2).

Recipe: fit one MFA per class on real images (:func:`fit_class_mfas`), then

* **symmetric** variant: every diagonal noise D set to the same small value, std 0.001
  (variance 1e-6) -- "all covariance matrices had the same minimal variance";
* **asymmetric** variant: the symmetric model plus one "outlier" component per class with
  A = 0 and D = 0.5, centred at the global data mean +/- the PCA eigenvector of the 50th
  largest eigenvalue (+ for class 0, - for class 1).

Choices the paper leaves open (documented in docs/bayes.md): D = 0.5 is a *variance*
(Appendix B.2 defines D as the "per-pixel noise variance" and states the symmetric value
explicitly as a std); the outlier's mixing weight is ``1 / (K + 1)`` by default (the
other weights are scaled by K / (K + 1)), i.e. it is an ordinary component; the eigenvector
sign is fixed so that its largest-magnitude entry is positive. Samples are never clipped
to [0, 1] (docs/richardson2020.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import IterableDataset

from advlab.bayes.classifier import BayesOptimalClassifier
from advlab.bayes.mfa import MFA, _generator
from advlab.data.artifact import save_artifact
from advlab.errors import AdvlabError, bad_argument
from advlab.seeding import derive_seed
from advlab.store import atomic_write_json, read_json

VARIANTS = ("symmetric", "asymmetric", "fitted")


def components_for(n_samples: int, n_components: int | str) -> int:
    """Resolve ``n_components``: an int, or ``"samples/1000"`` (the paper's CelebA rule)."""
    if n_components == "samples/1000":
        return max(1, round(n_samples / 1000))
    if isinstance(n_components, int) and not isinstance(n_components, bool) and n_components >= 1:
        return n_components
    raise bad_argument("n_components", n_components, "an integer >= 1 or 'samples/1000'")


def fit_class_mfas(x: Tensor, y: Tensor, classes: tuple[int, int], n_components: int | str = 25,
                   n_factors: int = 6, **mfa_params: Any) -> tuple[MFA, MFA]:
    """Fit one MFA per class (paper: MNIST 25 components / latent 6; CelebA
    ``"samples/1000"`` / latent 10).

    Args:
        x: images (N, C, H, W) or (N, d); y: (N,) int labels.
        classes: the two labels (class 0 of the pair first), e.g. (0, 6).
        n_components: components per class (int or "samples/1000").
        n_factors: latent dimension l.
        **mfa_params: other :class:`MFA` parameters (max_iter, reg_covar, random_state, ...).
    Returns:
        (mfa for classes[0], mfa for classes[1]).
    """
    out = []
    for c in classes:
        xc = x[y == c]
        if len(xc) == 0:
            raise bad_argument("classes", classes, f"labels present in y (no sample has label {c})")
        k = components_for(len(xc), n_components)
        out.append(MFA(k, n_factors, **mfa_params).fit(xc))
    return out[0], out[1]


def symmetric_mfa(mfa: MFA, noise_std: float = 0.001) -> MFA:
    """A copy of ``mfa`` with every noise variance set to ``noise_std ** 2``."""
    if not noise_std > 0:
        raise bad_argument("noise_std", noise_std, "a standard deviation > 0")
    return MFA(**mfa.get_params()).set_params_from(
        mfa.weights_, mfa.means_, mfa.factors_, torch.full_like(mfa.noise_, noise_std ** 2),
        input_shape=tuple(mfa.input_shape_))


def outlier_direction(x: Tensor, rank: int = 50) -> tuple[Tensor, Tensor]:
    """Global mean (d,) and the unit PCA eigenvector of the ``rank``-th largest eigenvalue (d,).

    Args:
        x: the whole dataset (both classes), (N, ...) flattened to (N, d).
    """
    xf = x.reshape(len(x), -1).to(torch.float64)
    if not 1 <= rank <= min(xf.shape):
        raise bad_argument("outlier_rank", rank, f"an integer in [1, {min(xf.shape)}]")
    mean = xf.mean(0)
    centred = xf - mean
    if xf.shape[1] <= 4096:
        _, vecs = torch.linalg.eigh(centred.T @ centred / len(xf))    # ascending
        v = vecs[:, -rank]
    else:
        _, _, v_all = torch.svd_lowrank(centred, q=rank + 10, niter=6)
        v = v_all[:, rank - 1]
    v = v * torch.sign(v[v.abs().argmax()])
    return mean, v / v.norm()


def with_outlier(mfa: MFA, mean: Tensor, variance: float = 0.5, weight: float | None = None
                 ) -> MFA:
    """Append a spherical component N(mean, variance I) (A = 0) with mixing ``weight``
    (default 1 / (K + 1)); the other weights are scaled by 1 - weight."""
    k, d, l_ = mfa.factors_.shape
    w = 1.0 / (k + 1) if weight is None else float(weight)
    if not 0 < w < 1:
        raise bad_argument("outlier_weight", weight, "a number in (0, 1)")
    dt = mfa.means_.dtype
    return MFA(**mfa.get_params()).set_params_from(
        torch.cat([mfa.weights_ * (1 - w), torch.tensor([w], dtype=dt, device=mfa.means_.device)]),
        torch.cat([mfa.means_, mean.to(dt).reshape(1, d)]),
        torch.cat([mfa.factors_, mfa.factors_.new_zeros(1, d, l_)]),
        torch.cat([mfa.noise_, mfa.noise_.new_full((1, d), float(variance))]),
        input_shape=tuple(mfa.input_shape_))


@dataclass
class SyntheticPair:
    """Two class densities with a known Bayes-optimal classifier.

    Attributes:
        mfa0, mfa1: class 0 / class 1 densities; variant: "symmetric", "asymmetric" or
        "fitted"; provenance: how they were made (stored with every dataset).
    """

    mfa0: MFA
    mfa1: MFA
    variant: str
    provenance: dict[str, Any] = field(default_factory=dict)

    def classifier(self, mode: str = "exact") -> BayesOptimalClassifier:
        """The Bayes-optimal classifier (equal class priors)."""
        return BayesOptimalClassifier(self.mfa0, self.mfa1, mode=mode)

    def sample(self, n_per_class: int, random_state: int | torch.Generator | None = None
               ) -> tuple[Tensor, Tensor]:
        """``n_per_class`` samples of each class, shuffled: x (2n, *shape) float32, y (2n,)."""
        g = _generator(random_state, self.mfa0.means_.device)
        x0, _ = self.mfa0.sample(n_per_class, g)
        x1, _ = self.mfa1.sample(n_per_class, g)
        x = torch.cat([x0, x1]).float().cpu()
        y = torch.cat([torch.zeros(n_per_class), torch.ones(n_per_class)]).long()
        perm = torch.randperm(len(x), generator=g, device=g.device).cpu()
        return x[perm], y[perm]

    def sample_batch(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Fresh batch for on-the-fly training (App. D.1): labels ~ Bernoulli(1/2)."""
        y = torch.randint(2, (n,), generator=generator, device=generator.device).cpu()
        n1 = int(y.sum())
        x0, _ = self.mfa0.sample(n - n1, generator)
        x1, _ = self.mfa1.sample(n1, generator)
        x = torch.empty((n, *x0.shape[1:]), dtype=torch.float32)
        x[y == 0], x[y == 1] = x0.float().cpu(), x1.float().cpu()
        return x, y

    def stream(self, batch_size: int, seed: int = 0) -> IterableDataset[tuple[Tensor, Tensor]]:
        """An endless IterableDataset of fresh (x, y) batches (use with batch_size=None)."""
        return _Stream(self, batch_size, seed)

    def save_dataset(self, out: str | os.PathLike[str], n_train: int, n_test: int, seed: int,
                     name: str | None = None) -> Path:
        """Sample train/test sets (per class) and save them as a float32 dataset artifact."""
        g = _generator(seed, self.mfa0.means_.device)
        x, y = self.sample(n_train, g)
        xt, yt = self.sample(n_test, g)
        prov = {"constructor": "advlab.bayes.synthetic.SyntheticPair.save_dataset",
                "variant": self.variant, "n_train_per_class": n_train,
                "n_test_per_class": n_test, "seed": seed, **self.provenance}
        return save_artifact(out, _as_image(x), y, name=name or f"synthetic-{self.variant}",
                             provenance=prov, x_test=_as_image(xt), y_test=yt,
                             value_range=None)  # MFA samples are deliberately not clipped

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write both MFAs (sub-folders class0/, class1/) and pair.json."""
        p = Path(path)
        self.mfa0.save(p / "class0")
        self.mfa1.save(p / "class1")
        atomic_write_json(p / "pair.json", {"variant": self.variant, "provenance": self.provenance})
        return p

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str | None = "cpu") -> SyntheticPair:
        p = Path(path)
        meta = read_json(p / "pair.json")
        return cls(MFA.load(p / "class0", device), MFA.load(p / "class1", device),
                   meta["variant"], meta.get("provenance", {}))


class _Stream(IterableDataset):
    def __init__(self, pair: SyntheticPair, batch_size: int, seed: int) -> None:
        self.pair, self.batch_size, self.seed = pair, batch_size, seed

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        info = torch.utils.data.get_worker_info()
        seed = derive_seed(self.seed, "worker", info.id) if info else self.seed
        g = _generator(seed, self.pair.mfa0.means_.device)
        while True:
            yield self.pair.sample_batch(self.batch_size, g)


def _as_image(x: Tensor) -> Tensor:
    return x if x.ndim == 4 else x.reshape(len(x), 1, 1, -1)


def make_synthetic(mfa0: MFA, mfa1: MFA, *, variant: str = "symmetric",
                   noise_std: float = 0.001, data: Tensor | None = None,
                   outlier_rank: int = 50, outlier_variance: float = 0.5,
                   outlier_weight: float | None = None) -> SyntheticPair:
    """Build the symmetric or asymmetric pair (or ``"fitted"``: the MFAs unchanged).

    Args:
        mfa0, mfa1: fitted class MFAs (:func:`fit_class_mfas`).
        variant: "symmetric", "asymmetric" or "fitted".
        noise_std: std of every D in the symmetric / asymmetric variants (0.001).
        data: the real dataset (both classes, (N, ...)) for the outlier PCA; required
            for "asymmetric".
        outlier_rank, outlier_variance, outlier_weight: see :func:`outlier_direction`,
            :func:`with_outlier`.
    """
    if variant not in VARIANTS:
        raise bad_argument("variant", variant, "'symmetric', 'asymmetric' or 'fitted'")
    prov: dict[str, Any] = {"variant": variant, "n_components": [mfa0.n_components,
                            mfa1.n_components], "n_factors": mfa0.n_factors}
    if variant == "fitted":
        return SyntheticPair(mfa0, mfa1, variant, prov)
    m0, m1 = symmetric_mfa(mfa0, noise_std), symmetric_mfa(mfa1, noise_std)
    prov["noise_std"] = noise_std
    if variant == "asymmetric":
        if data is None:
            raise AdvlabError("data: required for variant='asymmetric' (the real images of "
                              "both classes, for the PCA outlier direction)")
        mean, v = outlier_direction(data, outlier_rank)
        m0 = with_outlier(m0, mean + v, outlier_variance, outlier_weight)
        m1 = with_outlier(m1, mean - v, outlier_variance, outlier_weight)
        prov.update(outlier_rank=outlier_rank, outlier_variance=outlier_variance,
                    outlier_weight=outlier_weight if outlier_weight is not None else "1/(K+1)")
    return SyntheticPair(m0, m1, variant, prov)


__all__ = ["VARIANTS", "components_for", "fit_class_mfas", "symmetric_mfa", "outlier_direction",
           "with_outlier", "SyntheticPair", "make_synthetic"]
