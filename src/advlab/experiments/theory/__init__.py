"""Recipe ``theory``: the theory of both papers, made executable and reported.

* ``gaussian``: the features paper's Gaussian robust MLE (Section 4, Appendix E):
  Theorems 1-3 checked numerically, Figures 4 and 14.
* ``toy2d``: the Bayes-optimal paper's 2-D distributions (Section 2): Figure 2 and
  Observations 1 and 3.

    >>> from advlab.experiments import theory
    >>> results = theory.run("runs/theory-gaussian", kind="gaussian", seed=0, quick=True)

The mathematics lives in :mod:`advlab.theory`; this recipe runs it. Files: ``config``,
``stages``, ``results``, ``figures``, ``report``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from advlab.experiments.engine import Recipe, command_line, run_recipe
from advlab.experiments.theory import report, results, stages
from advlab.experiments.theory.config import KINDS, TheoryConfig, check_kind, make_config
from advlab.experiments.theory.report import add_report_sections


def _no_figures(ctx: Any, results: dict[str, Any]) -> None:
    """The studies draw their figures inside their stage (they need its samples)."""


#: under torchrun rank 0 computes the studies alone (small closed-form and Monte Carlo
#: maths, nothing to split) while the other ranks wait
RECIPE = Recipe("theory", stages.stages, results.collect, _no_figures, report.write_report,
                ranks="main")


def cli_command(cfg: TheoryConfig, out: str | os.PathLike[str], seed: int) -> str:
    """The ``advlab theory`` command line that reproduces a run of ``cfg``."""
    return command_line(["advlab", "theory", cfg.kind],
                        {"--out": out, "--seed": seed, "--quick": cfg.quick},
                        preset=make_config(cfg.kind, cfg.quick), config=cfg)


def run(out: str | os.PathLike[str], *, kind: str, seed: int = 0, quick: bool = False,
        force: bool = False, config: TheoryConfig | None = None,
        figure_format: tuple[str, ...] | None = None, **overrides: Any) -> dict[str, Any]:
    """Run one theory study into ``out``; return the results.json dict.

    Args:
        kind: ``gaussian`` (features paper §4 / App. E) or ``toy2d`` (Bayes-optimal §2).
        out: the run folder (created; must not be a file).
        seed: the random seed (same seed, same numbers on the same machine).
        quick: smaller sample sizes (well under a minute on 2 CPU cores each).
        overrides: typed settings of the study (``gaussian.mc_n=200000``).
    """
    cfg = config if config is not None else make_config(kind, quick, **overrides)
    return run_recipe(RECIPE, Path(out), config=cfg, seed=seed, force=force,
                      figure_format=figure_format, command=cli_command(cfg, out, seed))


__all__ = ["KINDS", "RECIPE", "TheoryConfig", "add_report_sections", "check_kind", "cli_command",
           "make_config", "run"]
