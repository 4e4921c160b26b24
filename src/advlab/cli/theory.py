"""``advlab theory KIND --out DIR``: the theory of both papers, run and reported.

KIND is ``gaussian`` (features paper §4 / App. E: Theorems 1-3, Figs. 4 and 14) or
``toy2d`` (Bayes-optimal paper §2: Fig. 2, Observations 1 and 3).
"""

from __future__ import annotations

import click

from advlab.cli.options import (
    AdvlabCommand,
    echo_json,
    figure_format_option,
    force_option,
    formats,
    json_option,
    main_rank,
    out_option,
    parse_sets,
    seed_option,
    set_option,
)


@click.command(cls=AdvlabCommand)
@click.argument("kind", metavar="KIND")
@out_option()
@seed_option
@click.option("--quick", is_flag=True, help="Smaller samples (well under a minute on 2 CPU cores).")
@set_option
@force_option
@figure_format_option
@json_option
def command(kind: str, out: str, seed: int, quick: bool, sets: tuple[str, ...], force: bool,
            figure_format: str, as_json: bool) -> None:
    """Run a theory study: KIND is gaussian or toy2d.

    Writes config.json, results.json, figures/*.png, report.md and report.html in --out.
    Settings of the study: --set gaussian.mc_n=200000, --set toy2d.n_per_class=1000.
    """
    from advlab.experiments import theory

    cfg = theory.make_config(kind, quick, parse_sets(sets))
    results = theory.run(out, kind=kind, seed=seed, config=cfg, force=force,
                         figure_format=formats(figure_format))
    if not main_rank():
        return
    if as_json:
        echo_json(results)
    else:
        click.echo(f"{kind}: wrote {out}/report.html and {out}/results.json")
