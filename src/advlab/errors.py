"""User-facing errors.

Every mistake a user can make (a bad argument, a missing file, a corrupted artifact)
raises :class:`AdvlabError`. The Python API lets it propagate (it is a ``ValueError``)
with a message that names the Python parameter; the CLI turns it into one line on stderr
and exit code 2, naming the command-line flag that set that parameter instead.
"""

from __future__ import annotations


class AdvlabError(ValueError):
    """A user error: names the argument, the value received and what to do.

    Args:
        message: the whole sentence shown to the user. When ``param`` is given the
            message starts with ``"<param>: "`` (see :func:`bad_argument`).
        param: the Python parameter (or config field, dotted for nested settings) that
            held the bad value, e.g. ``"steps"`` or ``"constructed_train.epochs"``; the
            CLI renders it as the flag the user typed (``--steps``,
            ``--set constructed_train.epochs``).
        override: the value came through a config override (``--set key=value``), so
            the CLI names it ``--set <param>`` even where an option has the same name.

    Example:
        >>> e = bad_argument("steps", -1, "an integer >= 0")
        >>> str(e), e.param, e.detail
        ("steps: got -1; expected an integer >= 0", 'steps', 'got -1; expected an integer >= 0')
    """

    def __init__(self, message: str, *, param: str | None = None, override: bool = False) -> None:
        super().__init__(message)
        self.param = param
        self.override = override

    @property
    def detail(self) -> str:
        """The message without its leading ``"<param>: "`` (the whole message otherwise)."""
        text = str(self)
        prefix = f"{self.param}: "
        return text[len(prefix):] if self.param and text.startswith(prefix) else text

    def renamed(self, name: str) -> str:
        """The message with its parameter shown as ``name`` (e.g. a CLI flag)."""
        return f"{name}: {self.detail}" if self.param else str(self)


def bad_argument(name: str, value: object, expected: str, hint: str = "") -> AdvlabError:
    """Build a uniform error: ``name: got 'value'; expected ...``, with ``param=name``.

    Args:
        name: the Python parameter (``"eps"``, ``"n_train"``), not a CLI flag.

    Example:
        >>> raise bad_argument("eps", -1.0, "a number >= 0")
    """
    msg = f"{name}: got {value!r}; expected {expected}"
    if hint:
        msg += f" ({hint})"
    return AdvlabError(msg, param=name)
