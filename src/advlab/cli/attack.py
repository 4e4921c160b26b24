"""``advlab attack --min-norm``: minimum-norm L2 statistics of a checkpoint (Bayes-optimal paper)."""

from __future__ import annotations

import shlex
import sys
import warnings
from typing import Any

import click

from advlab.cli._common import (
    data_root_env,
    data_root_option,
    device_option,
    echo_json,
    force_option,
    json_option,
    out_option,
    resolve_device,
    seed_option,
)
from advlab.cli.evaluate import cached, load_points
from advlab.errors import AdvlabError


def run_min_norm(cfg: dict[str, Any], figure: Any) -> dict[str, Any]:
    """Run FMN or CW-L2 on the points; return min-norm statistics (and draw the histogram)."""
    from advlab.attacks import CWL2, FMN, SanityWarning
    from advlab.evaluate import min_norm_stats, plot_perturbation_histogram
    from advlab.store import seed_everything

    seed_everything(cfg["seed"])
    model, x, y = load_points(cfg["checkpoint"], cfg["dataset"], cfg["split"], cfg["n"],
                              cfg["seed"], cfg["data_root"], cfg["device"])
    if cfg["method"] == "fmn":
        attack: Any = FMN(steps=cfg["steps"] or 100, box=cfg["box"])
    else:
        attack = CWL2(steps=cfg["steps"] or 500, search_steps=cfg["search_steps"], box=cfg["box"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SanityWarning)
        result = attack(model, x, y)
    stats = min_norm_stats(result, x)
    stats["warnings"] = [str(w.message) for w in caught if issubclass(w.category, SanityWarning)]
    if figure is not None:
        plot_perturbation_histogram(stats, figure, title=f"{cfg['method']} on {cfg['dataset']}")
    return stats


@click.command("attack")
@click.option("--checkpoint", required=True, type=click.Path(), help="Checkpoint folder.")
@click.option("--dataset", required=True, help="Dataset name (see `advlab datasets list`).")
@click.option("--split", default="test", show_default=True)
@click.option("--min-norm", is_flag=True, help="Minimum-norm L2 attack (the only mode; required).")
@click.option("--method", type=click.Choice(["fmn", "cw"]), default="fmn", show_default=True)
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Iterations (default 100 for fmn, 500 for cw).")
@click.option("--search-steps", type=click.IntRange(min=1), default=3, show_default=True,
              help="CW binary-search steps.")
@click.option("--box", "box_spec", type=click.Choice(["0,1", "none", "per-sample"]), default="0,1",
              show_default=True, help="Valid image range (none/per-sample for synthetic data).")
@click.option("--n", type=int, default=None, help="Attack a seeded random subset of N points.")
@seed_option
@device_option
@data_root_option
@out_option(required=False)
@force_option
@json_option
def command(checkpoint: str, dataset: str, split: str, min_norm: bool, method: str,
            steps: int | None, search_steps: int, box_spec: str, n: int | None, seed: int,
            device: str, data_root: str | None, out: str | None, force: bool,
            as_json: bool) -> None:
    """Minimal L2 perturbations: mean / median L2, success rate, per-pixel histogram."""
    if not min_norm:
        raise AdvlabError("--min-norm: missing; `advlab attack` runs minimum-norm attacks "
                          "(use `advlab evaluate --eps ...` for fixed-eps robust accuracy)")
    box: Any = {"0,1": (0.0, 1.0), "none": None, "per-sample": "per-sample"}[box_spec]
    cfg = {"checkpoint": checkpoint, "dataset": dataset, "split": split, "method": method,
           "steps": steps, "search_steps": search_steps, "box": box, "n": n, "seed": seed,
           "device": resolve_device(device), "data_root": data_root_env(data_root)}
    fig_name = f"min_norm_hist_{method}.png"
    fig = None if out is None else f"{out}/figures/{fig_name}"
    results, run = cached(out, force, "attack", cfg, lambda: run_min_norm(cfg, fig))
    for msg in results["warnings"]:
        click.echo(f"advlab: warning: {msg}", err=True)
    if run is not None:
        _write_report(run, cfg, results, fig_name)
    if as_json:
        echo_json({k: v for k, v in results.items() if not k.startswith("hist_")})
    else:
        click.echo(f"{method}: mean L2 {results['mean_l2']:.4f}, median L2 "
                   f"{results['median_l2']:.4f}, success {results['success_rate']:.3f} "
                   f"({results['n_correct']} correctly classified of {results['n']})")


def _write_report(run: Any, cfg: dict[str, Any], res: dict[str, Any], fig_name: str) -> None:
    from advlab.report import Report

    command_line = "advlab " + shlex.join(sys.argv[1:])
    rep = Report(f"Minimum-norm attack on {cfg['checkpoint']}", command=command_line, config=cfg)
    sec = rep.section("Minimal L2 perturbations")
    sec.table(["n", "correct", "success rate", "mean L2", "median L2", "pixels within 5/255"],
              [[res["n"], res["n_correct"], res["success_rate"], res["mean_l2"],
                res["median_l2"], res["frac_pixels_within_5"]]],
              caption="means over successful attacks on correctly classified points")
    sec.figure(f"figures/{fig_name}", "per-pixel |perturbation| on the 0-255 scale")
    for msg in res["warnings"]:
        sec.text(f"**Warning:** {msg}")
    rep.section("Provenance").provenance(command_line, cfg, cfg["seed"])
    rep.write(run.root)
