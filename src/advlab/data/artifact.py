"""Dataset artifacts: a folder with ``data.safetensors`` and ``card.json``.

``data.safetensors`` holds ``x`` (uint8 or float32, shape (N, C, H, W)) and ``y`` (int64,
shape (N,)), and optionally ``x_test`` / ``y_test`` for a test split. ``card.json``
holds the name, shapes, classes, the declared value range of float pixels, provenance
(source dataset, constructor and its parameters, source-model checkpoint hash, seed,
code version) and the sha256 of the safetensors file.

Loading trusts nothing: the card is checked against :data:`CARD_SCHEMA`, the safetensors
header against the card and the file size, the bytes against the sha256, and the
tensors against the data contract (:func:`check_data`) before they are returned. The
same contract is enforced on write. Nothing is unpickled.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from advlab.errors import AdvlabError, bad_argument
from advlab.schema import Float, Int, Json, ListOf, Nullable, Obj, OneOf, Str, validate
from advlab.store import (
    MAX_CONFIG_BYTES,
    atomic_path,
    atomic_write_json,
    check_path,
    read_json,
    sha256_file,
    to_jsonable,
)
from advlab.tensorfile import expect_tensors, read_header

DATA_FILE = "data.safetensors"
CARD_FILE = "card.json"
FORMAT = "advlab-dataset/1"
#: Most classes a dataset may declare (ImageNet has 1,000).
MAX_CLASSES = 100_000
#: Largest image side or channel count; largest number of images per split.
MAX_DIM, MAX_N = 1 << 16, 1 << 31
#: Pixel range of real images; ``None`` in a card means any finite value (synthetic data).
UNIT_RANGE = (0.0, 1.0)
# Cards written before ``value_range`` existed: the one writer of unbounded data.
_LEGACY_UNBOUNDED = "advlab.bayes.synthetic.SyntheticPair.save_dataset"

CARD_SCHEMA = Obj({
    "format": OneOf((FORMAT,)),
    "name": Str(1000),
    "shape": ListOf(Int(1, MAX_DIM), 3, 3),
    "dtype": OneOf(("uint8", "float32")),
    "n_train": Int(1, MAX_N),
    "n_test": Int(0, MAX_N),
    "classes": ListOf(Str(200), 1, MAX_CLASSES),
    "value_range": Nullable(ListOf(Float(), 2, 2)),
    "provenance": Obj({}, extra=Json(), what="an object"),
    "sha256": Str(64, pattern="[0-9a-f]{64}", what="64 lowercase hex digits"),
}, required=("format", "name", "shape", "dtype", "n_train", "n_test", "classes", "provenance",
             "sha256"), extra=Json(), what="an advlab dataset card (an object)")


def code_version() -> str:
    from advlab.provenance import __version__

    return __version__


def is_artifact(path: str | os.PathLike[str]) -> bool:
    p = os.fspath(path)
    return os.path.isfile(os.path.join(p, DATA_FILE)) and os.path.isfile(os.path.join(p, CARD_FILE))


def _check_layout(x: torch.Tensor, y: torch.Tensor, where: str) -> None:
    """Dense real tensors; x 4-D (N, C, H, W) with N >= 1; y of shape (N,)."""
    for name, t in (("x", x), ("y", y)):
        if t.layout != torch.strided or t.is_quantized or t.is_complex():
            raise AdvlabError(f"{where}: {name} must be a dense real tensor; got {t.layout}, {t.dtype}")
    if x.ndim != 4 or x.shape[0] < 1:
        raise AdvlabError(f"{where}: x must have shape (N, C, H, W) with N >= 1; got {tuple(x.shape)}")
    if tuple(y.shape) != (x.shape[0],):
        raise AdvlabError(f"{where}: y must have shape ({x.shape[0]},) to match x; got {tuple(y.shape)}")


def check_pixels(x: torch.Tensor, value_range: tuple[float, float] | None, where: str) -> None:
    """Float pixels are finite and within ``value_range`` (None: any finite value)."""
    if not bool(torch.isfinite(x).all()):
        raise AdvlabError(f"{where}: images hold NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    if value_range is not None and (lo < value_range[0] or hi > value_range[1]):
        raise AdvlabError(f"{where}: pixel values from {lo:g} to {hi:g} leave the declared range "
                          f"[{value_range[0]:g}, {value_range[1]:g}]")


def check_data(x: torch.Tensor, y: torch.Tensor, n_classes: int,
               value_range: tuple[float, float] | None, where: str) -> None:
    """The data contract of every split advlab reads or writes.

    x: dense uint8 or float32, 4-D (N, C, H, W) with N >= 1; float pixels finite and in
    ``value_range`` (None: any finite value). y: dense int64 of shape (N,), values in
    [0, n_classes).

    Raises:
        AdvlabError: naming ``where`` and the first broken rule.
    """
    _check_layout(x, y, where)
    if x.dtype not in (torch.uint8, torch.float32):
        raise AdvlabError(f"{where}: images must be uint8 or float32; got {x.dtype}")
    if y.dtype != torch.int64:
        raise AdvlabError(f"{where}: labels must be int64; got {y.dtype}")
    lo_y, hi_y = int(y.min()), int(y.max())
    if lo_y < 0 or hi_y >= n_classes:
        raise AdvlabError(f"{where}: labels must lie in [0, {n_classes}) (the classes); "
                          f"got values from {lo_y} to {hi_y}")
    if x.dtype == torch.float32:
        check_pixels(x, value_range, where)


def _prepare(xs: torch.Tensor, ys: torch.Tensor, keep_float: bool, split: str,
             value_range: tuple[float, float] | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as stored (uint8, or float32), labels int64; refuses what would change silently."""
    where = f"x{split}, y{split}"
    for name, t in ((f"x{split}", xs), (f"y{split}", ys)):
        if not isinstance(t, torch.Tensor):
            raise bad_argument(name, type(t).__name__, "a torch tensor")
    _check_layout(xs, ys, where)
    if xs.dtype != torch.uint8 and not xs.is_floating_point():
        raise bad_argument(f"x{split}", xs.dtype, "uint8 or float images (other integer types would wrap)")
    if ys.is_floating_point() or ys.dtype == torch.bool:
        raise bad_argument(f"y{split}", ys.dtype, "integer labels")
    xs, ys = xs.detach().cpu(), ys.detach().cpu().to(torch.int64)
    if xs.dtype != torch.uint8:
        xs = xs.float()
        if not keep_float:  # quantising clamps: refuse what the clamp would hide
            check_pixels(xs, UNIT_RANGE, where)
            xs = (xs * 255).round().to(torch.uint8)
    return _own(xs), _own(ys)


def _own(t: torch.Tensor) -> torch.Tensor:
    """``t`` contiguous and owning its whole storage (safetensors refuses shared memory)."""
    t = t.contiguous()
    if t.storage_offset() or t.untyped_storage().nbytes() != t.numel() * t.element_size():
        t = t.clone()
    return t


def save_artifact(
    out: str | os.PathLike[str],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    name: str,
    classes: list[str] | None = None,
    provenance: dict[str, Any] | None = None,
    x_test: torch.Tensor | None = None,
    y_test: torch.Tensor | None = None,
    keep_float: bool = True,
    value_range: tuple[float, float] | None = UNIT_RANGE,
) -> Path:
    """Write a dataset artifact atomically (tensors first, card last).

    Args:
        out: the artifact folder (created; must not be a file).
        x: images, float in ``value_range`` or uint8, shape (N, C, H, W), N >= 1.
        y: integer labels in [0, len(classes)), shape (N,).
        name: dataset name shown in the card.
        classes: class names (default ``["0", ..., str(max label)]``).
        provenance: how the data was made (constructor, parameters, source model hash, seed).
        x_test, y_test: optional test split stored beside the train split.
        keep_float: store float32 (constructed data: small perturbations die in uint8);
            if False and ``x`` is float, it is quantised to uint8 (it must lie in [0, 1]).
        value_range: the declared range of float pixels, written to the card; ``None``
            for data that is deliberately unbounded (samples of a fitted density).

    Raises:
        AdvlabError: data that breaks the contract of :func:`check_data` (nothing is written).
    """
    out = check_path(out, "out")
    if out.exists() and not out.is_dir():
        raise bad_argument("out", str(out), "a folder; it is an existing file")
    if value_range is not None:
        lo, hi = validate(ListOf(Float(), 2, 2), value_range, "value_range")
        if not lo < hi:
            raise bad_argument("value_range", value_range, "(low, high) with low < high")
        value_range = (float(lo), float(hi))
    tensors = _collect({"": (x, y), "_test": (x_test, y_test)}, keep_float, value_range)
    classes = _classes(classes, tensors)
    for split in ("", "_test"):
        if "x" + split in tensors:
            check_data(tensors["x" + split], tensors["y" + split], len(classes), value_range,
                       f"x{split}, y{split}")
    if "x_test" in tensors and tensors["x_test"].shape[1:] != tensors["x"].shape[1:]:
        raise bad_argument("x_test", tuple(tensors["x_test"].shape), f"images of shape {tuple(x.shape[1:])}")
    card = to_jsonable({
        "format": FORMAT, "name": name, "shape": list(tensors["x"].shape[1:]),
        "dtype": str(tensors["x"].dtype).replace("torch.", ""),
        "n_train": int(tensors["x"].shape[0]),
        "n_test": int(tensors["x_test"].shape[0]) if "x_test" in tensors else 0,
        "classes": classes, "value_range": list(value_range) if value_range is not None else None,
        "provenance": {"code_version": code_version(), **(provenance or {})},
    })
    validate(CARD_SCHEMA, {**card, "sha256": "0" * 64}, "card")  # what we write, we can read back
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / DATA_FILE) as tmp:
        save_file(tensors, str(tmp))
    atomic_write_json(out / CARD_FILE, {**card, "sha256": sha256_file(out / DATA_FILE)})
    return out


def _collect(splits: dict[str, tuple[torch.Tensor | None, torch.Tensor | None]], keep_float: bool,
             value_range: tuple[float, float] | None) -> dict[str, torch.Tensor]:
    """The tensors to store, name -> tensor, none sharing memory with another."""
    tensors: dict[str, torch.Tensor] = {}
    for split, (xs, ys) in splits.items():
        if xs is None and ys is None:
            continue
        if xs is None or ys is None:
            raise bad_argument(f"x{split}" if xs is None else f"y{split}", None, "a tensor (both or neither)")
        xs, ys = _prepare(xs, ys, keep_float, split, value_range)
        shared = {t.untyped_storage().data_ptr() for t in tensors.values()}
        tensors["x" + split] = xs.clone() if xs.untyped_storage().data_ptr() in shared else xs
        tensors["y" + split] = ys.clone() if ys.untyped_storage().data_ptr() in shared else ys
    return tensors


def _classes(classes: list[str] | None, tensors: dict[str, torch.Tensor]) -> list[str]:
    """The class names: given (checked), or "0".."K-1" from the largest label (bounded)."""
    top = max(int(t.max()) for k, t in tensors.items() if k.startswith("y"))
    if classes is None:
        if not 0 <= top < MAX_CLASSES:
            raise bad_argument("y", top, f"labels in [0, {MAX_CLASSES}) (no class names given)")
        return [str(i) for i in range(top + 1)]
    return list(validate(ListOf(Str(200), 1, MAX_CLASSES), classes, "classes"))


def read_card(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The card of an artifact folder, checked against :data:`CARD_SCHEMA`."""
    p = check_path(path, "dataset") / CARD_FILE
    card = read_json(p, max_bytes=MAX_CONFIG_BYTES)
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise AdvlabError(f"{p}: not an advlab dataset card (format {FORMAT!r})")
    card = validate(CARD_SCHEMA, card, str(p))
    if card["dtype"] == "uint8" and "value_range" in card and card["value_range"] != list(UNIT_RANGE):
        raise AdvlabError(f"{p}: value_range: uint8 images always span [0, 1]; got {card['value_range']}")
    vr = card.get("value_range")
    if vr is not None and not vr[0] < vr[1]:
        raise AdvlabError(f"{p}: value_range: got {vr}; expected [low, high] with low < high")
    return card


def declared_range(card: dict[str, Any]) -> tuple[float, float] | None:
    """The card's pixel range; cards older than ``value_range`` mean [0, 1]."""
    if "value_range" not in card:
        legacy = card["provenance"].get("constructor") == _LEGACY_UNBOUNDED
        return None if legacy else UNIT_RANGE
    vr = card["value_range"]
    return None if vr is None else (float(vr[0]), float(vr[1]))


def read_artifact(path: str | os.PathLike[str], split: str = "train"
                  ) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """One split of an artifact as stored, with its card, after every check.

    Returns:
        ``(x, y, card)``: x uint8 or float32 (N, C, H, W); y int64 (N,); the checked card.
    """
    if split not in ("train", "test"):
        raise bad_argument("split", split, "'train' or 'test'")
    p = check_path(path, "dataset")
    if not is_artifact(p):
        raise AdvlabError(f"dataset: {str(p)!r} is not a dataset artifact (needs {DATA_FILE} and {CARD_FILE})")
    card = read_card(p)
    data_file = p / DATA_FILE
    dtype = {"uint8": "U8", "float32": "F32"}[card["dtype"]]
    expected = {"x": (dtype, (card["n_train"], *card["shape"])), "y": ("I64", (card["n_train"],))}
    if card["n_test"]:
        expected.update(x_test=(dtype, (card["n_test"], *card["shape"])), y_test=("I64", (card["n_test"],)))
    expect_tensors(read_header(data_file), expected, data_file, CARD_FILE)
    if split == "test" and not card["n_test"]:
        raise AdvlabError(f"split: got 'test' but the artifact {p} has no 'test' split")
    digest = sha256_file(data_file)
    if digest != card["sha256"]:
        raise AdvlabError(
            f"{data_file}: sha256 {digest[:12]}... does not match card.json "
            f"({card['sha256'][:12]}...); the file is corrupted or was modified"
        )
    suffix = "" if split == "train" else "_test"
    try:
        with safe_open(str(data_file), framework="pt") as f:
            x, y = f.get_tensor("x" + suffix), f.get_tensor("y" + suffix)
    except (SafetensorError, OSError, RuntimeError) as e:
        raise AdvlabError(f"{data_file}: cannot be read as safetensors ({e})") from None
    check_data(x, y, len(card["classes"]), declared_range(card), f"{data_file} ({split} split)")
    return x, y, card


def load_artifact_raw(
    path: str | os.PathLike[str], split: str = "train"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load one split of an artifact as stored, after every check of :func:`read_artifact`.

    Returns:
        ``(x, y)``: x as stored (uint8 or float32), shape (N, C, H, W); y int64, shape (N,).
    """
    x, y, _ = read_artifact(path, split)
    return x, y


def load_artifact(
    path: str | os.PathLike[str], split: str = "train"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load one split of an artifact, verifying the card, header, hash and data contract.

    Returns:
        ``(x, y)``: x float32, shape (N, C, H, W): uint8 data divided by 255, float data
        as stored (in the card's declared range, [0, 1] unless the card says otherwise);
        y int64, shape (N,), in [0, number of classes).
    """
    x, y = load_artifact_raw(path, split)
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    return x, y
