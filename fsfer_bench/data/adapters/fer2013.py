"""FER2013 (Goodfellow et al. 2013): `fer2013.csv`, or the common image-folder export.

The CSV has columns `emotion,pixels,Usage`: a code 0-6 and a 48x48 greyscale
image as 2,304 space-separated values; the export is `train|test/<class>/*.jpg`.
The partition (Usage, or the export's top folder) stays visible in `files`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fsfer_bench.data.adapters.api import (
    Item,
    Listing,
    Problem,
    coded_label,
    csv_header,
    iter_csv,
    register_layout,
    subfolders,
)
from fsfer_bench.data.adapters.folder import has_class_folders, scan_class_folders
from fsfer_bench.data.options import LoadOptions
from fsfer_bench.data.vocabulary import sort_classes

VERSION = "1"
LABELS = {0: "angry", 1: "disgusted", 2: "fearful", 3: "happy", 4: "sad", 5: "surprised", 6: "neutral"}
#: Top folders of the image export; matched exactly, as SFEW's are `Train` and `Val`.
PARTITIONS = ("train", "val", "validation", "test")


def csv_file(folder: Path) -> Path | None:
    """`fer2013.csv`, else any CSV in `folder` with `emotion` and `pixels` columns (renamed copies)."""
    candidates = [folder / "fer2013.csv", *sorted(folder.glob("*.csv"))] if folder.is_dir() else []
    return next((c for c in candidates if {"emotion", "pixels"} <= set(csv_header(c))), None)


def partitions(folder: Path) -> list[Path]:
    return [p for p in subfolders(folder) if p.name in PARTITIONS and has_class_folders(p)]


@register_layout(
    "FER2013",
    database="FER2013",
    folders=("FER2013", "fer2013"),
    layout="fer2013.csv (emotion,pixels,Usage), or the image export train|test/<class>/*.jpg",
    source="https://www.kaggle.com/c/challenges-in-representation-learning-facial-expression-recognition-challenge",
    looks_like=lambda folder: csv_file(folder) is not None or bool(partitions(folder)),
)
def scan(folder: Path, options: LoadOptions) -> Listing:
    path = csv_file(folder)
    if path is None:
        return scan_class_folders(folder, options, name="FER2013", domain="wild", partitions=partitions(folder))
    listing = Listing("FER2013", VERSION, folder, "wild", [], sort_classes(LABELS.values()), key_files=[path])
    for line, row in iter_csv(path, ("emotion", "pixels"), listing.problems):
        where = f"{path.name}:{line}"
        label = coded_label(row["emotion"], LABELS, where)
        pixels = _pixels(row["pixels"], where)
        problem = next((x for x in (label, pixels) if isinstance(x, Problem)), None)
        if problem is not None:
            listing.problems.append(problem)
            continue
        name = f"{where}:{row['usage']}" if row.get("usage") else where
        listing.items.append(Item(folder / name, label, pixels=pixels))
    return listing


def _pixels(text: str, where: str) -> np.ndarray | Problem:
    """A square greyscale image from space-separated values, or a Problem."""
    try:
        values = np.fromstring(text, dtype=np.int16, sep=" ")
    except ValueError:
        return Problem("garbled pixels", where, "pixels hold something other than numbers")
    side = int(round(np.sqrt(len(values))))
    if side == 0 or side * side != len(values) or values.min() < 0 or values.max() > 255:
        return Problem("garbled pixels", where, f"{len(values)} pixel values, not a square image of 0..255")
    return values.astype(np.uint8).reshape(side, side)
