"""The recipe engine: every recipe (ilyas2019, richardson2020, theory, demo) runs on it.

A recipe is a list of :class:`Stage` objects and three functions (results, figures,
report); :func:`run_recipe` owns everything else:

* the stage loop: a stage that completed has ``<stage>/DONE.json`` and is read back when
  the command runs again (resume after a crash); each stage starts from
  ``seed_everything(seed)``, so a resumed run computes what an uninterrupted one would;
* the progress display, one format for all: ``[recipe] stage i/N: name (running) ·
  elapsed 1m02s · about 3m10s left``, plain lines when stderr is not a terminal, and the
  same lines appended to ``OUT/log.txt``;
* the folder guard: a folder holding a run made with another recipe, config or seed is
  refused with one line;
* ``--force``: the run folder's previous contents are removed first, so every stage
  recomputes, including the training runs and constructions inside it;
* ``config.json``: the resolved config, the command line that reproduces the run, and
  the provenance (:func:`advlab.provenance.environment`);
* ``results.json``: the recipe's results with ``format``, ``recipe``, ``command``,
  ``seed`` and ``provenance``; NaN is written as ``null``;
* ``torchrun``: rank 0 alone writes the run folder; each stage runs on every rank (DDP
  training, sharded construction, split evaluation) or on rank 0 alone while the others
  wait (:mod:`advlab.experiments.ranks`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import math
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from advlab.errors import AdvlabError
from advlab.experiments import ranks as rk
from advlab.overrides import diff, format_value
from advlab.progress import clock
from advlab.provenance import environment
from advlab.report.figures import figure_formats
from advlab.seeding import seed_everything
from advlab.store import RunDir, atomic_write_json, read_json, to_jsonable

#: the ``format`` key of config.json and results.json
FORMAT = "advlab.run/1"


@dataclass(frozen=True)
class Stage:
    """One unit of a recipe: a sub-folder of the run and the function that fills it.

    Attributes:
        name: the stage folder, relative to the run (``"source_standard"``, ``"0-6/synthetic"``).
        fn: ``fn(stage_dir) -> result`` (JSON-able, usually a dict); it may write anything
            inside ``stage_dir`` and read earlier stages' results through its closure.
        title: shown in the progress lines (default: ``name``).
        budget_s: expected seconds on 2 CPU cores (feeds "time left"; optional).
        ranks: under torchrun, ``"all"`` (every rank runs ``fn``: DDP training, sharded
            construction, split evaluation) or ``"main"`` (rank 0 alone, as one process,
            while the others wait); None: the recipe's :attr:`Recipe.ranks`.
    """

    name: str
    fn: Callable[[Path], Any]
    title: str = ""
    budget_s: float | None = None
    ranks: rk.Mode | None = None


@dataclass
class RunContext:
    """What a recipe's stages see: the run folder, the config and the earlier results.

    Attributes:
        results: ``{stage name: result}``, filled as stages finish (or are read back).
    """

    out: Path
    recipe: str
    config: Any
    seed: int
    device: str
    data_root: str | None = None
    results: dict[str, Any] = field(default_factory=dict)

    def path(self, *parts: str) -> Path:
        return self.out.joinpath(*parts)

    @property
    def figures(self) -> Path:
        return self.out / "figures"


class Progress:
    """The one progress format: stage i/N, elapsed time and time left.

    Lines go to ``stream`` (bold stage names on a terminal, plain otherwise) and are
    appended, always plain, to ``log``.
    """

    def __init__(self, tag: str, stages: Sequence[Stage], log: Path | None,
                 stream: TextIO | None = None) -> None:
        self.tag, self.stages, self.log = tag, list(stages), log
        self.stream = stream if stream is not None else sys.stderr
        self.t0 = time.monotonic()
        self.ran: list[float] = []

    def _left(self, i: int) -> float | None:
        rest = self.stages[i - 1:]
        if all(s.budget_s is not None for s in rest):
            return sum(s.budget_s or 0.0 for s in rest)
        if self.ran:
            return sum(self.ran) / len(self.ran) * len(rest)
        return None

    def stage(self, i: int, stage: Stage, cached: bool) -> None:
        """Announce stage ``i`` (1-based) before it runs or is read back."""
        left = self._left(i)
        tail = f" · about {clock(left)} left" if left is not None and not cached else ""
        name = stage.title or stage.name
        self.emit(f"stage {i}/{len(self.stages)}: {name} ({'cached' if cached else 'running'})"
                  f" · elapsed {clock(time.monotonic() - self.t0)}{tail}", bold=name)

    def emit(self, text: str, bold: str | None = None) -> None:
        """One line: ``[tag] text`` on the stream and in the log."""
        line = f"[{self.tag}] {text}"
        shown = line
        if bold and getattr(self.stream, "isatty", lambda: False)():
            shown = line.replace(bold, f"\033[1m{bold}\033[0m", 1)
        print(shown, file=self.stream, flush=True)
        if self.log is not None:
            with open(self.log, "a", encoding="utf-8") as f:
                f.write(line + "\n")


def _timed(fn: Callable[[Path], Any], d: Path) -> Any:
    """Run a stage; a dict result records its wall time under ``seconds``."""
    t0 = time.monotonic()
    out = fn(d)
    if isinstance(out, dict) and "seconds" not in out:
        out["seconds"] = round(time.monotonic() - t0, 2)
    return out


def _json_safe(obj: Any) -> Any:
    """Like :func:`advlab.store.to_jsonable`, with NaN as None (``null``)."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, str) and obj == "nan":
        return None
    return obj


def config_dict(config: Any) -> Any:
    """A config (dataclass or dict) as JSON types."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    return _json_safe(to_jsonable(config))


def guard(out: Path, recipe: str, config: Any, seed: int) -> None:
    """Refuse a folder that holds a run of another recipe, config or seed (one line)."""
    path = out / "config.json"
    if not path.is_file():
        return
    old = read_json(path)
    if not isinstance(old, dict) or old.get("format") != FORMAT:
        raise AdvlabError(f"out: {str(out)!r} holds a config.json that advlab's run engine did "
                          "not write; use a new folder", param="out")
    if old.get("recipe") != recipe:
        raise AdvlabError(f"out: {str(out)!r} holds a {old.get('recipe')} run, not {recipe}; "
                          "use a new folder", param="out")
    new = config_dict(config)
    before = old.get("config") or {}
    changed = sorted(k for k in set(before) | set(new) if before.get(k) != new.get(k))
    if old.get("seed") != seed:
        changed.insert(0, "seed")
    if changed:
        raise AdvlabError(f"out: {str(out)!r} holds a {recipe} run made with another "
                          f"{', '.join(changed[:6])}{' ...' if len(changed) > 6 else ''}; use a "
                          "new folder, or --force to recompute every stage", param="out")


def clear(out: Path) -> None:
    """Remove a previous run from ``out`` (only what the engine owns: refuses other folders)."""
    if not out.is_dir():
        return
    if any(out.iterdir()) and not (out / "config.json").is_file():
        raise AdvlabError(f"out: {str(out)!r} is not empty and holds no advlab run; --force "
                          "only clears run folders", param="out")
    for child in out.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


@dataclass(frozen=True)
class Recipe:
    """What a recipe provides to the engine.

    Attributes:
        name: ``ilyas2019``, ``richardson2020``, ``theory``, ``demo``.
        stages: ``stages(ctx) -> [Stage, ...]`` in run order.
        results: ``results(ctx) -> dict`` assembled from ``ctx.results``.
        figures: ``figures(ctx, results)`` writes ``OUT/figures/*``.
        report: ``report(ctx, results)`` writes ``report.md`` / ``report.html``.
        ranks: the stages' mode under torchrun unless a stage sets its own (``"all"``:
            every rank runs them; ``"main"``: rank 0 alone; :mod:`advlab.experiments.ranks`).
    """

    name: str
    stages: Callable[[RunContext], list[Stage]]
    results: Callable[[RunContext], dict[str, Any]]
    figures: Callable[[RunContext, dict[str, Any]], None]
    report: Callable[[RunContext, dict[str, Any]], None]
    ranks: rk.Mode = "all"

    def __post_init__(self) -> None:
        if self.ranks not in rk.MODES:
            raise ValueError(f"Recipe.ranks: got {self.ranks!r}; expected one of {rk.MODES}")


def command_line(words: Sequence[str], options: Mapping[str, Any], *, preset: Any = None,
                 config: Any = None) -> str:
    """The command line that reproduces a run: ``words``, the options, then ``--set`` for
    every setting where ``config`` differs from ``preset`` (both dataclasses).

    Args:
        options: ``{"--flag": value}``; None and False are left out, True is a bare flag.
    """
    parts = list(words)
    for flag, value in options.items():
        if value is None or value is False:
            continue
        parts += [flag] if value is True else [flag, str(value)]
    if preset is not None and config is not None:
        for key, value in diff(preset, config).items():
            parts += ["--set", f"{key}={format_value(value)}"]
    return shlex.join(parts)


def run_recipe(recipe: Recipe, out: str | Path, *, config: Any, seed: int, command: str,
               device: str = "cpu", force: bool = False, data_root: str | None = None,
               figure_format: Sequence[str] | None = None, stream: TextIO | None = None
               ) -> dict[str, Any]:
    """Run ``recipe`` into ``out`` (resuming completed stages); return results.json's dict.

    Under torchrun every rank calls it with the same arguments and gets the same dict;
    rank 0 alone writes ``out`` (:mod:`advlab.experiments.ranks`).

    Args:
        config: the recipe's resolved config (a dataclass); saved and guarded.
        command: the command line that reproduces the run (saved and reported).
        force: remove the folder's previous run first: every stage recomputes.
        figure_format: formats written for every figure (PNG always); None keeps the
            enclosing run's (a recipe run inside the demo draws what the demo asks for).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise AdvlabError(f"out: {str(out)!r} is an existing file; expected a folder", param="out")
    r = rk.start(device)
    try:
        return _run(recipe, out, r, config=config, seed=seed, command=command, device=device,
                    force=force, data_root=data_root, figure_format=figure_format, stream=stream)
    finally:
        rk.finish(r)


def _claim(out: Path, r: rk.Ranks, recipe: Recipe, config: Any, seed: int, command: str,
           device: str, force: bool, data_root: str | None) -> RunDir | None:
    """Rank 0: clear (``force``) or guard the folder, write config.json; return its RunDir.
    The other ranks check the guard too (the same verdict) and get None."""
    if force and r.main:
        clear(out)
    elif not force:
        guard(out, recipe.name, config, seed)
    if not r.main:
        return None
    run_dir = RunDir(out)
    atomic_write_json(out / "config.json", {
        "format": FORMAT, "recipe": recipe.name, "command": command, "seed": seed,
        "device": device, "data_root": data_root, "config": config_dict(config),
        "provenance": environment(device)})
    return run_dir


def _run(recipe: Recipe, out: Path, r: rk.Ranks, *, config: Any, seed: int, command: str,
         device: str, force: bool, data_root: str | None,
         figure_format: Sequence[str] | None, stream: TextIO | None) -> dict[str, Any]:
    """:func:`run_recipe` on this rank (rank 0 writes; the others compute and read back)."""
    run_dir = _claim(out, r, recipe, config, seed, command, device, force, data_root)
    rk.barrier(r)  # nobody starts before rank 0 has cleared and claimed the folder
    ctx = RunContext(out, recipe.name, config, seed, rk.stage_device(r, device), data_root)
    formats = figure_formats(figure_format) if figure_format is not None else contextlib.nullcontext()
    with formats:
        stages = recipe.stages(ctx)
        progress = Progress(recipe.name, stages, out / "log.txt" if r.main else None,
                            stream if r.main else io.StringIO())
        for i, stage in enumerate(stages, 1):
            cached = rk.rank0_flag(r, run_dir is not None and run_dir.is_done(stage.name))
            progress.stage(i, stage, cached)
            seed_everything(seed)
            t0 = time.monotonic()
            fn = functools.partial(_timed, stage.fn) if r.main else stage.fn
            ctx.results[stage.name] = rk.run_stage(r, run_dir, out, stage.name, fn,
                                                   stage.ranks or recipe.ranks, cached)
            if not cached:
                progress.ran.append(time.monotonic() - t0)
        if r.main:
            progress.emit("results, figures and report")
            results = recipe.results(ctx)
            recipe.figures(ctx, results)
    if not r.main:
        rk.barrier(r)
        return dict(rk.read_back(out / "results.json"))
    results = {"format": FORMAT, "recipe": recipe.name, "command": command, "seed": seed,
               **results, "provenance": environment(device)}
    results = config_dict(results)
    atomic_write_json(out / "results.json", results)
    recipe.report(ctx, results)
    progress.emit(f"done in {clock(time.monotonic() - progress.t0)}: {out / 'report.html'}")
    rk.barrier(r)
    return results


__all__ = ["FORMAT", "Progress", "Recipe", "RunContext", "Stage", "clear", "command_line",
           "config_dict", "guard", "run_recipe"]
