"""CFEE (Du, Tao & Martinez, PNAS 2014): `images/NNNN.jpg` + `label.csv`.

`label.csv` has columns `Index, identity, emotion_idx, emotion_cat, type`;
`emotion_idx` (1-22) is the label, `identity` the subject. The images are whole
320x240 frames, so without `--face-align` each is cut to `FACE_CROP`.
"""

from __future__ import annotations

from pathlib import Path

from fsfer_bench.data.adapters.api import (
    Item,
    Listing,
    Problem,
    coded_label,
    listed_path,
    read_csv,
    register_layout,
)
from fsfer_bench.data.options import LoadOptions
from fsfer_bench.data.vocabulary import canonical, sort_classes
from fsfer_bench.errors import DataError

VERSION = "1"
LABELS = {
    1: "neutral",
    2: "happy",
    3: "sad",
    4: "angry",
    5: "surprised",
    6: "disgusted",
    7: "fearful",
    8: "happily_surprised",
    9: "happily_disgusted",
    10: "sadly_angry",
    11: "angrily_disgusted",
    12: "appalled",
    13: "hatred",
    14: "angrily_surprised",
    15: "sadly_surprised",
    16: "disgustedly_surprised",
    17: "fearfully_surprised",
    18: "awed",
    19: "sadly_fearful",
    20: "fearfully_disgusted",
    21: "fearfully_angry",
    22: "sadly_disgusted",
}
#: The default face crop, in fractions of the frame: a 200 px square centred at (176, 132) of
#: 320x240. It holds all 68 dlib landmarks of 99.6% of the shared CFEE images (the faces sit
#: right of centre and vary by about +-35 px); --face-align gives tighter, aligned crops.
FACE_CROP = (76 / 320, 32 / 240, 200 / 320, 200 / 240)


def looks_like(folder: Path) -> bool:
    """`label.csv` beside `images/`. Its columns, and that it is a regular file, are checked by the scan
    (which names what is wrong), not here, where a failure could only say "not CFEE"."""
    return (folder / "label.csv").exists() and (folder / "images").is_dir()


@register_layout(
    "CFEE",
    database="CFEE",
    layout="images/NNNN.jpg + label.csv (Index, identity, emotion_idx, emotion_cat, type)",
    source="Aleix Martinez's lab at The Ohio State University, https://cbcsl.ece.ohio-state.edu, by licence "
    "agreement; Du, Tao & Martinez, PNAS 2014",
    looks_like=looks_like,
)
def scan(folder: Path, options: LoadOptions) -> Listing:
    listing = Listing("CFEE", VERSION, folder, "lab", items=[], classes=sort_classes(LABELS.values()))
    for line, row in read_csv(folder / "label.csv", ("Index", "identity", "emotion_idx"), listing.problems):
        where = f"label.csv:{line}"
        label = coded_label(row["emotion_idx"], LABELS, where)
        if isinstance(label, str) and not _agrees(row.get("emotion_cat", ""), label):
            label = Problem("conflicting label columns", where, f"emotion_cat '{row['emotion_cat']}' is not {label}")
        if isinstance(label, Problem):
            listing.problems.append(label)
            continue
        if not row["index"] or not row["identity"]:
            listing.problems.append(Problem("garbled line", where, "empty Index or identity"))
            continue
        path = listed_path(folder, _image(folder, row["index"]), where, "images")
        if isinstance(path, Problem):
            listing.problems.append(path)
            continue
        listing.items.append(Item(path, label, row["identity"], FACE_CROP, relative=True))
    return listing


def _image(folder: Path, index: str) -> str:
    """The image of `index`, relative to `images/` (checked by `listed_path`: the index is text from label.csv)."""
    relative = f"{index}.jpg"
    if not (folder / "images" / relative).exists() and index.isdigit():  # releases differ in zero padding
        relative = f"{int(index):04d}.jpg"
    return relative


def _agrees(category: str, label: str) -> bool:
    if not category:
        return True
    try:
        return canonical(category) == label
    except DataError:  # a spelling the vocabulary lacks: emotion_idx decides
        return True
