"""``advlab train``: standard, PGD adversarial (--adv) or TRADES (--trades) training.

Runs the same under ``torchrun --nproc_per_node=N -m advlab.cli train ...`` (DDP).
"""

from __future__ import annotations

import dataclasses
import shlex
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from advlab.cli.options import (
    AdvlabCommand,
    config_option,
    data_root_env,
    data_root_option,
    device_option,
    echo_json,
    force_option,
    given,
    json_option,
    out_option,
    parse_sets,
    precision_options,
    resolve_device,
    seed_option,
    set_option,
)
from advlab.errors import AdvlabError

if TYPE_CHECKING:
    from advlab.train import TrainConfig


def _drops(spec: str | None) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in (spec or "").split(",") if s.strip())
    except ValueError:
        raise AdvlabError(f"lr_drop: got {spec!r}; expected comma-separated epochs, e.g. 10,15",
                          param="lr_drop") from None


def _adversary(o: dict[str, Any]) -> dict[str, Any] | None:
    """The ``adversarial`` settings from ``--adv`` / ``--trades`` / ``--adv-*`` (None: standard)."""
    from advlab.train import parse_adv

    if o["trades"] is not None and o["adv"] is None:
        raise AdvlabError(f"trades: got {o['trades']!r} without --adv; TRADES needs the ball, "
                          "e.g. --adv linf:0.3", param="trades")
    if o["adv"] is None:
        return None
    norm, eps = parse_adv(o["adv"])
    return {"kind": "pgd" if o["trades"] is None else "trades", "norm": norm, "eps": eps,
            "steps": o["adv_steps"], "step_size": o["adv_step_size"],
            "random_start": o["adv_random_start"],
            "beta": 6.0 if o["trades"] is None else o["trades"]}


#: option name -> TrainConfig field (the adversary's options make ``adversarial``)
_FIELDS = {"dataset": "dataset", "test_dataset": "test_dataset", "model": "model", "epochs": "epochs", "batch_size": "batch_size",
           "optimizer": "optimizer", "lr": "lr", "momentum": "momentum",
           "weight_decay": "weight_decay", "lr_drop_factor": "lr_drop_factor", "augment": "augment",
           "seed": "seed", "robust_eval_subset": "robust_eval_subset",
           "robust_eval_steps": "robust_eval_steps", "checkpoint_every": "checkpoint_every_steps",
           "checkpoint_seconds": "checkpoint_every_seconds", "precision": "precision",
           "channels_last": "channels_last", "compile_model": "compile"}
_ADV = ("adv", "trades", "adv_steps", "adv_step_size", "adv_random_start")
#: TrainConfig field -> the option that sets it, where the names differ (for error messages)
_OPTION_OF = {"checkpoint_every_steps": "checkpoint_every", "compile": "compile_model",
              "checkpoint_every_seconds": "checkpoint_seconds", "lr_drop_epochs": "lr_drop",
              "robust_eval_norm": "robust_eval", "robust_eval_eps": "robust_eval",
              "adversarial.eps": "adv", "adversarial.norm": "adv", "adversarial.kind": "adv",
              "adversarial.steps": "adv_steps", "adversarial.step_size": "adv_step_size",
              "adversarial.beta": "trades", "eps": "adv", "norm": "adv", "steps": "adv_steps",
              "step_size": "adv_step_size", "beta": "trades"}


def _option_values(o: dict[str, Any], typed: Callable[[str], bool]) -> dict[str, Any]:
    """TrainConfig settings from the options for which ``typed(option)`` holds."""
    from advlab.train import parse_adv, parse_kwargs

    values = {field: o[opt] for opt, field in _FIELDS.items() if typed(opt)}
    if typed("model_kwargs"):
        values["model_kwargs"] = parse_kwargs(o["model_kwargs"])
    if typed("lr_drop"):
        values["lr_drop_epochs"] = _drops(o["lr_drop"])
    if any(typed(a) for a in _ADV):
        values["adversarial"] = _adversary(o)
    if typed("robust_eval"):
        values["robust_eval_norm"], values["robust_eval_eps"] = (
            parse_adv(o["robust_eval"]) if o["robust_eval"] else (None, None))
    return values


def build_config(ctx: click.Context, o: dict[str, Any], sets: tuple[str, ...],
                 config_file: str | None) -> TrainConfig:
    """The :class:`advlab.train.TrainConfig` of a command line: a saved run's settings
    (``--config RUN/config.json``) first, then the options typed (all of them without
    ``--config``), then ``--set KEY=VALUE`` (typed by field)."""
    from advlab.overrides import apply_overrides
    from advlab.store import read_json
    from advlab.train import TrainConfig

    cfg = TrainConfig()
    if config_file is not None:
        doc = read_json(config_file)
        identity = doc.get("identity") if isinstance(doc, dict) else None
        if not isinstance(identity, dict):
            raise AdvlabError(f"config_file: {config_file!r} is not the config.json of an "
                              "`advlab train` run", param="config_file")
        known = {f.name for f in dataclasses.fields(TrainConfig)}
        cfg = apply_overrides(cfg, {k: v for k, v in identity.items() if k in known}, run_options=False)
    else:
        for name in ("dataset", "model"):
            if o[name] is None:
                raise AdvlabError(f"{name}: missing (or rerun a saved run with --config)", param=name)
    try:
        cfg = apply_overrides(cfg, _option_values(o, lambda opt: config_file is None or given(ctx, opt)),
                              run_options=False)
    except AdvlabError as e:  # these came from options, not from --set: name the option
        raise AdvlabError(e.renamed(_OPTION_OF.get(e.param or "", e.param or "")), param=(
            _OPTION_OF.get(e.param or "", e.param) if e.param else None)) from None
    cfg = apply_overrides(cfg, parse_sets(sets, example="lr_drop_factor=0.2"))
    return dataclasses.replace(cfg, device=resolve_device(o["device"]),
                               data_root=data_root_env(o["data_root"]))


@click.command("train", cls=AdvlabCommand)
@click.option("--dataset", default=None, help="Dataset name (advlab datasets list) or artifact folder.")
@click.option("--test-dataset", default=None,
              help="Dataset whose test split evaluates the model (default: --dataset's own; for a "
                   "constructed set, the dataset it was built from, as its card records).")
@click.option("--model", default=None, help="Architecture: cnn, allconv, mlp, resnet18, resnet50, vgg16, densenet121, inception_v3.")
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
@precision_options
@set_option
@config_option
@out_option()
@seed_option
@device_option
@data_root_option
@force_option
@json_option
@click.pass_context
def command(ctx: click.Context, out: str, force: bool, as_json: bool, sets: tuple[str, ...],
            config_file: str | None, **opts: Any) -> None:
    """Train a classifier; rerun the same command to resume after a crash or kill.

    Every setting of advlab.train.TrainConfig without an option of its own can be set
    with --set (e.g. --set adversarial.box=none, --set eval_batch_size=256); --config
    RUN/config.json trains again with a saved run's settings.
    """
    from advlab.store import check_out_dir
    from advlab.train import train

    check_out_dir(out)
    cfg = build_config(ctx, opts, sets, config_file)
    argv = " ".join(shlex.quote(a) for a in ["advlab", *sys.argv[1:]])
    result = train(cfg, out, force=force, command=argv)
    import torch.distributed as dist

    if dist.is_initialized():
        rank = dist.get_rank()
        dist.destroy_process_group()
        if rank != 0:
            return
    from advlab.train.loop import test_set_of

    summary = {"out": out, "final": result.final, "model": "last", "resumed": result.resumed,
               "test_dataset": test_set_of(cfg)}
    if as_json:
        echo_json(summary)
    else:
        f = result.final
        click.echo(f"trained {cfg.model} on {cfg.dataset}: test_acc {f['test_acc']:.4f} "
                   f"on the test split of {test_set_of(cfg)}"
                   + (f", robust_acc {f['robust_acc']:.4f}" if "robust_acc" in f else "")
                   + f" -> {out}")
