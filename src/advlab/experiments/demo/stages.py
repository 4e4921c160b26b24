"""The demo's stages: each runs a whole recipe into its own sub-folder (cached there too)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from advlab.experiments.engine import RunContext, Stage

DemoStage = Callable[[RunContext, Path], dict[str, Any]]


def _theory(kind: str) -> DemoStage:
    def go(ctx: RunContext, d: Path) -> dict[str, Any]:
        from advlab.experiments import theory

        return theory.run(d, kind=kind, seed=ctx.seed, quick=True)

    return go


def _recipe(name: str, dataset: str | None) -> DemoStage:
    """A whole recipe at the demo's scale on ``dataset`` (``None``: the config's
    ``features_dataset``)."""
    def go(ctx: RunContext, d: Path) -> dict[str, Any]:
        import importlib

        recipe = importlib.import_module(f"advlab.experiments.{name}")
        out: dict[str, Any] = recipe.run(d, dataset=dataset or ctx.config.features_dataset,
                                         scale=ctx.config.scale, seed=ctx.seed, device=ctx.device)
        return out

    return go


#: (name, title, expected wall seconds on an idle 2-core CPU (fresh clone, seed 0, rounded
#: up; they only feed the "time left" display), what it runs)
STAGES: tuple[tuple[str, str, float, DemoStage], ...] = (
    ("theory-gaussian", "Theory: Gaussian robust MLE (features paper §4)", 10, _theory("gaussian")),
    ("theory-toy2d", "Theory: 2-D Bayes-optimal distributions (Bayes-optimal paper §2)", 15,
     _theory("toy2d")),
    ("richardson2020", "Bayes-optimal paper, quick preset (mnist5k 0-6)", 30,
     _recipe("richardson2020", "mnist5k")),
    ("ilyas2019", "Features paper, quick preset (Fashion-MNIST, or mnist5k)", 450,
     _recipe("ilyas2019", None)),
)


def stages(ctx: RunContext) -> list[Stage]:
    """The four demo stages, in order."""
    return [Stage(name, functools.partial(fn, ctx), title=title, budget_s=budget)
            for name, title, budget, fn in STAGES]
