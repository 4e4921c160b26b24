"""Adversarial examples saved as a dataset artifact (``advlab attack --save DIR``).

The folder is an ordinary artifact (``advlab.load_dataset(DIR)`` reads x_adv and y) plus
``samples.safetensors`` with one row per example:

* ``success`` BOOL (N,): the attack fooled the model on this point;
* ``norms`` F32 (N,): ``||x_adv - x||`` in the attack's norm (inf where it failed);
* ``clean_success`` BOOL (N,): the point was misclassified before the attack;
* ``index`` I64 (N,): the point's position in the source split.

The card's provenance names the attack and its settings, the source model (weights
sha256), the source dataset, split, subset and seed, the command, and the sha256 of
samples.safetensors. Nothing is overwritten, and nothing is left half-written: the folder
is assembled under a hidden temporary name beside DIR and renamed onto DIR at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import save_file
from torch import Tensor

from advlab.attacks.base import AttackResult
from advlab.errors import AdvlabError, bad_argument
from advlab.store import atomic_path, check_path, sha256_file, to_jsonable

if TYPE_CHECKING:
    from advlab.evaluate.protocol import MinNormConfig

SAMPLES_FILE = "samples.safetensors"


def check_save_dir(save: str | os.PathLike[str]) -> Path:
    """``save`` as a Path, refused when something already exists there."""
    p = check_path(save, "save")
    if p.exists() or p.is_symlink():
        raise bad_argument("save", str(p), "a folder that does not exist yet",
                           "saved examples are never overwritten; choose another folder")
    return p


def save_adversarial(save: str | os.PathLike[str], result: AttackResult, y: Tensor, *,
                     index: Tensor, name: str, classes: list[str] | None,
                     provenance: dict[str, Any],
                     value_range: tuple[float, float] | None) -> Path:
    """Write the examples of ``result`` (x_adv (N,C,H,W), labels ``y`` (N,)) to ``save``.

    Args:
        index: (N,) int64 positions of the points in their source split.
        name, classes, value_range: the artifact's name, class names and pixel range
            (:func:`advlab.data.save_artifact`); provenance: how they were made.
    Returns:
        ``save``, a dataset artifact folder.
    Raises:
        AdvlabError: ``save`` exists (checked again before the final rename).
    """
    from advlab.data.artifact import save_artifact

    dest = check_save_dir(save)
    tmp = dest.parent / f".{dest.name}.partial-{uuid.uuid4().hex[:12]}"
    try:
        tmp.mkdir(parents=True)
        samples = {"success": result.success, "norms": result.norms.float(),
                   "clean_success": result.clean_success, "index": index.to(torch.int64)}
        with atomic_path(tmp / SAMPLES_FILE) as part:
            save_file({k: v.detach().cpu().contiguous() for k, v in samples.items()}, str(part))
        prov = {**provenance, "samples": {"file": SAMPLES_FILE,
                                          "sha256": sha256_file(tmp / SAMPLES_FILE),
                                          "tensors": sorted(samples)}}
        save_artifact(tmp, result.x_adv, y, name=name, classes=classes,
                      provenance=to_jsonable(prov), value_range=value_range)
        check_save_dir(dest)
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    with contextlib.suppress(OSError):
        fd = os.open(dest.parent, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    return dest


def save_min_norm(cfg: MinNormConfig, save: str | os.PathLike[str], result: AttackResult,
                  y: Tensor, index: Tensor, attack: Any, stats: dict[str, Any], command: str,
                  weights_sha256: str) -> dict[str, Any]:
    """Write the examples of a minimum-norm run (:func:`advlab.evaluate.protocol.min_norm`)
    with their provenance; return where, how many and the artifact's sha256."""
    from advlab.data import open_source
    from advlab.data.artifact import UNIT_RANGE, is_artifact, read_card

    source: dict[str, Any] = {"name": cfg.dataset, "split": cfg.split}
    if is_artifact(Path(cfg.dataset)):
        source["sha256"] = read_card(cfg.dataset)["sha256"]
    prov = {"constructor": "advlab.evaluate.protocol.min_norm (advlab attack --save)",
            "description": f"minimum-norm adversarial examples ({cfg.method}); x is x_adv, "
                           "y the true label",
            "attack": {"class": type(attack).__name__, "norm": "l2", "config": attack.config},
            "source_model": {"sha256": weights_sha256, "path": cfg.checkpoint},
            "source_dataset": source, "n": cfg.n, "seed": cfg.seed, "command": command,
            "stats": {k: stats[k] for k in ("success_rate", "mean_l2", "median_l2")}}
    classes = open_source(cfg.dataset, cfg.split, cfg.data_root).classes
    path = save_adversarial(save, result, y, index=index, name=f"{cfg.method}:{cfg.dataset}",
                            classes=list(classes), provenance=prov,
                            value_range=UNIT_RANGE if cfg.box == UNIT_RANGE else None)
    return {"path": str(path), "n": len(y), "sha256": read_card(path)["sha256"]}


def read_samples(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """The per-sample tensors of a saved folder, after checking them against its card
    (sha256 and shapes)."""
    from safetensors import safe_open

    from advlab.data.artifact import read_card
    from advlab.tensorfile import expect_tensors, read_header

    p = check_path(path, "path")
    card = read_card(p)
    meta = card["provenance"].get("samples")
    if not isinstance(meta, dict) or meta.get("file") != SAMPLES_FILE:
        raise AdvlabError(f"{p}: its card names no {SAMPLES_FILE}; not saved by advlab attack --save")
    f = p / SAMPLES_FILE
    n = card["n_train"]
    expect_tensors(read_header(f), {"success": ("BOOL", (n,)), "norms": ("F32", (n,)),
                                    "clean_success": ("BOOL", (n,)), "index": ("I64", (n,))},
                   f, "card.json")
    if sha256_file(f) != meta.get("sha256"):
        raise AdvlabError(f"{f}: sha256 does not match card.json; the file was modified")
    with safe_open(str(f), framework="pt") as sf:
        return {k: sf.get_tensor(k) for k in ("success", "norms", "clean_success", "index")}


__all__ = ["SAMPLES_FILE", "check_save_dir", "read_samples", "save_adversarial", "save_min_norm"]
