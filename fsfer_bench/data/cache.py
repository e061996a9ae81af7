"""The decoded-image cache: decode once, then memory-map.

A cache entry is a folder `<cache>/<key>/` holding `images.npy` (memory-mapped
on load), optional `landmarks.npy`, and `meta.json` with everything else and a
checksum of the image bytes. Entries are built in a temporary folder (each file
through `fsfer_bench.files`) and renamed into place, so a crash never leaves a
half-written entry under its real name; a corrupt or inconsistent entry (bad
checksum, wrong shape, unreadable meta, labels that do not fit) is rebuilt with a
warning.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fsfer_bench.data.dataset import FaceDataset
from fsfer_bench.errors import FsferError, FsferWarning
from fsfer_bench.files import MAX_ARRAY_BYTES, open_regular, read_json, write_atomic, write_json_atomic

CACHE_FORMAT = 1


def cache_root() -> Path:
    """`FSFER_CACHE`, else `$XDG_CACHE_HOME/fsfer_bench`, else `~/.cache/fsfer_bench`."""
    if os.environ.get("FSFER_CACHE"):
        return Path(os.environ["FSFER_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fsfer_bench"


def cached_dataset(key: str, build: Callable[[], FaceDataset]) -> FaceDataset:
    """The dataset cached under `key`, building and storing it on first use.

    If the cache cannot be written, the built dataset is returned from memory
    with a warning, so a read-only home never stops a run.
    """
    entry = cache_root() / key
    if entry.is_dir():
        loaded = _load(entry)
        if loaded is not None:
            return loaded
        warnings.warn(f"cache entry {entry} is corrupt or incomplete; rebuilding it", FsferWarning, stacklevel=2)
    dataset = build()
    try:
        _store(entry, dataset)
    except OSError as exc:
        warnings.warn(
            f"cannot write the image cache at {entry.parent} ({exc.strerror or exc}); keeping images in memory. "
            "Set FSFER_CACHE to a writable folder to cache them.",
            FsferWarning,
            stacklevel=2,
        )
        return dataset
    return _load(entry) or dataset


def _checksum(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open_regular(path, MAX_ARRAY_BYTES) as f:  # a pipe or device in the cache must not block or fill memory
        while chunk := f.read(1 << 24):
            h.update(chunk)
    return h.hexdigest()


def _store(entry: Path, d: FaceDataset) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
    try:
        os.chmod(tmp, _folder_mode())  # mkdtemp's 0700 would hide a shared cache from collaborators
        write_atomic(tmp / "images.npy", lambda f: np.save(f, np.ascontiguousarray(d.images)))
        if d.landmarks is not None:
            write_atomic(tmp / "landmarks.npy", lambda f: np.save(f, d.landmarks.astype(np.float32)))
        meta = {
            "format": CACHE_FORMAT,
            "name": d.name,
            "classes": list(d.classes),
            "labels": d.labels.tolist(),
            "subjects": d.subjects.tolist(),
            "sources": d.sources.tolist(),
            "domains": d.domains.tolist(),
            "files": None if d.files is None else d.files.tolist(),
            "notes": d.notes,
            "shape": list(d.images.shape),
            "checksum": _checksum(tmp / "images.npy"),
        }
        write_json_atomic(tmp / "meta.json", meta)
        if entry.exists():  # a corrupt entry, or one a concurrent process just wrote
            shutil.rmtree(entry, ignore_errors=True)
        os.replace(tmp, entry)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _folder_mode() -> int:
    """The mode `mkdir` would give a new folder: 0777 less the process umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o777 & ~mask


def _load(entry: Path) -> FaceDataset | None:
    """The entry's dataset, or None where any part of it is missing, damaged or inconsistent.

    Inconsistent metadata (labels for more images than the entry holds, a label
    past the class list) is the cache's fault, never the dataset's: the caller
    rebuilds the entry rather than raising an error that blames the data.
    """
    try:
        meta = read_json(entry / "meta.json")
        if meta.get("format") != CACHE_FORMAT or _checksum(entry / "images.npy") != meta["checksum"]:
            return None
        images = np.load(entry / "images.npy", mmap_mode="r", allow_pickle=False)
        if list(images.shape) != meta["shape"] or images.dtype != np.uint8:
            return None
        labels = np.asarray(meta["labels"], dtype=np.int64)
        if len(labels) and (labels.min() < 0 or labels.max() >= len(meta["classes"])):
            return None
        landmarks_file = entry / "landmarks.npy"
        return FaceDataset(
            name=meta["name"],
            images=images,
            labels=labels,
            classes=tuple(meta["classes"]),
            subjects=np.asarray(meta["subjects"], dtype=str),
            sources=np.asarray(meta["sources"], dtype=str),
            domains=np.asarray(meta["domains"], dtype=str),
            files=None if meta["files"] is None else np.asarray(meta["files"], dtype=str),
            landmarks=np.load(landmarks_file, allow_pickle=False) if landmarks_file.exists() else None,
            notes=meta["notes"],
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError, FsferError):  # FsferError: FaceDataset's checks
        return None
