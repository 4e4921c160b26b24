"""The demo's results.json: each recipe's results under its stage name."""

from __future__ import annotations

from typing import Any

from advlab.experiments.engine import RunContext


def collect(ctx: RunContext) -> dict[str, Any]:
    """``{stage name: that recipe's results.json}`` (the engine adds command, seed, provenance)."""
    findings = [f for name in ("ilyas2019", "richardson2020", "theory-gaussian", "theory-toy2d")
                for f in ctx.results[name].get("findings", [])]
    return {"scale": ctx.config.scale, "findings": findings, **ctx.results}
