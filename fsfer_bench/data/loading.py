"""Finding a dataset on disk and handing it to its adapter.

A dataset is found, in order, at an explicit per-dataset path, else under the
data root (`--data-root`, the config file, or `FSFER_DATA`) at one of the
adapter's canonical folder names.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from fsfer_bench.data.dataset import FaceDataset
from fsfer_bench.data.options import DatasetAdapter, LoadOptions
from fsfer_bench.data.registry import dataset_names, get_dataset
from fsfer_bench.errors import DataError, FsferWarning


@dataclass(frozen=True)
class DataSources:
    """Where datasets live. `paths` maps a dataset name to its own folder."""

    root: Path | None = None
    paths: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, root: str | Path | None, paths: dict[str, str] | None = None) -> DataSources:
        root = root or os.environ.get("FSFER_DATA")
        return cls(Path(root).expanduser() if root else None, dict(paths or {}))

    def folder_for(self, adapter: DatasetAdapter) -> Path:
        if adapter.name in self.paths:
            folder = Path(self.paths[adapter.name]).expanduser()
            if not folder.exists():
                raise DataError(f"{adapter.name}: the path given for it, {folder}, does not exist")
            return folder
        if self.root is not None and not self.root.is_dir():
            state = "is not a folder" if self.root.exists() else "does not exist"
            raise DataError(
                f"the data root {self.root} (from --data-root, the config's [data] root or FSFER_DATA) {state}; "
                "point it at the folder that holds the dataset folders (CFEE/, CKplus48/, ...)"
            )
        candidates = [self.root / f for f in adapter.folders] if self.root else []
        for folder in candidates:
            if folder.is_dir():
                return folder
        where = f"{self.root}/{adapter.folders[0]}" if self.root else f"<data root>/{adapter.folders[0]}"
        hint = "" if self.root else "; no data root is set: use --data-root or FSFER_DATA"
        raise DataError(
            f"dataset {adapter.name} not found: expected {where} holding {adapter.layout} "
            f"(request it from {adapter.source}){hint}"
        )


def load_dataset(name: str, sources: DataSources, options: LoadOptions | None = None) -> FaceDataset:
    """Load dataset `name` through its adapter, checking that the folder holds its layout.

    A name no adapter has, given a path of its own (`--data-path NAME=PATH`), is
    read by whichever layout its folder holds, so new datasets need no code.
    """
    options = options or LoadOptions()
    adapter, folder = locate(name, sources)
    if folder is None:
        return adapter.load(Path("."), options)
    dataset = adapter.load(folder, options)
    _warn_face_fallbacks(dataset)
    if adapter.name.lower() == name.lower():
        return dataset
    return replace(dataset, name=name, sources=np.full(len(dataset), name))  # an unknown dataset, by its own name


def _warn_face_fallbacks(dataset: FaceDataset) -> None:
    """One line for `--face-align` images without a face (the record's notes hold the count too, unseen)."""
    fallbacks = int(dataset.notes.get("face_align_fallbacks") or 0)
    if fallbacks:
        warnings.warn(
            f"--face-align: no face found in {fallbacks} of {len(dataset)} images of {dataset.name} "
            f"({fallbacks / len(dataset):.0%}); those are centre-cropped, not aligned",
            FsferWarning,
            stacklevel=3,
        )


def locate(name: str, sources: DataSources) -> tuple[DatasetAdapter, Path | None]:
    """The adapter for `name` and the folder it reads (None for datasets without files).

    Raises a DataError naming the expected folder and layout when the dataset
    is missing, or the layout the folder seems to hold when it is another.
    """
    registered = name.lower() in {n.lower() for n in dataset_names()}
    if not registered and name in sources.paths:
        folder = Path(sources.paths[name]).expanduser()
        if not folder.is_dir():
            raise DataError(f"{name}: the path given for it, {folder}, is not a folder")
        adapter = detect_layout(folder)
        if adapter is None:
            layouts = "; ".join(f"{n}: {get_dataset(n).layout}" for n in _file_datasets())
            raise DataError(f"{folder} (given for {name}) holds no layout that fsfer-bench reads (layouts: {layouts})")
        return adapter, folder
    adapter = get_dataset(name)
    if not adapter.needs_files:
        return adapter, None
    folder = sources.folder_for(adapter)
    if adapter.looks_like is not None and not adapter.looks_like(folder):
        raise DataError(
            f"{folder} does not hold the {adapter.name} layout ({adapter.layout}){_looks_like_other(folder, adapter)}"
        )
    return adapter, folder


def detect_layout(folder: Path, *, generic: bool = True) -> DatasetAdapter | None:
    """The adapter whose layout `folder` holds: a dataset-specific one first, else (with
    `generic`) the generic manifest or class-folder reader."""
    for name in _file_datasets():
        adapter = get_dataset(name)
        if not adapter.generic and _matches(adapter, folder):
            return adapter
    if generic:
        for name in GENERIC_READERS:
            if name in dataset_names() and _matches(get_dataset(name), folder):
                return get_dataset(name)
    return None


#: The generic readers an unknown dataset falls back to, in order.
GENERIC_READERS = ("manifest", "folder")


def _file_datasets() -> list[str]:
    return [n for n in dataset_names() if get_dataset(n).needs_files and get_dataset(n).looks_like is not None]


def _matches(adapter: DatasetAdapter, folder: Path) -> bool:
    try:
        return bool(adapter.looks_like(folder))  # type: ignore[misc]
    except OSError:
        return False


def _looks_like_other(folder: Path, adapter: DatasetAdapter) -> str:
    other = detect_layout(folder)
    if other is None or other.name == adapter.name:
        return ""
    if other.generic:
        return f"; it holds a generic layout ({other.layout})"
    return f"; it looks like {other.name} ({other.layout})"
