"""The eight 2-D distributions of the Bayes-optimal paper, Figure 2 (Section 2).

Two classes with equal priors; the Bayes-optimal classifier says class 1 where
``p1(x) > p2(x)`` (ties go to class 2). Top row (symmetric: the two classes have the same
minimal variance / minimal table value) and bottom row (asymmetric):

======  ==========================  =============================================
panel   top (symmetric)             bottom (asymmetric)
======  ==========================  =============================================
a / e   spherical Gaussians         spherical, class 1 much narrower
b / f   elliptical Gaussians        elliptical, class 1 with a tiny minimal variance
c / g   discrete 100 x 100 tables   class 1 puts ~all mass on one level of x2
d / h   Gaussian mixtures           + a rare, broad isotropic component per class
======  ==========================  =============================================

Points are float64 numpy arrays of shape (n, 2) on the square ``[-10, 10]^2``. Discrete
tables live on a 100 x 100 grid of cells of width 0.2 over that square; their samples
are cell centres. Distances to the decision boundary are in :mod:`advlab.theory.boundary`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.special import logsumexp

from advlab.errors import bad_argument

Array = NDArray[np.float64]
LO, HI, LEVELS = -10.0, 10.0, 100
CELL = (HI - LO) / LEVELS


def _rot(deg: float, sds: tuple[float, float]) -> Array:
    """Covariance with standard deviations ``sds`` along axes rotated by ``deg`` degrees."""
    t = np.deg2rad(deg)
    r = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return np.asarray(r @ np.diag(np.square(sds)) @ r.T, dtype=np.float64)


@dataclass(frozen=True)
class Mixture:
    """A Gaussian mixture in 2-D: weights (k,), means (k, 2), covariances (k, 2, 2)."""

    weights: Array
    means: Array
    covs: Array

    @staticmethod
    def gaussian(mean: tuple[float, float], cov: Array) -> Mixture:
        return Mixture(np.ones(1), np.asarray([mean], dtype=np.float64), np.asarray([cov], dtype=np.float64))

    def log_prob(self, x: Array) -> Array:
        """log p(x) for x (..., 2) -> (...)."""
        x = np.asarray(x, dtype=np.float64)
        diff = x[..., None, :] - self.means  # (..., k, 2)
        prec = np.linalg.inv(self.covs)
        quad = np.einsum("...ki,kij,...kj->...k", diff, prec, diff)
        logdet = np.linalg.slogdet(self.covs)[1]
        comp = -0.5 * (quad + logdet) - np.log(2 * np.pi) + np.log(self.weights)
        return np.asarray(logsumexp(comp, axis=-1), dtype=np.float64)

    def sample(self, n: int, rng: np.random.Generator) -> Array:
        k = rng.choice(len(self.weights), size=n, p=self.weights / self.weights.sum())
        z = rng.standard_normal((n, 2))
        chol = np.linalg.cholesky(self.covs)
        return np.asarray(self.means[k] + np.einsum("nij,nj->ni", chol[k], z), dtype=np.float64)

    def min_variance(self) -> float:
        return float(np.linalg.eigvalsh(self.covs).min())


@dataclass(frozen=True)
class Table:
    """A discrete distribution on the 100 x 100 grid: probabilities (100, 100) indexed [i1, i2]."""

    p: Array

    def __post_init__(self) -> None:
        p = np.asarray(self.p, dtype=np.float64)
        if p.shape != (LEVELS, LEVELS) or (p < 0).any() or p.sum() <= 0:
            raise bad_argument("p", p.shape, f"a non-negative ({LEVELS}, {LEVELS}) table with positive mass")
        object.__setattr__(self, "p", p / p.sum())

    def log_prob(self, x: Array) -> Array:
        """log of the table entry of the cell holding each point of x (..., 2)."""
        i = cell_index(x)
        with np.errstate(divide="ignore"):
            return np.asarray(np.log(self.p[i[..., 0], i[..., 1]]), dtype=np.float64)

    def sample(self, n: int, rng: np.random.Generator) -> Array:
        flat = rng.choice(LEVELS * LEVELS, size=n, p=self.p.ravel())
        return cell_centres()[flat // LEVELS, flat % LEVELS]

    def min_probability(self) -> float:
        return float(self.p.min())


def cell_centres() -> Array:
    """(100, 100, 2) centres of the grid cells."""
    c = LO + CELL * (np.arange(LEVELS) + 0.5)
    return np.stack(np.meshgrid(c, c, indexing="ij"), -1)


def cell_index(x: Array) -> NDArray[np.int64]:
    """Integer cell of each point (..., 2), clipped to the grid."""
    return np.clip(np.floor((np.asarray(x) - LO) / CELL), 0, LEVELS - 1).astype(np.int64)


Density = Mixture | Table


@dataclass(frozen=True)
class Problem:
    """One panel: two class densities, a name and the panel letter of Figure 2."""

    key: str
    title: str
    p1: Density
    p2: Density
    notes: dict[str, float] = field(default_factory=dict)

    @property
    def discrete(self) -> bool:
        return isinstance(self.p1, Table)

    def log_ratio(self, x: Array) -> Array:
        """``log p1(x) - log p2(x)`` (...,); > 0 means the Bayes-optimal decision is class 1."""
        with np.errstate(invalid="ignore"):
            r = self.p1.log_prob(x) - self.p2.log_prob(x)
        return np.nan_to_num(r, nan=-np.inf)  # both densities zero: a tie, class 2

    def decide(self, x: Array) -> NDArray[np.int64]:
        """Bayes-optimal class (1 or 2) of each point (..., 2)."""
        return np.where(self.log_ratio(x) > 0, 1, 2).astype(np.int64)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[Array, NDArray[np.int64]]:
        """``n`` points per class: x (2n, 2), y (2n,) in {1, 2}."""
        x = np.concatenate([self.p1.sample(n, rng), self.p2.sample(n, rng)])
        return x, np.repeat(np.array([1, 2], dtype=np.int64), n)


def _gauss_table(mean: tuple[float, float], sds: tuple[float, float], floor: float) -> Array:
    """A quantised Gaussian bump plus ``floor`` (relative to its peak) everywhere."""
    c = cell_centres()
    z = ((c - np.asarray(mean)) / np.asarray(sds)) ** 2
    bump = np.exp(-0.5 * z.sum(-1))
    return np.asarray(bump + floor, dtype=np.float64)


def asymmetric_elliptical(sigma1: float) -> Problem:
    """Panel f with class 1's minimal standard deviation ``sigma1`` (Observation 1's sweep)."""
    if not sigma1 > 0:
        raise bad_argument("sigma1", sigma1, "a standard deviation > 0")
    return Problem("f", f"elliptical, asymmetric (sigma1={sigma1:g})",
                   Mixture.gaussian((-2.0, 0.0), _rot(0, (sigma1, 3.0))),
                   Mixture.gaussian((2.5, 0.0), _rot(0, (2.0, 3.0))), {"sigma1": sigma1})


def _mixture(means: list[tuple[float, float]], covs: list[Array], weights: list[float]) -> Mixture:
    return Mixture(np.asarray(weights, dtype=np.float64), np.asarray(means, dtype=np.float64),
                   np.asarray(covs, dtype=np.float64))


def eight_problems() -> dict[str, Problem]:
    """The eight panels a-h of Figure 2, keyed by letter."""
    thin = (3.0, 0.15)  # the mixture components: long and thin, same minimal variance
    c1 = [_rot(60, thin), _rot(-60, thin)]
    c2 = [_rot(-60, thin), _rot(60, thin)]
    m1, m2 = [(-4.0, 4.0), (-4.0, -4.0)], [(4.0, 4.0), (4.0, -4.0)]
    broad = _rot(0, (8.0, 8.0))
    one_row = np.zeros(LEVELS)
    one_row[LEVELS // 2] = 1.0
    spread = np.exp(-0.5 * ((cell_centres()[:, 0, 0] + 2.0) / 3.0) ** 2)
    g1 = spread[:, None] * (one_row[None, :] + 1e-6)  # x2 on one level with prob ~1
    return {
        "a": Problem("a", "spherical, symmetric", Mixture.gaussian((-4.0, 0.0), _rot(0, (2.0, 2.0))),
                     Mixture.gaussian((4.0, 0.0), _rot(0, (2.0, 2.0)))),
        "b": Problem("b", "elliptical, symmetric", Mixture.gaussian((-4.0, 0.0), _rot(30, (3.0, 1.0))),
                     Mixture.gaussian((4.0, 0.0), _rot(-30, (3.0, 1.0)))),
        "c": Problem("c", "discrete 100x100, symmetric", Table(_gauss_table((-4.0, 0.0), (2.0, 2.0), 1e-3)),
                     Table(_gauss_table((4.0, 0.0), (2.0, 2.0), 1e-3))),
        "d": Problem("d", "Gaussian mixtures, symmetric", _mixture(m1, c1, [0.5, 0.5]),
                     _mixture(m2, c2, [0.5, 0.5])),
        "e": Problem("e", "spherical, asymmetric", Mixture.gaussian((-2.0, 0.0), _rot(0, (0.3, 0.3))),
                     Mixture.gaussian((2.0, 0.0), _rot(0, (3.0, 3.0)))),
        "f": asymmetric_elliptical(0.1),
        "g": Problem("g", "discrete 100x100, asymmetric", Table(g1),
                     Table(_gauss_table((3.0, 0.0), (4.0, 4.0), 1e-2))),
        "h": Problem("h", "mixtures + rare broad comp., asymmetric",
                     _mixture(m1 + [(2.0, 0.0)], c1 + [broad], [0.475, 0.475, 0.05]),
                     _mixture(m2 + [(-2.0, 0.0)], c2 + [broad], [0.475, 0.475, 0.05])),
    }
