"""``construct_dataset``: D_R, D_NR, D_rand, D_det as dataset artifacts, sharded and resumable.

The output folder is a dataset artifact (``data.safetensors`` + ``card.json``, loadable
with ``advlab.load_dataset(out)``; the constructed split is stored as its ``train``
split even when it was built from test images: the card's provenance says which) plus
``samples.safetensors``, per-sample records (source index, start index or target,
representation distance or target reached, ...). While it runs, ``<out>/shards/`` holds
the finished shards; it is removed once the artifact is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import save_file
from torch import nn

from advlab.attacks.mode import eval_mode
from advlab.errors import AdvlabError, bad_argument
from advlab.features.relabel import TABLE6, TARGET_RULES, RelabelConfig, check_classes, relabel
from advlab.features.robustify import (
    OPTIMIZERS,
    TABLE5,
    RobustifyConfig,
    check_features,
    image_init_indices,
    noise_init,
    robustify,
)
from advlab.features.shards import (
    ShardPlan,
    assemble,
    dist_env,
    remove_shards,
    run_shards,
    shard_file,
    wait_for_shards,
)
from advlab.precision import describe, speed_paths
from advlab.seeding import seeded_subset
from advlab.store import atomic_path, check_out_dir, sha256_bytes, sha256_file

Kind = Literal["robust", "nonrobust", "rand", "det"]
KINDS: tuple[str, ...] = ("robust", "nonrobust", "rand", "det")
SAMPLES_FILE = "samples.safetensors"
_DESCRIPTION = {
    "robust": "D_R: representation inversion of a robust (adversarially trained) model",
    "nonrobust": "D_NR: representation inversion of a standard model",
    "rand": "D_rand: targeted L2 PGD towards a class drawn uniformly from all C classes",
    "det": "D_det: targeted L2 PGD towards (y + 1) mod C",
}


@dataclass(frozen=True)
class Source:
    """The source model and how it is identified in the provenance."""

    model: nn.Module
    sha256: str
    path: str | None
    config: dict[str, Any]


#: the ``polyak`` optimizer's defaults relative to Table 5's column: at most a quarter of
#: the steps, each at most 10x the paper's step length (benchmarks/inversion.py).
POLYAK_DEFAULTS: dict[str, float] = {"steps_factor": 0.25, "step_size_factor": 10.0}


def resolve_config(
    kind: str, dataset: str, *, steps: int | None = None, step_size: float | None = None,
    eps: float | None = None, init: str | None = None, noise_std: float = 0.25,
    random_start: bool = False, batch_size: int = 256, optimizer: str | None = None,
    tol: float | None = None,
) -> RobustifyConfig | RelabelConfig:
    """Fill unset hyper-parameters from Table 5 (robust/nonrobust) or Table 6 (rand/det).

    Restricted ImageNet gets its own column; every other dataset gets CIFAR-10's (scale
    them for MNIST-sized data: the ``ilyas2019`` recipe's presets do). With
    ``optimizer="polyak"`` unset steps and step size are :data:`POLYAK_DEFAULTS` times
    the column's; the default optimizer is the paper's (``"paper"``).
    """
    if kind not in KINDS:
        raise bad_argument("kind", kind, "one of " + ", ".join(KINDS))
    column = "restricted-imagenet" if dataset.startswith("restricted-imagenet") else "cifar10"
    if kind in ("robust", "nonrobust"):
        if eps is not None:
            raise bad_argument("eps", eps, "no eps for robust/nonrobust", "eps is for rand/det")
        t5, init = TABLE5[column], init or "image"
        optimizer = optimizer or "paper"
        scale = POLYAK_DEFAULTS if optimizer == "polyak" else {"steps_factor": 1.0, "step_size_factor": 1.0}
        default_steps = t5["noise_steps"] if init == "noise" else t5["steps"]
        return RobustifyConfig(
            steps=int(round(default_steps * scale["steps_factor"])) if steps is None else steps,
            step_size=float(t5["step_size"] * scale["step_size_factor"] if step_size is None else step_size),
            # init and optimizer are plain strings here; RobustifyConfig checks them
            init=init, noise_std=noise_std, batch_size=batch_size,  # type: ignore[arg-type]
            optimizer=optimizer, tol=0.0 if tol is None else tol,  # type: ignore[arg-type]
        )
    for name, value in (("init", init), ("optimizer", optimizer), ("tol", tol)):
        if value is not None:
            raise bad_argument(name, value, f"no {name} for rand/det", "PGD starts at the image")
    t6 = TABLE6[column]
    return RelabelConfig(
        eps=float(t6["eps"] if eps is None else eps),
        steps=int(t6["steps"] if steps is None else steps),
        step_size=float(t6["step_size"] if step_size is None else step_size),
        random_start=random_start, batch_size=batch_size,
    )


def load_source(source: str | os.PathLike[str] | nn.Module, device: str, *,
                trust_unverified: bool = False) -> Source:
    """Load a checkpoint folder (or take a model) and hash its weights for the provenance.

    ``trust_unverified``: load a checkpoint whose config.json has no weights hash (with a
    warning; refused otherwise)."""
    if isinstance(source, nn.Module):
        from safetensors.torch import save as st_save

        state = {k: v.detach().cpu().contiguous().clone() for k, v in source.state_dict().items()}
        config = dict(getattr(source, "config", {}) or {})
        return Source(source.to(device), sha256_bytes(st_save(state)), None, config)
    from advlab.models.checkpoint import WEIGHTS, checkpoint_folder, load_checkpoint

    folder = checkpoint_folder(source)
    model, doc = load_checkpoint(folder, device=device, trust_unverified=trust_unverified)
    keep: dict[str, Any] = {k: doc[k] for k in ("model", "train", "training", "config") if k in doc}
    return Source(model, sha256_file(folder / WEIGHTS), str(source), keep)


def select_subset(n_total: int, n: int | None, seed: int) -> torch.Tensor:
    """Indices of the samples to construct: all, or n drawn without replacement (sorted)."""
    if n is None:
        return torch.arange(n_total)
    if not isinstance(n, int) or not 1 <= n <= n_total:
        raise bad_argument("n", n, f"an integer in [1, {n_total}] (the split's size)")
    return seeded_subset(n_total, n, seed, sort=True)


def _plan_key(doc: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def _num_classes(model: nn.Module, x: torch.Tensor, device: str, dataset: str) -> int:
    """C, the number of logits, from one forward; a clear error when shapes do not fit."""
    try:
        with eval_mode(model), torch.no_grad():
            logits = model(x[:1].to(device))
    except RuntimeError as e:
        raise AdvlabError(
            f"source_checkpoint: model {type(model).__name__} cannot classify images of shape "
            f"{tuple(x.shape[1:])} from dataset {dataset!r} ({str(e).splitlines()[0]})",
            param="source_checkpoint",
        ) from None
    return int(logits.shape[1])


def _compute_fn(kind: str, cfg: RobustifyConfig | RelabelConfig, model: nn.Module,
                x_all: torch.Tensor, y_all: torch.Tensor, subset: torch.Tensor,
                num_classes: int, device: str) -> Any:
    """The per-shard computation (see :func:`advlab.features.shards.run_shards`)."""

    def robust(i: int, lo: int, hi: int, gen: torch.Generator, tick: Any) -> dict[str, torch.Tensor]:
        assert isinstance(cfg, RobustifyConfig)
        idx = subset[lo:hi]
        if cfg.init == "image":
            start = image_init_indices(idx, x_all.shape[0], generator=gen)
            x0 = x_all[start]
        else:
            start = torch.full_like(idx, -1)
            x0 = noise_init(tuple(x_all[idx].shape), std=cfg.noise_std, generator=gen)
        xr, d = robustify(model, x_all[idx], y_all[idx], x0=x0, steps=cfg.steps,
                          step_size=cfg.step_size, batch_size=cfg.batch_size,
                          optimizer=cfg.optimizer, tol=cfg.tol, device=device, progress=tick)
        return {"x": xr, "y": y_all[idx], "index": idx, "init_index": start,
                "rep_dist": d.absolute, "rep_rel": d.relative, "grad_evals": d.grad_evals,
                "best_step": d.best_step}

    def relab(i: int, lo: int, hi: int, gen: torch.Generator, tick: Any) -> dict[str, torch.Tensor]:
        assert isinstance(cfg, RelabelConfig)
        idx = subset[lo:hi]
        # kind is 'rand' or 'det' here (checked against KINDS on entry)
        r = relabel(model, x_all[idx], y_all[idx], mode=kind, num_classes=num_classes,  # type: ignore[arg-type]
                    config=cfg, generator=gen, device=device, progress=tick)
        return {"x": r.x_adv, "y": r.target, "index": idx, "source_label": y_all[idx],
                "reached": r.reached, "delta_norm": r.delta_norm}

    return robust if kind in ("robust", "nonrobust") else relab


def summarize(kind: str, t: dict[str, torch.Tensor]) -> dict[str, float]:
    """Card statistics of the per-sample records ``t`` (tensors of shape (N,)).

    D_R / D_NR: absolute and relative representation distances (mean, median, 90th
    percentile, max) and gradient evaluations per sample. D_rand / D_det: target-reached rate,
    perturbation norms, and the fraction of targets equal to the original label.
    """
    def q(v: torch.Tensor, p: float) -> float:
        return float(torch.quantile(v.double(), p)) if v.numel() else float("nan")

    def mean(v: torch.Tensor) -> float:
        return float(v.double().mean()) if v.numel() else float("nan")

    if kind in ("robust", "nonrobust"):
        d, r = t["rep_dist"], t["rep_rel"][torch.isfinite(t["rep_rel"])]
        return {"rep_dist_mean": mean(d), "rep_dist_median": q(d, 0.5),
                "rep_dist_max": float(d.max()) if d.numel() else float("nan"),
                "rep_rel_mean": mean(r), "rep_rel_median": q(r, 0.5), "rep_rel_p90": q(r, 0.9),
                "rep_rel_max": float(r.max()) if r.numel() else float("nan"),
                "grad_evals_mean": mean(t["grad_evals"])}
    dn = t["delta_norm"]
    return {"reached_rate": mean(t["reached"]), "delta_norm_mean": mean(dn),
            "delta_norm_max": float(dn.max()) if dn.numel() else 0.0,
            "target_is_label_rate": mean(t["source_label"] == t["y"])}


def _card_key(out: Path) -> str | None:
    """The construction key of a finished artifact in ``out`` (None when there is none)."""
    from advlab.data.artifact import is_artifact, read_card

    if not is_artifact(out):
        return None
    try:
        return str(read_card(out).get("provenance", {}).get("key"))
    except AdvlabError:
        return None


def _finish(out: Path, plan: ShardPlan, kind: str, provenance: dict[str, Any],
            classes: list[str] | None, timeout_s: float | None) -> None:
    """Rank 0: wait for every shard, write samples.safetensors, then the artifact (card last)."""
    from advlab.data.artifact import save_artifact

    wait_for_shards(out / "shards", plan, timeout_s=timeout_s)
    tensors = assemble(out / "shards", plan)
    x, y = tensors.pop("x"), tensors.pop("y")
    stats = summarize(kind, {**tensors, "y": y})
    with atomic_path(out / SAMPLES_FILE) as tmp:
        save_file({"y": y, **tensors}, str(tmp), metadata={"key": plan.key})
    save_artifact(out, x, y, name=f"{kind}:{provenance['source_dataset']['name']}",
                  classes=classes, provenance={**provenance, "stats": stats})
    remove_shards(out / "shards")


def _wait_for_card(out: Path, key: str, timeout_s: float | None, poll_s: float = 1.0) -> None:
    """Ranks > 0: return once rank 0 has written the artifact of this construction."""
    t0 = time.monotonic()
    while _card_key(out) != key:
        if timeout_s is not None and time.monotonic() - t0 > timeout_s:
            raise AdvlabError(f"out: rank 0 wrote no artifact in {out} after {timeout_s:.0f} s",
                              param="out")
        time.sleep(poll_s)


def _rank_device(device: str, world_size: int) -> str:
    if device == "cuda" and world_size > 1:
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return device


def construct_dataset(
    kind: Kind,
    *,
    source_checkpoint: str | os.PathLike[str] | nn.Module,
    dataset: str,
    out: str | os.PathLike[str],
    split: str = "train",
    seed: int = 0,
    steps: int | None = None,
    step_size: float | None = None,
    eps: float | None = None,
    init: str | None = None,
    shard_size: int = 1000,
    n: int | None = None,
    device: str = "cpu",
    data_root: str | os.PathLike[str] | None = None,
    batch_size: int = 256,
    noise_std: float = 0.25,
    random_start: bool = False,
    optimizer: str | None = None,
    tol: float | None = None,
    force: bool = False,
    timeout_s: float | None = None,
    precision: str = "fp32",
    channels_last: bool = False,
    compile: bool = False,
    trust_unverified: bool = False,
) -> Path:
    """Construct D_R / D_NR / D_rand / D_det from ``dataset`` and a source model.

    Args:
        kind: ``robust`` / ``nonrobust`` (representation inversion; the name records the
            kind of source model) or ``rand`` / ``det`` (targeted L2 PGD relabelling).
        source_checkpoint: a checkpoint folder (or a run folder with best/ or last/), or
            an ``nn.Module`` (hashed from its state dict).
        dataset, split, data_root: the source data (any ``advlab.load_dataset`` name).
        out: the artifact folder; an interrupted run in it is resumed.
        seed: shard i draws its randomness from (seed, i); also picks the ``n`` subset.
        steps, step_size, eps, init: hyper-parameters; unset ones come from Table 5 / 6.
        optimizer, tol: robust/nonrobust only: ``"paper"`` (default: fixed-length
            normalised steps) or ``"polyak"`` (Polyak-length steps), and the per-sample stop
            at this relative representation distance (default 0: off).
        shard_size: samples per shard (the unit of resumption and of rank parallelism).
        n: construct a seeded random subset of n samples instead of the whole split.
        device: ``cpu`` / ``cuda`` (under torchrun, ``cuda`` means ``cuda:LOCAL_RANK``).
        force: discard finished shards and the artifact, and recompute.
        timeout_s: how long rank 0 waits for other ranks' shards (None: forever).
        trust_unverified: accept a source checkpoint without a weights hash (warning).
        precision, channels_last, compile: the source model's speed paths
            (:func:`advlab.precision.speed_paths`); a setting other than the defaults is
            recorded in the provenance and the construction key.

    Returns:
        ``out``, a dataset artifact folder (on every rank, once rank 0 has written it).
    """
    out = check_out_dir(out)
    cfg = resolve_config(kind, dataset, steps=steps, step_size=step_size, eps=eps, init=init,
                         noise_std=noise_std, random_start=random_start, batch_size=batch_size,
                         optimizer=optimizer, tol=tol)
    rank, world = dist_env()
    device = _rank_device(device, world)
    src = load_source(source_checkpoint, device, trust_unverified=trust_unverified)
    fast = speed_paths(src.model, precision=precision, channels_last=channels_last, compile=compile)
    from advlab.data import load_dataset

    x_all, y_all = load_dataset(dataset, split=split, data_root=data_root)
    subset = select_subset(x_all.shape[0], n, seed)
    if kind in ("robust", "nonrobust"):
        check_features(src.model, x_all[:1].to(device), "source_checkpoint")
    num_classes = _num_classes(src.model, x_all, device, dataset)
    if kind in ("rand", "det"):
        check_classes(y_all[subset], num_classes, kind, dataset)
    classes = [str(c) for c in range(num_classes)] if int(y_all.max()) < num_classes else None
    prov = _provenance(kind, cfg, src, dataset, split, data_root, n, seed, shard_size)
    if describe(fast) != describe(src.model):  # fp32 runs keep the keys they always had
        prov["speed_paths"] = describe(fast)
        prov["key"] = _plan_key({k: v for k, v in prov.items()
                                 if k not in ("description", "optimizer", "key")})
    plan = ShardPlan(n=int(subset.numel()), shard_size=shard_size, key=prov["key"], seed=seed)
    existing = _card_key(out)
    if existing == plan.key and not force:
        return out
    if existing is not None and not force:
        raise AdvlabError(
            f"out: {str(out)!r} holds another construction (key {existing}, now {plan.key}); "
            "replace it with force (--force) or choose another out folder",
            param="out",
        )
    if force:
        for i in plan.mine(rank, world):
            shard_file(out / "shards", i).unlink(missing_ok=True)
    compute = _compute_fn(kind, cfg, fast, x_all, y_all, subset, num_classes, device)
    run_shards(out / "shards", plan, compute, rank=rank, world_size=world, desc=f"construct {kind}",
               cuda=str(device).startswith("cuda"))
    if rank == 0:
        _finish(out, plan, kind, prov, classes, timeout_s)
    else:
        _wait_for_card(out, plan.key, timeout_s)
    return out


def _provenance(kind: str, cfg: RobustifyConfig | RelabelConfig, src: Source, dataset: str,
                split: str, data_root: Any, n: int | None, seed: int, shard_size: int) -> dict[str, Any]:
    """Everything that determines the result; its hash is the construction key."""
    from advlab.data.artifact import code_version, is_artifact, read_card

    ds: dict[str, Any] = {"name": dataset, "split": split}
    if is_artifact(Path(dataset)):
        ds["sha256"] = read_card(dataset).get("sha256")
    doc = {
        "constructor": "advlab.features." + ("robustify" if kind in ("robust", "nonrobust") else "relabel"),
        "kind": kind,
        "description": _DESCRIPTION[kind],
        "parameters": asdict(cfg),
        **_method(kind, cfg),
        "source_model": {"sha256": src.sha256, "path": src.path, "config": src.config},
        "source_dataset": ds,
        "n": n,
        "seed": seed,
        "shard_size": shard_size,
        "code_version": code_version(),
    }
    # prose is left out of the key; the optimizer block restates "parameters" in words
    doc["key"] = _plan_key({k: v for k, v in doc.items() if k not in ("description", "optimizer")})
    return doc


def _method(kind: str, cfg: RobustifyConfig | RelabelConfig) -> dict[str, Any]:
    """The provenance's plain statement of the method: which inversion optimizer built the
    set (D_R / D_NR), or which rule chose the targets (D_rand / D_det)."""
    if isinstance(cfg, RobustifyConfig):
        return {"optimizer": {"name": cfg.optimizer, "description": OPTIMIZERS[cfg.optimizer],
                              "steps": cfg.steps, "step_size": cfg.step_size, "tol": cfg.tol,
                              "returns": "per sample, the iterate with the smallest "
                                         "representation distance (Figure 5's arg min)"}}
    return {"target_rule": TARGET_RULES[kind]}
