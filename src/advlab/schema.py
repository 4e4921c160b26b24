"""Declared schemas for the JSON that advlab reads: dataset cards, checkpoint configs,
model arguments and safetensors headers.

A schema is a small tree of specs (:class:`Int`, :class:`Float`, :class:`Str`,
:class:`ListOf`, :class:`Obj`, ...). :func:`validate` checks a parsed value against it
*before* anything is allocated from it, and raises one :class:`AdvlabError` that names
the file, the field, the value received and what was expected::

    CARD = Obj({"name": Str(200), "shape": ListOf(Int(1, 4096), 3, 3)}, required=("name",))
    validate(CARD, read_json(path), where=str(path))
    # -> "card.json: shape[0]: got 0; expected an integer in [1, 4096]"

Every size is bounded (string lengths, list lengths, nesting depth), every number is
range-checked and ``bool`` is never taken for an integer.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from advlab.errors import AdvlabError

__all__ = ["Spec", "Int", "Float", "Str", "Bool", "Const", "OneOf", "Nullable", "ListOf",
           "Obj", "Either", "Json", "validate", "short_repr"]


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters (safe for huge ints and long strings)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"<an integer of {value.bit_length()} bits>"
    if isinstance(value, list | tuple | dict) and len(value) > 8:
        return f"<a {type(value).__name__} of {len(value)} items>"
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        text = f"<a {type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Note(str):
    """A description shown as is in a message (not a value from the file)."""


class _Fail(Exception):
    """Internal: a mismatch at ``path`` (turned into an AdvlabError by :func:`validate`)."""

    def __init__(self, path: str, value: Any, expected: str) -> None:
        super().__init__(path)
        self.path, self.value, self.expected = path, value, expected


class Spec:
    """A declared shape for one JSON value."""

    def describe(self) -> str:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def check(self, value: Any, path: str) -> Any:
        """Return ``value`` (normalised: tuples become lists) or raise ``_Fail``."""
        raise NotImplementedError  # pragma: no cover

    def fail(self, value: Any, path: str) -> _Fail:
        return _Fail(path, value, self.describe())


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


@dataclass(frozen=True)
class Int(Spec):
    """An integer (never a bool or a float) in ``[lo, hi]``."""

    lo: int = -(2**63)
    hi: int = 2**63 - 1

    def describe(self) -> str:
        return f"an integer in [{self.lo}, {self.hi}]"

    def check(self, value: Any, path: str) -> Any:
        if not _is_int(value) or not self.lo <= int(value) <= self.hi:
            raise self.fail(value, path)
        return int(value)


@dataclass(frozen=True)
class Float(Spec):
    """A finite number in ``[lo, hi]`` (``gt``: strictly greater than it)."""

    lo: float = -math.inf
    hi: float = math.inf
    gt: float | None = None

    def describe(self) -> str:
        low = f"> {self.gt}" if self.gt is not None else (f">= {self.lo}" if self.lo > -math.inf else "")
        high = f"<= {self.hi}" if self.hi < math.inf else ""
        bounds = " and ".join(b for b in (low, high) if b)
        return "a finite number" + (f" {bounds}" if bounds else "")

    def check(self, value: Any, path: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise self.fail(value, path)
        try:
            v = float(value)
        except OverflowError:
            raise self.fail(value, path) from None
        if not math.isfinite(v) or not self.lo <= v <= self.hi or (self.gt is not None and not v > self.gt):
            raise self.fail(value, path)
        return value


@dataclass(frozen=True)
class Str(Spec):
    """A string of at most ``max_len`` characters (valid UTF-8), optionally a full regex match."""

    max_len: int = 1000
    pattern: str | None = None
    what: str = ""

    def describe(self) -> str:
        return self.what or f"a string of at most {self.max_len} characters"

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, str) or len(value) > self.max_len:
            raise self.fail(value, path)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: printing them would crash later
            raise self.fail(value, path) from None
        if self.pattern is not None and re.fullmatch(self.pattern, value) is None:
            raise self.fail(value, path)
        return value


@dataclass(frozen=True)
class Bool(Spec):
    def describe(self) -> str:
        return "true or false"

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, bool):
            raise self.fail(value, path)
        return value


@dataclass(frozen=True)
class Const(Spec):
    """Exactly ``value``."""

    value: Any

    def describe(self) -> str:
        return repr(self.value)

    def check(self, value: Any, path: str) -> Any:
        if type(value) is not type(self.value) or value != self.value:
            raise self.fail(value, path)
        return value


@dataclass(frozen=True)
class OneOf(Spec):
    """One of a few strings."""

    values: tuple[str, ...]

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, str) or value not in self.values:
            raise self.fail(value, path)
        return value


@dataclass(frozen=True)
class Nullable(Spec):
    """``None`` (JSON null) or ``inner``."""

    inner: Spec

    def describe(self) -> str:
        return f"null or {self.inner.describe()}"

    def check(self, value: Any, path: str) -> Any:
        return None if value is None else self.inner.check(value, path)


@dataclass(frozen=True)
class Either(Spec):
    """The first of ``options`` that accepts the value."""

    options: tuple[Spec, ...]

    def describe(self) -> str:
        return " or ".join(o.describe() for o in self.options)

    def check(self, value: Any, path: str) -> Any:
        for option in self.options:
            try:
                return option.check(value, path)
            except _Fail:
                continue
        raise self.fail(value, path)


@dataclass(frozen=True)
class ListOf(Spec):
    """A list (or tuple) of ``min_len`` to ``max_len`` items, each matching ``item``."""

    item: Spec
    min_len: int = 0
    max_len: int = 1000

    def describe(self) -> str:
        n = (f"{self.min_len}" if self.min_len == self.max_len
             else f"{self.min_len} to {self.max_len}")
        return f"a list of {n} items, each {self.item.describe()}"

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, list | tuple) or not self.min_len <= len(value) <= self.max_len:
            raise self.fail(value, path)
        return [self.item.check(v, f"{path}[{i}]") for i, v in enumerate(value)]


@dataclass(frozen=True)
class Json(Spec):
    """Any JSON value nested at most ``max_depth`` deep (numbers may not be NaN/inf)."""

    max_depth: int = 32

    def describe(self) -> str:
        return f"JSON nested at most {self.max_depth} deep"

    def check(self, value: Any, path: str) -> Any:
        stack: list[tuple[Any, int]] = [(value, 0)]
        while stack:
            v, depth = stack.pop()
            if depth > self.max_depth:
                raise self.fail(_Note("a value nested deeper"), path)
            if isinstance(v, Mapping):
                if not all(isinstance(k, str) for k in v):
                    raise self.fail(v, path)
                stack.extend((x, depth + 1) for x in v.values())
            elif isinstance(v, list | tuple):
                stack.extend((x, depth + 1) for x in v)
            elif isinstance(v, float) and not math.isfinite(v):
                raise self.fail(v, path)
            elif not (v is None or isinstance(v, str | bool | numbers.Real)):
                raise self.fail(v, path)
        return value


@dataclass(frozen=True)
class Obj(Spec):
    """A JSON object with declared ``fields``.

    Args:
        fields: field name -> spec.
        required: the fields that must be present.
        extra: spec for undeclared fields, or None to refuse them.
        max_keys: the most keys the object may have.
    """

    fields: Mapping[str, Spec]
    required: Sequence[str] = ()
    extra: Spec | None = None
    max_keys: int = 1000
    what: str = "an object"

    def describe(self) -> str:
        return self.what

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, Mapping) or len(value) > self.max_keys:
            raise self.fail(value, path)
        out: dict[str, Any] = {}
        for name in self.required:
            if name not in value:
                raise _Fail(_join(path, name), _Note("nothing (a missing field)"), self.fields[name].describe())
        for key, v in value.items():
            if not isinstance(key, str):
                raise self.fail(value, path)
            spec = self.fields.get(key, self.extra)
            if spec is None:
                raise _Fail(_join(path, key), _Note("an unknown field"),
                            "only " + ", ".join(sorted(self.fields)))
            out[key] = spec.check(v, _join(path, key))
        return out


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def validate(spec: Spec, value: Any, where: str, prefix: str = "") -> Any:
    """Check ``value`` against ``spec``; return it normalised (tuples as lists).

    Args:
        spec: the declared schema.
        value: the parsed JSON (or Python) value.
        where: the file (or argument) the value came from, first in the message.
        prefix: the field path of ``value`` inside ``where`` (e.g. ``"model"``).

    Raises:
        AdvlabError: ``"<where>: <field>: got <value>; expected <what>"``.
    """
    try:
        return spec.check(value, prefix)
    except _Fail as f:
        field_ = f"{f.path}: " if f.path else ""
        got = f.value if isinstance(f.value, _Note) else short_repr(f.value)
        raise AdvlabError(f"{where}: {field_}got {got}; expected {f.expected}") from None
