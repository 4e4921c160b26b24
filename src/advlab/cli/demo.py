"""``advlab demo``: what `make demo` runs."""

from __future__ import annotations

import shlex
import sys

import click

from advlab.cli._common import device_option, force_option, resolve_device, seed_option
from advlab.store import check_out_dir


@click.command()
@click.option("--out", type=click.Path(), default="runs/demo", show_default=True,
              help="Output folder; a finished demo inside is reused (cached stages).")
@click.option("--scale", type=click.Choice(["quick", "tiny"]), default="quick", show_default=True,
              help="quick: the recipes' quick presets; tiny: seconds, for tests only.")
@seed_option
@device_option
@force_option
def command(out: str, scale: str, seed: int, device: str, force: bool) -> None:
    """Run both papers' quick presets and the theory on mnist5k; write one report.

    Writes OUT/report.html (self-contained), OUT/report.md and OUT/results.json.
    About 15 minutes on 2 CPU cores the first time; a second run reuses every stage.
    """
    from advlab.experiments.demo import run

    check_out_dir(out)
    cmd = "advlab " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else "advlab demo"
    run(out, seed=seed, device=resolve_device(device), force=force, scale=scale, command=cmd)
    click.echo(f"report: {out}/report.html")
