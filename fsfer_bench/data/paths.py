"""Safe reading of dataset files: inside the dataset folder, regular files only, size-capped.

A dataset folder is data a user downloaded, and its label files are text anyone
can edit. So a path read from a label file, or found by listing the folder, is
resolved (symlinks and `..` included) and must stay inside the dataset folder;
and a file is opened only once `fstat` says it is a regular file (a FIFO would
block the reader forever, `/dev/zero` would never end) of at most a fixed size.
Every adapter, `data check` and the decoder go through these functions.
"""

from __future__ import annotations

import io
import os
import stat
import sys
from pathlib import Path
from typing import IO

import fsfer_bench.files as files
from fsfer_bench.errors import DataError

#: The largest image file read (the largest real face image is a few MB; a 20000x20000 PNG fits).
MAX_IMAGE_BYTES = 64 * 1024 * 1024
#: The largest label file read whole (FER2013's 290 MB CSV is streamed, not read whole).
MAX_TEXT_BYTES = 64 * 1024 * 1024


#: `UnsafePathError.kind`s: the Problem kinds adapters report them under.
OUTSIDE, NOT_REGULAR, TOO_LARGE = "path outside the dataset folder", "not a regular file", "file too large"


class UnsafePathError(DataError):
    """A path from a dataset that leaves its folder, names something other than a regular file, or is too big."""

    def __init__(self, message: str, kind: str = NOT_REGULAR) -> None:
        super().__init__(message)
        self.kind = kind


def printable(path: str | Path) -> str:
    """`path` as text that can be printed, even where its name is not valid UTF-8."""
    return str(path).encode("utf-8", "backslashreplace").decode("utf-8")


def valid_name(path: str | Path) -> bool:
    """Whether `path` is valid UTF-8 (Python keeps undecodable bytes of names as lone surrogates)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def undecodable_folder(folder: str | Path) -> Path | None:
    """The first folder on the way to `folder` (itself included) whose name is not valid UTF-8, or None."""
    path = Path(folder)
    for depth in range(1, len(path.parts) + 1):
        if not valid_name(path.parts[depth - 1]):
            return Path(*path.parts[:depth])
    return None


def resolve_inside(root: str | Path, relative: str | Path, limit: int | None = None, *,
                   folders: dict[str, str] | None = None) -> Path:  # fmt: skip
    """`root / relative`, if it resolves (symlinks and `..` followed) to a regular file inside `root`.

    Absolute paths elsewhere, paths that climb out, symlinks that lead out, existing
    things that are not regular files (FIFOs, devices, folders), and files over
    `limit` bytes raise an `UnsafePathError` saying which. A file that does not
    exist is returned: the decoder reports it as unreadable, as a damaged one.
    `folders` caches resolved folders across calls: a listing of 30,000 files in a
    few folders then costs one `lstat` per file.
    """
    text = str(relative)
    if not text:
        raise UnsafePathError("an empty path; give paths relative to the dataset folder", OUTSIDE)
    folders = {} if folders is None else folders
    base = _real_folder(str(root), folders)
    target, st = _resolve(os.path.join(base, text), folders)  # an absolute `text` replaces `base`
    if target == base:
        raise UnsafePathError(f"'{printable(text)}' names the dataset folder itself, not a file", OUTSIDE)
    if not target.startswith(base.rstrip(os.sep) + os.sep):
        raise UnsafePathError(
            f"'{printable(text)}' leaves {printable(base)}; refused (copy the file into the folder)", OUTSIDE
        )
    # an absolute Path is returned as given: screening a listing of 30,000 files builds no new paths
    absolute = isinstance(relative, Path) and relative.is_absolute()
    path = relative if absolute else Path(os.path.normpath(os.path.join(os.path.abspath(root), text)))
    if st is None:
        return path
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePathError(f"'{printable(text)}' is {files.file_kind(st.st_mode)}, not a regular file", NOT_REGULAR)
    if limit is not None and st.st_size > limit:
        raise UnsafePathError(_too_large(text, st.st_size, limit), TOO_LARGE)
    return path


def file_identity(folder: str | Path, path: str | Path) -> str:
    """The identity of dataset file `path`: its POSIX path relative to the dataset `folder`.

    The one rule every adapter's `files` (and so `FaceDataset.content_id`, the
    episode hashes and training hashes) follows, so that the same data gives the
    same identity whether the folder was reached by an absolute or a relative
    path (from any working directory), through a symlink, or copied elsewhere.
    Both paths are made absolute lexically (symlinks inside the folder keep the
    name they were listed by); a path that is inside the folder only once
    symlinks are resolved (an absolute path in a label file, given through the
    real folder) is named relative to the real folder. A name that is no file
    (FER2013's `fer2013.csv:12` rows sit lexically in the folder) follows the
    same rule; anything else keeps its path as given.
    """
    head, text = str(folder).rstrip(os.sep) + os.sep, str(path)
    if text.startswith(head) and ".." not in text[len(head) :].split(os.sep):  # listed as folder / name: no I/O
        return Path(text[len(head) :]).as_posix()
    base, target = os.path.abspath(folder), os.path.abspath(path)
    if not _inside(target, base):
        base, target = os.path.realpath(base), os.path.realpath(target)  # only where needed: one stat per part
        if not _inside(target, base):
            return Path(path).as_posix()
    return Path(os.path.relpath(target, base)).as_posix()


def _inside(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip(os.sep) + os.sep)


def _real_folder(folder: str, folders: dict[str, str]) -> str:
    if folder not in folders:
        folders[folder] = os.path.realpath(folder)
    return folders[folder]


def _resolve(path: str, folders: dict[str, str]) -> tuple[str, os.stat_result | None]:
    """(real path, its stat or None if missing): the folder part from the cache, the file itself by lstat."""
    parent, name = os.path.split(path)
    if name in ("", ".", ".."):
        real = os.path.realpath(path)
    else:
        real = os.path.join(_real_folder(parent, folders), name)
        try:
            st = os.lstat(real)
        except OSError:
            return real, None
        if not stat.S_ISLNK(st.st_mode):
            return real, st
        real = os.path.realpath(real)
    try:
        return real, os.stat(real)
    except OSError:
        return real, None


def _too_large(name: str | Path, size: int, limit: int) -> str:
    return f"'{printable(name)}' is {size / 2**20:.0f} MiB, over the {limit // 2**20} MiB a dataset file may have"


def is_regular(path: str | Path) -> bool:
    """Whether `path` (following symlinks) is a regular file; never opens it."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def open_regular(path: str | Path, limit: int | None = None) -> IO[bytes]:
    """`path` opened for binary reading, if it is a regular file of at most `limit` bytes.

    `files.open_regular` opens it non-blocking and checks the open descriptor, so a FIFO
    swapped in after a listing cannot block the reader; here a refusal is named as a
    dataset file's. Raises FileNotFoundError for a missing file, UnsafePathError otherwise.
    """

    def refuse(problem: str, detail: str) -> UnsafePathError:
        if problem == files.NOT_REGULAR:
            return UnsafePathError(f"{printable(path)} is {detail}, not a regular file", NOT_REGULAR)
        return UnsafePathError(_too_large(path, int(detail), limit or 0), TOO_LARGE)

    return files.open_regular(path, limit if limit is not None else sys.maxsize, refuse)


def read_capped(path: str | Path, limit: int = MAX_IMAGE_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes (read no further, should it grow meanwhile)."""
    with open_regular(path, limit) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise UnsafePathError(
            f"{printable(path)} grew past the {limit // 2**20} MiB a dataset file may have", TOO_LARGE
        )
    return data


def image_stream(path: str | Path) -> io.BytesIO:
    """An image file's bytes in memory, for PIL: regular files only, `MAX_IMAGE_BYTES` at most."""
    return io.BytesIO(read_capped(path, MAX_IMAGE_BYTES))
