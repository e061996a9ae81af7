"""The public door for adapter writers: everything a new native layout needs, in one import.

An adapter is two small functions registered with `register_layout`:
`looks_like(folder) -> bool`, which recognises the layout, and
`scan(folder, options) -> Listing`, which lists the images with their labels
(and subjects, where the dataset has them) without decoding anything. The
harness does the rest the same way for every adapter: it screens each listed
file (inside the folder, a regular file, bounded size), decodes once into the
image cache, and `data check` reads the same listing. A file's identity is its
path relative to the dataset folder (`Listing.file`), wherever the folder lives.

    from fsfer_bench.data.adapters.api import Item, Listing, read_csv, listed_path, register_layout

docs/datasets.md ("Writing an adapter") walks through a complete one. Datasets
made in memory, with no files (SynFACS), register a loader with
`register_dataset` instead. The helpers' homes, by job: `listing` (what a scan
returns, and screening), `reading` (folders and label files), `building` (from a
listing to a cached `FaceDataset`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from fsfer_bench.data.adapters.building import load_listing
from fsfer_bench.data.adapters.listing import Item, Listing, Problem, listed_path, screen_listing
from fsfer_bench.data.adapters.reading import (
    IMAGE_EXTENSIONS,
    MANIFEST,
    any_image,
    claimed_by_specific,
    coded_label,
    csv_header,
    image_files,
    iter_csv,
    named_label,
    read_csv,
    read_text,
    subfolders,
)
from fsfer_bench.data.dataset import UNKNOWN_SUBJECT, FaceDataset, make_dataset
from fsfer_bench.data.images import Box, square_box
from fsfer_bench.data.options import LoadOptions

# The one place the data layer takes dataset registration from (moving it changes this line only).
from fsfer_bench.data.registry import dataset_names, get_dataset, register_dataset
from fsfer_bench.data.vocabulary import canonical, sort_classes

__all__ = [
    "IMAGE_EXTENSIONS", "MANIFEST", "UNKNOWN_SUBJECT", "Box", "FaceDataset", "Item", "Listing", "LoadOptions",
    "Problem", "any_image", "canonical", "claimed_by_specific", "coded_label", "csv_header", "dataset_names",
    "get_dataset", "image_files", "iter_csv", "listed_path", "make_dataset", "named_label", "read_csv", "read_text",
    "register_dataset", "register_layout", "sort_classes", "square_box", "subfolders",
]  # fmt: skip


def register_layout(
    name: str,
    *,
    layout: str,
    source: str,
    looks_like: Callable[[Path], bool],
    folders: tuple[str, ...] | None = None,
    generic: bool = False,
    database: str | None = None,
    replace: bool = False,
) -> Callable[[Callable[[Path, LoadOptions], Listing]], Callable[[Path, LoadOptions], Listing]]:
    """Register `scan(folder, options) -> Listing` as dataset `name`, loading through `load_listing`.

    A name taken by another adapter is refused unless `replace=True` (reported once).
    """

    def decorate(scan: Callable[[Path, LoadOptions], Listing]) -> Callable[[Path, LoadOptions], Listing]:
        def screened(folder: Path, options: LoadOptions) -> Listing:
            return screen_listing(scan(folder, options))

        @functools.wraps(scan)  # the adapter is known by its own scan function, not by this wrapper
        def load(folder: Path, options: LoadOptions) -> FaceDataset:
            return load_listing(screened(folder, options), options)

        register_dataset(
            name,
            folders=folders,
            layout=layout,
            source=source,
            looks_like=looks_like,
            scan=screened,
            generic=generic,
            database=database,
            replace=replace,
        )(load)
        return scan

    return decorate
