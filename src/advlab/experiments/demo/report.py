"""The demo's combined report: what it is, then each recipe's own sections."""

from __future__ import annotations

import importlib
from typing import Any

from advlab.experiments.engine import RunContext
from advlab.experiments.findings import add_scorecard
from advlab.report import Report
from advlab.store import read_json


def write_report(ctx: RunContext, results: dict[str, Any]) -> None:
    """One report: what the demo is, then each recipe's sections (figure paths prefixed)."""
    rep = Report("advlab demo: adversarial examples, two papers, one laboratory",
                 command=results["command"], config=read_json(ctx.path("config.json")))
    add_scorecard(rep, results["findings"], title="Scorecard of both papers")
    cfg = ctx.config
    rep.section("What this is").text(
        "This report reruns, at laptop scale, the two research systems advlab implements: "
        "'Adversarial Examples Are Not Bugs, They Are Features' (Ilyas et al. 2019), here on "
        f"{cfg.features_dataset} ({cfg.features_dataset_reason}), and 'A Bayes-Optimal View "
        "on Adversarial Examples' (Richardson & Weiss), on MNIST digits (mnist5k), together "
        "with the theory of both papers. Tables put our "
        "numbers beside the paper's (CIFAR-10 / MNIST at full scale); each table carries the "
        "command and configuration that produced it. Quick presets use far fewer images, "
        "steps and epochs than the papers, so absolute numbers differ; see docs/ for what "
        f"reproduces and what does not. Seed: {ctx.seed}."
    )
    for name in ("ilyas2019", "richardson2020"):
        recipe = importlib.import_module(f"advlab.experiments.{name}")
        recipe.add_report_sections(rep, results[name], ctx.path(name), prefix=f"{name}/")
    from advlab.experiments.theory import add_report_sections as theory_sections

    for kind in ("gaussian", "toy2d"):
        theory_sections(rep, results[f"theory-{kind}"], ctx.path(f"theory-{kind}"),
                        prefix=f"theory-{kind}/")
    rep.write(ctx.out)
