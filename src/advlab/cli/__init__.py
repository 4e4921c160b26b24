"""The ``advlab`` command line: a thin shell over the library.

Each module of this package (not starting with ``_``) defines ``command``, a
``click.Command`` (or group); they are registered here automatically, so a new
command is a new file. User errors (:class:`advlab.errors.AdvlabError`) become one
line on stderr and exit code 2, with no traceback.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import click

from advlab import __version__
from advlab.errors import AdvlabError


class _Main(click.Group):
    """Lists the commands found in advlab.cli.*; imports each only when needed."""

    def _modules(self) -> list[str]:
        return sorted(
            m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")
        )

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self._command_names())

    def _command_names(self) -> dict[str, str]:
        # module name -> command name: "reproduce" module gives "reproduce", etc.
        return {m.replace("_", "-"): m for m in self._modules()}

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = self._command_names().get(cmd_name)
        if module is None:
            return None
        mod = importlib.import_module(f"{__name__}.{module}")
        cmd: click.Command = mod.command
        return cmd


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="advlab")
def cli() -> None:
    """advlab: a laboratory for the science of adversarial examples.

    Reproduces "Adversarial Examples Are Not Bugs, They Are Features" (Ilyas et al.
    2019) and "A Bayes-Optimal View on Adversarial Examples" (Richardson & Weiss).
    Run `advlab COMMAND --help` for each command.
    """


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI; user errors exit 2 with one line, no traceback."""
    try:
        cli.main(args=argv, prog_name="advlab", standalone_mode=False)
    except AdvlabError as e:
        click.echo(f"advlab: error: {e}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("advlab: aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    sys.exit(0)
