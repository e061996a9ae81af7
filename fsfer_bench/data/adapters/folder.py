"""Generic class folders: `<class>/*.jpg`, one sub-folder per expression.

Folder names go through the vocabulary (`Happiness`, `HA` and `happy` are all
`happy`); `--label-map` maps any others. Images may sit in deeper sub-folders
of a class folder. The same reader serves the datasets distributed this way
(CK+48, SFEW, FER2013's image export), with their own subject rules.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fsfer_bench.data.adapters.api import (
    Item,
    Listing,
    Problem,
    any_image,
    claimed_by_specific,
    image_files,
    named_label,
    register_layout,
    subfolders,
)
from fsfer_bench.data.options import LoadOptions
from fsfer_bench.data.vocabulary import sort_classes

VERSION = "1"
LAYOUT = "one sub-folder per class, <class>/*.jpg|png|... (names as in the vocabulary, or mapped with --label-map)"
OWN_DATA = "your own data: give its folder with --data-path NAME=PATH"

#: Returns the subject of an image file, "" if the dataset has none, or None for a file that does not belong.
SubjectRule = Callable[[Path], "str | None"]


def scan_class_folders(
    folder: Path,
    options: LoadOptions,
    *,
    name: str,
    domain: str,
    version: str = VERSION,
    partitions: list[Path] | None = None,
    subject_of: SubjectRule | None = None,
) -> Listing:
    """List `<class>/<image>` under `folder`, or under each of `partitions` (e.g. train/, test/)."""
    listing = Listing(name, version, folder, domain, items=[])
    classes: set[str] = set()
    for root in partitions if partitions is not None else [folder]:
        for sub in subfolders(root):
            where = f"{sub.relative_to(folder).as_posix()}/"
            label = named_label(sub.name, options, where)
            if isinstance(label, Problem):
                listing.problems.append(label)
                continue
            classes.add(label)
            for path in image_files(sub, recursive=True):
                subject = subject_of(path) if subject_of else ""
                if subject is None:
                    listing.problems.append(
                        Problem("unexpected file name", listing.file(Item(path, label)), "not named as the layout says")
                    )
                    continue
                listing.items.append(Item(path, label, subject))
    listing.classes = sort_classes(classes)
    return listing


def has_class_folders(folder: Path) -> bool:
    """Some sub-folder holds an image (at any depth)."""
    return any(any_image(sub, recursive=True) for sub in subfolders(folder))


def looks_like_class_folders(folder: Path) -> bool:
    """Class folders that no dataset-specific layout claims (CK+48 and SFEW are class folders too)."""
    return has_class_folders(folder) and not claimed_by_specific(folder)


@register_layout("folder", layout=LAYOUT, source=OWN_DATA, looks_like=looks_like_class_folders, generic=True)
def scan_folder(folder: Path, options: LoadOptions) -> Listing:
    return scan_class_folders(folder, options, name="folder", domain="unknown")
