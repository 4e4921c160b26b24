"""The training loop: standard, PGD adversarial training (Madry) and TRADES, with
per-epoch evaluation, a last/ checkpoint, exact resume and DDP.

Reads top to bottom in the order it runs: load data, build the model, resume if a
``last/`` checkpoint exists, then for each epoch: set the lr, run the batches of the
epoch's deterministic order (checkpointing every K steps / T seconds), evaluate,
write ``last/``, and finally ``results.json``.

No model is selected on the test set: the run's model is the last epoch's (``last/``).
The per-epoch test metrics are measurements only.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.errors import AdvlabError
from advlab.models import TRAINABLE, build_model, config_of
from advlab.precision import device_type, speed_paths
from advlab.progress import progress
from advlab.seeding import derive_seed, generator, seed_everything
from advlab.store import atomic_write_json, read_json, sha256_bytes
from advlab.train import distributed as dd
from advlab.train.config import TrainConfig
from advlab.train.data import augment, epoch_batches, epoch_order
from advlab.train.evaluation import evaluate
from advlab.train.runs import (
    Progress,
    clear,
    identity_of,
    save_last,
    try_resume,
    write_run_config,
)
from advlab.train.trades import trades_loss, trades_perturb

Data = tuple[Tensor, Tensor]
#: How the kept model was chosen; recorded in results.json and in last/config.json.
SELECTION = "last epoch (no selection on the test set)"


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        model: the final weights (eval mode, unwrapped from DDP).
        history: one dict of metrics per epoch.
        final: metrics of the last epoch (the model that is kept).
        out_dir: the run folder (``last/``, ``metrics.json``, ...).
    """

    model: nn.Module
    history: list[dict[str, Any]]
    final: dict[str, Any]
    out_dir: Path
    resumed: bool = False

    @property
    def best(self) -> dict[str, Any]:
        """Deprecated alias of :attr:`final`: no epoch is selected on the test set."""
        return self.final


def test_set_of(cfg: TrainConfig) -> str:
    """The dataset whose test split evaluates a run: ``test_dataset``, else ``dataset`` itself,
    or, for an artifact without a test split (a constructed set), the dataset it was built
    from (``provenance.source_dataset`` of its card)."""
    from advlab.data.artifact import is_artifact, read_card

    if cfg.test_dataset is not None:
        return cfg.test_dataset
    if not is_artifact(Path(cfg.dataset)):
        return cfg.dataset
    card = read_card(cfg.dataset)
    if card["n_test"]:
        return cfg.dataset
    source = (card.get("provenance") or {}).get("source_dataset")
    name = source.get("name") if isinstance(source, dict) else source
    if not isinstance(name, str) or not name:
        raise AdvlabError(f"dataset: the artifact {cfg.dataset!r} has no test split and its card "
                          "names no source dataset; name a test set with test_dataset",
                          param="dataset")
    return name


def _load(cfg: TrainConfig, train_data: Data | None, test_data: Data | None) -> tuple[Data, Data]:
    from advlab.data import load_dataset

    tr = train_data if train_data is not None else load_dataset(cfg.dataset, "train", cfg.data_root)
    te = test_data if test_data is not None else load_dataset(test_set_of(cfg), "test", cfg.data_root)
    for name, (x, y) in (("train_data", tr), ("test_data", te)):
        if x.dim() != 4 or y.dim() != 1 or len(x) != len(y) or len(x) == 0:
            raise AdvlabError(f"{name}: got x {tuple(x.shape)}, y {tuple(y.shape)}; "
                              "expected x (N, C, H, W) and y (N,) with N > 0")
    return tr, te


def _build(cfg: TrainConfig, x: Tensor, num_classes: int) -> nn.Module:
    """The model, with mean/std defaulting to the training data's per-channel statistics."""
    if cfg.model not in TRAINABLE:
        if cfg.model.endswith("_svm"):
            raise AdvlabError(f"model: {cfg.model!r} is fitted, not trained; use "
                              "advlab.models.fit_svm", param="model")
        build_model(cfg.model, in_shape=(1, 8, 8), num_classes=2)  # raises the unknown-name error
    kwargs = dict(cfg.model_kwargs)
    if "mean" not in kwargs or "std" not in kwargs:
        dims = (0, 2, 3)
        kwargs.setdefault("mean", [round(v, 4) for v in x.mean(dim=dims).tolist()])
        kwargs.setdefault("std", [round(max(v, 1e-3), 4) for v in x.std(dim=dims).tolist()])
    return build_model(cfg.model, in_shape=tuple(x.shape[1:]), num_classes=num_classes, kwargs=kwargs)


def _optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                           weight_decay=cfg.weight_decay)


def lr_at(cfg: TrainConfig, epoch: int) -> float:
    """Step schedule: lr * factor ** (number of drop epochs <= epoch)."""
    return cfg.lr * cfg.lr_drop_factor ** sum(1 for e in cfg.lr_drop_epochs if e <= epoch)


def _loss(cfg: TrainConfig, net: nn.Module, raw: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Training loss and the logits whose accuracy is reported (adversarial for PGD)."""
    adv = cfg.adversarial
    if adv is None:
        logits = net(x)
        return F.cross_entropy(logits, y), logits
    if adv.kind == "pgd":
        from advlab.attacks.pgd import pgd_perturb

        x_adv = pgd_perturb(raw, x, y, norm=adv.norm, eps=adv.eps, steps=adv.steps,
                            step_size=adv.resolved_step_size, random_start=adv.random_start,
                            box=adv.box_bounds)
        logits = net(x_adv)
        return F.cross_entropy(logits, y), logits
    x_adv = trades_perturb(raw, x, norm=adv.norm, eps=adv.eps, steps=adv.steps,
                           step_size=adv.resolved_step_size, box=adv.box_bounds)
    both = net(torch.cat([x, x_adv]))  # one forward: DDP-friendly, BN sees both halves
    nat, adv_logits = both[: len(x)], both[len(x):]
    return trades_loss(nat, adv_logits, y, adv.beta), nat


class _Ctx:
    """Everything an epoch needs, bundled so helpers stay short."""

    def __init__(self, cfg: TrainConfig, out: Path, info: dd.DistInfo, device: str,
                 model: nn.Module, opt: torch.optim.Optimizer, extra: dict[str, Any]) -> None:
        self.cfg, self.out, self.info, self.device = cfg, out, info, device
        self.model, self.opt, self.extra = model, opt, extra
        # the speed paths (autocast, channels-last, compile) around the saved model; DDP outside
        self.fast = speed_paths(model, precision=cfg.precision, channels_last=cfg.channels_last,
                                compile=cfg.compile)
        self.net = dd.wrap(self.fast, info, device)
        self.scaler = torch.amp.GradScaler(device_type(device), enabled=cfg.precision == "fp16")
        self.last_save = time.monotonic()

    def due(self, step: int) -> bool:
        """Is a mid-epoch checkpoint due after ``step`` batches of this epoch?"""
        k = self.cfg.checkpoint_every_steps
        if k and step % k == 0:
            return True
        return time.monotonic() - self.last_save >= self.cfg.checkpoint_every_seconds

    def save_last(self, prog: Progress) -> None:
        if self.info.main:
            save_last(self.out, self.model, self.opt, prog, self.extra)
        self.last_save = time.monotonic()


def _run_epoch(c: _Ctx, prog: Progress, xtr: Tensor, ytr: Tensor) -> dict[str, float]:
    """Train on the batches of epoch ``prog.epoch`` from batch ``prog.step`` on."""
    cfg, epoch = c.cfg, prog.epoch
    for group in c.opt.param_groups:
        group["lr"] = lr_at(cfg, epoch)
    batches = epoch_batches(epoch_order(len(xtr), cfg.seed, epoch), cfg.batch_size,
                            c.info.rank, c.info.world)
    sums = {"loss": 0.0, "correct": 0.0, "count": 0.0, "seconds": 0.0}
    if c.info.main:  # rank 0's sums from before an interruption
        sums.update(prog.partial)
    c.net.train()
    bar = progress(total=len(batches), initial=prog.step, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                   unit="batch", disable=not c.info.main)
    t0 = time.perf_counter()
    for step in range(prog.step, len(batches)):
        torch.manual_seed(derive_seed(cfg.seed, epoch, step, c.info.rank))  # attack starts, dropout
        gen = generator(cfg.seed, epoch, step, c.info.rank, 1)
        idx = batches[step]
        x = augment(xtr[idx].to(c.device, non_blocking=True), cfg.augment, gen)
        y = ytr[idx].to(c.device, non_blocking=True)
        loss, logits = _loss(cfg, c.net, c.fast, x, y)
        c.opt.zero_grad(set_to_none=True)
        c.scaler.scale(loss).backward()  # fp16: a scaled loss; otherwise loss.backward()
        c.scaler.step(c.opt)
        c.scaler.update()
        sums["loss"] += float(loss.detach()) * len(y)
        sums["correct"] += float((logits.detach().argmax(1) == y).sum())
        sums["count"] += len(y)
        bar.update(1)
        if step + 1 < len(batches) and c.due(step + 1):
            sums["seconds"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            prog.step, prog.partial = step + 1, dict(sums)
            c.save_last(prog)
    bar.close()
    sums["seconds"] += time.perf_counter() - t0
    return sums


def _end_epoch(c: _Ctx, prog: Progress, sums: dict[str, float], test: Data) -> None:
    """Evaluate, record the epoch's metrics, write last/."""
    loss, correct, count = dd.all_sum(c.info, [sums["loss"], sums["correct"], sums["count"]], c.device)
    metrics: dict[str, Any] = {"epoch": prog.epoch + 1, "lr": lr_at(c.cfg, prog.epoch),
                               "train_loss": loss / max(count, 1), "train_acc": correct / max(count, 1),
                               "train_seconds": sums["seconds"],
                               "train_images_per_s": count / max(sums["seconds"], 1e-9)}
    if c.cfg.evaluates_after(prog.epoch):
        metrics.update(evaluate(c.fast, test[0], test[1], c.cfg, c.info, c.device, prog.epoch))
    else:
        metrics["test_acc"] = None
    prog.history.append(metrics)
    prog.epoch, prog.step, prog.partial = prog.epoch + 1, 0, {}
    if c.info.main:
        c.extra["metrics"] = metrics
        atomic_write_json(c.out / "metrics.json", {"history": prog.history})
        c.save_last(prog)
        print(_summary(metrics), file=sys.stderr, flush=True)
    dd.barrier(c.info)


def _summary(m: dict[str, Any]) -> str:
    s = f"epoch {m['epoch']}: loss {m['train_loss']:.4f} train_acc {m['train_acc']:.4f}"
    if m["test_acc"] is not None:
        s += f" test_acc {m['test_acc']:.4f}"
    if "robust_acc" in m:
        s += f" robust_acc({m['robust_norm']}:{m['robust_eps']:g}) {m['robust_acc']:.4f}"
    return s + f" [{m['train_seconds']:.1f}s]"


def _fingerprint(x: Tensor, y: Tensor) -> str:
    return sha256_bytes(x.detach().cpu().contiguous().numpy().tobytes()
                        + y.detach().cpu().contiguous().numpy().tobytes())


def _prepare(cfg: TrainConfig, out: Path, info: dd.DistInfo, tr: Data, te: Data, force: bool,
             command: str | None) -> tuple[nn.Module, dict[str, Any]]:
    """Build the model, and (rank 0) claim the run folder: clear on force, write config.json."""
    num_classes = int(max(int(tr[1].max()), int(te[1].max()))) + 1
    model = _build(cfg, tr[0], num_classes)
    identity = identity_of(cfg.to_dict(), config_of(model), _fingerprint(*tr))
    if info.main:
        out.mkdir(parents=True, exist_ok=True)
        if force:
            clear(out)
        write_run_config(out, identity, {"train": cfg.to_dict(), "model": config_of(model),
                                         "command": command, "world_size": info.world})
    dd.barrier(info)
    return model, {"train": cfg.to_dict(), "world_size": info.world, "selection": SELECTION}


def train(config: TrainConfig, out_dir: str | Path, *, train_data: Data | None = None,
          test_data: Data | None = None, force: bool = False,
          command: str | None = None) -> TrainResult:
    """Train ``config.model`` on ``config.dataset`` (or the tensors given) into ``out_dir``.

    Rerunning the same call resumes from ``out_dir/last`` (exactly: the final weights
    equal an uninterrupted run's on the CPU); a finished run is returned as is.
    Under ``torchrun`` (RANK / WORLD_SIZE set) it trains with DDP; rank 0 writes.

    Args:
        config: the training configuration.
        out_dir: run folder: config.json, metrics.json, results.json, last/.
        train_data, test_data: (x (N, C, H, W) in [0, 1], y (N,) int64); loaded by
            name from ``config.dataset`` when omitted.
        force: discard a previous run in ``out_dir``.
        command: the command line, recorded in config.json.
    """
    out = Path(out_dir)
    info, device = dd.setup(config.device)
    seed_everything(config.seed)
    tr, te = _load(config, train_data, test_data)
    model, extra = _prepare(config, out, info, tr, te, force, command)
    extra["test_dataset"] = test_set_of(config) if test_data is None else "test_data (given)"
    extra["command"] = command
    model.to(device)
    opt = _optimizer(config, model)
    prog = try_resume(out, model, opt) or Progress()
    resumed = prog.epoch > 0 or prog.step > 0
    if resumed and info.main:
        print(f"resuming {out} at epoch {prog.epoch + 1}, batch {prog.step}", file=sys.stderr, flush=True)
    c = _Ctx(config, out, info, device, model, opt, extra)
    if prog.history:
        c.extra["metrics"] = prog.history[-1]
    while prog.epoch < config.epochs:
        sums = _run_epoch(c, prog, *tr)
        _end_epoch(c, prog, sums, te)
    if info.main:
        results = {"final": prog.history[-1], "model": "last", "selection": SELECTION,
                   "epochs": config.epochs, "world_size": info.world,
                   "test_dataset": extra["test_dataset"]}
        atomic_write_json(out / "results.json", results)
    dd.barrier(info)
    return TrainResult(model.eval(), prog.history, prog.history[-1], out, resumed)


def read_results(out_dir: str | Path) -> dict[str, Any]:
    """results.json of a finished run folder."""
    return read_json(Path(out_dir) / "results.json")
