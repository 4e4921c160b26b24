"""``advlab demo``: what `make demo` runs."""

from __future__ import annotations

import click

from advlab.cli.options import (
    AdvlabCommand,
    device_option,
    figure_format_option,
    force_option,
    formats,
    main_rank,
    resolve_device,
    seed_option,
)


@click.command(cls=AdvlabCommand)
@click.option("--out", type=click.Path(), default="runs/demo", show_default=True,
              help="Output folder; a finished demo inside is reused (cached stages).")
@click.option("--scale", type=click.Choice(["quick", "tiny"]), default="quick", show_default=True,
              help="quick: the recipes' quick presets; tiny: seconds, for tests only.")
@click.option("--features-dataset", type=click.Choice(["fashion-mnist", "mnist5k"]), default=None,
              help="The features paper's dataset [default: fashion-mnist when installed, "
                   "else mnist5k].")
@seed_option
@device_option
@force_option
@figure_format_option
def command(out: str, scale: str, features_dataset: str | None, seed: int, device: str,
            force: bool, figure_format: str) -> None:
    """Run both papers' quick presets and the theory; write one report.

    The features paper runs on Fashion-MNIST when it is installed (else mnist5k), the
    Bayes-optimal paper on mnist5k. Writes OUT/report.html (self-contained), OUT/report.md
    and OUT/results.json. Minutes on 2 CPU cores the first time (sized for 10); a second run
    reuses every stage.
    """
    from advlab.experiments.demo import run

    run(out, seed=seed, device=resolve_device(device), force=force, scale=scale,
        figure_format=formats(figure_format), features_dataset=features_dataset)
    if main_rank():
        click.echo(f"report: {out}/report.html")
