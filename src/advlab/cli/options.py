"""The command line's shared options, each spelled and documented once (public: a new
command, or a script built on click, reuses them).

Every decorator here adds one option; :func:`parse_sets` splits ``--set KEY=VALUE`` (the
values stay text: the config layer, :mod:`advlab.overrides`, types them by field), and
:func:`saved_run` reads ``--config OUT/config.json`` to rerun a saved run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from advlab.errors import AdvlabError

F = TypeVar("F", bound=Callable[..., Any])


def flag_of(command: click.Command, param: str, override: bool = False) -> str:
    """How the user sets library parameter ``param`` in ``command``: its option (``--steps``),
    its argument (``KIND``), ``--set param`` for a value set by ``--set`` (``override``) or
    for a config field that has no option of its own, or ``param`` itself."""
    takes_sets = any(p.name == "sets" for p in command.params)
    if override and takes_sets:
        return f"--set {param}"
    for p in command.params:
        if p.name == param:
            return p.opts[0] if isinstance(p, click.Option) else p.human_readable_name
    return f"--set {param}" if takes_sets else param


class AdvlabCommand(click.Command):
    """A command whose user errors name the flag the user typed, not the Python parameter."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AdvlabError as e:
            if e.param is None:
                raise
            raise AdvlabError(e.renamed(flag_of(self, e.param, e.override))) from None


class AdvlabGroup(click.Group):
    """A group whose sub-commands are :class:`AdvlabCommand` (and sub-groups AdvlabGroup)."""

    command_class = AdvlabCommand
    group_class = type


def _option(*args: Any, **kwargs: Any) -> Callable[[F], F]:
    """``click.option`` typed as a decorator that keeps the function's type."""
    deco: Callable[[F], F] = click.option(*args, **kwargs)
    return deco


def _seed(text: str) -> int:
    value = int(text)
    if not 0 <= value < 2**63:
        raise ValueError(text)
    return value


class SeedType(click.ParamType):
    """An integer seed in [0, 2**63)."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            return _seed(str(value))
        except ValueError:
            self.fail(f"got {value!r}; expected an integer in [0, 2**63)", param, ctx)


class EpsType(click.ParamType):
    """A radius, or a comma-separated list of radii: ``0.5``, ``8/255``, ``0.25,0.5``."""

    name = "eps"

    def __init__(self, many: bool = True) -> None:
        self.many = many

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from advlab.overrides import parse_number

        if not isinstance(value, str):
            return value
        expected = ("finite radii >= 0, comma-separated: 0.5,1 or 8/255" if self.many
                    else "one finite number >= 0, e.g. 0.5 or 8/255")
        items = [v for v in value.split(",") if v.strip()]
        try:
            radii = [float(parse_number(v, "eps")) for v in items]
        except AdvlabError:
            radii = []
        if not radii or any(r < 0 for r in radii) or (len(radii) > 1 and not self.many):
            self.fail(f"got {value!r}; expected {expected}", param, ctx)
        return tuple(radii) if self.many else radii[0]


seed_option = _option("--seed", type=SeedType(), default=0, show_default=True, help="Random seed.")
device_option = _option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
                        show_default=True, help="Where to compute; auto picks cuda when available.")
data_root_option = _option(
    "--data-root", type=click.Path(file_okay=False), default=None,
    help="Folder holding real datasets (default: $ADVLAB_DATA, or each dataset's default).")
force_option = _option("--force", is_flag=True,
                       help="Recompute everything instead of reading cached results (a recipe's folder "
                            "is cleared first).")
trust_unverified_option = _option(
    "--trust-unverified", is_flag=True,
    help="Load a checkpoint whose config.json has no weights hash (refused otherwise; a warning "
         "is printed). Only for files you made yourself.")
json_option = _option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
set_option = _option(
    "--set", "sets", multiple=True, metavar="KEY=VALUE",
    help="Override a config setting, typed by the setting: --set n_train=2000, --set "
         "eval_eps=0.5,1 (lists: comma-separated), --set constructed_train.epochs=30 (nested: "
         "dotted keys), --set n_train=none. Repeatable. Unknown keys are refused.")
config_option = _option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
                        help="Rerun a saved run: OUT/config.json of an earlier run (its recipe "
                             "options and settings; options given here and --set win).")
figure_format_option = _option(
    "--figure-format", "figure_format", default="png", show_default=True, metavar="FMT[,FMT]",
    help="Figure files to write: png, pdf, svg, or a list (png,pdf). PNG is always written "
         "(the report embeds it).")


def out_option(required: bool = True, default: str | None = None) -> Callable[[F], F]:
    # no explicit default=None: click 8.3 counts an explicit None as a default and then
    # stops enforcing required=True
    extra = {} if default is None else {"default": default}
    return _option("--out", type=click.Path(), required=required and default is None,
                   help="Output folder (created; a completed run inside is resumed).", **extra)


def points_options(f: F) -> F:
    """The options that choose a model and the points it is tested on (``evaluate``,
    ``attack``): --checkpoint, --dataset, --split, --n, --trust-unverified, --seed,
    --device, --data-root, and --out (optional), --force, --json, and the speed paths
    (:func:`precision_options`)."""
    for deco in reversed([
        _option("--checkpoint", required=True, type=click.Path(), help="Checkpoint folder."),
        _option("--dataset", required=True, help="Dataset name (see `advlab datasets list`)."),
        _option("--split", default="test", show_default=True, help="Split to use."),
        _option("--n", type=click.IntRange(min=1), default=None,
                help="Use a seeded random subset of N points."),
        trust_unverified_option, seed_option, device_option, data_root_option,
        out_option(required=False), force_option, json_option, precision_options]):
        f = deco(f)
    return f


def precision_options(f: F) -> F:
    """The GPU speed paths (:mod:`advlab.precision`): --precision fp32|bf16|fp16 (autocast for
    the model's forward and backward), --channels-last, --compile. ``speed(kw)`` pops them."""
    for deco in reversed([
        _option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32",
                show_default=True,
                help="Run the model's forward and backward passes under autocast in this dtype. "
                     "Attack steps, norms, projections and every verification of success stay "
                     "float32."),
        _option("--channels-last", is_flag=True,
                help="Channels-last memory format for convolution weights and images (faster "
                     "convolutions on GPUs)."),
        _option("--compile", "compile_model", is_flag=True,
                help="Run the model through torch.compile (slow to start; pays off on long runs).")]):
        f = deco(f)
    return f


def speed(kw: dict[str, Any]) -> dict[str, Any]:
    """Pop the :func:`precision_options`: ``{"precision", "channels_last", "compile"}``."""
    return {"precision": kw.pop("precision"), "channels_last": kw.pop("channels_last"),
            "compile": kw.pop("compile_model")}


def points(kw: dict[str, Any]) -> dict[str, Any]:
    """Pop the :func:`points_options` that make an ``advlab.evaluate.protocol.Points``."""
    out = {k: kw.pop(k) for k in ("checkpoint", "dataset", "split", "n", "seed", "trust_unverified")}
    out.update(speed(kw))
    out["device"] = resolve_device(kw.pop("device"))
    out["data_root"] = data_root_env(kw.pop("data_root"))
    return out


def command_line() -> str:
    """The command line as typed: ``advlab ...`` (recorded in reports)."""
    import shlex
    import sys

    return "advlab " + shlex.join(sys.argv[1:])


def resolve_device(device: str) -> str:
    """Map ``auto`` to ``cuda`` when available, else ``cpu``."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise AdvlabError("device: got 'cuda' but no CUDA device is available; use --device cpu",
                          param="device")
    return device


def data_root_env(data_root: str | None) -> str | None:
    return data_root or os.environ.get("ADVLAB_DATA")


def main_rank() -> bool:
    """Whether this process prints a command's summary: always without torchrun, and on
    rank 0 alone under it (every rank runs the command; one line, not one per rank)."""
    from advlab.features.shards import dist_env

    return dist_env()[0] == 0


def echo_json(obj: Any) -> None:
    from advlab.store import to_jsonable

    click.echo(json.dumps(to_jsonable(obj), indent=2))


def formats(text: str) -> tuple[str, ...]:
    """``--figure-format png,pdf`` -> ``("png", "pdf")`` (validated)."""
    from advlab.report.figures import check_formats

    return check_formats(text.split(","))


def parse_sets(items: tuple[str, ...], *, example: str = "n_train=2000") -> dict[str, str]:
    """Split repeated ``--set KEY=VALUE`` options into ``{key: text}`` (typed later by field).

    Raises:
        AdvlabError: an item without ``=`` or key.
    """
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise AdvlabError(f"sets: got {item!r}; expected KEY=VALUE, e.g. {example}", param="sets")
        out[key] = value.strip()
    return out


def saved_run(path: str | None, recipe: str) -> dict[str, Any]:
    """The ``config.json`` of an earlier run of ``recipe`` (``{}`` without ``--config``).

    Raises:
        AdvlabError: the file is missing, not a run's config, or of another recipe.
    """
    if path is None:
        return {}
    from advlab.store import read_json

    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict):
        raise AdvlabError(f"config_file: {path!r} is not the config.json of an advlab run",
                          param="config_file")
    if doc.get("recipe") != recipe:
        raise AdvlabError(f"config_file: {path!r} is a {doc.get('recipe')!r} run, not {recipe}",
                          param="config_file")
    return doc


def given(ctx: click.Context, name: str) -> bool:
    """True when option ``name`` was typed on the command line (not a default)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


__all__ = ["AdvlabCommand", "AdvlabGroup", "EpsType", "SeedType", "command_line", "points",
           "points_options", "flag_of", "config_option", "data_root_env", "data_root_option", "device_option",
           "echo_json", "figure_format_option", "force_option", "formats", "given",
           "json_option", "out_option", "parse_sets", "precision_options", "resolve_device",
           "saved_run", "seed_option", "set_option", "speed", "trust_unverified_option"]
