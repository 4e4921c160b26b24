"""Configuration of the demo: its scale, the features paper's dataset and its stages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from advlab.errors import AdvlabError, bad_argument
from advlab.overrides import apply_overrides

SCALES = ("quick", "tiny")
FEATURES_DATASETS = ("fashion-mnist", "mnist5k")


@dataclass(frozen=True)
class DemoConfig:
    """The demo's settings.

    Attributes:
        scale: ``quick`` (the recipes' quick presets, minutes on 2 CPU cores) or ``tiny``
            (the recipes' CI presets, for tests: the numbers are not meaningful).
        features_dataset: the features paper's dataset: Fashion-MNIST when its files are
            installed (60,000 training images: enough for a source, D_R and a control
            from disjoint draws), else mnist5k (bundled, 4,000 training images).
        features_dataset_reason: why that dataset, in words (shown in the report).
    """

    scale: Literal["quick", "tiny"] = "quick"
    features_dataset: str = "mnist5k"
    features_dataset_reason: str = ""


def pick_features_dataset(scale: str, data_root: str | None = None) -> tuple[str, str]:
    """The features paper's dataset for ``scale`` and the reason, in words.

    ``tiny`` always uses mnist5k (CI: the same data everywhere); ``quick`` uses
    Fashion-MNIST when :func:`advlab.data.idx.fashion_folder` finds its IDX files.
    """
    if scale == "tiny":
        return "mnist5k", "the tiny (CI) scale always uses the bundled mnist5k"
    from advlab.data.idx import fashion_folder

    try:
        folder = fashion_folder(data_root)
    except AdvlabError:
        return "mnist5k", ("Fashion-MNIST is not installed (Debian package dataset-fashion-mnist "
                           "or --data-root), so the bundled mnist5k stands in")
    del folder
    return "fashion-mnist", ("Fashion-MNIST is installed: harder than MNIST, and large enough "
                             "for the quick preset's 5,000-image sources")


def make_config(scale: str = "quick", **overrides: Any) -> DemoConfig:
    """The demo config of ``scale``; ``overrides`` may set ``features_dataset``."""
    if scale not in SCALES:
        raise bad_argument("scale", scale, "one of " + ", ".join(SCALES))
    if "features_dataset" in overrides:
        name = overrides["features_dataset"]
        if name not in FEATURES_DATASETS:
            raise bad_argument("features_dataset", name, "one of " + ", ".join(FEATURES_DATASETS))
        reason = "chosen by the user"
    else:
        name, reason = pick_features_dataset(scale)
    base = DemoConfig(scale, name, reason)  # type: ignore[arg-type]  # scale checked above
    rest = {k: v for k, v in overrides.items() if k != "features_dataset"}
    return apply_overrides(base, rest, reserved={"scale": "--scale"})
