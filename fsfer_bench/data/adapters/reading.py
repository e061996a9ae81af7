"""Reading native layouts without decoding: image folders, label files (text and CSV), label codes.

Every label file is read through `open_regular` (regular files only, size-capped)
and every failure to read one becomes one `DataError` naming the file.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from fsfer_bench.data.adapters.listing import Problem
from fsfer_bench.data.csvfiles import SWALLOWED_ROWS, CountedRows
from fsfer_bench.data.options import LoadOptions
from fsfer_bench.data.paths import MAX_TEXT_BYTES, UnsafePathError, open_regular
from fsfer_bench.data.vocabulary import canonical
from fsfer_bench.errors import DataError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".ppm", ".pgm"})
MANIFEST = "manifest.csv"


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
    from fsfer_bench.data.loading import detect_layout  # loading imports the adapters: import it when asked

    return detect_layout(folder, generic=False) is not None
