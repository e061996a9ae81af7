"""RAF-DB (Li & Deng, CVPR 2017), basic and compound, both in the folder `RAF-DB`.

Each part has `EmoLabel/list_patition_label.txt` (lines `train_00001.jpg 5`)
and `Image/aligned/train_00001_aligned.jpg`, 100x100 aligned faces. The
train/test partition stays visible in `files` (the name prefix).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fsfer_bench.data.adapters.api import (
    Item,
    Listing,
    Problem,
    coded_label,
    listed_path,
    read_text,
    register_layout,
)
from fsfer_bench.data.options import LoadOptions
from fsfer_bench.data.paths import is_regular
from fsfer_bench.data.vocabulary import sort_classes

VERSION = "1"
LABEL_FILE = "EmoLabel/list_patition_label.txt"  # sic: the dataset's spelling
BASIC = {1: "surprised", 2: "fearful", 3: "disgusted", 4: "happy", 5: "sad", 6: "angry", 7: "neutral"}
COMPOUND = {
    1: "happily_surprised",
    2: "happily_disgusted",
    3: "sadly_fearful",
    4: "sadly_angry",
    5: "sadly_surprised",
    6: "sadly_disgusted",
    7: "fearfully_angry",
    8: "fearfully_surprised",
    9: "angrily_surprised",
    10: "angrily_disgusted",
    11: "disgustedly_surprised",
}
SOURCE = "http://www.whdeng.cn/RAF/model1.html, Li & Deng, BUPT: email them the signed agreement"


def scan_part(folder: Path, part: str, table: dict[int, str], name: str) -> Listing:
    """List one part (basic/ or compound/): a label per line, the aligned image beside it."""
    root = folder / part
    listing = Listing(name, VERSION, folder, "wild", items=[], classes=sort_classes(table.values()))
    for line, text in enumerate(read_text(root / LABEL_FILE).splitlines(), start=1):
        where = f"{part}/{LABEL_FILE}:{line}"
        fields = text.split()
        if not fields:
            continue
        if len(fields) != 2 or "." not in fields[0]:
            listing.problems.append(Problem("garbled line", where, f"expected 'name.jpg label', got '{text[:40]}'"))
            continue
        label = coded_label(fields[1], table, where)
        if isinstance(label, Problem):
            listing.problems.append(label)
            continue
        stem, ext = fields[0].rsplit(".", 1)
        image = listed_path(root, f"{stem}_aligned.{ext}", where, "Image/aligned")
        if isinstance(image, Problem):
            listing.problems.append(image)
            continue
        listing.items.append(Item(image, label))
    return listing


def _has_part(part: str) -> Callable[[Path], bool]:
    return lambda folder: is_regular(folder / part / LABEL_FILE)


def _register_part(name: str, part: str, table: dict[int, str]) -> Callable[[Path, LoadOptions], Listing]:
    """Register one part of RAF-DB as dataset `name`: the parts differ only in their folder and label table."""

    def scan(folder: Path, options: LoadOptions) -> Listing:
        return scan_part(folder, part, table, name)

    return register_layout(
        name,
        database="RAF-DB",
        folders=("RAF-DB", "RAFDB", "RAF"),
        layout=f"{part}/{LABEL_FILE} + {part}/Image/aligned/*_aligned.jpg",
        source=SOURCE,
        looks_like=_has_part(part),
    )(scan)


scan_basic = _register_part("RAF-DB", "basic", BASIC)
scan_compound = _register_part("RAF-DB-compound", "compound", COMPOUND)
