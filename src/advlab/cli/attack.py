"""``advlab attack --min-norm``: minimum-norm L2 statistics of a checkpoint (Bayes-optimal
paper; a thin shell over :func:`advlab.evaluate.protocol.min_norm`)."""

from __future__ import annotations

import shlex
import sys
from typing import Any

import click

from advlab.cli.options import (
    AdvlabCommand,
    data_root_env,
    data_root_option,
    device_option,
    echo_json,
    force_option,
    json_option,
    out_option,
    resolve_device,
    seed_option,
    trust_unverified_option,
)
from advlab.errors import AdvlabError

BOXES: dict[str, Any] = {"0,1": (0.0, 1.0), "none": None, "per-sample": "per-sample"}


@click.command("attack", cls=AdvlabCommand)
@click.option("--checkpoint", required=True, type=click.Path(), help="Checkpoint folder.")
@click.option("--dataset", required=True, help="Dataset name (see `advlab datasets list`).")
@click.option("--split", default="test", show_default=True)
@click.option("--min-norm", is_flag=True, help="Minimum-norm L2 attack (the only mode; required).")
@click.option("--method", type=click.Choice(["fmn", "cw"]), default="fmn", show_default=True)
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Iterations (default 100 for fmn, 500 for cw).")
@click.option("--search-steps", type=click.IntRange(min=1), default=3, show_default=True,
              help="CW binary-search steps.")
@click.option("--box", "box_spec", type=click.Choice(list(BOXES)), default="0,1",
              show_default=True, help="Valid image range (none/per-sample for synthetic data).")
@click.option("--n", type=click.IntRange(min=1), default=None,
              help="Attack a seeded random subset of N points.")
@trust_unverified_option
@seed_option
@device_option
@data_root_option
@out_option(required=False)
@force_option
@json_option
def command(checkpoint: str, dataset: str, split: str, min_norm: bool, method: str,
            steps: int | None, search_steps: int, box_spec: str, n: int | None, seed: int,
            device: str, trust_unverified: bool, data_root: str | None, out: str | None, force: bool,
            as_json: bool) -> None:
    """Minimal L2 perturbations: mean / median L2, success rate, per-pixel histogram."""
    from advlab.evaluate.protocol import MinNormConfig
    from advlab.evaluate.protocol import min_norm as run_min_norm

    if not min_norm:
        raise AdvlabError("--min-norm: missing; `advlab attack` runs minimum-norm attacks "
                          "(use `advlab evaluate --eps ...` for fixed-eps robust accuracy)")
    cfg = MinNormConfig(checkpoint=checkpoint, dataset=dataset, split=split, n=n, seed=seed,
                        device=resolve_device(device), data_root=data_root_env(data_root),
                        trust_unverified=trust_unverified, method=method, steps=steps,  # type: ignore[arg-type]  # a click.Choice
                        search_steps=search_steps, box=BOXES[box_spec])
    results = run_min_norm(cfg, out, force=force, command="advlab " + shlex.join(sys.argv[1:]))
    for msg in results["warnings"]:
        click.echo(f"advlab: warning: {msg}", err=True)
    if as_json:
        echo_json({k: v for k, v in results.items() if not k.startswith("hist_")})
    else:
        click.echo(f"{method}: mean L2 {results['mean_l2']:.4f}, median L2 "
                   f"{results['median_l2']:.4f}, success {results['success_rate']:.3f} "
                   f"({results['n_correct']} correctly classified of {results['n']})")
