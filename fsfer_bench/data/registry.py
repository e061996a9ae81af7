"""The data layer's own registry: dataset names -> the adapters that read their layouts.

The built-in adapters (`fsfer_bench.data.adapters`) register here when the registry is
first used, then the entry points of `DATASET_GROUP`, then `--plugin` modules
(`fsfer_bench.plugins`). The harness above re-exports `register_dataset` from
`fsfer_bench.registry`, so plugins written against either module work.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fsfer_bench.data.options import DatasetAdapter, LoadOptions
from fsfer_bench.plugins import Registry

if TYPE_CHECKING:
    from fsfer_bench.data.dataset import FaceDataset

DATASET_GROUP = "fsfer_bench.datasets"

Loader = Callable[[Path, LoadOptions], "FaceDataset"]


def _builtin_adapters() -> None:
    import fsfer_bench.data.adapters  # noqa: F401  (registers the built-in adapters)


def _loader_definition(adapter: DatasetAdapter) -> str:
    return f"{adapter.load.__module__}.{adapter.load.__qualname__}"


DATASETS: Registry[DatasetAdapter] = Registry(
    "dataset",
    DATASET_GROUP,
    builtins=_builtin_adapters,
    same=lambda a, b: _loader_definition(a) == _loader_definition(b),
    describe=_loader_definition,
)


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
    replace: bool = False,
) -> Callable[[Loader], Loader]:
    """Function decorator: register `load(root, options) -> FaceDataset` as dataset `name`.

    A name that is taken by another loader is refused unless `replace=True`.
    """

    def decorate(load: Loader) -> Loader:
        adapter = DatasetAdapter(
            name, folders or (name,), layout, source, load, looks_like, needs_files, scan, generic, database
        )
        DATASETS.register(name, adapter, replace=replace)
        return load

    return decorate


def dataset_names() -> list[str]:
    """Every registered dataset, sorted."""
    return sorted(DATASETS.names())


def get_dataset(name: str) -> DatasetAdapter:
    """The adapter registered as `name` (case-insensitive)."""
    return DATASETS.get(name)
