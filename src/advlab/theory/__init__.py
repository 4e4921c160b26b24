"""Theory made executable: the Gaussian robust MLE of the features paper (Section 4,
App. E, Figs. 4 and 14) and the 2-D Bayes-optimal examples of the Bayes-optimal paper
(Section 2, Fig. 2).

Entry points::

    results = run_theory("gaussian", "runs/theory-gaussian", seed=0, quick=True)
    results = run_theory("toy2d", "runs/theory-toy2d", seed=0, quick=True)

Each writes ``config.json``, ``results.json``, ``figures/*.png``, ``report.md`` and
``report.html`` into ``out``. The mathematics lives in :mod:`advlab.theory.gaussian`,
:mod:`advlab.theory.linear2d`, :mod:`advlab.theory.toy2d` and
:mod:`advlab.theory.boundary`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from advlab.errors import bad_argument

KINDS = ("gaussian", "toy2d")


def check_kind(kind: str) -> str:
    """Validate a study name; raises AdvlabError naming the choices."""
    if kind not in KINDS:
        raise bad_argument("KIND", kind, "one of " + ", ".join(KINDS))
    return kind


def run_theory(kind: str, out: str | os.PathLike[str], seed: int = 0, quick: bool = False,
               command: str | None = None) -> dict[str, Any]:
    """Run one theory study into ``out``; return the results.json dict.

    Args:
        kind: ``gaussian`` (features paper §4 / App. E) or ``toy2d`` (Bayes-optimal §2).
        out: the run folder (created; must not be a file).
        seed: the random seed (same seed, same numbers on the same machine).
        quick: smaller sample sizes (well under a minute on 2 CPU cores each).
        command: the command line recorded in the report (default: the equivalent CLI).
    """
    from advlab.store import RunDir, seed_everything
    from advlab.theory.report import build_report

    check_kind(kind)
    run_dir = RunDir(out)
    command = command or f"advlab theory {kind} --out {out} --seed {seed}" + (" --quick" if quick else "")
    config = {"kind": kind, "seed": seed, "quick": quick, "command": command}
    run_dir.write_config(config)
    seed_everything(seed)
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is faster on a shared machine
    try:
        if kind == "gaussian":
            from advlab.theory.study_gaussian import run
        else:
            from advlab.theory.study_toy2d import run
        results = run(Path(out), seed, quick)
    finally:
        torch.set_num_threads(threads)
    results = {"kind": kind, "seed": seed, "quick": quick, "command": command, **results}
    run_dir.write_results(results)
    build_report(kind, results, Path(out), command, config).write(run_dir.root)
    from advlab.store import read_json

    return read_json(run_dir.path("results.json"))  # type: ignore[no-any-return]


def add_report_sections(rep: Any, kind: str, results: dict[str, Any], run_dir: str | os.PathLike[str],
                        prefix: str = "") -> None:
    """Append the sections of one study to another report (figure paths get ``prefix``)."""
    from advlab.theory.report import add_sections

    add_sections(rep, check_kind(kind), results, prefix)


__all__ = ["KINDS", "add_report_sections", "check_kind", "run_theory"]
