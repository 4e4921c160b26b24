"""Per-sample robust flags kept beside an evaluation's results, so that a rerun with a
stronger attack attacks only the points still robust (as AutoAttack does).

``OUT/robust_flags.safetensors`` holds

* one BOOL (N,) tensor per threat model, named ``"<norm>:<eps key>"`` (``"l2:0.5"``,
  ``"linf:0.03137254901960784"``; the key is exact, see :func:`advlab.report.format.eps_key`):
  True where the point is classified correctly and no attack that touched the file found
  an adversarial example in that ball;
* metadata ``"flags"``: ``{"format", "weights_sha256", "points_sha256", "n",
  "tensors_sha256"}`` - the model and the points (the sha256 of the x and y tensors) the
  flags belong to, and the sha256 of the tensors' bytes (checked on read);
* metadata ``"attack.0"``, ``"attack.1"``, ...: one JSON record per attack run that touched
  the flags, in order (their provenance).

Flags only ever get stricter: a run starts from the saved flags, attacks the points they
mark robust, and a point it fools is marked not robust. Flags at a smaller eps bound those
at a larger one (a point fooled inside a ball is fooled inside every larger ball).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor

from advlab.errors import AdvlabError
from advlab.report.format import eps_key
from advlab.schema import Int, Json, Obj, OneOf, Str, validate
from advlab.store import atomic_path
from advlab.tensorfile import expect_tensors, read_header

FLAGS_FILE = "robust_flags.safetensors"
FORMAT = "advlab-robust-flags/1"
#: longest text kept from a command line in an attack record, and most radii per evaluation:
#: each record is one metadata value, which safetensors readers bound (advlab: 10,000 chars)
MAX_COMMAND, MAX_EPS = 1000, 100

_META = Obj({
    "format": OneOf((FORMAT,)),
    "weights_sha256": Str(64, pattern="[0-9a-f]{64}", what="64 lowercase hex digits"),
    "points_sha256": Str(64, pattern="[0-9a-f]{64}", what="64 lowercase hex digits"),
    "n": Int(1, 1 << 31),
    "tensors_sha256": Str(64, pattern="[0-9a-f]{64}", what="64 lowercase hex digits"),
}, required=("format", "weights_sha256", "points_sha256", "n", "tensors_sha256"),
    what="robust-flags metadata (an object)")
_RECORD = Obj({}, extra=Json(), what="an attack record (an object)")


def points_sha256(x: Tensor, y: Tensor) -> str:
    """sha256 of the points: x (N, C, H, W) as float32 and y (N,) as int64, C order."""
    h = hashlib.sha256()
    for t, dtype in ((x, torch.float32), (y, torch.int64)):
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().to("cpu", dtype).contiguous().numpy().tobytes())
    return h.hexdigest()


def flag_name(norm: str, eps: float) -> str:
    return f"{norm}:{eps_key(eps)}"


def _parse_name(name: str) -> tuple[str, float]:
    norm, sep, key = name.partition(":")
    try:
        eps = float(key)
    except ValueError:
        eps = float("nan")
    if not sep or norm not in ("l2", "linf") or not 0 <= eps < float("inf"):
        raise AdvlabError(f"{FLAGS_FILE}: tensor {name[:60]!r} is not named '<l2|linf>:<eps>'")
    return norm, eps


def _tensors_sha256(tensors: dict[str, Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        h.update(name.encode() + b"\0")
        h.update(tensors[name].contiguous().numpy().tobytes())
    return h.hexdigest()


@dataclass
class RobustFlags:
    """The saved flags of one model on one set of N points.

    Attributes:
        weights_sha256, points_sha256: the model and the points the flags belong to.
        flags: ``(norm, eps) -> (N,) bool`` (True: still robust).
        attacks: one record per attack run that touched the flags, in order.
    """

    weights_sha256: str
    points_sha256: str
    n: int
    flags: dict[tuple[str, float], Tensor] = field(default_factory=dict)
    attacks: list[dict[str, Any]] = field(default_factory=list)

    def prior(self, norm: str, eps: float) -> Tensor | None:
        """(N,) bool: the points not yet fooled at ``eps`` (AND of the flags of ``norm`` at
        every saved eps' <= eps, since balls nest); None when no saved eps qualifies."""
        masks = [f for (nm, e), f in self.flags.items() if nm == norm and e <= eps]
        if not masks:
            return None
        out = masks[0].clone()
        for m in masks[1:]:
            out &= m
        return out

    def update(self, norm: str, robust: dict[float, Tensor], record: dict[str, Any]) -> None:
        """Record the flags of a run (``eps -> (N,) bool``, already ANDed with the prior)
        and its attack record."""
        for e, f in robust.items():
            if f.shape != (self.n,) or f.dtype != torch.bool:
                raise ValueError(f"flags at eps={e}: shape {tuple(f.shape)}, {f.dtype}")
            self.flags[(norm, float(e))] = f.detach().cpu().clone()
        self.attacks.append(record)


def write_flags(path: str | os.PathLike[str], rf: RobustFlags) -> None:
    """Write ``rf`` atomically to ``path``."""
    tensors = {flag_name(nm, e): f.contiguous() for (nm, e), f in sorted(rf.flags.items())}
    meta = {"format": FORMAT, "weights_sha256": rf.weights_sha256,
            "points_sha256": rf.points_sha256, "n": rf.n,
            "tensors_sha256": _tensors_sha256(tensors)}
    metadata = {"flags": json.dumps(meta)}
    for i, rec in enumerate(rf.attacks):
        metadata[f"attack.{i}"] = json.dumps(rec)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def read_flags(path: str | os.PathLike[str]) -> RobustFlags:
    """Read and check a flags file: header, metadata schema, shapes, tensor hash.

    Raises:
        AdvlabError: naming the file, when it is malformed or its tensors were modified.
    """
    p = Path(path)
    entries = read_header(p)
    with open(p, "rb") as f:  # the header was checked: its length and JSON are bounded
        n_head = int.from_bytes(f.read(8), "little")
        raw_meta = json.loads(f.read(n_head)).get("__metadata__", {})
    try:
        meta = validate(_META, json.loads(raw_meta.get("flags", "null")), f"{p}: metadata")
        records = [validate(_RECORD, json.loads(raw_meta[f"attack.{i}"]), f"{p}: attack.{i}")
                   for i in range(sum(k.startswith("attack.") for k in raw_meta))]
    except (ValueError, KeyError) as e:
        raise AdvlabError(f"{p}: not an advlab robust-flags file ({e})") from None
    names = {name: _parse_name(name) for name in entries}
    expect_tensors(entries, {name: ("BOOL", (meta["n"],)) for name in names}, p, "its metadata")
    try:
        with safe_open(str(p), framework="pt") as f:
            tensors = {name: f.get_tensor(name) for name in names}
    except (SafetensorError, OSError, RuntimeError) as e:
        raise AdvlabError(f"{p}: cannot be read as safetensors ({e})") from None
    if _tensors_sha256(tensors) != meta["tensors_sha256"]:
        raise AdvlabError(f"{p}: the flags do not match their recorded sha256; the file was "
                          "modified or is corrupted (delete it, or rerun with --force)")
    return RobustFlags(meta["weights_sha256"], meta["points_sha256"], meta["n"],
                       {names[k]: t for k, t in tensors.items()}, records)


__all__ = ["FLAGS_FILE", "MAX_COMMAND", "MAX_EPS", "RobustFlags", "flag_name", "points_sha256", "read_flags", "write_flags"]
