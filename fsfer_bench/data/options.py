"""The data layer's two small types: how to load a dataset, and the adapter that loads it.

They live here, not in the registry, because they describe data: adapters, the loader and
`data check` use them; the registry only stores adapters by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fsfer_bench.data.dataset import FaceDataset


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
    # what the adapter would load, file by file, without decoding (an adapters.listing.Listing);
    # `data check` reads it
    scan: Callable[[Path, LoadOptions], Any] | None = None
    generic: bool = False  # a catch-all layout (class folders, manifest): tried after the specific ones
    # the database the images come from (RAF-DB basic and compound are one); None: the dataset's own name
    database: str | None = None
