"""What the adapters share: listing, cache keys, decoding, and building the FaceDataset.

An adapter is two small functions: `looks_like(folder)`, which recognises its
layout, and `scan(folder, options) -> Listing`, which lists the images with
their labels without decoding anything. `load_listing` does the rest the same
way for every adapter, and `data check` reads the same listing, so what is
checked is exactly what is loaded.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fsfer_bench.data.cache import cached_dataset
from fsfer_bench.data.csvfiles import SWALLOWED_ROWS, CountedRows
from fsfer_bench.data.dataset import UNKNOWN_SUBJECT, FaceDataset, make_dataset, short_hash
from fsfer_bench.data.images import Box, DecodeJob, decode_files
from fsfer_bench.data.loading import detect_layout
from fsfer_bench.data.options import LoadOptions
from fsfer_bench.data.paths import (
    MAX_IMAGE_BYTES,
    MAX_TEXT_BYTES,
    OUTSIDE,
    UnsafePathError,
    open_regular,
    printable,
    resolve_inside,
    undecodable_folder,
    valid_name,
)
from fsfer_bench.data.vocabulary import canonical, sort_classes
from fsfer_bench.errors import DataError, FsferWarning
from fsfer_bench.registry import register_dataset

#: Bumped when decoding or cropping changes for every adapter, so old cache entries are not reused.
ADAPTERS_VERSION = "2"
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".ppm", ".pgm"})
MANIFEST = "manifest.csv"


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
        """The item's path relative to the dataset folder, as `FaceDataset.files` holds it."""
        return self.relative(item.path)

    def relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.folder).as_posix()
        except ValueError:
            return path.as_posix()

    def class_list(self) -> tuple[str, ...]:
        present = {i.label for i in self.items}
        if self.classes is None:
            return sort_classes(present)
        return tuple(c for c in self.classes if c in present)

    def empty_classes(self) -> list[str]:
        present = {i.label for i in self.items}
        return [c for c in self.classes or () if c not in present]


def register_layout(
    name: str,
    *,
    layout: str,
    source: str,
    looks_like: Callable[[Path], bool],
    folders: tuple[str, ...] | None = None,
    generic: bool = False,
    database: str | None = None,
) -> Callable[[Callable[[Path, LoadOptions], Listing]], Callable[[Path, LoadOptions], Listing]]:
    """Register `scan(folder, options) -> Listing` as dataset `name`, loading through `load_listing`."""

    def decorate(scan: Callable[[Path, LoadOptions], Listing]) -> Callable[[Path, LoadOptions], Listing]:
        def screened(folder: Path, options: LoadOptions) -> Listing:
            return screen_listing(scan(folder, options))

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
        )(load)
        return scan

    return decorate


# ---------------------------------------------------------------- screening

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


# ---------------------------------------------------------------- loading


def load_listing(listing: Listing, options: LoadOptions) -> FaceDataset:
    """Decode the listing once into the cache, then memory-map it on every later load."""
    if not listing.items:
        why = f"; every entry had a problem, first: {listing.problems[0]}" if listing.problems else ""
        raise DataError(f"{listing.name}: no images found in {listing.folder}{why}")
    report_problems(listing, options.strict)
    built: list[bool] = []

    def build() -> FaceDataset:
        built.append(True)
        return _decode(listing, options)

    dataset = cached_dataset(cache_key(listing, options), build)
    skipped = dataset.notes.get("unreadable", [])
    if skipped and not built:  # decoding warned (or failed) the first time; say it again
        if options.strict:
            raise DataError(
                f"{listing.name}: {len(skipped)} unreadable image(s), first {skipped[0]}; drop --strict to skip them"
            )
        warnings.warn(
            f"{listing.name}: skipped {len(skipped)} unreadable image(s): {_some(skipped)}", FsferWarning, stacklevel=2
        )
    return dataset


def report_problems(listing: Listing, strict: bool) -> None:
    """Raise on fatal problems (or any, with `strict`); warn once about the rest."""
    fatal = [p for p in listing.problems if p.fatal or strict]
    if fatal:
        more = f" (and {len(fatal) - 1} more problem(s); `fsfer-bench data check {listing.name}` lists them)"
        hint = "" if fatal[0].fatal else "; drop --strict to skip such entries"
        raise DataError(f"{listing.name}: {fatal[0]}{more if len(fatal) > 1 else ''}{hint}")
    by_kind: dict[str, list[Problem]] = {}
    for p in listing.problems:
        by_kind.setdefault(p.kind, []).append(p)
    for kind, problems in by_kind.items():
        warnings.warn(
            f"{listing.name}: skipped {len(problems)} entr{'y' if len(problems) == 1 else 'ies'} "
            f"({kind}): {_some([str(p) for p in problems], 3)}",
            FsferWarning,
            stacklevel=3,
        )
    empty = listing.empty_classes()
    if empty:
        warnings.warn(f"{listing.name}: no images of {_some(empty, 8)}; left out", FsferWarning, stacklevel=3)


def cache_key(listing: Listing, options: LoadOptions) -> str:
    """The image-cache entry of what loading `listing` with `options` gives.

    Not a content identity (that is the loaded pool's `content_id()`, which leaves
    decoding out): the entry holds decoded pixels, so its name covers what decoding
    depends on (adapter and versions, image size, crop or alignment) and every file
    with its size, modification time and label, so an edited file is decoded again.
    """
    from fsfer_bench.data.faces import ALIGNER_VERSION  # faces imports no dlib at module level

    align = f"align {ALIGNER_VERSION} margin {options.align_margin}" if options.face_align else "crop"
    parts = [listing.name, listing.version, ADAPTERS_VERSION, f"size {options.image_size}", align]
    stats = {p: _stat(p) for p in listing.key_files}
    stats.update((i.path, _stat(i.path)) for i in listing.items if i.pixels is None)
    rows = sorted(
        (listing.file(i), f"{stats.get(i.path, ('', ''))[0]}|{i.label}|{i.subject}|{i.box}|{i.relative}|{i.domain}")
        for i in listing.items
    )
    content = [*parts, *(f"{p.name}:{stats[p][0]}" for p in listing.key_files), *(f"{f}|{r}" for f, r in rows)]
    times = sorted(f"{listing.relative(p)}:{size}:{mtime}" for p, (size, mtime) in stats.items())
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in listing.name)
    return f"{safe}-{short_hash(*content, *times)}"


def _stat(path: Path) -> tuple[str, str]:
    """(size, mtime) of a file, as strings; ('missing', '') if it cannot be read."""
    try:
        st = path.stat()
    except OSError:
        return "missing", ""
    return str(st.st_size), str(st.st_mtime_ns)


def _decode(listing: Listing, options: LoadOptions) -> FaceDataset:
    jobs = [DecodeJob(str(i.path), options.image_size, i.box, i.relative, i.pixels) for i in listing.items]
    notes = dict(listing.notes)
    landmarks = None
    if options.face_align:
        from fsfer_bench.data.faces import align_files

        images, landmarks, kept, fallbacks = align_files(jobs, margin=options.align_margin, strict=options.strict)
        notes["face_align_fallbacks"] = int(fallbacks)
    else:
        images, kept = decode_files(jobs, strict=options.strict)
    kept_set = set(kept.tolist())
    unreadable = [listing.file(i) for k, i in enumerate(listing.items) if k not in kept_set]
    if unreadable:
        notes["unreadable"] = unreadable
    items = [listing.items[k] for k in kept]
    if not items:
        raise DataError(f"{listing.name}: none of the {len(jobs)} images in {listing.folder} could be read")
    present = {i.label for i in items}
    return make_dataset(
        listing.name,
        images,
        [i.label for i in items],
        subjects=[i.subject for i in items],
        domain=np.array([i.domain or listing.domain for i in items]),
        files=[listing.file(i) for i in items],
        landmarks=landmarks,
        classes=tuple(c for c in listing.class_list() if c in present),
        notes=notes,
    )


def _some(names: list[str], n: int = 5) -> str:
    return ", ".join(names[:n]) + (" ..." if len(names) > n else "")


# ---------------------------------------------------------------- reading layouts


def image_files(folder: Path, recursive: bool = False) -> list[Path]:
    """The image files in `folder`, sorted, hidden files left out."""
    if not folder.is_dir():
        return []
    found = folder.rglob("*") if recursive else folder.iterdir()
    # not only regular files: a FIFO or device named as an image is listed, for `screen_listing` to report
    return sorted(
        p for p in found if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".") and not p.is_dir()
    )


def subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")) if folder.is_dir() else []


def any_image(folder: Path, recursive: bool = False) -> bool:
    """Whether `folder` holds an image file (stopping at the first); for `looks_like`."""
    for _root, dirs, files in os.walk(folder):
        if any(os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS and not f.startswith(".") for f in files):
            return True
        if not recursive:
            return False
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    return False


def read_text(path: Path) -> str:
    """A label file's text, or a DataError saying it is missing, not a regular file, too big or not text."""
    with _label_file_errors(path), open_regular(path, MAX_TEXT_BYTES) as f:
        return f.read().decode("utf-8-sig")


@contextmanager
def _label_file_errors(path: Path) -> Iterator[None]:
    """Turn what reading label file `path` can raise into one DataError, for every reader alike."""
    try:
        yield
    except UnsafePathError as exc:
        raise DataError(f"cannot read label file: {exc}") from None
    except FileNotFoundError:
        raise DataError(f"label file {path} is missing") from None
    except UnicodeDecodeError:
        raise DataError(f"label file {path} is garbled: not UTF-8 text") from None
    except csv.Error as exc:
        raise DataError(f"label file {path} is garbled: {exc}") from None
    except OSError as exc:
        raise DataError(f"cannot read label file {path}: {exc.strerror or exc}") from None


def read_csv(path: Path, required: Iterable[str], problems: list[Problem]) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV label file whose header holds `required` (any case).

    Row keys are the lower-cased column names. A missing, non-text or
    header-less file is a DataError; so is a missing column. Rows a stray quote
    swallowed are a `SWALLOWED_ROWS` problem added to `problems` (data/csvfiles.py).
    """
    return list(iter_csv(path, required, problems))


def iter_csv(path: Path, required: Iterable[str], problems: list[Problem]) -> Iterator[tuple[int, dict[str, str]]]:
    """`read_csv`, streamed, for label files too big to hold twice (FER2013's 290 MB)."""
    with _label_file_errors(path), io.TextIOWrapper(open_regular(path), encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        names = [h.lower() for h in header]
        missing = [r for r in required if r.lower() not in names]
        if missing:
            columns = ", ".join(header) or "(empty)"
            raise DataError(
                f"label file {path} is garbled: it lacks the column(s) {', '.join(missing)} "
                f"(its header is: {columns}){_separator_hint(header)}"
            )
        rows = CountedRows(reader)
        for line, row in rows:
            if any(cell.strip() for cell in row):
                yield line, {n: (row[k].strip() if k < len(row) else "") for k, n in enumerate(names)}
        parted = rows.divergence
        if parted is not None:
            problems.append(Problem(SWALLOWED_ROWS, f"{path.name}:{parted.first_line}", parted.detail()))


def _separator_hint(header: list[str]) -> str:
    """'; it seems separated by ';' ...' where a one-column header holds another separator."""
    other = next((sep for sep in ";\t|" if len(header) == 1 and sep in header[0]), None)
    return f"; it seems separated by {other!r}: separate columns with commas" if other else ""


def csv_header(path: Path) -> list[str]:
    """The lower-cased header of a CSV file, or [] if it cannot be read; for `looks_like`.

    Only a regular file is opened: layout detection must not block on a FIFO.
    """
    try:
        with io.TextIOWrapper(open_regular(path), encoding="utf-8-sig", errors="replace") as f:
            line = f.readline(65536)
    except (OSError, UnsafePathError):
        return []
    return [h.strip().lower() for h in line.split(",")]


def coded_label(code: str, table: dict[int, str], where: str) -> str | Problem:
    """The canonical name of a dataset's numeric label code, or a Problem for a bad one."""
    try:
        value = float(code)
    except ValueError:
        return Problem("garbled label", where, f"label '{code}' is not a number")
    if not value.is_integer() or int(value) not in table:
        lo, hi = min(table), max(table)
        return Problem("label out of range", where, f"label {code} is outside {lo}..{hi}")
    return table[int(value)]


def named_label(name: str, options: LoadOptions, where: str) -> str | Problem:
    """The canonical name for a free-text label, or a fatal Problem telling how to map it."""
    try:
        return canonical(name, options.label_map)
    except DataError as exc:
        return Problem("unknown label", where, str(exc), fatal=True)


def claimed_by_specific(folder: Path) -> bool:
    """Whether a dataset-specific layout recognises `folder` (so generic readers leave it)."""
    return detect_layout(folder, generic=False) is not None
