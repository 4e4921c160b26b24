"""``advlab evaluate``: clean and robust accuracy of a checkpoint on a dataset
(a thin shell over :func:`advlab.evaluate.protocol.evaluate`)."""

from __future__ import annotations

from typing import Any

import click

from advlab.cli.options import (
    AdvlabCommand,
    EpsType,
    command_line,
    echo_json,
    points,
    points_options,
)


@click.command("evaluate", cls=AdvlabCommand)
@points_options
@click.option("--eps", type=EpsType(), default=None,
              help="Radii, e.g. 1,2 or 8/255 (none: clean accuracy only).")
@click.option("--norm", type=click.Choice(["l2", "linf"]), default="l2", show_default=True)
@click.option("--attack", type=click.Choice(["default", "autoattack", "autoattack-plus",
                                            "autoattack-apgd"]),
              default="default", show_default=True,
              help="default: APGD-CE then APGD-DLR (PGD with --step-size); autoattack: the "
                   "standard AutoAttack ensemble (APGD-CE, APGD-T, FAB-T, Square, settings "
                   "fixed); autoattack-plus: AutoAttack's stronger plus version (5 restarts of "
                   "APGD-CE, APGD-DLR and FAB, then the standard attacks); autoattack-apgd: "
                   "its APGD-CE and APGD-T. With --out, a rerun in the "
                   "same folder attacks only the points still robust.")
@click.option("--steps", type=click.IntRange(min=0), default=None,
              help="Iterations of the default protocol's attacks [default: 20].")
@click.option("--step-size", type=EpsType(many=False), default=None,
              help="PGD step size (default: the protocol's, see docs/attacks.md).")
@click.option("--restarts", type=click.IntRange(min=1), default=None,
              help="Restarts of the default protocol's attacks [default: 1].")
@click.option("--no-checks", is_flag=True, help="Skip the automatic sanity checks.")
def command(out: str | None, force: bool, as_json: bool, eps: tuple[float, ...] | None,
            no_checks: bool, **kw: Any) -> None:
    """Clean accuracy and robust accuracy (untargeted) of a checkpoint."""
    from advlab.evaluate.protocol import EvalConfig, evaluate

    cfg = EvalConfig(**points(kw), eps=eps or (), checks=not no_checks, **kw)
    results = evaluate(cfg, out, force=force, command=command_line())
    for msg in results["warnings"]:
        click.echo(f"advlab: warning: {msg}", err=True)
    if as_json:
        echo_json(results)
        return
    click.echo(f"clean accuracy: {results['clean_accuracy']:.4f} ({results['n']} points)")
    for k, v in results.get("robust_accuracy", {}).items():
        click.echo(f"robust accuracy {cfg.norm} eps={k}: {v:.4f} ({cfg.attack})")
    records = results.get("robust_flags", {}).get("attacks", [])
    if len(records) > 1:
        click.echo("robust flags: " + " then ".join(r["attack"]["name"] for r in records))
