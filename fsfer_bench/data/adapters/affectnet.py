"""AffectNet (Mollahosseini et al. 2017): `training.csv`/`validation.csv` + the image folders.

Rows give `subDirectory_filePath`, the face box (`face_x, face_y, face_width,
face_height`) and `expression`; codes 0-7 are classes, 8-10 (none, uncertain,
no face) are left out. Images are cut to their face box, made square.
"""

from __future__ import annotations

from pathlib import Path

from fsfer_bench.data.adapters.api import (
    Item,
    Listing,
    Problem,
    coded_label,
    csv_header,
    iter_csv,
    listed_path,
    register_layout,
)
from fsfer_bench.data.images import Box, square_box
from fsfer_bench.data.options import LoadOptions
from fsfer_bench.data.vocabulary import sort_classes

VERSION = "1"
LABELS = {0: "neutral", 1: "happy", 2: "sad", 3: "surprised", 4: "fearful", 5: "disgusted", 6: "angry", 7: "contempt"}
NOT_EXPRESSIONS = {8, 9, 10}  # none, uncertain, no face
CSVS = ("training.csv", "validation.csv")
IMAGES = "Manually_Annotated_Images"
COLUMNS = ("subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "expression")


def label_files(folder: Path) -> list[Path]:
    return [folder / c for c in CSVS if "subdirectory_filepath" in csv_header(folder / c)]


@register_layout(
    "AffectNet",
    database="AffectNet",
    layout=f"{' and/or '.join(CSVS)} ({', '.join(COLUMNS)}, ...) + {IMAGES}/<sub>/<file>",
    source="http://mohammadmahoor.com/affectnet/, Mollahosseini, Hasani & Mahoor, by licence agreement",
    looks_like=lambda folder: bool(label_files(folder)),
)
def scan(folder: Path, options: LoadOptions) -> Listing:
    files = label_files(folder)
    images = IMAGES if (folder / IMAGES).is_dir() else ""
    listing = Listing("AffectNet", VERSION, folder, "wild", [], sort_classes(LABELS.values()), key_files=files)
    left_out = 0
    for path in files:
        for line, row in iter_csv(path, COLUMNS, listing.problems):
            where = f"{path.name}:{line}"
            if row["expression"].strip().isdigit() and int(row["expression"]) in NOT_EXPRESSIONS:
                left_out += 1
                continue
            label = coded_label(row["expression"], LABELS, where)
            box = _box(row, where)
            image = listed_path(folder, row["subdirectory_filepath"], where, images)
            problem = next((x for x in (image, label, box) if isinstance(x, Problem)), None)
            if problem is not None:
                listing.problems.append(problem)
                continue
            listing.items.append(Item(image, label, box=box))
    listing.notes["left_out_not_expressions"] = left_out
    return listing


def _box(row: dict[str, str], where: str) -> Box | Problem:
    try:
        x, y, w, h = (float(row[k]) for k in ("face_x", "face_y", "face_width", "face_height"))
    except ValueError:
        return Problem("garbled face box", where, "face_x/face_y/face_width/face_height are not numbers")
    if w <= 0 or h <= 0:
        return Problem("garbled face box", where, f"empty face box {w}x{h}")
    return square_box((x, y, w, h), 0, 0)
