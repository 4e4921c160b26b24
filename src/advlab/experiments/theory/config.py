"""Configuration of the theory recipe: the sizes of each study, and presets.

``quick`` keeps each study well under a minute on 2 CPU cores (the demo uses it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from advlab.errors import bad_argument
from advlab.overrides import apply_overrides

KINDS = ("gaussian", "toy2d")


@dataclass(frozen=True)
class GaussianConfig:
    """Sizes of the gaussian study; ``quick`` keeps it well under a minute on 2 cores."""

    eps: tuple[float, ...] = (0.5, 1.0, 2.0)
    dims: tuple[int, ...] = (2, 10, 100)
    per_sample_n: tuple[int, ...] = (20000, 20000, 5000)
    per_sample_eps: tuple[float, ...] = (0.5, 1.0, 2.0)
    mc_n: int = 400_000
    t1_dim: int = 10
    fig4_eps: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0)
    fig14_n: int = 1000
    fig14_eps: float = 0.2

    @staticmethod
    def preset(quick: bool) -> GaussianConfig:
        if not quick:
            return GaussianConfig()
        return GaussianConfig(per_sample_n=(5000, 5000, 1500), per_sample_eps=(1.0,), mc_n=100_000)


@dataclass(frozen=True)
class Toy2dConfig:
    """Sample sizes of the toy2d study (per class)."""

    n_per_class: int = 2000
    obs1_sigma1: tuple[float, ...] = (1.0, 0.5, 0.25, 0.1, 0.05, 0.02, 0.01)
    obs1_n: int = 2000
    contour_grid: int = 2001

    @staticmethod
    def preset(quick: bool) -> Toy2dConfig:
        return Toy2dConfig(n_per_class=400, obs1_n=1000, contour_grid=1201) if quick else Toy2dConfig()


@dataclass(frozen=True)
class TheoryConfig:
    """One theory run: which study, and the sizes of both (only ``kind``'s are used)."""

    kind: Literal["gaussian", "toy2d"]
    quick: bool = False
    gaussian: GaussianConfig = field(default_factory=GaussianConfig)
    toy2d: Toy2dConfig = field(default_factory=Toy2dConfig)


#: config fields set by their own command-line argument, not by ``--set``
RESERVED = {"kind": "KIND", "quick": "--quick"}


def check_kind(kind: str) -> str:
    """Validate a study name; raises AdvlabError naming the choices."""
    if kind not in KINDS:
        raise bad_argument("kind", kind, "one of " + ", ".join(KINDS))
    return kind


def make_config(kind: str, quick: bool = False, overrides: Mapping[str, Any] | None = None,
                **kw: Any) -> TheoryConfig:
    """The preset of ``kind`` (``quick``: smaller samples) with typed ``overrides``
    (``gaussian.mc_n=200000``, ``toy2d.n_per_class=1000``)."""
    preset = TheoryConfig(check_kind(kind), quick, GaussianConfig.preset(quick),  # type: ignore[arg-type]  # checked
                          Toy2dConfig.preset(quick))
    return apply_overrides(preset, {**(overrides or {}), **kw}, reserved=RESERVED)
