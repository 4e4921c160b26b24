"""Recipe ``ilyas2019``: "Adversarial Examples Are Not Bugs, They Are Features".

>>> from advlab.experiments import ilyas2019
>>> results = ilyas2019.run("runs/ilyas", dataset="mnist5k", scale="quick")
>>> results["table7"]["rows"]["d_r"]["robust"]["1"]

Also ``advlab reproduce ilyas2019 --dataset mnist5k --scale quick --out runs/ilyas``.
Files: ``config`` (presets), ``stages`` (the stage list and its work units), ``evals``
(the paper's evaluations), ``results`` (results.json), ``figures``, ``report``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advlab.experiments.engine import Recipe, command_line, run_recipe
from advlab.experiments.ilyas2019 import figures, report, results, stages
from advlab.experiments.ilyas2019.config import (
    DEFAULT_DATASET,
    PRESETS,
    IlyasConfig,
    TrainSettings,
    resolve_config,
)
from advlab.experiments.ilyas2019.report import add_report_sections

#: wall time (s) of the quick preset on an idle 2-core CPU machine, measured inside
#: `make demo` from a fresh clone (seed 0, Fashion-MNIST): 442 s of stage time, 7 min 24 s
#: (docs/results/demo/).
QUICK_BUDGET_S: float = 450.0

RECIPE = Recipe("ilyas2019", stages.stages, results.collect, figures.make_all, report.write_report)


def cli_command(cfg: IlyasConfig, out: str | Path, seed: int, device: str,
                data_root: str | None) -> str:
    """The ``advlab reproduce ilyas2019`` command line that reproduces a run of ``cfg``."""
    return command_line(["advlab", "reproduce", "ilyas2019"],
                        {"--dataset": cfg.dataset, "--scale": cfg.scale, "--out": out,
                         "--seed": seed, "--device": device, "--data-root": data_root},
                        preset=PRESETS[cfg.scale](cfg.dataset), config=cfg)


def run(out: str | Path, *, dataset: str | None = None, scale: str = "quick", seed: int = 0,
        device: str = "cpu", force: bool = False, data_root: str | None = None,
        config: IlyasConfig | None = None, figure_format: tuple[str, ...] | None = None,
        **overrides: Any) -> dict[str, Any]:
    """Run the whole recipe into ``out``; return the contents of ``results.json``.

    Args:
        out: the run folder (a completed stage inside is skipped; ``force`` recomputes all).
        dataset: any ``advlab.load_dataset`` name (default per scale: quick mnist5k,
            medium fashion-mnist, full cifar10).
        scale: ``tiny`` (CI), ``quick``, ``medium`` or ``full`` (see config.py).
        config: a resolved config (e.g. from a saved config.json); else from the preset.
        overrides: fields of :class:`IlyasConfig` (``"constructed_train.epochs"`` style
            for training settings), typed by the field.
    """
    cfg = config if config is not None else resolve_config(
        dataset or DEFAULT_DATASET.get(scale, "mnist5k"), scale, **overrides)
    return run_recipe(RECIPE, out, config=cfg, seed=seed, device=device, force=force,
                      data_root=data_root, figure_format=figure_format,
                      command=cli_command(cfg, out, seed, device, data_root))


__all__ = ["QUICK_BUDGET_S", "RECIPE", "IlyasConfig", "TrainSettings", "add_report_sections",
           "cli_command", "resolve_config", "run"]
