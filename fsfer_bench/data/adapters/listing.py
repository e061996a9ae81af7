"""What an adapter returns: a `Listing` of `Item`s and `Problem`s, and the screening every listing goes through.

A listing says which images a dataset folder holds, with their labels and
subjects, before anything is decoded. Every item is screened the same way
(`screen_listing`): it must resolve inside the dataset folder, be a regular file
of bounded size and have a UTF-8 name; what fails becomes a `Problem`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fsfer_bench.data.dataset import UNKNOWN_SUBJECT
from fsfer_bench.data.images import Box
from fsfer_bench.data.paths import (
    MAX_IMAGE_BYTES,
    OUTSIDE,
    UnsafePathError,
    file_identity,
    printable,
    resolve_inside,
    undecodable_folder,
    valid_name,
)
from fsfer_bench.data.vocabulary import sort_classes
from fsfer_bench.errors import DataError


@dataclass(frozen=True, eq=False)
class Item:
    """One image to load: where it is, its canonical label, and whose face it is."""

    path: Path  # the file; with `pixels`, only a name for messages (e.g. fer2013.csv:row 12)
    label: str
    subject: str = UNKNOWN_SUBJECT
    box: Box | None = None  # the crop, in pixels, or in fractions of the frame with `relative`
    relative: bool = False
    domain: str | None = None  # overrides the listing's domain (manifests may mix)
    pixels: np.ndarray | None = None


@dataclass(frozen=True)
class Problem:
    """Something wrong with a label file or listing. `fatal` problems fail a load even without --strict."""

    kind: str  # e.g. "label out of range", "unknown label", "garbled line", "empty class"
    where: str
    detail: str
    fatal: bool = False

    def __str__(self) -> str:
        return printable(f"{self.where}: {self.detail}")


@dataclass
class Listing:
    """What an adapter found in its folder, before any decoding."""

    name: str
    version: str  # the adapter's own version; bump it when its reading changes
    folder: Path
    domain: str
    items: list[Item]
    classes: tuple[str, ...] | None = None  # declared classes, in order; None: those that occur
    problems: list[Problem] = field(default_factory=list)
    key_files: list[Path] = field(default_factory=list)  # non-image files the content depends on
    notes: dict = field(default_factory=dict)

    def file(self, item: Item) -> str:
        """The item's identity, its path relative to the dataset folder, as `FaceDataset.files` holds it."""
        return self.relative(item.path)

    def relative(self, path: Path) -> str:
        """`path` relative to the dataset folder, however the folder was reached (`paths.file_identity`)."""
        return file_identity(self.folder, path)

    def class_list(self) -> tuple[str, ...]:
        present = {i.label for i in self.items}
        if self.classes is None:
            return sort_classes(present)
        return tuple(c for c in self.classes if c in present)

    def empty_classes(self) -> list[str]:
        present = {i.label for i in self.items}
        return [c for c in self.classes or () if c not in present]


#: A Problem kind of `screen_listing` besides `UnsafePathError`'s; only a path leaving the folder is fatal.
BAD_NAME = "file name not UTF-8"


def listed_path(folder: Path, relative: str, where: str, under: str = "") -> Path | Problem:
    """A path read from a label file (`where`, e.g. `label.csv:12`) into `folder / under`, or its Problem.

    Through `resolve_inside`, as every listed file is again in `screen_listing`;
    here the Problem can name the line that gave the path, and the text as written.
    """
    try:
        return resolve_inside(folder / under, relative, MAX_IMAGE_BYTES)
    except UnsafePathError as exc:
        return Problem(exc.kind, where, str(exc), fatal=exc.kind == OUTSIDE)


def screen_listing(listing: Listing) -> Listing:
    """Move every item that must not be read into `problems`, for every adapter alike.

    An item must resolve inside the dataset folder (a path from a label file, or
    a symlink found by listing, could lead anywhere), be a regular file of at
    most `MAX_IMAGE_BYTES` (a FIFO blocks a reader, /dev/zero never ends), and
    have a UTF-8 name (which every later stage can print, hash and store).
    """
    folder = undecodable_folder(listing.folder)
    if folder is not None:  # every file below it would be blamed for its folder's name
        raise DataError(f"{listing.name}: the folder {printable(folder)} has a name that is not valid UTF-8; rename it")
    kept, folders = [], {}
    for item in listing.items:
        problem = _item_problem(listing, item, folders)
        if problem is None:
            kept.append(item)
        else:
            listing.problems.append(problem)
    listing.items = kept
    return listing


def _item_problem(listing: Listing, item: Item, folders: dict[str, str]) -> Problem | None:
    if item.pixels is not None:
        return None
    if not valid_name(listing.file(item)):
        return Problem(BAD_NAME, printable(listing.file(item)), "the file name is not valid UTF-8; rename the file")
    try:
        path = item.path if item.path.is_absolute() else Path(os.path.abspath(item.path))
        resolve_inside(listing.folder, path, MAX_IMAGE_BYTES, folders=folders)
    except UnsafePathError as exc:
        return Problem(exc.kind, listing.file(item), str(exc), fatal=exc.kind == OUTSIDE)
    return None
