"""The ``advlab`` command line: a thin shell over the library.

Each module of this package (not starting with ``_`` and other than ``options``) defines
``command``, a ``click.Command`` (or group); they are registered here automatically, so a
new command is a new file. User errors (:class:`advlab.errors.AdvlabError`, click's usage
errors, files that cannot be read or written) become one line on stderr and exit code 2,
with no traceback.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import click

from advlab.cli.options import AdvlabGroup
from advlab.errors import AdvlabError
from advlab.provenance import __version__

_NOT_COMMANDS = ("options",)


class _Main(AdvlabGroup):
    """Lists the commands found in advlab.cli.*; imports each only when needed."""

    def _command_names(self) -> dict[str, str]:
        # module name -> command name: "reproduce" module gives "reproduce", etc.
        return {m.name.replace("_", "-"): m.name for m in pkgutil.iter_modules(__path__)
                if not m.name.startswith("_") and m.name not in _NOT_COMMANDS}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self._command_names())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = self._command_names().get(cmd_name)
        if module is None:
            return None
        cmd: click.Command = importlib.import_module(f"{__name__}.{module}").command
        return cmd


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="advlab")
def cli() -> None:
    """advlab: a laboratory for the science of adversarial examples.

    Reproduces "Adversarial Examples Are Not Bugs, They Are Features" (Ilyas et al.
    2019) and "A Bayes-Optimal View on Adversarial Examples" (Richardson & Weiss).
    Run `advlab COMMAND --help` for each command.
    """


def _one_line(text: str) -> str:
    return "; ".join(part.strip() for part in text.strip().splitlines() if part.strip())


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI; user errors exit 2 with one line, no traceback."""
    try:
        cli.main(args=argv, prog_name="advlab", standalone_mode=False)
    except AdvlabError as e:
        click.echo(f"advlab: error: {_one_line(str(e))}", err=True)
        sys.exit(2)
    except click.MissingParameter as e:
        click.echo(f"advlab: error: {_one_line(e.format_message())}", err=True)
        sys.exit(2)
    except click.BadParameter as e:
        name = (e.param.opts[0] if isinstance(e.param, click.Option) else
                e.param.human_readable_name if e.param is not None else e.param_hint or "argument")
        click.echo(f"advlab: error: {name}: {_one_line(e.message)}", err=True)
        sys.exit(2)
    except click.UsageError as e:
        hint = f" (see `{e.ctx.command_path} --help`)" if e.ctx is not None else ""
        click.echo(f"advlab: error: {_one_line(e.format_message())}{hint}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("advlab: aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        click.echo(f"advlab: error: {_one_line(e.format_message())}", err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except OSError as e:
        if e.filename is None:
            raise
        click.echo(f"advlab: error: {e.filename}: {e.strerror or e}", err=True)
        sys.exit(2)
    sys.exit(0)
