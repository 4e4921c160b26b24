"""``advlab attack --min-norm``: minimum-norm L2 statistics of a checkpoint (Bayes-optimal
paper; a thin shell over :func:`advlab.evaluate.protocol.min_norm`); ``advlab attack --attack
NAME --eps E``: one fixed-eps attack (:func:`advlab.evaluate.attack_eps.attack_eps`)."""

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
from advlab.errors import AdvlabError

BOXES: dict[str, Any] = {"0,1": (0.0, 1.0), "none": None, "per-sample": "per-sample"}


@click.command("attack", cls=AdvlabCommand)
@points_options
@click.option("--min-norm", is_flag=True, help="Minimum-norm L2 attack (--method).")
@click.option("--attack", "fixed", type=click.Choice(
    ["pgd", "apgd", "apgd-t", "fab-t", "square", "autoattack"]), default=None,
              help="Instead of --min-norm: this fixed-eps attack at --eps (AutoAttack's "
                   "settings; autoattack: the standard ensemble).")
@click.option("--eps", type=EpsType(many=False), default=None,
              help="Radius of --attack, e.g. 1.5 or 8/255.")
@click.option("--norm", type=click.Choice(["l2", "linf"]), default="l2", show_default=True,
              help="Norm of --attack.")
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
            save: str | None, fixed: str | None, eps: float | None, norm: str,
            **kw: Any) -> None:
    """Minimal L2 perturbations (--min-norm: mean / median L2, success rate, per-pixel
    histogram), or one fixed-eps attack (--attack NAME --eps E)."""
    from advlab.evaluate.protocol import MinNormConfig
    from advlab.evaluate.protocol import min_norm as run_min_norm

    if fixed is not None:
        if min_norm or eps is None or out is not None:
            raise AdvlabError("--attack: needs --eps and excludes --min-norm and --out "
                              "(write the examples with --save DIR)")
        _fixed(fixed, eps, norm, box_spec, save, as_json, kw)
        return
    if not min_norm:
        raise AdvlabError("--min-norm: missing; `advlab attack` runs --min-norm or --attack "
                          "NAME --eps E (use `advlab evaluate --eps ...` for robust accuracy)")
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


def _fixed(name: str, eps: float, norm: str, box_spec: str, save: str | None, as_json: bool,
           kw: dict[str, Any]) -> None:
    from advlab.evaluate.attack_eps import EpsAttackConfig, attack_eps

    kw.pop("method"), kw.pop("search_steps")
    cfg = EpsAttackConfig(**points(kw), attack=name, norm=norm, eps=eps, box=BOXES[box_spec],
                          steps=kw.pop("steps"))
    results = attack_eps(cfg, command=command_line(), save=save)
    for msg in results["warnings"]:
        click.echo(f"advlab: warning: {msg}", err=True)
    if as_json:
        echo_json(results)
        return
    click.echo(f"{name} {norm} eps={eps:g}: robust accuracy {results['robust_accuracy']:.4f}, "
               f"clean {results['clean_accuracy']:.4f} ({results['n']} points)")
    if save is not None:
        click.echo(f"adversarial examples: {results['saved']['path']}")
