"""One typed override syntax for every config: ``--set key=value``.

Keys name fields of a config dataclass; dotted keys reach nested settings
(``constructed_train.epochs=30``, ``model_kwargs.width=16``). A value is converted by the
type of the field it sets, one way everywhere:

===================  ==========================================================
field type           accepted text
===================  ==========================================================
int                  ``12``
float                ``0.5``, ``1e-3``, ``8/255`` (finite only)
bool                 ``true`` / ``false`` (also ``1``/``0``, ``yes``/``no``)
str, Literal         the text (a Literal must be one of its choices)
X | None             ``none`` (or ``null``) for None, else as X
tuple[X, ...]        comma-separated: ``0.5,1,1.5``; empty text for ()
nested dataclass     dotted keys only (``robust_train.lr=0.1``)
dict / Any           dotted keys; the value as a number, bool, none, a comma list or text
===================  ==========================================================

Python callers (and ``--config OUT/config.json``) may pass values that already have
their type (lists for tuples, dicts for nested settings); they are checked the same way.
:func:`format_value` is the inverse used to write the command line of a run.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from fractions import Fraction
from typing import Any, TypeVar

from advlab.errors import AdvlabError

T = TypeVar("T")
#: settings every run takes from its own option; ``--set`` refuses them in every config
RUN_OPTIONS = {"seed": "--seed", "device": "--device", "out": "--out", "force": "--force",
               "data_root": "--data-root", "config": "--config"}
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")
_NONE = ("none", "null")


def parse_number(text: str, name: str, *, integer: bool = False) -> int | float:
    """A finite number from text: ``2``, ``0.5``, ``1e-3`` or a fraction ``8/255``.

    Raises:
        AdvlabError: naming ``name`` when the text is not a finite number (an integer
            when ``integer``).
    """
    s = text.strip()
    kind = "an integer" if integer else "a finite number (e.g. 0.5 or 8/255)"
    try:
        if integer:
            if len(s) > 30:
                raise ValueError
            return int(s)
        value = float(Fraction(s)) if "/" in s else float(s)
    except (ValueError, ZeroDivisionError, OverflowError):
        raise AdvlabError(f"{name}: got {text!r}; expected {kind}", param=name) from None
    if not math.isfinite(value):
        raise AdvlabError(f"{name}: got {text!r}; expected {kind}", param=name)
    return value


def _fail(name: str, value: Any, expected: str) -> AdvlabError:
    return AdvlabError(f"{name}: got {value!r}; expected {expected}", param=name)


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]), True  # noqa: UP007
    return tp, False


def coerce(tp: Any, value: Any, name: str) -> Any:
    """Convert ``value`` (text from the command line, or a Python value) to type ``tp``.

    Raises:
        AdvlabError: naming ``name`` and the type expected.
    """
    tp, optional = _strip_optional(tp)
    if value is None or (optional and isinstance(value, str) and value.strip().lower() in _NONE):
        if optional or tp is Any:
            return None
        raise _fail(name, value, f"a value of type {getattr(tp, '__name__', tp)} (not none)")
    origin = typing.get_origin(tp)
    if tp is Any:
        return _any(value, name)
    if origin is typing.Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise _fail(name, value, "one of " + ", ".join(map(str, choices)))
        return value
    if tp is bool:
        return _bool(value, name)
    if tp is int or tp is float:
        return _number(tp, value, name)
    if tp is str:
        if not isinstance(value, str):
            raise _fail(name, value, "text")
        return value
    if origin is tuple:
        return _tuple(tp, value, name)
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise _fail(name, value, f"settings given as dotted keys, e.g. {name}.KEY=VALUE")
        return {str(k): _any(v, f"{name}.{k}") for k, v in value.items()}
    raise _fail(name, value, f"a value of type {tp}")  # a config field type we do not support


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise _fail(name, value, "true or false")


def _number(tp: type, value: Any, name: str) -> int | float:
    if isinstance(value, str):
        return parse_number(value, name, integer=tp is int)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(name, value, "an integer" if tp is int else "a number")
    if tp is int:
        if isinstance(value, float):
            raise _fail(name, value, "an integer")
        return value
    if not math.isfinite(value):
        raise _fail(name, value, "a finite number")
    return float(value)


def _tuple(tp: Any, value: Any, name: str) -> tuple[Any, ...]:
    args = typing.get_args(tp)
    item = args[0] if args else Any
    if isinstance(value, str):
        items: list[Any] = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise _fail(name, value, "comma-separated values, e.g. 0.5,1")
    return tuple(coerce(item, v, name) for v in items)


def _any(value: Any, name: str) -> Any:
    """A value of an untyped setting: text becomes a number, bool, None, list or text."""
    if not isinstance(value, str):
        return value
    s = value.strip()
    if "," in s:
        return [_any(v, name) for v in s.split(",") if v.strip()]
    low = s.lower()
    if low in _NONE:
        return None
    if low in ("true", "false"):
        return low == "true"
    for integer in (True, False):
        try:
            return parse_number(s, name, integer=integer)
        except AdvlabError:
            pass
    return s


def field_types(cls: type) -> dict[str, Any]:
    """``{field name: resolved type}`` of a dataclass (string annotations resolved)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def apply_overrides(cfg: T, overrides: Mapping[str, Any], *, reserved: Mapping[str, str] | None = None,
                    prefix: str = "", run_options: bool = True) -> T:
    """A copy of the dataclass ``cfg`` with ``overrides`` applied, each typed by its field.

    Args:
        cfg: a (frozen) dataclass instance: the preset.
        overrides: ``{"key" or "nested.key": value}``; values are text or typed values;
            a dict value for a nested dataclass is applied field by field.
        reserved: keys that have their own option, ``{key: "--option"}``; refused here, as
            are :data:`RUN_OPTIONS` unless ``run_options=False`` (values that came from those
            options themselves).
        prefix: the dotted path of ``cfg`` inside an outer config (for messages).

    Raises:
        AdvlabError: an unknown or reserved key (the message lists the allowed keys), or
            a value of the wrong type; ``param`` is the dotted key.
    """
    types_ = field_types(type(cfg))
    reserved = {**(RUN_OPTIONS if run_options else {}), **(reserved or {})}
    grouped: dict[str, Any] = {}
    for key, value in overrides.items():
        head, _, tail = str(key).partition(".")
        full = prefix + str(key)
        if head in reserved and not prefix:
            raise AdvlabError(f"{full}: is set by {reserved[head]}, not as an override",
                              param=full, override=True)
        if head not in types_:
            allowed = ", ".join(k for k in types_ if k not in reserved)
            raise AdvlabError(f"{full}: unknown key; expected one of: {allowed}", param=full,
                              override=True)
        if tail:
            sub = grouped.setdefault(head, {})
            if not isinstance(sub, dict):
                raise _fail(prefix + head, value, "either a whole value or dotted keys, not both")
            sub[tail] = value
        else:
            grouped[head] = value
    try:
        changes = {k: _apply_field(cfg, k, types_[k], v, prefix + k) for k, v in grouped.items()}
        return dataclasses.replace(cfg, **changes)  # type: ignore[type-var]  # T is a dataclass
    except AdvlabError as e:
        if e.param and prefix and not e.param.startswith(prefix):  # a nested config's own check
            raise AdvlabError(e.renamed(prefix + e.param), param=prefix + e.param,
                              override=True) from None
        e.override = True
        raise


def _apply_field(cfg: Any, key: str, tp: Any, value: Any, name: str) -> Any:
    current = getattr(cfg, key)
    base, optional = _strip_optional(tp)
    if optional and (value is None or (isinstance(value, str) and value.strip().lower() in _NONE)):
        return None
    if dataclasses.is_dataclass(base) and isinstance(base, type):
        if not isinstance(value, Mapping):
            raise _fail(name, value, f"nested settings as dotted keys, e.g. {name}.FIELD=VALUE")
        start = current if current is not None else base()
        return apply_overrides(start, value, prefix=f"{name}.")
    if (typing.get_origin(base) is dict or base is dict) and isinstance(value, Mapping):
        merged = dict(current or {})
        for k, v in value.items():
            merged[str(k)] = _any(v, f"{name}.{k}")
        return merged
    return coerce(tp, value, name)


def format_value(value: Any) -> str:
    """The ``--set`` text of a value (the inverse of :func:`coerce`)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(format_value(v) for v in value)
    return str(value)


def flatten(overrides: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (dataclasses as dicts), for command lines."""
    out: dict[str, Any] = {}
    for k, v in overrides.items():
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            v = dataclasses.asdict(v)
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def diff(preset: Any, cfg: Any) -> dict[str, Any]:
    """The dotted keys whose value in ``cfg`` differs from ``preset`` (both dataclasses)."""
    a, b = flatten(dataclasses.asdict(preset)), flatten(dataclasses.asdict(cfg))
    return {k: v for k, v in b.items() if k not in a or _norm(a[k]) != _norm(v)}


def _norm(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


__all__ = ["RUN_OPTIONS", "apply_overrides", "coerce", "diff", "field_types", "flatten", "format_value",
           "parse_number"]
