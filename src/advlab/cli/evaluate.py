"""``advlab evaluate``: clean and robust accuracy of a checkpoint on a dataset
(a thin shell over :func:`advlab.evaluate.protocol.evaluate`)."""

from __future__ import annotations

import shlex
import sys

import click

from advlab.cli.options import (
    AdvlabCommand,
    EpsType,
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


@click.command("evaluate", cls=AdvlabCommand)
@click.option("--checkpoint", required=True, type=click.Path(), help="Checkpoint folder.")
@click.option("--dataset", required=True, help="Dataset name (see `advlab datasets list`).")
@click.option("--split", default="test", show_default=True, help="Split to evaluate on.")
@click.option("--eps", type=EpsType(), default=None,
              help="Radii, e.g. 1,2 or 8/255 (none: clean accuracy only).")
@click.option("--norm", type=click.Choice(["l2", "linf"]), default="l2", show_default=True)
@click.option("--steps", type=click.IntRange(min=0), default=20, show_default=True)
@click.option("--step-size", type=EpsType(many=False), default=None,
              help="PGD step size (default: the protocol's, see docs/attacks.md).")
@click.option("--restarts", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--n", type=click.IntRange(min=1), default=None,
              help="Evaluate a seeded random subset of N points.")
@click.option("--no-checks", is_flag=True, help="Skip the automatic sanity checks.")
@trust_unverified_option
@seed_option
@device_option
@data_root_option
@out_option(required=False)
@force_option
@json_option
def command(checkpoint: str, dataset: str, split: str, eps: tuple[float, ...] | None, norm: str,
            steps: int, step_size: float | None, restarts: int, n: int | None, no_checks: bool,
            trust_unverified: bool, seed: int, device: str, data_root: str | None,
            out: str | None, force: bool, as_json: bool) -> None:
    """Clean accuracy and PGD robust accuracy (untargeted) of a checkpoint."""
    from advlab.evaluate.protocol import EvalConfig, evaluate

    cfg = EvalConfig(checkpoint=checkpoint, dataset=dataset, split=split, n=n, seed=seed,
                     device=resolve_device(device), data_root=data_root_env(data_root),
                     trust_unverified=trust_unverified, eps=eps or (), norm=norm, steps=steps,  # type: ignore[arg-type]  # a click.Choice
                     step_size=step_size, restarts=restarts, checks=not no_checks)
    results = evaluate(cfg, out, force=force, command="advlab " + shlex.join(sys.argv[1:]))
    for msg in results["warnings"]:
        click.echo(f"advlab: warning: {msg}", err=True)
    if as_json:
        echo_json(results)
        return
    click.echo(f"clean accuracy: {results['clean_accuracy']:.4f} ({results['n']} points)")
    for k, v in results.get("robust_accuracy", {}).items():
        click.echo(f"robust accuracy {norm} eps={k}: {v:.4f}")
