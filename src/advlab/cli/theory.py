"""``advlab theory KIND --out DIR``: the theory of both papers, run and reported.

KIND is ``gaussian`` (features paper §4 / App. E: Theorems 1-3, Figs. 4 and 14) or
``toy2d`` (Bayes-optimal paper §2: Fig. 2, Observations 1 and 3).
"""

from __future__ import annotations

import click

from advlab.cli._common import echo_json, json_option, out_option, seed_option


@click.command()
@click.argument("kind", metavar="KIND")
@out_option()
@seed_option
@click.option("--quick", is_flag=True, help="Smaller samples (well under a minute on 2 CPU cores).")
@json_option
def command(kind: str, out: str, seed: int, quick: bool, as_json: bool) -> None:
    """Run a theory study: KIND is gaussian or toy2d.

    Writes config.json, results.json, figures/*.png, report.md and report.html in --out.
    """
    from advlab.store import check_out_dir
    from advlab.theory import check_kind, run_theory

    check_kind(kind)
    check_out_dir(out)
    results = run_theory(kind, out, seed=seed, quick=quick)
    if as_json:
        echo_json(results)
    else:
        click.echo(f"{kind}: wrote {out}/report.html and {out}/results.json")
