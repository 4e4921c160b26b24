"""``advlab reproduce richardson2020``: the Bayes-optimal paper end to end."""

from __future__ import annotations

import json

import click

from advlab.cli._common import (
    data_root_env,
    data_root_option,
    device_option,
    force_option,
    json_option,
    out_option,
    parse_key_values,
    resolve_device,
    seed_option,
)


def _parse_set(items: tuple[str, ...]) -> dict[str, object]:
    """``--set key=value`` (value parsed as JSON when it parses, else kept as text)."""
    out: dict[str, object] = {}
    for key, raw in parse_key_values(items, example="n_train=500").items():
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


@click.command(name="richardson2020")
@click.option("--dataset", type=click.Choice(["mnist5k", "fashion-mnist", "mnist", "celeba", "digits"]),
              default="mnist5k", show_default=True, help="Real dataset the MFA models are fitted to.")
@click.option("--pairs", default=None,
              help="Class pairs, e.g. 0-6,2-7,4-5 (CelebA: attribute names). Default: the "
                   "dataset's pairs; quick runs the first one only.")
@click.option("--scale", type=click.Choice(["tiny", "quick", "medium", "full"]), default="quick",
              show_default=True, help="Preset: quick (CPU minutes), medium, full (paper, GPU).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override one config field (JSON value), e.g. --set n_train=500. Repeatable.")
@out_option()
@seed_option
@device_option
@force_option
@data_root_option
@json_option
def command(dataset: str, pairs: str | None, scale: str, overrides: tuple[str, ...], out: str,
            seed: int, device: str, force: bool, data_root: str | None, as_json: bool) -> None:
    """Bayes-optimal vs CNN vs linear / RBF SVM vs TRADES CNN on MFA-sampled datasets.

    Figures 4, 6, 7, 9, 10, 11, Table 1 and Appendix D.4 of Richardson & Weiss.
    """
    from advlab.cli._common import echo_json
    from advlab.experiments.richardson2020 import run

    results = run(out, dataset=dataset, scale=scale, seed=seed, device=resolve_device(device),
                  force=force, data_root=data_root_env(data_root), pairs=pairs,
                  **_parse_set(overrides))
    if as_json:
        echo_json(results)
    else:
        click.echo(f"report: {out}/report.html")
