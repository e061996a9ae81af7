"""One loader for every name a plugin can add: methods, datasets and splits.

A `Registry` maps names to things of one kind. Its names come, in this order, from
the harness's own built-ins, from entry points (the built-in `baselines` and `egsnet`
packages first, then outside packages), and last from `--plugin` modules. Before any
name is registered or looked up, the registry loads its built-ins and entry points, so
a plugin can add names but never silently take one: a taken name is refused with one
line naming the plugin and the name, unless the plugin passes `replace=True`, which is
then reported once.

A broken entry point must not break the harness: each is imported on its own, and one
that fails is skipped with a one-line warning. Its error is kept, and raised only when a
name it may have provided is asked for. A `--plugin` module the user named on the
command line is different: if it fails, the command stops with one line naming it.

This module sits at the bottom of the package, beside `errors.py`: it imports nothing
else from the harness, so the data layer and the method registry can both use it.
"""

from __future__ import annotations

import importlib
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from fsfer_bench.errors import ConfigError, FsferWarning, unknown_name

T = TypeVar("T")

#: Names become folder names in the results store: letters, digits and `_ - + .`, no '..'.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+\-]{0,63}")
#: The packages whose entry points are the harness's own: they load before any outside package's.
BUILTIN_PACKAGES = frozenset({"fsfer_bench", "baselines", "egsnet"})

_importing: list[str] = []  # the plugins being imported now, innermost last: who gets the blame
_registries: list[Registry[Any]] = []


def check_name(kind: str, name: object) -> str:
    """`name` if it is safe as a registered name (and so as a folder name), else a ConfigError."""
    if isinstance(name, str) and NAME_PATTERN.fullmatch(name) and ".." not in name:
        return name
    raise ConfigError(
        f"{kind} name {name!r} is not allowed: use 1-64 letters, digits, '_', '-', '+' or '.', "
        "starting with a letter or digit, without '..'"
    )


def _definition(obj: object) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__qualname__)}"


@dataclass
class Registry(Generic[T]):
    """Names -> things of one `kind`, filled by `builtins()`, the entry points of `group`, and plugins.

    `same(a, b)` says whether a second registration of a name is the first one again (a module
    imported twice) rather than a clash; `describe(thing)` names where a thing is defined.
    `adopt(name, obj)` registers what an entry point points at, when it is not a module that
    registers its names itself.
    """

    kind: str
    group: str
    builtins: Callable[[], None] = lambda: None
    adopt: Callable[[str, Any], None] | None = None
    same: Callable[[T, T], bool] = lambda a, b: _definition(a) == _definition(b)
    describe: Callable[[T], str] = _definition
    _entries: dict[str, T] = field(default_factory=dict)
    _loaded: bool = False
    _loading: bool = False
    _broken: dict[str, str] = field(default_factory=dict)  # entry point name -> why it failed to import
    _replaced: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        _registries.append(self)

    def register(self, name: str, thing: T, *, replace: bool = False) -> T:
        """Add `thing` as `name`; a name taken by something else is refused unless `replace=True`."""
        check_name(self.kind, name)
        builtin = self._is_builtin(thing)
        if not builtin:  # a built-in registering itself must not pull in outside plugins half-way through
            self.load()
        taken_as = self._key(name)
        taken = self._entries.get(taken_as) if taken_as is not None else None
        if taken is not None and not self.same(taken, thing):
            if builtin and not self._is_builtin(taken):
                # An outside plugin took the name first (it loaded while the built-ins were still
                # importing, e.g. after an adapter module was imported directly): the built-in keeps it.
                self._refuse_late_plugin(name, taken, thing)
            elif not replace:
                raise ConfigError(
                    f"{self.kind} name '{name}' is taken by {self.describe(taken)}; choose another name "
                    f"for {self.describe(thing)}, or pass replace=True to register_{self.kind}"
                )
            self._report_replacement(name, taken, thing)
        if taken_as is not None:
            del self._entries[taken_as]
        self._entries[name] = thing
        return thing

    def names(self) -> list[str]:
        """Every registered name, in the order registered (built-ins first)."""
        self.load()
        return list(self._entries)

    def get(self, name: str) -> T:
        """The thing registered as `name` (case-insensitive); a one-line error naming broken plugins if none."""
        self.load()
        key = self._key(name)
        if key is None:
            raise self.missing(name)
        return self._entries[key]

    def failures(self) -> dict[str, str]:
        """The entry points of this registry's group that failed to import, each with its one-line reason."""
        return dict(self._broken)

    def missing(self, name: str) -> ConfigError:
        """The error for a name not registered: names the broken plugins of the group, which may have provided it."""
        if not self._broken:
            return unknown_name(self.kind, name, list(self._entries))
        own = self._broken.get(name)
        if own is not None:
            return ConfigError(f"{self.kind} '{name}' is unavailable: its {own}; fix or uninstall the plugin")
        return ConfigError(
            f"unknown {self.kind} '{name}'; it may come from a plugin that failed to import: "
            f"{'; '.join(self._broken.values())}; fix or uninstall the plugin"
        )

    def load(self) -> None:
        """Load the built-ins, then each entry point once (the harness's own first).

        The registry counts as loaded only once every entry point was tried; a lookup made
        while its plugins are importing sees what is registered so far.
        """
        if self._loaded or self._loading:
            return
        self._loading = True
        try:
            self.builtins()
            for ep in sorted(entry_points(group=self.group), key=lambda ep: not _is_builtin(ep.value)):
                self._load_entry_point(ep)
            self._loaded = True
        finally:
            self._loading = False

    def _load_entry_point(self, ep: Any) -> None:
        try:
            with _blaming(ep.name):
                obj: Any = ep.load()
                if self.adopt is not None:
                    self.adopt(ep.name, obj)
        except Exception as exc:  # a broken plugin must not break the other plugins, nor the harness
            self._broken[ep.name] = f"plugin '{ep.name}' ({ep.value}) failed to import: {_reason(exc)}"
            warnings.warn(f"{self._broken[ep.name]}; skipped", FsferWarning, stacklevel=4)

    def _is_builtin(self, thing: T) -> bool:
        return self.describe(thing).split(".")[0] in BUILTIN_PACKAGES

    def _refuse_late_plugin(self, name: str, taken: T, thing: T) -> None:
        who = self.describe(taken)
        warnings.warn(
            f"{self.kind} name '{name}' belongs to {self.describe(thing)}; {who} may not take it "
            "(choose another name in the plugin)",
            FsferWarning,
            stacklevel=4,
        )

    def _key(self, name: str) -> str | None:
        if name in self._entries:
            return name
        by_lower = {n.lower(): n for n in self._entries}
        return by_lower.get(name.lower())

    def _report_replacement(self, name: str, taken: T, thing: T) -> None:
        if name in self._replaced:
            return
        self._replaced.add(name)
        who = f"plugin '{_importing[-1]}'" if _importing else self.describe(thing)
        warnings.warn(
            f"{who} replaces {self.kind} '{name}' ({self.describe(taken)}) with {self.describe(thing)}",
            FsferWarning,
            stacklevel=4,
        )

    def _state(self) -> tuple[Any, ...]:
        return dict(self._entries), self._loaded, dict(self._broken), set(self._replaced)

    def _restore(self, state: tuple[Any, ...]) -> None:
        entries, self._loaded, broken, replaced = state
        self._entries, self._broken, self._replaced = dict(entries), dict(broken), set(replaced)


def _is_builtin(target: str) -> bool:
    return target.split(":")[0].split(".")[0] in BUILTIN_PACKAGES


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


@contextmanager
def _blaming(plugin: str) -> Iterator[None]:
    _importing.append(plugin)
    try:
        yield
    finally:
        _importing.pop()


def import_plugin_modules(modules: Iterable[str]) -> None:
    """Import the `--plugin` modules, in order, after every registry's built-ins and entry points.

    A module that is missing, raises or does not compile stops the command with one line naming
    it; so does one that registers a name already taken.
    """
    modules = check_plugin_modules(modules)
    for registry in list(_registries):
        registry.load()
    for name in modules:
        _import_plugin_module(name)


def check_plugin_modules(modules: Iterable[str]) -> tuple[str, ...]:
    """`modules` as given, refusing an empty name (`--plugin ''`) before anything runs."""
    modules = tuple(modules)
    if any(not name.strip() for name in modules):
        raise ConfigError("--plugin '' names no module; give a module name, e.g. --plugin my_methods")
    return modules


def _import_plugin_module(name: str) -> None:
    try:
        with _blaming(name):
            importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(f"{exc.name}.")):
            raise ConfigError(f"plugin module '{name}' not found ({exc}); put its folder on PYTHONPATH") from exc
        raise ConfigError(f"plugin '{name}' failed to import: {_reason(exc)}; fix the plugin or leave it out") from exc
    except Exception as exc:
        raise ConfigError(f"plugin '{name}' failed to import: {_reason(exc)}; fix the plugin or leave it out") from exc


@contextmanager
def scratch_registries() -> Iterator[None]:
    """Every registration made inside is undone at exit, and entry points are looked up afresh inside.

    For tests (and embedding code) that install entry points or plugins of their own: what
    is registered already stays visible, nothing leaks out.
    """
    for registry in list(_registries):
        registry.load()  # a module imported inside would not register again after the restore
    saved = [(registry, registry._state()) for registry in _registries]
    try:
        for registry, _ in saved:
            registry._loaded, registry._broken = False, {}
        yield
    finally:
        for registry, state in saved:
            registry._restore(state)
