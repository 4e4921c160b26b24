"""Configuration of the demo: its scale and its stages (each a whole recipe)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from advlab.errors import bad_argument
from advlab.overrides import apply_overrides

SCALES = ("quick", "tiny")


@dataclass(frozen=True)
class DemoConfig:
    """The demo's settings.

    Attributes:
        scale: ``quick`` (the recipes' quick presets, minutes on 2 CPU cores) or ``tiny``
            (the recipes' CI presets, for tests: the numbers are not meaningful).
    """

    scale: Literal["quick", "tiny"] = "quick"


def make_config(scale: str = "quick", **overrides: Any) -> DemoConfig:
    """The demo config of ``scale`` (typed ``overrides``, none needed in practice)."""
    if scale not in SCALES:
        raise bad_argument("scale", scale, "one of " + ", ".join(SCALES))
    return apply_overrides(DemoConfig(scale), overrides, reserved={"scale": "--scale"})  # type: ignore[arg-type]  # checked above
