"""The demo's stages, its progress display with time left, and its combined report."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from advlab.report import Report
from advlab.store import RunDir, read_json


@dataclass(frozen=True)
class Stage:
    """One demo stage: a name, an expected wall time on 2 CPU cores, and what it runs."""

    name: str
    title: str
    budget_s: float
    run: Callable[[Path, int, str, bool, str], dict[str, Any]]


def _theory(kind: str) -> Callable[[Path, int, str, bool, str], dict[str, Any]]:
    def go(out: Path, seed: int, device: str, force: bool, scale: str) -> dict[str, Any]:
        from advlab.theory import run_theory

        return run_theory(kind, out, seed=seed, quick=True)  # type: ignore[no-any-return]

    return go


def _recipe(name: str, dataset: str) -> Callable[[Path, int, str, bool, str], dict[str, Any]]:
    def go(out: Path, seed: int, device: str, force: bool, scale: str) -> dict[str, Any]:
        import importlib

        recipe = importlib.import_module(f"advlab.experiments.{name}")
        return recipe.run(out, dataset=dataset, scale=scale, seed=seed, device=device, force=force)  # type: ignore[no-any-return]

    return go


STAGES: tuple[Stage, ...] = (
    # budgets: wall seconds measured on an idle 2-core CPU machine (fresh clone, seed 0),
    # rounded up; they only feed the "time left" display.
    Stage("theory-gaussian", "Theory: Gaussian robust MLE (features paper §4)", 10, _theory("gaussian")),
    Stage("theory-toy2d", "Theory: 2-D Bayes-optimal distributions (Bayes-optimal paper §2)", 15, _theory("toy2d")),
    Stage("richardson2020", "Bayes-optimal paper, quick preset (mnist5k 0-6)", 30, _recipe("richardson2020", "mnist5k")),
    Stage("ilyas2019", "Features paper, quick preset (mnist5k)", 330, _recipe("ilyas2019", "mnist5k")),
)


def _call(st: Stage, seed: int, device: str, force: bool, scale: str, d: Path) -> dict[str, Any]:
    return st.run(d, seed, device, force, scale)


def _eta(seconds: float) -> str:
    m, s = divmod(int(max(seconds, 0)), 60)
    return f"{m}m{s:02d}s"


SCALES = ("quick", "tiny")


def run(out: str | Path = "runs/demo", *, seed: int = 0, device: str = "cpu", force: bool = False,
        scale: str = "quick", command: str = "advlab demo") -> dict[str, Any]:
    """Run every stage (cached), then write the combined report; return results.json's dict.

    Args:
        scale: ``quick`` (the demo: the recipes' quick presets, ~6 min on 2 idle cores) or
            ``tiny`` (the recipes' CI presets, for tests: numbers are not meaningful).
    """
    from advlab.errors import AdvlabError

    if scale not in SCALES:
        raise AdvlabError(f"--scale: got {scale!r}; expected one of {', '.join(SCALES)}")
    run_dir = RunDir(out, force=force)
    config = {"command": command, "seed": seed, "device": device, "scale": scale,
              "stages": [s.name for s in STAGES]}
    config_path = run_dir.path("config.json")
    if config_path.is_file() and not force:
        old = read_json(config_path)
        if {k: old.get(k) for k in ("seed", "scale")} != {"seed": seed, "scale": scale}:
            raise AdvlabError(f"--out: {run_dir.root} holds a demo with seed {old.get('seed')} and "
                              f"scale {old.get('scale')!r}; use another --out or --force")
    run_dir.write_config(config)
    t0 = time.monotonic()
    left = sum(s.budget_s for s in STAGES)
    results: dict[str, Any] = {}
    for i, st in enumerate(STAGES, 1):
        cached = run_dir.is_done(st.name)
        print(f"[demo] stage {i}/{len(STAGES)}: {st.title} — "
              f"{'cached' if cached else 'running'}; elapsed {_eta(time.monotonic() - t0)}, "
              f"about {_eta(left)} left", file=sys.stderr, flush=True)
        results[st.name] = run_dir.stage(st.name, partial(_call, st, seed, device, force, scale))
        left -= st.budget_s
    results["command"] = command
    results["seed"] = seed
    run_dir.write_results(results)
    _report(run_dir, results, command, seed).write(run_dir.root)
    print(f"[demo] done in {_eta(time.monotonic() - t0)}: {run_dir.root / 'report.html'}",
          file=sys.stderr, flush=True)
    return results


def _report(run_dir: RunDir, results: dict[str, Any], command: str, seed: int) -> Report:
    """One report: what the demo is, then each recipe's own sections (figures prefixed)."""
    import importlib

    rep = Report("advlab demo: adversarial examples, two papers, one laboratory",
                 command=command, config=read_json(run_dir.path("config.json")))
    rep.section("What this is").text(
        "This report reruns, at laptop scale on 4,000 real MNIST digits (mnist5k), the two "
        "research systems advlab implements: 'Adversarial Examples Are Not Bugs, They Are "
        "Features' (Ilyas et al. 2019) and 'A Bayes-Optimal View on Adversarial Examples' "
        "(Richardson & Weiss), together with the theory of both papers. Tables put our "
        "numbers beside the paper's (CIFAR-10 / MNIST at full scale); each table carries the "
        "command and configuration that produced it. Quick presets use far fewer images, "
        "steps and epochs than the papers, so absolute numbers differ; see docs/ for what "
        f"reproduces and what does not. Seed: {seed}."
    )
    for name in ("ilyas2019", "richardson2020"):
        recipe = importlib.import_module(f"advlab.experiments.{name}")
        recipe.add_report_sections(rep, results[name], run_dir.path(name), prefix=f"{name}/")
    from advlab.theory import add_report_sections as theory_sections

    for kind in ("gaussian", "toy2d"):
        theory_sections(rep, kind, results[f"theory-{kind}"], run_dir.path(f"theory-{kind}"),
                        prefix=f"theory-{kind}/")
    return rep
