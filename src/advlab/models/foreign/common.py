"""What every checkpoint import shares: reading a foreign file without running its code,
finding its state dict, comparing logits, and writing the advlab checkpoint.

A foreign file is read only with ``torch.load(..., weights_only=True)``: tensors and plain
containers load; a file whose unpickling would construct any other object (a pickled
model, an argparse namespace, a lambda) is refused with one line, before anything of it
runs.
"""

from __future__ import annotations

import os
import re
import shutil
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from advlab.errors import AdvlabError
from advlab.seeding import generator
from advlab.store import sha256_file

#: Probe inputs for the logit checks: this many uniform [0, 1] images, seeded.
PROBE_IMAGES = 8
#: Largest accepted |logit difference| relative to max(1, max |logit|) (float32 rounding).
RTOL = 1e-4


def _reason(e: BaseException) -> str:
    """The informative part of a torch.load error, e.g. 'Unsupported global: GLOBAL
    torch.nn.modules.linear.Linear' (torch's advice to allow-list it is left out)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    for ln in lines:
        ln = ln.removeprefix("WeightsUnpickler error: ")
        if ln.startswith(("Unsupported", "Trying to", "Can only")):
            return ln.split(" was not an allowed global")[0][:200]
    first = re.sub(r"\x1b\[[0-9;]*m", "", lines[0]) if lines else ""
    return first[:200] or type(e).__name__


def read_torch_file(path: str | os.PathLike[str], what: str, download_hint: str = "") -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU, with one-line errors.

    Args:
        path: the foreign checkpoint file.
        what: the parameter that named it (``"checkpoint"``), for the messages.
        download_hint: appended to the message when the file does not exist.
    Raises:
        AdvlabError: the file is missing, is not a torch checkpoint, or needs code
            execution to load (refused without running anything).
    """
    p = Path(path)
    if not p.is_file():
        hint = f"; {download_hint}" if download_hint else ""
        raise AdvlabError(f"{what}: {str(p)!r} does not exist or is not a file{hint}", param=what)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError, zip and EOF errors: all refused
        text = str(e)
        if "Weights only load failed" in text or "Unsupported global" in text:
            raise AdvlabError(
                f"{what}: {p} refused: loading it would run code ({_reason(e)}); advlab reads "
                "only tensors and plain containers (torch.load weights_only=True). In an "
                "environment you trust, re-save just its state dict: "
                "torch.save({'model': ckpt['model']}, 'clean.pt')", param=what) from None
        raise AdvlabError(f"{what}: {p} is not a readable torch checkpoint ({_reason(e)})",
                          param=what) from None


def is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items())


def find_state_dict(obj: Any, path: str | os.PathLike[str], keys: tuple[str, ...]) -> dict[str, Tensor]:
    """The state dict in a loaded checkpoint: ``obj`` itself or ``obj[key]`` for the first of
    ``keys`` present (e.g. ``"model"``, ``"state_dict"``)."""
    if is_state_dict(obj):
        return dict(obj)
    if isinstance(obj, Mapping):
        for k in keys:
            if is_state_dict(obj.get(k)):
                return dict(obj[k])
        found = ", ".join(repr(k) for k in list(obj)[:8])
        raise AdvlabError(f"checkpoint: {path} holds a dict with keys {found}; expected a state "
                          f"dict or one under {' / '.join(map(repr, keys))}", param="checkpoint")
    raise AdvlabError(f"checkpoint: {path} holds a {type(obj).__name__}; expected a dict of "
                      "tensors (a state dict)", param="checkpoint")


def probe_images(in_shape: tuple[int, ...], n: int = PROBE_IMAGES, seed: int = 0) -> Tensor:
    """``n`` seeded uniform images (n, C, H, W) in [0, 1] for the logit checks."""
    return torch.rand(n, *in_shape, generator=generator(seed))


def max_diff(a: Tensor, b: Tensor) -> float:
    return float((a.detach().double() - b.detach().double()).abs().max())


def check_close(name: str, a: Tensor, b: Tensor) -> float:
    """max |a - b|; an AdvlabError when above RTOL * max(1, max |b|)."""
    diff = max_diff(a, b)
    scale = max(1.0, float(b.detach().abs().max()))
    if not diff <= RTOL * scale:
        raise AdvlabError(f"import check failed: {name}: largest |logit difference| {diff:.3g} "
                          f"(tolerance {RTOL * scale:.3g}); nothing was written")
    return diff


@torch.no_grad()
def logits(model: Callable[[Tensor], Any], x: Tensor) -> Tensor:
    out = model(x)
    if isinstance(out, tuple):  # robustness' AttackerModel returns (logits, image)
        out = out[0]
    return out


def write_and_reload(out: str | os.PathLike[str], model: nn.Module, record: dict[str, Any],
                     x: Tensor, expected: Tensor) -> float:
    """Write the advlab checkpoint, load it back with ``load_model`` and compare logits.

    The folder is removed again when the reloaded model's logits differ.
    Returns the largest |logit difference| of the reloaded model.
    """
    from advlab.models.checkpoint import load_model, save_checkpoint

    dst = Path(out)
    save_checkpoint(dst, model, {"import": record})
    try:
        back = load_model(dst)
        return check_close("reloaded advlab checkpoint vs source", logits(back, x), expected)
    except BaseException:
        shutil.rmtree(dst, ignore_errors=True)
        raise


def check_out(out: str | os.PathLike[str], force: bool) -> Path:
    """The output folder: new, empty, or (with ``force``) an advlab checkpoint to replace.

    Never replaces a folder that holds anything else (the write swaps the whole folder).
    """
    from advlab.models.checkpoint import CONFIG, WEIGHTS

    dst = Path(out)
    if dst.exists() and not dst.is_dir():
        raise AdvlabError(f"out: {str(dst)!r} is a file; expected a folder", param="out")
    if dst.is_dir() and any(dst.iterdir()):
        if not ((dst / CONFIG).is_file() and (dst / WEIGHTS).is_file()):
            raise AdvlabError(f"out: {str(dst)!r} is a non-empty folder that is not an advlab "
                              "checkpoint; choose a new folder", param="out")
        if not force:
            raise AdvlabError(f"out: {str(dst)!r} already holds a checkpoint; replace it with "
                              "force", param="out")
    return dst


def source_record(kind: str, path: str | os.PathLike[str]) -> dict[str, Any]:
    """The provenance of an import: source library, file name, size and sha256."""
    p = Path(path)
    return {"from": kind, "file": p.name, "path": str(p.resolve()), "bytes": p.stat().st_size,
            "source_sha256": sha256_file(p)}


__all__ = ["PROBE_IMAGES", "RTOL", "check_close", "check_out", "find_state_dict", "is_state_dict", "logits",
           "max_diff", "probe_images", "read_torch_file", "source_record", "write_and_reload"]
