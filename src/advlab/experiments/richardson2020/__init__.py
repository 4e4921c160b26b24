"""Recipe ``richardson2020``: A Bayes-Optimal View on Adversarial Examples.

Fits one MFA per class of a real pair of classes, builds symmetric and asymmetric
synthetic datasets whose Bayes-optimal classifier is known, and compares the minimum-L2
adversarial perturbations of the Bayes-optimal classifier, the all-conv CNN, linear and
RBF SVMs and a TRADES CNN (Figures 4, 6, 7, 9, 10, 11, Table 1, Appendix D.4).

    >>> from advlab.experiments import richardson2020
    >>> results = richardson2020.run("runs/rw", dataset="mnist5k", scale="quick")
    >>> results["datasets"]["mnist5k:0-6"]["symmetric"]["cnn"]["mean_l2"]

Files: ``config`` (presets), ``stages`` (the stage list and stage bodies), ``synth``,
``models`` and ``attack`` (their work units), ``results`` (results.json), ``figures``,
``report``, ``paper`` (the paper's numbers). See docs/richardson2020.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advlab.experiments.engine import Recipe, command_line, run_recipe
from advlab.experiments.richardson2020 import figures, report, results, stages
from advlab.experiments.richardson2020.config import RichardsonConfig, make_config
from advlab.experiments.richardson2020.report import add_report_sections

#: Measured wall time (s) of ``scale="quick"`` (mnist5k, pair 0-6, every stage) on an
#: idle 2-core CPU machine inside `make demo` from a fresh clone: 19 s (the same run took
#: 1252 s while the machine was shared by eight busy processes).
QUICK_BUDGET_S = 20.0

#: under torchrun rank 0 runs every stage alone while the other ranks wait: the stages
#: attack with the minimum-norm attacks of .attack (not split) and write examples
RECIPE = Recipe("richardson2020", stages.stages, results.collect, figures.make_all,
                report.write_report, ranks="main")


def cli_command(cfg: RichardsonConfig, out: str | Path, device: str, data_root: str | None) -> str:
    """The ``advlab reproduce richardson2020`` command line that reproduces a run of ``cfg``."""
    preset = make_config(cfg.dataset, cfg.scale, cfg.seed, cfg.pairs)
    return command_line(["advlab", "reproduce", "richardson2020"],
                        {"--dataset": cfg.dataset, "--pairs": ",".join(cfg.pairs),
                         "--scale": cfg.scale, "--seed": cfg.seed, "--out": out,
                         "--device": device, "--data-root": data_root},
                        preset=preset, config=cfg)


def run(out: str | Path, *, dataset: str = "mnist5k", scale: str = "quick", seed: int = 0,
        device: str = "cpu", force: bool = False, data_root: str | None = None,
        pairs: str | None = None, config: RichardsonConfig | None = None,
        figure_format: tuple[str, ...] | None = None, **overrides: Any) -> dict[str, Any]:
    """Reproduce the Bayes-optimal paper's experiments into ``out``; return results.json's dict.

    Args:
        out: run folder (resumed when it holds completed stages; ``force`` recomputes all).
        dataset: mnist5k | fashion-mnist | mnist | celeba | digits.
        scale: tiny (CI) | quick | medium | full.
        pairs: "0-6,2-7" (CelebA: attribute names); default: the dataset's pairs
            (quick / tiny: the first one).
        config: a resolved config (e.g. from a saved config.json); else from the preset.
        **overrides: any :class:`RichardsonConfig` field, e.g. ``n_train=500``.
    """
    cfg = config if config is not None else make_config(dataset, scale, seed, pairs, **overrides)
    return run_recipe(RECIPE, out, config=cfg, seed=cfg.seed, device=device, force=force,
                      data_root=data_root, figure_format=figure_format,
                      command=cli_command(cfg, out, device, data_root))


__all__ = ["QUICK_BUDGET_S", "RECIPE", "RichardsonConfig", "add_report_sections", "cli_command",
           "make_config", "run"]
