"""What every command shares: error handling, warnings, progress bars."""

from __future__ import annotations

import functools
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import click

from fsfer_bench.errors import FsferError, one_line, show_warning

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(command: F) -> F:
    """Turn harness errors into one line on stderr and exit code 2; never a traceback.

    An unexpected exception is reported as an internal error (exit 1); set
    FSFER_DEBUG=1 to see its traceback.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.showwarning = show_warning
            try:
                return command(*args, **kwargs)
            except FsferError as exc:
                click.echo(f"error: {one_line(str(exc))}", err=True)
                sys.exit(2)
            except BrokenPipeError:  # e.g. `fsfer-bench list splits | head`
                sys.stderr.close()
                sys.exit(0)
            except KeyboardInterrupt:
                click.echo("interrupted", err=True)
                sys.exit(130)
            except Exception as exc:
                if os.environ.get("FSFER_DEBUG"):
                    raise
                click.echo(
                    f"internal error: {type(exc).__name__}: {exc} (set FSFER_DEBUG=1 for the traceback)", err=True
                )
                sys.exit(1)

    return wrapper  # type: ignore[return-value]


PLUGIN_HELP = "Module that registers a method, dataset or split; imported after the built-ins. Repeatable."


def plugin_option(command: F) -> F:
    """`--plugin MODULE` (repeatable): import the modules, after the built-ins and entry points, then run.

    Put it below `friendly_errors`, so that a plugin that fails is one line, exit 2.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, plugins: tuple[str, ...] = (), **kwargs: Any) -> Any:
        from fsfer_bench.plugins import import_plugin_modules

        import_plugin_modules(plugins)
        return command(*args, **kwargs)

    return click.option("--plugin", "plugins", multiple=True, metavar="MODULE", help=PLUGIN_HELP)(wrapper)


T = TypeVar("T")


def progress_factory(quiet: bool) -> Callable[..., Iterable[T]]:
    """A `progress(iterable, desc=..., total=...)` callable for the library.

    tqdm bars go to stderr, and only when it is a terminal and --quiet is off,
    so logs and pipes stay clean.
    """
    enabled = not quiet and sys.stderr.isatty()

    def progress(iterable: Iterable[T], desc: str = "", total: int | None = None, **kwargs: Any) -> Iterator[T]:
        if not enabled:
            return iter(iterable)
        from tqdm.auto import tqdm

        return iter(tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True, **kwargs))

    return progress
