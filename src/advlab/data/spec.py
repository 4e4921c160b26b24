"""The dataset name syntax: ``BASE[:ARG][[START:STOP]]``.

* ``BASE`` is a registered name (``mnist5k``, ``fashion-mnist``, ``celeba``, ...) or a
  folder (an advlab dataset artifact, or a released features-paper dataset with
  ``CIFAR_ims`` / ``CIFAR_lab``).
* ``ARG`` is a class pair ``A-B`` (a binary view: class A becomes label 0, class B label
  1, every other class is dropped) or, for ``celeba``, an attribute (``celeba:Male``).
* ``[START:STOP]`` (or ``[START:STOP:STEP]``) is a Python slice, applied last: to the
  chosen split *after* the pair view. ``fashion-mnist:0-6[:2000]`` is the first 2,000
  images of the T-shirt-vs-shirt subset of the split.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from dataclasses import dataclass

from advlab.errors import AdvlabError
from advlab.schema import short_repr
from advlab.store import check_path

SYNTAX = "NAME[:A-B][[START:STOP]] (e.g. mnist5k:0-6[:500]) or a dataset folder"

_SLICE_RE = re.compile(r"^(?P<head>.*?)\[(?P<body>[^\[\]]*)\]$")
_PAIR_RE = re.compile(r"^(\d+)-(\d+)$")
_INT_RE = re.compile(r"^[+-]?\d+$")


@dataclass(frozen=True)
class DatasetSpec:
    """A parsed dataset name.

    Attributes:
        name: the full name as given (used in messages).
        base: the registered name, or the folder path when ``is_folder``.
        is_folder: ``base`` is a folder on disk.
        arg: the text after ``:`` (a pair or a CelebA attribute), or None.
        window: the slice applied last, or None.
    """

    name: str
    base: str
    is_folder: bool
    arg: str | None
    window: slice | None


def parse_slice(body: str, name: str) -> slice:
    """Parse ``START:STOP[:STEP]`` (each part optional, integers, step != 0)."""
    parts = body.split(":")
    expected = "a slice [START:STOP] of integers, e.g. [:1000] or [1000:2000]"
    if len(parts) not in (2, 3) or not all(p == "" or _INT_RE.match(p.strip()) for p in parts):
        raise AdvlabError(f"dataset: bad slice [{body}] in {name!r}; expected {expected}")
    start, stop, *rest = (int(p) if p.strip() else None for p in parts)
    step = rest[0] if rest else None
    if step == 0:
        raise AdvlabError(f"dataset: bad slice [{body}] in {name!r}; the step must not be 0")
    return slice(start, stop, step)


def parse_pair(arg: str, name: str) -> tuple[int, int]:
    """Parse ``A-B`` into two different class indices (range is checked by the caller)."""
    m = _PAIR_RE.match(arg)
    if m is None or m.group(1) == m.group(2) or int(m.group(1)) == int(m.group(2)):
        raise AdvlabError(
            f"dataset: malformed class pair {arg!r} in {name!r}; expected A-B with two "
            f"different class indices, e.g. mnist5k:0-6"
        )
    return int(m.group(1)), int(m.group(2))


def parse_name(name: str, registered: Collection[str] = ()) -> DatasetSpec:
    """Split a dataset name into base, argument and slice (no file is read but stat).

    A registered name wins over a folder of the same name in the working directory
    (write ``./mnist5k`` for the folder).
    """

    def is_dir(text: str) -> bool:
        return text not in registered and os.path.isdir(text)

    if not isinstance(name, str) or not name.strip():
        raise AdvlabError(f"dataset: got {short_repr(name)}; expected {SYNTAX}")
    check_path(name, "dataset")  # no name longer than the OS allows is registered or a folder
    if is_dir(name):
        return DatasetSpec(name, name, True, None, None)
    head, window = name, None
    m = _SLICE_RE.match(name)
    if m is not None:
        head, window = m.group("head"), parse_slice(m.group("body"), name)
    if is_dir(head):
        return DatasetSpec(name, head, True, None, window)
    base, arg = head, None
    if ":" in head:
        base, arg = head.rsplit(":", 1)
    if "[" in base or "]" in base or (arg is not None and ("[" in arg or "]" in arg)):
        raise AdvlabError(
            f"dataset: got {name!r}; the slice goes last: {SYNTAX}"
        )
    if not base:
        raise AdvlabError(f"dataset: got {name!r}; expected {SYNTAX}")
    return DatasetSpec(name, base, is_dir(base), arg, window)
