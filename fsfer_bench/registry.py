"""Name -> thing registries for methods and datasets, filled by decorators and entry points.

The harness never imports `baselines` or `egsnet`: they, like any outside
package, declare entry points in the groups below, and are imported only when
a name is looked up or listed. Splits have a registry of their own
(`fsfer_bench.splits`), filled the same way from `SPLIT_GROUP`.

A broken plugin must not break the harness: each entry point is imported on its
own, and one that fails is skipped with a one-line warning. Its error is kept,
and raised only when a name it may have provided is asked for and is missing.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from fsfer_bench.data.options import DatasetAdapter, LoadOptions
from fsfer_bench.errors import ConfigError, FsferWarning, unknown_name

if TYPE_CHECKING:
    from fsfer_bench.data.dataset import FaceDataset
    from fsfer_bench.methods import FewShotMethod

METHOD_GROUP = "fsfer_bench.methods"
DATASET_GROUP = "fsfer_bench.datasets"
SPLIT_GROUP = "fsfer_bench.splits"

_methods: dict[str, type[FewShotMethod]] = {}
_datasets: dict[str, DatasetAdapter] = {}
_loaded_groups: set[str] = set()
_loading_groups: set[str] = set()
_broken: dict[str, dict[str, str]] = {}  # group -> plugin name -> why it failed to import

M = TypeVar("M")


def _definition(cls: object) -> str:
    return f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', cls)}"


def register_method(name: str, *, replace: bool = False) -> Callable[[M], M]:
    """Class decorator: make a FewShotMethod subclass available as `--method name`.

    A name that is taken is refused unless `replace=True`, so that two plugins cannot
    silently shadow each other. Re-running the same class definition (a module imported
    again) is not a clash.
    """

    def decorate(cls: M) -> M:
        taken = _methods.get(name)
        if taken is not None and not replace and _definition(taken) != _definition(cls):
            raise ConfigError(
                f"method name '{name}' is already registered by {_definition(taken)}; "
                f"choose another name for {_definition(cls)}, or pass replace=True to register_method"
            )
        cls.name = name  # type: ignore[attr-defined]
        _methods[name] = cls  # type: ignore[assignment]
        return cls

    return decorate


def register_dataset(
    name: str,
    *,
    folders: tuple[str, ...] | None = None,
    layout: str,
    source: str,
    looks_like: Callable[[Path], bool] | None = None,
    needs_files: bool = True,
    scan: Callable[[Path, LoadOptions], Any] | None = None,
    generic: bool = False,
    database: str | None = None,
) -> Callable[[Callable[[Path, LoadOptions], FaceDataset]], Callable[[Path, LoadOptions], FaceDataset]]:
    """Function decorator: register `load(root, options) -> FaceDataset` under `name`."""

    def decorate(load: Callable[[Path, LoadOptions], FaceDataset]) -> Callable[[Path, LoadOptions], FaceDataset]:
        _datasets[name] = DatasetAdapter(
            name, folders or (name,), layout, source, load, looks_like, needs_files, scan, generic, database
        )
        return load

    return decorate


def load_plugins(group: str, adopt: Callable[[str, Any], None] | None = None) -> None:
    """Import each entry point of `group` once; `adopt(name, obj)` registers what it points at, if needed.

    A plugin that fails to import is skipped with a warning and remembered (see
    `plugin_failures`). The group counts as loaded only once every entry point was
    tried; a lookup made while its plugins are importing sees what is registered so far.
    """
    if group in _loaded_groups or group in _loading_groups:
        return
    _loading_groups.add(group)
    try:
        for ep in entry_points(group=group):
            try:
                obj: Any = ep.load()
            except Exception as exc:  # a broken plugin must not break the other plugins, nor the harness
                reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
                _broken.setdefault(group, {})[ep.name] = f"plugin '{ep.name}' ({ep.value}) failed to import: {reason}"
                warnings.warn(f"{_broken[group][ep.name]}; skipped", FsferWarning, stacklevel=2)
                continue
            if adopt is not None:
                adopt(ep.name, obj)
        _loaded_groups.add(group)
    finally:
        _loading_groups.discard(group)


def plugin_failures(group: str) -> dict[str, str]:
    """The plugins of `group` that failed to import, each with its one-line reason."""
    return dict(_broken.get(group, {}))


def missing_name(kind: str, name: str, choices: list[str], group: str) -> ConfigError:
    """The error for a name not registered: names the broken plugins of the group, which may have provided it."""
    failures = plugin_failures(group)
    if not failures:
        return unknown_name(kind, name, choices)
    own = failures.get(name)
    if own is not None:
        return ConfigError(f"{kind} '{name}' is unavailable: its {own}; fix or uninstall the plugin")
    return ConfigError(
        f"unknown {kind} '{name}'; it may come from a plugin that failed to import: {'; '.join(failures.values())}"
        "; fix or uninstall the plugin"
    )


def _adopt_method(name: str, obj: Any) -> None:
    # An entry point may name a class directly (its name is then the method's) or a module
    # whose import registers its methods through the decorator.
    if isinstance(obj, type) and name not in _methods:
        register_method(name)(obj)


def _builtin_datasets() -> None:
    import fsfer_bench.data.adapters  # noqa: F401  (registers the built-in adapters)


def method_names() -> list[str]:
    load_plugins(METHOD_GROUP, _adopt_method)
    return sorted(_methods)


def get_method(name: str) -> type[FewShotMethod]:
    load_plugins(METHOD_GROUP, _adopt_method)
    if name not in _methods:
        raise missing_name("method", name, list(_methods), METHOD_GROUP)
    return _methods[name]


def dataset_names() -> list[str]:
    _builtin_datasets()
    load_plugins(DATASET_GROUP)
    return sorted(_datasets)


def get_dataset(name: str) -> DatasetAdapter:
    _builtin_datasets()
    load_plugins(DATASET_GROUP)
    by_lower = {n.lower(): n for n in _datasets}
    if name.lower() not in by_lower:
        raise missing_name("dataset", name, list(_datasets), DATASET_GROUP)
    return _datasets[by_lower[name.lower()]]
