"""Safetensors headers, read and checked before any tensor is.

A safetensors file is: an 8-byte little-endian header length ``n``, ``n`` bytes of JSON
(``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}``),
then the tensor bytes. :func:`read_header` checks the header against a declared schema
and against the file's size (each tensor's byte range matches its dtype and shape; the
ranges tile the data exactly), and :func:`expect_tensors` compares it with what the
caller's own metadata (a dataset card, a model config) says the file must hold. Only
then are tensors read, so a hostile header cannot make advlab allocate more than the
file holds.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from advlab.errors import AdvlabError
from advlab.schema import Int, ListOf, Obj, OneOf, Str, validate
from advlab.store import check_path

#: Bytes per element of each safetensors dtype.
ITEMSIZE = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2,
            "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
#: The safetensors name of each torch dtype advlab stores.
DTYPE_NAME = {torch.bool: "BOOL", torch.uint8: "U8", torch.int8: "I8", torch.int16: "I16",
              torch.float16: "F16", torch.bfloat16: "BF16", torch.int32: "I32",
              torch.float32: "F32", torch.int64: "I64", torch.float64: "F64"}
MAX_HEADER_BYTES = 16 << 20
MAX_TENSORS = 100_000

_ENTRY = Obj({"dtype": OneOf(tuple(ITEMSIZE)),
              "shape": ListOf(Int(0, 2**48), 0, 16),
              "data_offsets": ListOf(Int(0, 2**62), 2, 2)},
             required=("dtype", "shape", "data_offsets"), what="a tensor entry")
_HEADER = Obj({"__metadata__": Obj({}, extra=Str(10_000), what="an object of strings")},
              extra=_ENTRY, max_keys=MAX_TENSORS, what="a safetensors header object")


@dataclass(frozen=True)
class Entry:
    """One tensor of a safetensors file, as its header declares it."""

    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


def read_header(path: str | os.PathLike[str]) -> dict[str, Entry]:
    """The tensors a safetensors file declares, checked against its size.

    Returns:
        name -> :class:`Entry` (``__metadata__`` left out).

    Raises:
        AdvlabError: naming the file, when the header is malformed, too large, or does
            not describe the file's bytes exactly.
    """
    p = check_path(path, "file")
    try:
        if not stat.S_ISREG(os.stat(p).st_mode):
            raise AdvlabError(f"{p}: not a regular file; expected a safetensors file")
        with open(p, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(8)
            n = int.from_bytes(head, "little") if len(head) == 8 else -1
            if not 2 <= n <= min(MAX_HEADER_BYTES, size - 8):
                raise AdvlabError(
                    f"{p}: not a safetensors file (header length {n} in a file of {size} bytes)"
                )
            raw = f.read(n)
    except FileNotFoundError:
        raise AdvlabError(f"{p}: file not found") from None
    except OSError as e:
        raise AdvlabError(f"{p}: cannot be read ({e.strerror or e})") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise AdvlabError(f"{p}: not a safetensors file (its header is not valid JSON)") from None
    doc = validate(_HEADER, doc, f"{p}: header")
    entries = {k: Entry(v["dtype"], tuple(v["shape"]), *v["data_offsets"])
               for k, v in doc.items() if k != "__metadata__"}
    _check_layout(entries, size - 8 - n, p)
    return entries


def _check_layout(entries: Mapping[str, Entry], data_bytes: int, p: Path) -> None:
    """Each byte range matches its dtype and shape; the ranges tile [0, data_bytes)."""
    pos = 0
    for name, e in sorted(entries.items(), key=lambda kv: (kv[1].begin, kv[1].end)):
        if e.end - e.begin != e.numel * ITEMSIZE[e.dtype]:
            raise AdvlabError(
                f"{p}: tensor {name[:60]!r} declares {e.dtype} {list(e.shape)} but "
                f"{e.end - e.begin} bytes; the header is inconsistent"
            )
        if e.begin != pos:
            raise AdvlabError(f"{p}: tensor {name[:60]!r} starts at byte {e.begin}, expected {pos} "
                              f"(tensors overlap or leave gaps); the header is inconsistent")
        pos = e.end
    if pos != data_bytes:
        raise AdvlabError(f"{p}: the header describes {pos} bytes of tensors but the file holds "
                          f"{data_bytes}; it is truncated or was modified")


def expect_tensors(entries: Mapping[str, Entry], expected: Mapping[str, tuple[str, tuple[int, ...]]],
                   p: str | os.PathLike[str], source: str) -> None:
    """Refuse a header whose tensors differ from ``expected`` (name -> (dtype, shape)).

    Args:
        entries: from :func:`read_header`.
        expected: what the caller's metadata implies.
        p: the file (for messages); source: what ``expected`` came from (e.g. ``card.json``).
    """
    missing = sorted(set(expected) - set(entries))
    unexpected = sorted(set(entries) - set(expected))
    if missing or unexpected:
        parts = ([f"missing {[m[:40] for m in missing[:3]]}"] if missing else []) + (
            [f"unexpected {[u[:40] for u in unexpected[:3]]}"] if unexpected else [])
        raise AdvlabError(f"{p}: tensors do not match {source} ({'; '.join(parts)})")
    for name, (dtype, shape) in expected.items():
        e = entries[name]
        if e.dtype != dtype or e.shape != tuple(shape):
            raise AdvlabError(
                f"{p}: tensor {name!r} is {e.dtype} {list(e.shape)} but {source} implies "
                f"{dtype} {list(shape)}"
            )
