"""The fuzz oracle: run advlab's loaders on a case folder and judge what they did.

Every loader call must end in a one-line :class:`AdvlabError` or in data that an
independent reader accepts: the returned tensors equal what ``json``, ``hashlib``,
``safetensors.numpy``, ``gzip`` and ``torch.load(weights_only=True)`` find in the files,
and they meet the data contract (x float32 (N, C, H, W) with N >= 1, finite, in the
declared range; y int64 in [0, C)). A case is:

* ``clean_error`` when its calls end in clean errors (and possibly correct data),
* ``correct_data`` when every call returned verified data,
* ``mixed`` when some calls returned verified data and the others clean errors (e.g. the
  train split loads and the artifact has no test split),
* ``wrong_data`` when data came back that the independent check refuses,
* ``unclean_error`` for an AdvlabError spread over several lines,
* ``other`` for any other exception (a traceback in the CLI, a MemoryError, ...).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import load_file as np_load_file

from advlab.data import describe, load_dataset
from advlab.errors import AdvlabError
from advlab.models import load_model

BAD = ("other", "wrong_data", "unclean_error")  # worst first


class Wrong(Exception):
    """The independent check refused data a loader returned."""


def need(cond: bool, why: str) -> None:
    if not cond:
        raise Wrong(why)


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal dtype, shape and values (NaN equals NaN: the file may hold NaN weights)."""
    return a.dtype == b.dtype and a.shape == b.shape and bool(
        np.array_equal(a.detach().cpu().numpy(), b.detach().cpu().numpy(), equal_nan=a.is_floating_point()))


def contract(x: torch.Tensor, y: torch.Tensor, n_classes: int, vr: list[float] | None) -> None:
    need(x.dtype == torch.float32 and x.ndim == 4 and x.shape[0] >= 1, f"x {x.dtype} {tuple(x.shape)}")
    need(y.dtype == torch.int64 and tuple(y.shape) == (x.shape[0],), f"y {y.dtype} {tuple(y.shape)}")
    need(bool(torch.isfinite(x).all()), "non-finite pixels")
    if vr is not None:
        need(float(x.min()) >= vr[0] and float(x.max()) <= vr[1], f"pixels outside {vr}")
    need(int(y.min()) >= 0 and int(y.max()) < n_classes, f"labels outside [0, {n_classes})")


# ---------------------------------------------------------------- per format


def artifact_calls(d: Path) -> list[tuple[str, Callable[[], Any], Callable[[Any], None]]]:
    def check_split(split: str) -> Callable[[Any], None]:
        def check(out: Any) -> None:
            x, y = out
            card = json.loads((d / "card.json").read_bytes().decode("utf-8"))
            blob = (d / "data.safetensors").read_bytes()
            need(hashlib.sha256(blob).hexdigest() == card["sha256"], "hash differs from the card")
            arrays = np_load_file(str(d / "data.safetensors"))
            sfx = "" if split == "train" else "_test"
            ref = arrays["x" + sfx]
            exp = ref.astype(np.float32) / 255 if ref.dtype == np.uint8 else ref
            need(ref.dtype in (np.uint8, np.float32), f"stored dtype {ref.dtype}")
            need(torch.equal(x, torch.from_numpy(np.ascontiguousarray(exp))), "x differs from the file")
            need(torch.equal(y, torch.from_numpy(arrays["y" + sfx]).long()), "y differs from the file")
            legacy = "value_range" not in card and (card.get("provenance") or {}).get("constructor") == \
                "advlab.bayes.synthetic.SyntheticPair.save_dataset"
            vr = None if legacy else card.get("value_range", [0.0, 1.0])
            contract(x, y, len(card["classes"]), vr)
            need(list(x.shape[1:]) == card["shape"] and len(x) == card["n_train" if split == "train" else "n_test"],
                 "card and data disagree")
        return check

    def check_describe(out: Any) -> None:
        card = json.loads((d / "card.json").read_bytes().decode("utf-8"))
        need(out["n_train"] == card["n_train"] and out["n_test"] == card["n_test"], "sizes")
        need(out["classes"] == card["classes"] and sum(out["per_class_train"]) == card["n_train"], "classes")

    return [("train", lambda: load_dataset(str(d), "train"), check_split("train")),
            ("test", lambda: load_dataset(str(d), "test"), check_split("test")),
            ("describe", lambda: describe(str(d)), check_describe)]


def checkpoint_calls(d: Path) -> list[tuple[str, Callable[[], Any], Callable[[Any], None]]]:
    def check(trusted: bool) -> Callable[[Any], None]:
        def inner(model: Any) -> None:
            cfg = json.loads((d / "config.json").read_bytes().decode("utf-8"))
            sha = cfg.get("weights_sha256")
            need(sha is not None or trusted, "loaded without a hash and without trust_unverified")
            blob = (d / "model.safetensors").read_bytes()
            need(sha is None or hashlib.sha256(blob).hexdigest() == sha, "hash differs from the config")
            arrays = np_load_file(str(d / "model.safetensors"))
            state = model.state_dict()
            need(set(state) == set(arrays), "tensor names differ from the file")
            for k, v in state.items():
                need(same(v, torch.from_numpy(arrays[k].copy())), f"{k} differs from the file")
            need(not model.training, "not in eval mode")
        return inner

    def trusted() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return load_model(d, trust_unverified=True)

    return [("load", lambda: load_model(d), check(False)), ("trusted", trusted, check(True))]


def _idx_reference(d: Path, stem: str) -> np.ndarray:
    f = d / (stem + ".gz") if (d / (stem + ".gz")).is_file() else d / stem
    data = gzip.decompress(f.read_bytes()) if f.suffix == ".gz" else f.read_bytes()
    need(data[:3] == b"\x00\x00\x08", "not an unsigned-byte IDX file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data[4 + 4 * ndim:], dtype=np.uint8).reshape(dims)


def idx_calls(d: Path) -> list[tuple[str, Callable[[], Any], Callable[[Any], None]]]:
    stems = {"train": "train", "test": "t10k"}

    def check_split(split: str) -> Callable[[Any], None]:
        def check(out: Any) -> None:
            x, y = out
            xi = _idx_reference(d, f"{stems[split]}-images-idx3-ubyte")
            yi = _idx_reference(d, f"{stems[split]}-labels-idx1-ubyte")
            need(xi.ndim == 3 and yi.ndim == 1 and len(xi) == len(yi) >= 1, "reference shapes")
            need(torch.equal(x, torch.from_numpy(xi.astype(np.float32) / 255)[:, None]), "x differs from the file")
            need(torch.equal(y, torch.from_numpy(yi.astype(np.int64))), "y differs from the file")
            contract(x, y, 10, [0.0, 1.0])
        return check

    def check_describe(out: Any) -> None:
        need(out["n_train"] == len(_idx_reference(d, "train-labels-idx1-ubyte")), "sizes")

    return [("train", lambda: load_dataset("fashion-mnist", "train", data_root=d), check_split("train")),
            ("test", lambda: load_dataset("fashion-mnist", "test", data_root=d), check_split("test")),
            ("describe", lambda: describe("fashion-mnist", data_root=d), check_describe)]


def _released_reference(f: Path) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obj = torch.load(f, weights_only=True, map_location="cpu")
    return torch.cat(list(obj)) if isinstance(obj, list | tuple) else obj


def released_calls(d: Path) -> list[tuple[str, Callable[[], Any], Callable[[Any], None]]]:
    def check(out: Any) -> None:
        x, y = out
        xr, yr = _released_reference(d / "CIFAR_ims"), _released_reference(d / "CIFAR_lab")
        need(xr.layout == torch.strided and xr.is_floating_point() and not xr.is_complex(), "stored images")
        need(tuple(xr.shape[1:]) == (3, 32, 32) and xr.ndim == 4, "stored shape")
        need(torch.equal(x, xr.float()) and torch.equal(y, yr.long()), "data differs from the files")
        contract(x, y, 10, [0.0, 1.0])

    def check_describe(out: Any) -> None:
        need(out["n_train"] == len(_released_reference(d / "CIFAR_lab")), "sizes")

    return [("train", lambda: load_dataset(str(d)), check),
            ("describe", lambda: describe(str(d)), check_describe)]


CALLS = {"artifact": artifact_calls, "checkpoint": checkpoint_calls, "idx": idx_calls,
         "released": released_calls}


# ---------------------------------------------------------------- judging


def run_call(fn: Callable[[], Any], verify: Callable[[Any], None]) -> tuple[str, str]:
    """(outcome, detail) of one loader call."""
    try:
        out = fn()
    except AdvlabError as e:
        msg = str(e)
        return ("clean_error" if msg and "\n" not in msg else "unclean_error"), msg[:300]
    except Exception as e:  # noqa: BLE001 - this is what the oracle is for
        return "other", f"{type(e).__name__}: {str(e)[:300]}"
    try:
        verify(out)
    except Wrong as w:
        return "wrong_data", str(w)
    except Exception as e:  # noqa: BLE001 - the independent reader could not read what advlab did
        return "wrong_data", f"independent check failed: {type(e).__name__}: {str(e)[:200]}"
    return "correct_data", ""


def judge(fmt: str, d: Path, long_name: bool = False) -> tuple[str, str]:
    """Run every loader call of ``fmt`` on folder ``d``; the case's (outcome, detail)."""
    if long_name:
        d = d / ("n" * 300)
    results = [(name, *run_call(fn, verify)) for name, fn, verify in CALLS[fmt](d)]
    for bad in BAD:
        hits = [f"{name}: {detail}" for name, outcome, detail in results if outcome == bad]
        if hits:
            return bad, " | ".join(hits)[:600]
    errors = [f"{name}: {detail}" for name, outcome, detail in results if outcome == "clean_error"]
    if not errors:
        return "correct_data", ""
    return ("clean_error" if len(errors) == len(results) else "mixed"), " | ".join(errors)[:600]
