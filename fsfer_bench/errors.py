"""The harness's exception types.

Nothing below the CLI prints or exits: it raises one of these, and the CLI turns
it into a one-line message and exit code 2. Each message names the problem and,
where there is one, the fix.
"""

from __future__ import annotations

import sys
from typing import Any


class FsferError(Exception):
    """Base class: a user-facing problem with a one-line explanation."""


class ConfigError(FsferError):
    """A malformed flag, config file or option value."""


class UnknownNameError(ConfigError):
    """An unknown method, split, dataset, backbone, class or domain name."""


class DataError(FsferError):
    """A dataset that is missing, unreadable, or shaped unlike its layout."""


class EpisodeError(FsferError):
    """Episodes that cannot be sampled from a pool (too few classes or images)."""


class TrainingError(FsferError):
    """Training that cannot go on, such as a NaN loss."""


class StoreError(FsferError):
    """A results store that cannot be written or read."""


class MethodOutputError(FsferError):
    """A method answered an episode with something that is not logits (wrong shape or type, NaN, inf)."""


class FsferWarning(UserWarning):
    """A problem worth telling the user about that does not stop the run."""


def closest(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """A '; did you mean X?' hint for a misspelt name, or '' if nothing is close."""
    import difflib

    by_lower = {c.lower(): c for c in choices}
    match = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.5)
    return f"; did you mean '{by_lower[match[0]]}'?" if match else ""


def unknown_name(kind: str, name: str, choices: list[str] | tuple[str, ...]) -> UnknownNameError:
    """The standard error for an unknown name: lists the valid ones, suggests the closest."""
    valid = ", ".join(sorted(choices)) or "(none registered)"
    return UnknownNameError(f"unknown {kind} '{name}'{closest(name, choices)} (valid: {valid})")


def one_line(text: str) -> str:
    """`text` on one line, with a file name that is not UTF-8 escaped (it would crash the write)."""
    return " ".join(text.splitlines()).encode("utf-8", "backslashreplace").decode("utf-8")


def show_warning(message: Warning | str, category: type[Warning], *_args: Any, **_kwargs: Any) -> None:
    """A `warnings.showwarning` that prints `warning: <message>` as one line on stderr.

    Python's default adds the file, line number and source line of the `warn` call: noise to a
    user. The CLI installs this in its process and every sweep worker installs it in its own.
    """
    sys.stderr.write(f"warning: {one_line(str(message))}\n")
    sys.stderr.flush()
