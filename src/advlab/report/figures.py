"""Figures without pyplot: :func:`subplots` builds a ``matplotlib.figure.Figure`` and
:func:`save_figure` writes it atomically. No global backend is ever set, so importing
advlab in a notebook leaves the user's matplotlib backend alone.

Every figure is written as PNG (the report embeds it); :func:`figure_formats` adds PDF
and/or SVG copies beside it (``fig.png``, ``fig.pdf``, ``fig.svg``) for papers.

Example:
    >>> fig, ax = subplots(figsize=(4, 3))
    >>> ax.plot([0, 1], [0, 1])
    >>> save_figure(fig, "runs/x/figures/line.png")
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from advlab.errors import bad_argument
from advlab.store import atomic_path

FORMATS = ("png", "pdf", "svg")
DPI = 110
_EXTRA: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("figure_formats", default=())


def check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    """Validate figure formats (``png``, ``pdf``, ``svg``); png is always written."""
    out = tuple(dict.fromkeys(f.strip().lower() for f in formats if f.strip()))
    for f in out:
        if f not in FORMATS:
            raise bad_argument("figure_format", f, "png, pdf or svg")
    return out


@contextlib.contextmanager
def figure_formats(formats: Sequence[str]) -> Iterator[None]:
    """Inside the block, :func:`save_figure` also writes these formats beside each PNG."""
    token = _EXTRA.set(tuple(f for f in check_formats(formats) if f != "png"))
    try:
        yield
    finally:
        _EXTRA.reset(token)


def subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float] = (4.5, 3.2),
             **kwargs: Any) -> tuple[Figure, Any]:
    """Like ``plt.subplots`` but the figure belongs to no pyplot state (nothing to close).

    Returns:
        (figure, axes): axes as ``Figure.subplots`` returns them (one Axes, or an array).
    """
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def save_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: int = DPI,
                tight: bool = True) -> Path:
    """Write ``fig`` to ``path`` (PNG) atomically, plus the formats of :func:`figure_formats`.

    Returns:
        the PNG's path.
    """
    path = Path(path).with_suffix(".png")
    for fmt in ("png", *_EXTRA.get()):
        with atomic_path(path.with_suffix(f".{fmt}")) as tmp:
            fig.savefig(tmp, dpi=dpi, format=fmt, bbox_inches="tight" if tight else None)
    return path


__all__ = ["FORMATS", "check_formats", "figure_formats", "save_figure", "subplots"]
