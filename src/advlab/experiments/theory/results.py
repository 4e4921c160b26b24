"""results.json of a theory run: the study's numbers (the engine adds command, seed, provenance)."""

from __future__ import annotations

from typing import Any

from advlab.experiments.engine import RunContext
from advlab.experiments.findings import judge


def collect(ctx: RunContext) -> dict[str, Any]:
    """``{"kind", "quick", <the study's results>}``."""
    study = dict(ctx.results[ctx.config.kind])
    study.pop("seconds", None)
    out = {"kind": ctx.config.kind, "quick": ctx.config.quick, **study}
    return {"findings": judge(f"theory-{ctx.config.kind}", out), **out}
