"""``advlab reproduce RECIPE``: one sub-command per paper recipe.

Each recipe lives in ``advlab.experiments.<name>`` and defines its own click command
in ``advlab.experiments.<name>.cli`` (module attribute ``command``).
"""

from __future__ import annotations

import importlib

import click

RECIPES = {
    "ilyas2019": "Adversarial Examples Are Not Bugs, They Are Features (Ilyas et al. 2019)",
    "richardson2020": "A Bayes-Optimal View on Adversarial Examples (Richardson & Weiss)",
}


class _Recipes(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(RECIPES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in RECIPES:
            return None
        mod = importlib.import_module(f"advlab.experiments.{cmd_name}.cli")
        cmd: click.Command = mod.command
        return cmd


@click.group(cls=_Recipes)
def command() -> None:
    """Reproduce a paper end to end: ilyas2019 or richardson2020.

    Every stage is cached in --out and resumed when the command runs again.
    """
