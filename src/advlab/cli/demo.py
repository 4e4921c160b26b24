"""``advlab demo``: what `make demo` runs."""

from __future__ import annotations

import click

from advlab.cli.options import (
    AdvlabCommand,
    device_option,
    figure_format_option,
    force_option,
    formats,
    resolve_device,
    seed_option,
)


@click.command(cls=AdvlabCommand)
@click.option("--out", type=click.Path(), default="runs/demo", show_default=True,
              help="Output folder; a finished demo inside is reused (cached stages).")
@click.option("--scale", type=click.Choice(["quick", "tiny"]), default="quick", show_default=True,
              help="quick: the recipes' quick presets; tiny: seconds, for tests only.")
@seed_option
@device_option
@force_option
@figure_format_option
def command(out: str, scale: str, seed: int, device: str, force: bool, figure_format: str) -> None:
    """Run both papers' quick presets and the theory on mnist5k; write one report.

    Writes OUT/report.html (self-contained), OUT/report.md and OUT/results.json.
    About 5-7 minutes on 2 CPU cores the first time; a second run reuses every stage.
    """
    from advlab.experiments.demo import run

    run(out, seed=seed, device=resolve_device(device), force=force, scale=scale,
        figure_format=formats(figure_format))
    click.echo(f"report: {out}/report.html")
