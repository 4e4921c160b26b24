"""User-facing errors.

Every mistake a user can make (a bad argument, a missing file, a corrupted artifact)
raises :class:`AdvlabError`. The CLI turns it into one line on stderr and exit code 2;
the Python API lets it propagate (it is a ``ValueError``).
"""

from __future__ import annotations


class AdvlabError(ValueError):
    """A user error: names the argument, the value received and what to do.

    Args:
        message: the whole sentence shown to the user.
    """


def bad_argument(name: str, value: object, expected: str, hint: str = "") -> AdvlabError:
    """Build a uniform error message: ``--name: got 'value'; expected ...``.

    Example:
        >>> raise bad_argument("eps", -1.0, "a number >= 0")
    """
    msg = f"{name}: got {value!r}; expected {expected}"
    if hint:
        msg += f" ({hint})"
    return AdvlabError(msg)
