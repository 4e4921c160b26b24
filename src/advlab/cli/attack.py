"""``advlab attack --min-norm``: minimum-norm L2 statistics of a checkpoint (Bayes-optimal
paper; a thin shell over :func:`advlab.evaluate.protocol.min_norm`)."""

from __future__ import annotations

from typing import Any

import click

from advlab.cli.options import AdvlabCommand, command_line, echo_json, points, points_options
from advlab.errors import AdvlabError

BOXES: dict[str, Any] = {"0,1": (0.0, 1.0), "none": None, "per-sample": "per-sample"}


@click.command("attack", cls=AdvlabCommand)
@points_options
@click.option("--min-norm", is_flag=True, help="Minimum-norm L2 attack (the only mode; required).")
@click.option("--method", type=click.Choice(["fmn", "cw"]), default="fmn", show_default=True)
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Iterations (default 100 for fmn, 500 for cw).")
@click.option("--search-steps", type=click.IntRange(min=1), default=3, show_default=True,
              help="CW binary-search steps.")
@click.option("--box", "box_spec", type=click.Choice(list(BOXES)), default="0,1",
              show_default=True, help="Valid image range (none/per-sample for synthetic data).")
@click.option("--save", type=click.Path(), default=None,
              help="Also write the adversarial examples to this new folder as a dataset "
                   "artifact (x_adv, y; success and norms per sample in samples.safetensors).")
def command(out: str | None, force: bool, as_json: bool, min_norm: bool, box_spec: str,
            save: str | None, **kw: Any) -> None:
    """Minimal L2 perturbations: mean / median L2, success rate, per-pixel histogram."""
    from advlab.evaluate.protocol import MinNormConfig
    from advlab.evaluate.protocol import min_norm as run_min_norm

    if not min_norm:
        raise AdvlabError("--min-norm: missing; `advlab attack` runs minimum-norm attacks "
                          "(use `advlab evaluate --eps ...` for fixed-eps robust accuracy)")
    cfg = MinNormConfig(**points(kw), box=BOXES[box_spec], **kw)
    results = run_min_norm(cfg, out, force=force, command=command_line(), save=save)
    for msg in results["warnings"]:
        click.echo(f"advlab: warning: {msg}", err=True)
    if as_json:
        echo_json({k: v for k, v in results.items() if not k.startswith("hist_")})
    else:
        click.echo(f"{cfg.method}: mean L2 {results['mean_l2']:.4f}, median L2 "
                   f"{results['median_l2']:.4f}, success {results['success_rate']:.3f} "
                   f"({results['n_correct']} correctly classified of {results['n']})")
        if save is not None:
            click.echo(f"adversarial examples: {results['saved']['path']}")
