"""JAFFE (Lyons et al., FG 1998): a flat folder of `<subj>.<EXPR><n>.<id>.tiff`.

256x256 greyscale TIFFs, some of them palette images (decoding makes all RGB).
The subject is the first field (KA, KL, ...).
"""

from __future__ import annotations

import re
from pathlib import Path

from fsfer_bench.data.adapters.api import Item, Listing, Problem, image_files, register_layout
from fsfer_bench.data.options import LoadOptions
from fsfer_bench.data.vocabulary import sort_classes

VERSION = "1"
NAME = re.compile(r"^([A-Z]{2})\.([A-Z]{2})\d*\.\d+\.tiff?$", re.IGNORECASE)
CODES = {
    "AN": "angry",
    "DI": "disgusted",
    "FE": "fearful",
    "HA": "happy",
    "NE": "neutral",
    "SA": "sad",
    "SU": "surprised",
}


def looks_like(folder: Path) -> bool:
    return any(NAME.match(p.name) for p in image_files(folder))


@register_layout(
    "JAFFE",
    database="JAFFE",
    layout="a flat folder of <subj>.<EXPR><n>.<id>.tiff, EXPR in AN DI FE HA NE SA SU",
    source="https://zenodo.org/record/3451524, Lyons, Kamachi & Gyoba, for research use by request",
    looks_like=looks_like,
)
def scan(folder: Path, options: LoadOptions) -> Listing:
    listing = Listing("JAFFE", VERSION, folder, "lab", items=[], classes=sort_classes(CODES.values()))
    for path in image_files(folder):
        match = NAME.match(path.name)
        code = match.group(2).upper() if match else ""
        if code not in CODES:
            listing.problems.append(Problem("unexpected file name", path.name, "not <subj>.<EXPR><n>.<id>.tiff"))
            continue
        listing.items.append(Item(path, CODES[code], match.group(1).upper()))
    return listing
