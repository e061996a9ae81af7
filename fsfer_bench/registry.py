"""Name -> thing registries for methods and datasets, filled by decorators and entry points.

The harness never imports `baselines` or `egsnet`: they, like any outside
package, declare entry points in the groups below, and are imported only when
a name is looked up or listed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from fsfer_bench.errors import ConfigError, unknown_name

if TYPE_CHECKING:
    from fsfer_bench.data.dataset import FaceDataset
    from fsfer_bench.methods import FewShotMethod

METHOD_GROUP = "fsfer_bench.methods"
DATASET_GROUP = "fsfer_bench.datasets"

_methods: dict[str, type[FewShotMethod]] = {}
_datasets: dict[str, DatasetAdapter] = {}
_loaded_groups: set[str] = set()

M = TypeVar("M")


def register_method(name: str) -> Callable[[M], M]:
    """Class decorator: make a FewShotMethod subclass available as `--method name`."""

    def decorate(cls: M) -> M:
        cls.name = name  # type: ignore[attr-defined]
        _methods[name] = cls  # type: ignore[assignment]
        return cls

    return decorate


@dataclass(frozen=True)
class LoadOptions:
    """What an adapter needs besides the folder: how to decode and label images."""

    image_size: int = 64
    face_align: bool = False
    strict: bool = False
    label_map: dict[str, str] | None = None
    align_margin: float = 0.4
    peak_frames: int = 3  # sequence datasets (CK+ native): the last frames of a sequence show its expression
    first_frame_neutral: bool = False  # ... and its first frame may serve as a neutral example


@dataclass(frozen=True)
class DatasetAdapter:
    """A reader for one native layout. `looks_like` recognises the layout on disk."""

    name: str
    folders: tuple[str, ...]  # folder names tried under the data root, first found wins
    layout: str
    source: str
    load: Callable[[Path, LoadOptions], FaceDataset]
    looks_like: Callable[[Path], bool] | None = None
    needs_files: bool = True
    # what the adapter would load, file by file, without decoding (an adapters._common.Listing);
    # `data check` reads it
    scan: Callable[[Path, LoadOptions], Any] | None = None
    generic: bool = False  # a catch-all layout (class folders, manifest): tried after the specific ones
    # the database the images come from (RAF-DB basic and compound are one); None: the dataset's own name
    database: str | None = None


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


def _load_entry_points(group: str) -> None:
    if group in _loaded_groups:
        return
    _loaded_groups.add(group)
    for ep in entry_points(group=group):
        try:
            obj: Any = ep.load()
        except Exception as exc:  # a broken plugin must not break the harness
            raise ConfigError(f"plugin '{ep.name}' ({ep.value}) in {group} failed to import: {exc}") from exc
        if group == METHOD_GROUP and isinstance(obj, type) and ep.name not in _methods:
            register_method(ep.name)(obj)


def _builtin_datasets() -> None:
    import fsfer_bench.data.adapters  # noqa: F401  (registers the built-in adapters)


def method_names() -> list[str]:
    _load_entry_points(METHOD_GROUP)
    return sorted(_methods)


def get_method(name: str) -> type[FewShotMethod]:
    _load_entry_points(METHOD_GROUP)
    if name not in _methods:
        raise unknown_name("method", name, list(_methods))
    return _methods[name]


def dataset_names() -> list[str]:
    _builtin_datasets()
    _load_entry_points(DATASET_GROUP)
    return sorted(_datasets)


def get_dataset(name: str) -> DatasetAdapter:
    _builtin_datasets()
    _load_entry_points(DATASET_GROUP)
    by_lower = {n.lower(): n for n in _datasets}
    if name.lower() not in by_lower:
        raise unknown_name("dataset", name, list(_datasets))
    return _datasets[by_lower[name.lower()]]
