"""Finding a dataset on disk and handing it to its adapter.

A dataset is found, in order, at an explicit per-dataset path, else under the
data root (`--data-root`, the config file, or `FSFER_DATA`) at one of the
adapter's canonical folder names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from fsfer_bench.data.dataset import FaceDataset
from fsfer_bench.errors import DataError
from fsfer_bench.registry import DatasetAdapter, LoadOptions, dataset_names, get_dataset


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
    """Load dataset `name` through its adapter, checking that the folder holds its layout."""
    adapter = get_dataset(name)
    options = options or LoadOptions()
    if not adapter.needs_files:
        return adapter.load(Path("."), options)
    folder = sources.folder_for(adapter)
    if adapter.looks_like is not None and not adapter.looks_like(folder):
        raise DataError(
            f"{folder} does not hold the {adapter.name} layout ({adapter.layout}){_looks_like_other(folder, adapter)}"
        )
    return adapter.load(folder, options)


def _looks_like_other(folder: Path, adapter: DatasetAdapter) -> str:
    for other in dataset_names():
        candidate = get_dataset(other)
        if candidate.name != adapter.name and candidate.looks_like is not None and candidate.needs_files:
            try:
                if candidate.looks_like(folder):
                    return f"; it looks like {candidate.name} ({candidate.layout})"
            except OSError:
                continue
    return ""
