"""Run directories, atomic writes, content hashes and deterministic seeding.

A run folder (``--out DIR``) holds ``config.json`` (resolved config), ``results.json``,
``report.md``, ``report.html``, ``figures/`` and one sub-folder per stage. A stage that
completed has a ``DONE.json`` marker in its folder and is skipped when the command runs
again, unless ``force`` is set.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from advlab.errors import AdvlabError

T = TypeVar("T")

# ---------------------------------------------------------------- atomic writes


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    For writers that want a file name (``safetensors.torch.save_file``, ``savefig``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, fsync and rename.

    A reader never sees a half-written file: either the old content or the new one.
    """
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def to_jsonable(obj: Any) -> Any:
    """Convert dataclasses, paths, numpy and torch scalars/arrays to JSON types."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # torch tensors
        return obj.tolist()
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return str(obj)  # JSON has no NaN / inf
    return obj


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as pretty JSON, atomically."""
    text = json.dumps(to_jsonable(obj), indent=2, sort_keys=False) + "\n"
    atomic_write_bytes(path, text.encode())


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write text, atomically."""
    atomic_write_bytes(path, text.encode())


#: The largest JSON file :func:`read_json` reads unless told otherwise (64 MiB).
MAX_JSON_BYTES = 64 << 20
#: The largest card / checkpoint config read (4 MiB): they hold names and settings.
MAX_CONFIG_BYTES = 4 << 20


def check_path(path: str | os.PathLike[str], what: str = "path") -> Path:
    """``path`` as a Path, or an AdvlabError when no OS could open it.

    Refuses names with a NUL byte, a component longer than the file system allows
    (``NAME_MAX``, usually 255 bytes) and paths longer than ``PATH_MAX`` (4096).
    """
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if "\x00" in text:
        raise AdvlabError(f"{what}: {text[:80]!r}: a file name cannot hold a NUL byte")
    try:
        encoded = os.fsencode(text)
    except UnicodeError:
        raise AdvlabError(f"{what}: {text[:80]!r}: not a valid file name") from None
    longest = max((len(part) for part in encoded.split(b"/")), default=0)
    if longest > 255 or len(encoded) > 4095:
        raise AdvlabError(
            f"{what}: {text[:60]!r}... is longer than the OS allows "
            f"({longest} bytes in one name, at most 255; {len(encoded)} in all, at most 4095)"
        )
    return Path(text)


def read_json(path: str | os.PathLike[str], max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Read a JSON file; every failure is one AdvlabError naming the file.

    Refused: a missing or unreadable file, one larger than ``max_bytes`` (checked before
    reading), bytes that are not UTF-8, invalid JSON, nesting deeper than Python's
    recursion limit, and integers of more than 4,300 digits.
    """
    path = check_path(path, "file")
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO or device would block or never end
            raise AdvlabError(f"{path}: not a regular file; expected a JSON file")
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > max_bytes:
                raise AdvlabError(f"{path}: {size} bytes; a JSON file here holds at most {max_bytes}")
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise AdvlabError(f"{path}: file not found") from None
    except OSError as e:
        raise AdvlabError(f"{path}: cannot be read ({e.strerror or e})") from None
    if len(data) > max_bytes:  # grew while being read, or not a regular file
        raise AdvlabError(f"{path}: more than {max_bytes} bytes; a JSON file here holds at most that")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise AdvlabError(f"{path}: not UTF-8 text (byte {e.start}); not a JSON file") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise AdvlabError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    except RecursionError:
        raise AdvlabError(f"{path}: JSON nested too deep to be read") from None
    except ValueError as e:  # e.g. an integer beyond Python's 4,300-digit limit
        raise AdvlabError(f"{path}: not valid JSON ({str(e).splitlines()[0][:100]})") from None


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------- run directories


class RunDir:
    """A run folder owned by one command.

    Args:
        root: the ``--out`` folder. It may exist (resume) but must not be a file.
        force: recompute every stage even when it completed before.

    Example:
        >>> run = RunDir("runs/x")
        >>> acc = run.stage("train", lambda d: {"acc": 0.9})   # computed once
        >>> acc = run.stage("train", lambda d: {"acc": 0.9})   # read from DONE.json
    """

    def __init__(self, root: str | os.PathLike[str], force: bool = False) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise AdvlabError(f"--out: {str(self.root)!r} is an existing file; expected a folder")
        self.force = force
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "figures").mkdir(exist_ok=True)

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    def stage_dir(self, name: str) -> Path:
        d = self.root / name
        d.mkdir(parents=True, exist_ok=True)
        return d

    def is_done(self, name: str) -> bool:
        return (self.root / name / "DONE.json").exists() and not self.force

    def stage(self, name: str, fn: Callable[[Path], T]) -> T:
        """Run ``fn(stage_dir)`` unless the stage completed before; return its result.

        The result must be JSON-serialisable; it is stored in ``<name>/DONE.json`` and
        returned as read back, so a resumed run sees exactly what a fresh one saw.
        A stage that was interrupted leaves no marker and is recomputed (``fn`` itself
        may resume from checkpoints inside its folder).
        """
        marker = self.root / name / "DONE.json"
        if marker.exists() and not self.force:
            return read_json(marker)["result"]
        if self.force and marker.exists():
            marker.unlink()
        d = self.stage_dir(name)
        result = fn(d)
        atomic_write_json(marker, {"stage": name, "result": result})
        return read_json(marker)["result"]

    def write_config(self, config: Any) -> None:
        atomic_write_json(self.root / "config.json", config)

    def write_results(self, results: Any) -> None:
        atomic_write_json(self.root / "results.json", results)

    def clear(self) -> None:
        """Remove every stage (used by ``--force`` on commands that own all of DIR)."""
        for child in self.root.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
        (self.root / "figures").mkdir(exist_ok=True)


def check_out_dir(out: str | os.PathLike[str]) -> Path:
    """Validate an ``--out`` argument without creating anything."""
    p = Path(out)
    if p.exists() and not p.is_dir():
        raise AdvlabError(f"out: {str(p)!r} is an existing file; expected a folder", param="out")
    return p
