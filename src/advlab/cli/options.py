"""Options shared by the commands, so each is spelled and documented once."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def seed_option(f: F) -> F:
    return click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")(f)  # type: ignore[return-value]


def device_option(f: F) -> F:
    return click.option(
        "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
        help="Where to compute; auto picks cuda when available.",
    )(f)  # type: ignore[return-value]


def data_root_option(f: F) -> F:
    return click.option(
        "--data-root", type=click.Path(file_okay=False), default=None,
        help="Folder holding real datasets (default: $ADVLAB_DATA, or each dataset's default).",
    )(f)  # type: ignore[return-value]


def out_option(required: bool = True, default: str | None = None) -> Callable[[F], F]:
    def deco(f: F) -> F:
        return click.option(
            "--out", type=click.Path(), required=required and default is None, default=default,
            help="Output folder (created; a completed run inside is resumed).",
        )(f)  # type: ignore[return-value]
    return deco


def force_option(f: F) -> F:
    return click.option("--force", is_flag=True, help="Recompute stages that completed before.")(f)  # type: ignore[return-value]


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(f)  # type: ignore[return-value]


def resolve_device(device: str) -> str:
    """Map ``auto`` to ``cuda`` when available, else ``cpu``."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        from advlab.errors import AdvlabError

        raise AdvlabError("--device: got 'cuda' but no CUDA device is available; use --device cpu")
    return device


def data_root_env(data_root: str | None) -> str | None:
    return data_root or os.environ.get("ADVLAB_DATA")


def echo_json(obj: Any) -> None:
    from advlab.store import to_jsonable

    click.echo(json.dumps(to_jsonable(obj), indent=2))


def parse_key_values(items: tuple[str, ...], *, example: str, reserved: tuple[str, ...] = (),
                     option: str = "--set") -> dict[str, str]:
    """Split repeated ``--set KEY=VALUE`` options into ``{key: raw value}``.

    Args:
        items: the option's values as click gives them.
        example: a valid ``KEY=VALUE`` shown in the error message.
        reserved: keys that have their own option (``--seed`` etc.) and are refused here.

    Raises:
        AdvlabError: an item without ``=`` or key, or a reserved key.
    """
    from advlab.errors import AdvlabError

    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise AdvlabError(f"{option}: got {item!r}; expected KEY=VALUE, e.g. {example}")
        if key in reserved:
            raise AdvlabError(f"{option}: got {item!r}; use --{key.replace('_', '-')} instead")
        out[key] = value
    return out
