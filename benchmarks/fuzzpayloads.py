"""Malicious pickle payloads, in several wrappings, planted where advlab reads files.

Each payload, when unpickled, creates a marker file (through ``os.system``,
``subprocess.call``, ``exec``, ``eval``, ``shutil.copyfile`` or ``open``). A case plants
one payload in one wrapping (raw pickle of protocol 0/2/4/5, gzip'd pickle, ``torch.save``
zip or legacy, inside a list or a dict next to a tensor, a NumPy object array) in place
of one file of a valid input (``CIFAR_ims``, ``CIFAR_lab``, ``data.safetensors``,
``card.json``, ``model.safetensors``, ``config.json``, an IDX ``.gz``), then runs the
loaders. :func:`control` unpickles the same payload with the matching *unsafe* reader
to show the payload is live; advlab's loaders must never create a marker.
"""

from __future__ import annotations

import builtins
import gzip
import io
import os
import pickle
import random
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

CALLABLES = ("os.system", "subprocess.call", "exec", "eval", "shutil.copyfile", "open")
WRAPPINGS = ("pickle0", "pickle2", "pickle4", "pickle5", "gzip_pickle", "torch_zip", "torch_legacy",
             "torch_list", "torch_dict", "numpy_object")
TARGETS = {"CIFAR_ims": "released", "CIFAR_lab": "released", "data.safetensors": "artifact",
           "card.json": "artifact", "model.safetensors": "checkpoint", "config.json": "checkpoint",
           "train-images-idx3-ubyte.gz": "idx"}


class Payload:
    """Unpickling it calls ``fn(*args)``."""

    def __init__(self, fn: Any, args: tuple[Any, ...]) -> None:
        self.fn, self.args = fn, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.fn, self.args


def payload(kind: str, marker: Path) -> Payload:
    m = str(marker)
    table = {
        "os.system": (os.system, (f"touch {m}",)),
        "subprocess.call": (subprocess.call, (["touch", m],)),
        "exec": (builtins.exec, (f"open({m!r}, 'w').close()",)),
        "eval": (builtins.eval, (f"open({m!r}, 'w')",)),
        "shutil.copyfile": (shutil.copyfile, ("/etc/hostname" if os.path.exists("/etc/hostname") else __file__, m)),
        "open": (builtins.open, (m, "w")),
    }
    fn, args = table[kind]
    return Payload(fn, args)


def wrap(obj: Any, wrapping: str) -> bytes:
    """The bytes of ``obj`` in one wrapping."""
    if wrapping.startswith("pickle"):
        return pickle.dumps(obj, protocol=int(wrapping[-1]))
    if wrapping == "gzip_pickle":
        return gzip.compress(pickle.dumps(obj, protocol=4))
    if wrapping == "numpy_object":
        buf = io.BytesIO()
        np.save(buf, np.array([obj, 1], dtype=object), allow_pickle=True)
        return buf.getvalue()
    inner = {"torch_zip": obj, "torch_legacy": obj, "torch_list": [torch.zeros(2), obj],
             "torch_dict": {"x": torch.zeros(2), "y": obj}}[wrapping]
    buf = io.BytesIO()
    torch.save(inner, buf, _use_new_zipfile_serialization=wrapping != "torch_legacy")
    return buf.getvalue()


def control(blob: bytes, wrapping: str) -> None:
    """Unpickle ``blob`` the unsafe way (what advlab must never do)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if wrapping.startswith("pickle"):
                pickle.loads(blob)  # noqa: S301 - the control: it must fire
            elif wrapping == "gzip_pickle":
                pickle.loads(gzip.decompress(blob))  # noqa: S301
            elif wrapping == "numpy_object":
                np.load(io.BytesIO(blob), allow_pickle=True)
            else:
                torch.load(io.BytesIO(blob), weights_only=False)
        except Exception:  # noqa: BLE001 - a payload's return value may not rebuild cleanly
            pass


def plant(d: Path, target: str, blob: bytes) -> None:
    """Put ``blob`` in place of ``target`` in the valid input ``d``."""
    f = d / target
    if target.endswith(".gz") and not f.exists():
        f = d / target.removesuffix(".gz")
    f.unlink(missing_ok=True)
    f.write_bytes(blob)


def cases() -> list[tuple[str, str, str]]:
    """Every (callable, wrapping, target) combination."""
    return [(c, w, t) for c in CALLABLES for w in WRAPPINGS for t in TARGETS]


def pick(rng: random.Random, n: int) -> list[tuple[str, str, str]]:
    every = cases()
    return every if n >= len(every) else rng.sample(every, n)
