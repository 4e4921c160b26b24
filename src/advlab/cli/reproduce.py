"""``advlab reproduce RECIPE``: one sub-command per paper recipe (each a thin shell over
``advlab.experiments.<recipe>.run``).

Shared by both: ``--set KEY=VALUE`` (typed by the setting; dotted keys for nested
settings), ``--config OUT/config.json`` (rerun a saved run), ``--out``, ``--seed``,
``--device``, ``--data-root``, ``--force``, ``--figure-format``, ``--json``, and ``--plan``
(print the run's cost plan and run nothing; ``--out`` is then not needed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from advlab.cli.options import (
    AdvlabCommand,
    AdvlabGroup,
    config_option,
    data_root_env,
    data_root_option,
    device_option,
    echo_json,
    figure_format_option,
    force_option,
    formats,
    given,
    json_option,
    main_rank,
    out_option,
    parse_sets,
    resolve_device,
    saved_run,
    seed_option,
    set_option,
)

SCALES = ["tiny", "quick", "medium", "full"]


plan_option = click.option(
    "--plan", is_flag=True,
    help="Print the run's cost plan (passes, FLOPs, memory, GPU and CPU hours per stage; "
         "docs/scale.md) and run nothing. With --json: the plan as JSON.")


def _recipe_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for deco in reversed([set_option, config_option, out_option(required=False), seed_option,
                          device_option, data_root_option, force_option, figure_format_option,
                          json_option, plan_option]):
        f = deco(f)
    return f


def _need_out(out: str | None) -> str:
    if out is None:
        raise click.UsageError("Missing option '--out' (only --plan runs without it).")
    return out


def _print_plan(plan: dict[str, Any], as_json: bool) -> None:
    from advlab.experiments.plan import render

    if as_json:
        echo_json(plan)
    else:
        click.echo(render(plan))


def _from_saved(ctx: click.Context, saved: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """The recipe options: those typed on the command line, else the saved run's, else defaults."""
    old = saved.get("config", {})
    return {k: v if given(ctx, k) or k not in old else old[k] for k, v in options.items()}


def _finish(results: dict[str, Any], out: str, as_json: bool) -> None:
    if not main_rank():
        return
    if as_json:
        echo_json(results)
    else:
        click.echo(f"report: {out}/report.html")


@click.group(cls=AdvlabGroup)
def command() -> None:
    """Reproduce a paper end to end: ilyas2019 or richardson2020.

    Every stage is cached in --out and resumed when the command runs again.
    """


@command.command("ilyas2019", cls=AdvlabCommand)
@click.option("--dataset", default=None,
              help="Dataset name (default per scale: quick mnist5k, medium fashion-mnist, full cifar10).")
@click.option("--scale", type=click.Choice(SCALES), default="quick", show_default=True,
              help="Preset: tiny (CI), quick (CPU minutes), medium (about an hour on a CPU), full (GPU).")
@_recipe_options
@click.pass_context
def ilyas2019(ctx: click.Context, dataset: str | None, scale: str, sets: tuple[str, ...],
              config_file: str | None, out: str | None, seed: int, device: str,
              data_root: str | None, force: bool, figure_format: str, as_json: bool,
              plan: bool) -> None:
    """Reproduce 'Adversarial Examples Are Not Bugs, They Are Features' (Ilyas et al. 2019).

    Trains a standard and an adversarially trained source model, builds D_R, D_NR, D_rand
    and D_det, trains on them, and reports Tables 1 and 7-10 and Figures 2, 3, 7-10 beside
    the paper's CIFAR-10 values in DIR/report.md and DIR/report.html.
    """
    from advlab.experiments import ilyas2019 as recipe
    from advlab.experiments.ilyas2019.config import DEFAULT_DATASET

    saved = saved_run(config_file, "ilyas2019")
    opts = _from_saved(ctx, saved, {"dataset": dataset, "scale": scale})
    seed = seed if given(ctx, "seed") or not saved else int(saved["seed"])
    settings = {k: v for k, v in saved.get("config", {}).items() if k not in ("dataset", "scale")}
    cfg = recipe.resolve_config(opts["dataset"] or DEFAULT_DATASET[opts["scale"]], opts["scale"],
                                {**settings, **parse_sets(sets)})
    if plan:
        from advlab.experiments.ilyas2019.plan import make_plan

        return _print_plan(make_plan(cfg, data_root_env(data_root), seed), as_json)
    out = _need_out(out)
    results = recipe.run(out, config=cfg, seed=seed, device=resolve_device(device),
                         force=force, data_root=data_root_env(data_root),
                         figure_format=formats(figure_format))
    _finish(results, out, as_json)


@command.command("richardson2020", cls=AdvlabCommand)
@click.option("--dataset", type=click.Choice(["mnist5k", "fashion-mnist", "mnist", "celeba", "digits"]),
              default="mnist5k", show_default=True, help="Real dataset the MFA models are fitted to.")
@click.option("--pairs", default=None,
              help="Class pairs, e.g. 0-6,2-7,4-5 (CelebA: attribute names). Default: the "
                   "dataset's pairs; quick runs the first one only.")
@click.option("--scale", type=click.Choice(SCALES), default="quick", show_default=True,
              help="Preset: tiny (CI), quick (CPU minutes), medium, full (paper, GPU).")
@_recipe_options
@click.pass_context
def richardson2020(ctx: click.Context, dataset: str, pairs: str | None, scale: str,
                   sets: tuple[str, ...], config_file: str | None, out: str | None, seed: int,
                   device: str, data_root: str | None, force: bool, figure_format: str,
                   as_json: bool, plan: bool) -> None:
    """Bayes-optimal vs CNN vs linear / RBF SVM vs TRADES CNN on MFA-sampled datasets.

    Figures 4, 6, 7, 9, 10, 11, Table 1 and Appendix D.4 of Richardson & Weiss.
    """
    from advlab.experiments import richardson2020 as recipe

    saved = saved_run(config_file, "richardson2020")
    opts = _from_saved(ctx, saved, {"dataset": dataset, "pairs": pairs, "scale": scale, "seed": seed})
    settings = {k: v for k, v in saved.get("config", {}).items()
                if k not in ("dataset", "pairs", "scale", "seed")}
    cfg = recipe.make_config(opts["dataset"], opts["scale"], opts["seed"], opts["pairs"],
                             {**settings, **parse_sets(sets)})
    if plan:
        from advlab.experiments.richardson2020.plan import make_plan

        return _print_plan(make_plan(cfg, data_root_env(data_root)), as_json)
    out = _need_out(out)
    results = recipe.run(out, config=cfg, device=resolve_device(device), force=force,
                         data_root=data_root_env(data_root), figure_format=formats(figure_format))
    _finish(results, out, as_json)
