"""Fuzz cases for advlab's loaders: valid seeds and their mutations.

A case is ``(fmt, mutator, seed)``. :func:`build_case` writes a valid seed of ``fmt``
(a dataset artifact, a checkpoint folder, a Fashion-MNIST IDX folder or a released
``CIFAR_ims`` / ``CIFAR_lab`` folder) into a fresh folder and applies the mutation,
drawn from ``random.Random(seed)``: byte damage, file-system tricks, hostile JSON in
cards and configs, hostile safetensors headers, tensors with semantic defects under a
valid hash, IDX header edits and gz bombs, and hostile ``torch.save`` objects.
``benchmarks/fuzzcheck.py`` judges what advlab's loaders make of them.

Used by ``benchmarks/fuzz.py`` (10,000+ cases in memory-capped, time-limited worker
processes) and by ``tests/test_fuzz.py`` (a hypothesis sample in CI).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import random
import shutil
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.numpy import load_file as np_load_file
from safetensors.torch import save_file

from advlab.data import save_artifact
from advlab.models import build_model, save_checkpoint

FORMATS = ("artifact", "checkpoint", "idx", "released")
HOSTILE: list[Any] = [None, True, -1, 0, 1, 2**31, 2**40, 2**63, -(2**63), 1.5, -0.0, 1e308, "", "x" * 5000,
                      "\ud800", [], {}, [None], [[[[]]]], {"a": {"b": {}}}, "NaN", [1, 2, 3, 4, 5], ["a"] * 3]
RAW_HOSTILE = [b"NaN", b"Infinity", b"-Infinity", b"1" * 5000, b"1e999", b"[" * 5000 + b"]" * 5000,
               b'"\\ud800"', b"\xff\xfe", b"{}" * 3]


# ---------------------------------------------------------------- seeds


def seed_folder(fmt: str, rng: random.Random, root: Path) -> Path:
    """A valid input of ``fmt`` in a new folder under ``root``."""
    g = torch.Generator().manual_seed(rng.randrange(2**31))
    d = root / fmt
    if fmt == "artifact":
        kind = rng.choice(["uint8", "float", "unbounded"])
        n, nt = rng.randint(1, 6), rng.choice([0, 0, 3])
        x = torch.rand(n + nt, 1, rng.randint(1, 6), rng.randint(1, 6), generator=g)
        y = torch.randint(0, 3, (n + nt,), generator=g)
        if kind == "uint8":
            x = (x * 255).round().to(torch.uint8)
        elif kind == "unbounded":
            x = (x - 0.5) * 8
        save_artifact(d, x[:n], y[:n], name="seed", x_test=x[n:] if nt else None,
                      y_test=y[n:] if nt else None, classes=["a", "b", "c"],
                      value_range=None if kind == "unbounded" else (0.0, 1.0),
                      provenance={"seed": 1, "nested": {"list": [1, 2.5, "s"]}})
    elif fmt == "checkpoint":
        arch = rng.choice(["mlp", "cnn", "linear_svm"])
        if arch == "mlp":
            model = build_model("mlp", in_shape=(1, 4, 4), num_classes=3, hidden=[rng.randint(1, 6)])
        elif arch == "cnn":
            model = build_model("cnn", in_shape=(1, 8, 8), num_classes=2, width=2, hidden=4)
        else:
            model = build_model("linear_svm", in_shape=(1, 2, 2), num_classes=2, n_support=3, n_outputs=1, gamma=1.0)
        save_checkpoint(d, model, {"train": {"lr": 0.1, "epochs": 2}, "metrics": {"test_acc": 0.5}})
    elif fmt == "idx":
        gz = rng.random() < 0.7
        for prefix, n in (("train", rng.randint(1, 6)), ("t10k", rng.randint(1, 3))):
            h, w = rng.randint(1, 6), rng.randint(1, 6)
            x = torch.randint(0, 256, (n, h, w), generator=g, dtype=torch.uint8).numpy()
            y = torch.randint(0, 10, (n,), generator=g, dtype=torch.uint8).numpy()
            for kind, arr, nd in (("images", x, 3), ("labels", y, 1)):
                data = idx_bytes(8, arr.shape, arr.tobytes())
                name = f"{prefix}-{kind}-idx{nd}-ubyte"
                d.mkdir(parents=True, exist_ok=True)
                (d / (name + ".gz" if gz else name)).write_bytes(gzip.compress(data) if gz else data)
    else:
        d.mkdir(parents=True)
        n = rng.randint(1, 4)
        ims = torch.rand(n, 3, 32, 32, generator=g)
        lab = torch.randint(0, 10, (n,), generator=g)
        legacy = rng.random() < 0.2
        obj: Any = list(ims.split(max(1, n // 2))) if rng.random() < 0.3 else ims
        torch_save(obj, d / "CIFAR_ims", legacy)
        torch_save(lab, d / "CIFAR_lab", legacy)
    return d


def idx_bytes(code: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return bytes([0, 0, code, len(dims)]) + b"".join(int(v).to_bytes(4, "big") for v in dims) + payload


def torch_save(obj: Any, path: Path, legacy: bool = False) -> None:
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)


# ---------------------------------------------------------------- mutations


def files_of(d: Path) -> list[Path]:
    return sorted(p for p in d.rglob("*") if p.is_file())


def m_bytes(d: Path, rng: random.Random) -> str:
    """Byte-level damage to one file: flips, truncation, junk, zeroed or repeated ranges."""
    f = rng.choice(files_of(d))
    b = bytearray(f.read_bytes())
    op = rng.choice(["flip", "truncate", "append", "insert", "zero", "dup", "empty", "random"])
    n = len(b)
    i = rng.randrange(n) if n else 0
    if op == "flip" and n:
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(n)] ^= 1 << rng.randrange(8)
    elif op == "truncate":
        b = b[:i]
    elif op == "append":
        b += rng.randbytes(rng.randint(1, 64)) if rng.random() < 0.5 else bytes(rng.randint(1, 4096))
    elif op == "insert":
        b[i:i] = rng.randbytes(rng.randint(1, 16))
    elif op == "zero" and n:
        j = min(n, i + rng.randint(1, 64))
        b[i:j] = bytes(j - i)
    elif op == "dup" and n:
        b[i:i] = b[i:min(n, i + rng.randint(1, 64))]
    elif op == "empty":
        b = bytearray()
    elif op == "random":
        b = bytearray(rng.randbytes(rng.randint(0, 256)))
    f.write_bytes(bytes(b))
    if rng.random() < 0.5:
        rehash(d)
    return f"bytes:{op}:{f.name}"


def m_fs(d: Path, rng: random.Random) -> str:
    """File-system tricks: a file removed, replaced by a folder or by a link to a device."""
    f = rng.choice(files_of(d))
    op = rng.choice(["delete", "dir", "zero", "urandom", "selfdir", "longname"])
    if op == "longname":
        return "fs:longname"  # judged on a path longer than the OS allows (see judge)
    f.unlink()
    if op == "dir":
        f.mkdir()
    elif op in ("zero", "urandom"):
        f.symlink_to(f"/dev/{op}")
    elif op == "selfdir":
        f.symlink_to(d)
    return f"fs:{op}:{f.name}"


def _paths(v: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(v, dict):
        for k, w in v.items():
            out += _paths(w, path + (k,))
    elif isinstance(v, list):
        for i, w in enumerate(v[:8]):
            out += _paths(w, path + (i,))
    return out


def mutate_json(doc: Any, rng: random.Random) -> tuple[Any, str]:
    """One hostile edit at a random place of a parsed JSON document."""
    path = rng.choice(_paths(doc))
    if not path:
        return rng.choice(HOSTILE), "root"
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    key = path[-1]
    op = rng.choice(["replace", "replace", "delete", "add", "wrap", "numeric"])
    if op == "delete" and isinstance(parent, dict):
        del parent[key]
    elif op == "add" and isinstance(parent, dict):
        parent[rng.choice(["extra", "__proto__", "x" * 300, ""])] = rng.choice(HOSTILE)
    elif op == "wrap":
        parent[key] = [parent[key]]
    elif op == "numeric" and isinstance(parent[key], int | float) and not isinstance(parent[key], bool):
        parent[key] = rng.choice([parent[key] + 1, parent[key] - 1, -parent[key], parent[key] * 2**20, 0])
    else:
        parent[key] = rng.choice(HOSTILE)
    return doc, f"{op}:{'.'.join(str(p)[:20] for p in path)}"


def m_json(d: Path, rng: random.Random) -> str:
    """A hostile edit of card.json / config.json, or raw hostile JSON text."""
    f = d / ("card.json" if (d / "card.json").exists() else "config.json")
    if not f.exists():
        return m_bytes(d, rng)
    if rng.random() < 0.15:
        f.write_bytes(rng.choice(RAW_HOSTILE) if rng.random() < 0.7 else
                      b'{"format": ' + rng.choice(RAW_HOSTILE) + b"}")
        return "json:raw"
    try:
        doc = json.loads(f.read_bytes())
    except ValueError:  # an earlier mutation broke it: damage the bytes instead
        return m_bytes(d, rng)
    doc, what = mutate_json(doc, rng)
    text = json.dumps(doc, allow_nan=True) if rng.random() < 0.8 else json.dumps(doc, indent=rng.randint(0, 3))
    f.write_text(text, encoding="utf-8", errors="surrogatepass")
    return f"json:{what}"


def m_header(d: Path, rng: random.Random) -> str:
    """A hostile edit of a safetensors header (length prefix recomputed), then rehash."""
    sts = [p for p in files_of(d) if p.suffix == ".safetensors"]
    if not sts:
        return m_bytes(d, rng)
    f = rng.choice(sts)
    blob = f.read_bytes()
    n = int.from_bytes(blob[:8], "little")
    try:
        header = json.loads(blob[8:8 + n])
        assert isinstance(header, dict) and len(header) > 1
    except (ValueError, AssertionError):  # an earlier mutation broke it
        return m_bytes(d, rng)
    names = sorted(k for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)
                   and isinstance(v.get("shape"), list) and all(type(i) is int for i in v["shape"])
                   and isinstance(v.get("data_offsets"), list) and len(v["data_offsets"]) == 2)
    if names and rng.random() < 0.4:  # plausible: a tensor grows, offsets follow
        name = rng.choice(names)
        e = header[name]
        e["shape"] = [rng.choice([0, 1, 2**20, 2**31, 10**9]) if rng.random() < 0.5 else s for s in e["shape"]] or [2]
        if rng.random() < 0.5:
            e["data_offsets"][1] = e["data_offsets"][0] + math.prod(e["shape"]) * 4
        what = f"grow:{name}"
    else:
        header, what = mutate_json(header, rng)
    raw = json.dumps(header).encode()
    f.write_bytes(len(raw).to_bytes(8, "little") + raw + blob[8 + n:])
    rehash(d)
    return f"header:{what}"


def _defect(t: torch.Tensor, op: str, rng: random.Random) -> torch.Tensor | None:
    """``t`` with one semantic defect (None: the tensor is removed)."""
    fl = t.is_floating_point()
    if t.ndim == 0:
        t = t.reshape(1)
    table: dict[str, Callable[[], torch.Tensor | None]] = {
        "nan": lambda: t.clone().fill_(math.nan) if fl else t - 1,
        "inf": lambda: t.clone().fill_(-math.inf) if fl else t + 10**6,
        "big": lambda: t + 2,
        "neg": lambda: t - 3,
        "label": lambda: torch.full_like(t, 2**40) if t.dtype == torch.int64 else t * 300,
        "dtype": lambda: t.to(rng.choice([torch.int16, torch.float64, torch.uint8, torch.int32, torch.float16])),
        "shape3": lambda: t.reshape(-1),
        "shape5": lambda: t.reshape(1, *t.shape),
        "empty": lambda: t[:0],
        "drop": lambda: None,
    }
    return table[op]()


def m_tensors(d: Path, rng: random.Random) -> str:
    """Rewrite the stored tensors with a semantic defect, keep the hash valid (and sometimes
    the card's shapes too), so that the content checks are what must refuse it."""
    f = next((p for p in (d / "data.safetensors", d / "model.safetensors") if p.exists()), None)
    if f is None:
        return m_released(d, rng)
    try:
        tensors = {k: torch.from_numpy(v.copy()) for k, v in np_load_file(str(f)).items()}
    except Exception:  # noqa: BLE001 - an earlier mutation broke the file
        return m_bytes(d, rng)
    name = rng.choice(sorted(tensors))
    op = rng.choice(["nan", "inf", "big", "neg", "label", "dtype", "shape3", "shape5", "empty", "drop", "add"])
    if op == "add":
        tensors[name + "_extra"] = tensors[name].clone()
    else:
        new = _defect(tensors.pop(name), op, rng)
        if new is not None:
            tensors[name] = new
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(f))
    rehash(d, sync_card=rng.random() < 0.5)
    return f"tensors:{op}:{name}"


def m_idx(d: Path, rng: random.Random) -> str:
    """IDX header edits (type, ndim, dims, length) and gz tricks (bombs, trailing data)."""
    f = rng.choice(files_of(d))
    raw = f.read_bytes()
    gz = f.suffix == ".gz"
    try:
        data = gzip.decompress(raw) if gz else raw
    except Exception:  # noqa: BLE001 - already damaged: leave it so
        return "idx:undecodable"
    op = rng.choice(["type", "ndim", "dims", "zero", "overflow", "short", "long", "bomb", "members", "plain_as_gz"])
    b = bytearray(data)
    ndim = b[3] if len(b) > 3 else 0
    if op == "type" and len(b) > 2:
        b[2] = rng.choice([0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x07, 0xFF])
    elif op == "ndim" and len(b) > 3:
        b[3] = rng.choice([0, 1, 2, 4, 255])
    elif op in ("dims", "zero", "overflow") and ndim and len(b) >= 4 + 4 * ndim:
        k = rng.randrange(ndim)
        v = {"dims": rng.randint(0, 70000), "zero": 0, "overflow": 2**32 - 1}[op]
        b[4 + 4 * k: 8 + 4 * k] = v.to_bytes(4, "big")
    elif op == "short":
        b = b[: rng.randrange(len(b))] if b else b
    elif op == "long":
        b += bytes(rng.randint(1, 100))
    out = bytes(b)
    if op == "bomb":  # the header's size, then megabytes of zeros in a small gz
        comp = zlib_gz()
        blob = comp.compress(out) + comp.compress(bytes(rng.choice([1, 8, 32]) << 20)) + comp.flush()
        f.write_bytes(blob if gz else gzip.decompress(blob))
    elif op == "members" and gz:
        f.write_bytes(gzip.compress(out) + gzip.compress(bytes(rng.randint(1, 99))))
    elif op == "plain_as_gz" and gz:
        f.write_bytes(out)
    else:
        f.write_bytes(gzip.compress(out) if gz else out)
    return f"idx:{op}"


def zlib_gz() -> Any:
    return zlib.compressobj(9, zlib.DEFLATED, 31)  # a gzip container


def m_released(d: Path, rng: random.Random) -> str:
    """Replace CIFAR_ims or CIFAR_lab by another torch.save'd object."""
    target = rng.choice(["CIFAR_ims", "CIFAR_lab"])
    n = rng.randint(1, 3)
    good = torch.rand(n, 3, 32, 32) if target == "CIFAR_ims" else torch.randint(0, 10, (n,))
    options: dict[str, Callable[[], Any]] = {
        "sparse": lambda: good.to_sparse(), "csr": lambda: torch.rand(n, 4).to_sparse_csr(),
        "complex": lambda: good.to(torch.complex64), "nan": lambda: good.float().fill_(math.nan),
        "inf": lambda: good.float().fill_(math.inf), "above": lambda: good.float() + 1.5,
        "below": lambda: good.float() - 2, "int": lambda: (good * 255).to(torch.int16),
        "bool": lambda: good > 0.5, "half": lambda: good.half(), "bf16": lambda: good.bfloat16(),
        "f64": lambda: good.double(), "shape": lambda: torch.rand(n, 1, 28, 28),
        "scalar": lambda: torch.tensor(3.0), "empty": lambda: good[:0], "stride0": lambda: good[:1].expand(10**6, *good.shape[1:]),
        "transposed": lambda: good.transpose(0, -1), "list_mixed": lambda: [good, good.double()],
        "list_shapes": lambda: [good, torch.rand(1, 2)], "dict": lambda: {"x": good}, "tuple": lambda: (good,),
        "nested": lambda: [[good]], "str": lambda: "CIFAR", "int_obj": lambda: 2**70, "none": lambda: None,
        "empty_list": lambda: [], "quantized": lambda: torch.quantize_per_tensor(torch.rand(n, 3, 32, 32), 0.1, 0, torch.quint8),
        "labels_out": lambda: torch.tensor([10] * n), "labels_neg": lambda: torch.tensor([-1] * n),
        "labels_float": lambda: torch.rand(n), "labels_count": lambda: torch.randint(0, 10, (n + 1,)),
    }
    op = rng.choice(sorted(options))
    torch_save(options[op](), d / target, legacy=rng.random() < 0.2)
    return f"released:{op}:{target}"


def rehash(d: Path, sync_card: bool = False) -> None:
    """Make card.json / config.json's sha256 match the (mutated) tensor file again."""
    for data, meta, key in (("data.safetensors", "card.json", "sha256"),
                            ("model.safetensors", "config.json", "weights_sha256")):
        if not ((d / data).is_file() and (d / meta).is_file()):
            continue
        try:
            doc = json.loads((d / meta).read_text())
            doc[key] = hashlib.sha256((d / data).read_bytes()).hexdigest()
            if sync_card and meta == "card.json":
                arrays = np_load_file(str(d / data))
                if "x" in arrays:
                    doc["shape"] = list(arrays["x"].shape[1:])
                    doc["n_train"] = int(arrays["x"].shape[0])
                    doc["dtype"] = str(arrays["x"].dtype)
                if "x_test" in arrays:
                    doc["n_test"] = int(arrays["x_test"].shape[0])
            (d / meta).write_text(json.dumps(doc))
        except Exception:  # noqa: BLE001 - the file is already broken: leave it so
            pass


def m_hashless(d: Path, rng: random.Random) -> str:
    """A checkpoint whose config lost its weights_sha256 (optionally with flipped weights)."""
    if not (d / "config.json").exists():
        return m_bytes(d, rng)
    try:
        doc = json.loads((d / "config.json").read_bytes())
    except ValueError:
        return m_bytes(d, rng)
    if not isinstance(doc, dict):  # an earlier mutation replaced it
        return m_bytes(d, rng)
    if rng.random() < 0.5:
        doc.pop("weights_sha256", None)
    else:
        doc["weights_sha256"] = None
    (d / "config.json").write_text(json.dumps(doc))
    f = d / "model.safetensors"
    if rng.random() < 0.5 and f.is_file() and f.stat().st_size > 16:
        b = bytearray(f.read_bytes())
        b[-1 - rng.randrange(16)] ^= 0xFF
        f.write_bytes(bytes(b))
    return "hashless"


MUTATORS: dict[str, Callable[[Path, random.Random], str]] = {
    "bytes": m_bytes, "fs": m_fs, "json": m_json, "header": m_header, "tensors": m_tensors,
    "idx": m_idx, "released": m_released, "hashless": m_hashless, "none": lambda d, rng: "none",
}
APPLIES = {"artifact": ("bytes", "fs", "json", "header", "tensors", "none"),
           "checkpoint": ("bytes", "fs", "json", "header", "tensors", "hashless", "none"),
           "idx": ("bytes", "fs", "idx", "none"),
           "released": ("bytes", "fs", "released", "none")}


def build_case(fmt: str, mutator: str, seed: int, root: Path) -> tuple[Path, str]:
    """Write the seed and apply the mutation; returns (folder, what was done)."""
    rng = random.Random(seed)
    d = seed_folder(fmt, rng, root)
    what = MUTATORS[mutator](d, rng)
    if rng.random() < 0.15 and mutator not in ("none", "fs"):  # sometimes two defects
        second = rng.choice(APPLIES[fmt])
        try:
            what += " + " + MUTATORS[second](d, rng)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            what += f" + {second} (not applicable to the damaged input)"
    return d, what


def cleanup(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)


