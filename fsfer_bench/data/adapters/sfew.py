"""SFEW 2.0 (Dhall et al. 2011): `Train|Val/<Class>/*.png`, frames from films.

The test partition has no public labels and is not read. Frames are whole
pictures: use --face-align for aligned faces (the default is a centre crop).
"""

from __future__ import annotations

from pathlib import Path

from fsfer_bench.data.adapters.api import Listing, register_layout, subfolders
from fsfer_bench.data.adapters.folder import has_class_folders, scan_class_folders
from fsfer_bench.data.options import LoadOptions

#: Matched exactly: FER2013's image export uses lower-case `train` and `test`.
PARTITIONS = ("Train", "Val")


def partitions(folder: Path) -> list[Path]:
    return [p for p in subfolders(folder) if p.name in PARTITIONS and has_class_folders(p)]


@register_layout(
    "SFEW",
    database="SFEW",
    folders=("SFEW", "SFEW2", "SFEW_2.0"),
    layout="Train|Val/<Class>/*.png (Class: Angry Disgust Fear Happy Neutral Sad Surprise)",
    source="https://cs.anu.edu.au/few/, EmotiW, Dhall et al., by licence agreement",
    looks_like=lambda folder: bool(partitions(folder)),
)
def scan(folder: Path, options: LoadOptions) -> Listing:
    return scan_class_folders(folder, options, name="SFEW", domain="wild", partitions=partitions(folder))
