"""``advlab demo``: both papers end to end at laptop scale, and the theory, in one report.

Stages (each a whole recipe, cached in its own sub-folder of ``--out``, so a second run
reuses them):

1. ``theory-gaussian``  — features paper §4 / App. E: robust MLE of a Gaussian.
2. ``theory-toy2d``     — Bayes-optimal paper §2: the eight 2-D distributions.
3. ``richardson2020``   — Bayes-optimal paper, quick preset, mnist5k pair 0-6.
4. ``ilyas2019``        — features paper, quick preset, on Fashion-MNIST when it is
   installed and on mnist5k otherwise (the report says which and why).

Then one combined ``report.md`` / ``report.html`` / ``results.json`` at the top of
``--out``. Files: ``config``, ``stages``, ``results``, ``report`` (the demo draws no
figures of its own: its report embeds the recipes').
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advlab.experiments.demo import report, results, stages
from advlab.experiments.demo.config import SCALES, DemoConfig, make_config
from advlab.experiments.demo.stages import STAGES
from advlab.experiments.engine import Recipe, command_line, run_recipe


def _no_figures(ctx: Any, results: dict[str, Any]) -> None:
    """The demo's report embeds the figures its recipes drew in their sub-folders."""


RECIPE = Recipe("demo", stages.stages, results.collect, _no_figures, report.write_report)


def cli_command(cfg: DemoConfig, out: str | Path, seed: int, device: str) -> str:
    """The ``advlab demo`` command line that reproduces a run of ``cfg``."""
    return command_line(["advlab", "demo"], {"--out": out, "--scale": cfg.scale, "--seed": seed,
                                             "--device": device,
                                             "--features-dataset": cfg.features_dataset})


def run(out: str | Path = "runs/demo", *, seed: int = 0, device: str = "cpu", force: bool = False,
        scale: str = "quick", command: str | None = None,
        figure_format: tuple[str, ...] | None = None,
        features_dataset: str | None = None) -> dict[str, Any]:
    """Run every stage (cached), then write the combined report; return results.json's dict.

    Args:
        scale: ``quick`` (the demo: the recipes' quick presets, sized for 10 min on 2 idle
            cores) or ``tiny`` (the recipes' CI presets, for tests: numbers are not
            meaningful).
        features_dataset: ``fashion-mnist`` or ``mnist5k`` for the features paper
            (default: Fashion-MNIST when installed, see :func:`pick_features_dataset`).
        command: the command line recorded (default: the equivalent ``advlab demo``).
    """
    cfg = make_config(scale, **({"features_dataset": features_dataset} if features_dataset else {}))
    return run_recipe(RECIPE, out, config=cfg, seed=seed, device=device, force=force,
                      figure_format=figure_format,
                      command=command or cli_command(cfg, out, seed, device))


__all__ = ["RECIPE", "SCALES", "STAGES", "DemoConfig", "cli_command", "run"]
