"""Progress on long work, visible everywhere: a tqdm bar on a terminal; elsewhere (SLURM,
nohup, CI, a notebook's captured stderr) a plain line at least every 30 seconds with
done/total, rate and time left, so a 10-hour construction never goes silent.

    for batch in progress(batches, desc="epoch 3/10", unit="batch"):
        ...
    with progress(total=n, desc="construct d_r", unit="img") as bar:
        bar.update(k)

``ADVLAB_PROGRESS_SECONDS`` sets the plain-line interval (default 30).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, Generic, TextIO, TypeVar

from tqdm import tqdm

T = TypeVar("T")
INTERVAL_S = 30.0


def clock(seconds: float) -> str:
    """A duration for people: ``4m05s``, or ``1h02m`` from an hour on."""
    m, s = divmod(int(max(seconds, 0.0)), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


class PlainProgress(Generic[T]):
    """The non-terminal display: one line per ``interval`` seconds (and one at the end)."""

    def __init__(self, iterable: Iterable[T] | None, total: int | None, desc: str, unit: str,
                 initial: int = 0, stream: TextIO | None = None,
                 interval: float | None = None) -> None:
        self.iterable, self.desc, self.unit = iterable, desc, unit
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]  # checked: it has a length
        self.total, self.n, self.start_n = total, initial, initial
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval if interval is not None else float(
            os.environ.get("ADVLAB_PROGRESS_SECONDS", INTERVAL_S))
        self.t0 = self.last = time.monotonic()
        self.shown: int | None = None  # the count of the last line printed

    def __iter__(self) -> Iterator[T]:
        assert self.iterable is not None, "nothing to iterate over"
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> PlainProgress[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self._line(now)

    def set_description(self, desc: str) -> None:
        self.desc = desc

    def set_postfix_str(self, text: str) -> None:
        """Accepted for tqdm compatibility; the plain line does not show it."""

    def set_postfix(self, **values: Any) -> None:
        """Accepted for tqdm compatibility; the plain line does not show it."""

    def write(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self.n > self.start_n and self.n != self.shown and \
                time.monotonic() - self.t0 >= self.interval:
            self._line(time.monotonic())
        self.n = self.start_n = self.n  # a second close prints nothing new

    def _line(self, now: float) -> None:
        self.shown, done = self.n, self.n - self.start_n
        rate = done / max(now - self.t0, 1e-9)
        total = f"/{self.total}" if self.total else ""
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        left = f" · about {clock((self.total - self.n) / rate)} left" if self.total and rate > 0 else ""
        print(f"[{self.desc}] {self.n}{total} {self.unit}{pct} · {rate:.3g} {self.unit}/s · "
              f"elapsed {clock(now - self.t0)}{left}", file=self.stream, flush=True)


def progress(iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str = "",
             unit: str = "it", initial: int = 0, leave: bool = False, disable: bool = False,
             stream: TextIO | None = None, **tqdm_kwargs: Any) -> Any:
    """A tqdm bar when ``stream`` (stderr) is a terminal, else a :class:`PlainProgress`.

    Both iterate like ``iterable`` and offer ``update(n)``, ``close()``, ``write(text)`` and
    use as a context manager. ``disable`` shows nothing (e.g. on ranks other than 0).
    """
    out = stream if stream is not None else sys.stderr
    if disable:
        return PlainProgress(iterable, total, desc, unit, initial=initial, stream=out,
                             interval=math.inf)
    if getattr(out, "isatty", lambda: False)():
        return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, leave=leave,
                    file=out, **tqdm_kwargs)
    return PlainProgress(iterable, total, desc, unit, initial=initial, stream=out)


__all__ = ["INTERVAL_S", "PlainProgress", "clock", "progress"]
