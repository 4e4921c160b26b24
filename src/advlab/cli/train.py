"""``advlab train``: standard, PGD adversarial (--adv) or TRADES (--trades) training.

Runs the same under ``torchrun --nproc_per_node=N -m advlab.cli train ...`` (DDP).
"""

from __future__ import annotations

import shlex
import sys

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
from advlab.errors import AdvlabError


def _drops(spec: str | None) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in (spec or "").split(",") if s.strip())
    except ValueError:
        raise AdvlabError(f"--lr-drop: got {spec!r}; expected comma-separated epochs, e.g. 10,15") from None


def build_config(**o: object) -> object:
    """Turn the CLI options into a :class:`advlab.train.TrainConfig`."""
    from advlab.train import AdvConfig, TrainConfig, parse_adv, parse_kwargs

    adv = None
    if o["trades"] is not None and o["adv"] is None:
        raise AdvlabError(f"--trades: got {o['trades']!r} without --adv; TRADES needs the ball, e.g. --adv linf:0.3")
    if o["adv"] is not None:
        norm, eps = parse_adv(str(o["adv"]))
        kind = "trades" if o["trades"] is not None else "pgd"
        adv = AdvConfig(kind=kind, norm=norm, eps=eps, steps=int(o["adv_steps"]),  # type: ignore[arg-type, call-overload]
                        step_size=o["adv_step_size"], random_start=bool(o["adv_random_start"]),  # type: ignore[arg-type, call-overload]
                        beta=float(o["trades"]) if o["trades"] is not None else 6.0)  # type: ignore[arg-type, call-overload]
    rnorm, reps = parse_adv(str(o["robust_eval"])) if o["robust_eval"] else (None, None)
    return TrainConfig(
        dataset=str(o["dataset"]), model=str(o["model"]), model_kwargs=parse_kwargs(o["model_kwargs"]),  # type: ignore[arg-type, call-overload]
        epochs=o["epochs"], batch_size=o["batch_size"], optimizer=o["optimizer"], lr=o["lr"],  # type: ignore[arg-type, call-overload]
        momentum=o["momentum"], weight_decay=o["weight_decay"], lr_drop_epochs=_drops(o["lr_drop"]),  # type: ignore[arg-type, call-overload]
        lr_drop_factor=o["lr_drop_factor"], augment=o["augment"], adversarial=adv,  # type: ignore[arg-type, call-overload]
        seed=o["seed"], device=resolve_device(str(o["device"])), data_root=data_root_env(o["data_root"]),  # type: ignore[arg-type, call-overload]
        robust_eval_subset=o["robust_eval_subset"], robust_eval_steps=o["robust_eval_steps"],  # type: ignore[arg-type, call-overload]
        robust_eval_norm=rnorm, robust_eval_eps=reps,
        checkpoint_every_steps=o["checkpoint_every"], checkpoint_every_seconds=o["checkpoint_seconds"],  # type: ignore[arg-type, call-overload]
    )


@click.command("train")
@click.option("--dataset", required=True, help="Dataset name (advlab datasets list) or artifact folder.")
@click.option("--model", required=True, help="Architecture: cnn, allconv, mlp, resnet18, resnet50, vgg16, densenet121, inception_v3.")
@click.option("--model-kwargs", default=None, help="Architecture arguments, e.g. width=32 or hidden=256/128.")
@click.option("--adv", default=None, help="Adversarial training ball: l2:EPS or linf:EPS (PGD; with --trades, TRADES).")
@click.option("--trades", type=float, default=None, help="TRADES with this beta (needs --adv for the ball).")
@click.option("--adv-steps", type=int, default=7, show_default=True, help="Attack steps during training.")
@click.option("--adv-step-size", type=float, default=None, help="Attack step size (default eps/5).")
@click.option("--adv-random-start", is_flag=True, help="PGD starts at a random point of the ball.")
@click.option("--epochs", type=int, default=10, show_default=True)
@click.option("--batch-size", type=int, default=128, show_default=True, help="Global batch size.")
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option("--optimizer", type=click.Choice(["adam", "sgd"]), default="adam", show_default=True)
@click.option("--momentum", type=float, default=0.9, show_default=True)
@click.option("--weight-decay", type=float, default=0.0, show_default=True)
@click.option("--lr-drop", default=None, help="Epochs (0-based) at which lr is multiplied by --lr-drop-factor.")
@click.option("--lr-drop-factor", type=float, default=0.1, show_default=True)
@click.option("--augment", type=click.Choice(["none", "crop", "crop_flip"]), default="none", show_default=True)
@click.option("--robust-eval-subset", type=int, default=0, show_default=True, help="Robust accuracy each epoch on this many test points.")
@click.option("--robust-eval", default=None, help="Threat of the per-epoch robust evaluation (default: --adv's).")
@click.option("--robust-eval-steps", type=int, default=20, show_default=True)
@click.option("--checkpoint-every", type=int, default=0, show_default=True, help="Also checkpoint every K batches (0: time-based only).")
@click.option("--checkpoint-seconds", type=float, default=60.0, show_default=True, help="Checkpoint mid-epoch at least this often.")
@out_option()
@seed_option
@device_option
@data_root_option
@force_option
@json_option
def command(out: str, force: bool, as_json: bool, **opts: object) -> None:
    """Train a classifier; rerun the same command to resume after a crash or kill."""
    from advlab.train import train

    cfg = build_config(**opts)
    argv = " ".join(shlex.quote(a) for a in ["advlab", *sys.argv[1:]])
    result = train(cfg, out, force=force, command=argv)  # type: ignore[arg-type, call-overload]
    import torch.distributed as dist

    if dist.is_initialized():
        rank = dist.get_rank()
        dist.destroy_process_group()
        if rank != 0:
            return
    summary = {"out": out, "final": result.final, "best": result.best, "resumed": result.resumed}
    if as_json:
        echo_json(summary)
    else:
        f = result.final
        click.echo(f"trained {cfg.model} on {cfg.dataset}: test_acc {f['test_acc']:.4f}"  # type: ignore[attr-defined]
                   + (f", robust_acc {f['robust_acc']:.4f}" if "robust_acc" in f else "")
                   + f" -> {out}")
