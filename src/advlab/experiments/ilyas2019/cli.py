"""``advlab reproduce ilyas2019``: the features paper end to end, cached and resumable."""

from __future__ import annotations

import click

from advlab.cli._common import (
    data_root_env,
    data_root_option,
    device_option,
    echo_json,
    force_option,
    json_option,
    out_option,
    parse_key_values,
    resolve_device,
    seed_option,
)

_RESERVED = ("dataset", "scale", "seed", "device", "out", "force", "data_root")


def _parse_set(items: tuple[str, ...]) -> dict[str, str]:
    """``--set KEY=VALUE`` as raw text; the config converts each to its field's type."""
    return {k: v.strip() for k, v in
            parse_key_values(items, example="n_construct=2000", reserved=_RESERVED).items()}


@click.command("ilyas2019")
@click.option("--dataset", default=None,
              help="Dataset name (default per scale: quick mnist5k, medium fashion-mnist, full cifar10).")
@click.option("--scale", type=click.Choice(["tiny", "quick", "medium", "full"]), default="quick",
              show_default=True, help="Preset: tiny (CI), quick (CPU minutes), medium (about an hour on a CPU), full (GPU).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a config field, e.g. --set robustify_steps=500 --set constructed_train.epochs=30.")
@out_option()
@seed_option
@device_option
@data_root_option
@force_option
@json_option
def command(dataset: str | None, scale: str, sets: tuple[str, ...], out: str, seed: int, device: str,
            data_root: str | None, force: bool, as_json: bool) -> None:
    """Reproduce 'Adversarial Examples Are Not Bugs, They Are Features' (Ilyas et al. 2019).

    Trains a standard and an adversarially trained source model, builds D_R, D_NR, D_rand
    and D_det, trains on them, and reports Tables 1 and 7-10 and Figures 2, 3, 7-10 beside
    the paper's CIFAR-10 values in DIR/report.md and DIR/report.html.
    """
    from advlab.experiments.ilyas2019 import run
    from advlab.experiments.ilyas2019.config import DEFAULT_DATASET

    results = run(out, dataset=dataset or DEFAULT_DATASET[scale], scale=scale, seed=seed,
                  device=resolve_device(device), force=force, data_root=data_root_env(data_root),
                  **_parse_set(sets))
    if as_json:
        echo_json(results)
    else:
        click.echo(f"report: {out}/report.html")
