"""The warning category of every automatic sanity check (re-exported by advlab.evaluate.checks).

Each warning carries a short explanation and a pointer to ``docs/attacks.md#<anchor>``.
"""

from __future__ import annotations

import warnings

DOCS = "docs/attacks.md"


class SanityWarning(UserWarning):
    """An evaluation may be unreliable (probabilities, train mode, masked gradients, ...)."""


def warn(message: str, anchor: str, stacklevel: int = 3) -> None:
    """Emit a :class:`SanityWarning` ending with ``(see docs/attacks.md#anchor)``."""
    warnings.warn(f"{message} (see {DOCS}#{anchor})", SanityWarning, stacklevel=stacklevel)
