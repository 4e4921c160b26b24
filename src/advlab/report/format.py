"""Formatting shared by every report and results file: percentages and eps keys."""

from __future__ import annotations

import math
from typing import Any


def pct(v: Any, digits: int = 1) -> str | None:
    """A fraction as a percentage: ``0.4412 -> "44.1%"``; None / NaN -> None (a dash in tables)."""
    if v is None:
        return None
    x = float(v)
    return None if math.isnan(x) else f"{100 * x:.{digits}f}%"


def eps_key(eps: float) -> str:
    """The results.json key of a radius, used by every command: ``1.0 -> "1"``,
    ``0.5 -> "0.5"``, ``8/255 -> "0.03137254901960784"`` (exact: it parses back to eps)."""
    text = repr(float(eps))
    return text[:-2] if text.endswith(".0") else text


__all__ = ["eps_key", "pct"]
