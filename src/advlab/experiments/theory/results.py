"""results.json of a theory run: the study's numbers (the engine adds command, seed, provenance)."""

from __future__ import annotations

from typing import Any

from advlab.experiments.engine import RunContext


def collect(ctx: RunContext) -> dict[str, Any]:
    """``{"kind", "quick", <the study's results>}``."""
    study = dict(ctx.results[ctx.config.kind])
    study.pop("seconds", None)
    return {"kind": ctx.config.kind, "quick": ctx.config.quick, **study}
