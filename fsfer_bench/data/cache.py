"""The decoded-image cache: decode once, then memory-map.

A cache entry is a folder `<cache>/<key>/` holding `images.npy` (memory-mapped
on load), optional `landmarks.npy`, and `meta.json` with everything else and a
checksum of the image bytes. Entries are built in a temporary folder and renamed
into place, so a crash never leaves a half-written entry under its real name; a
corrupt entry (bad checksum, wrong shape, unreadable meta) is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fsfer_bench.data.dataset import FaceDataset
from fsfer_bench.errors import FsferWarning

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
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            h.update(chunk)
    return h.hexdigest()


def _store(entry: Path, d: FaceDataset) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
    try:
        np.save(tmp / "images.npy", np.ascontiguousarray(d.images))
        if d.landmarks is not None:
            np.save(tmp / "landmarks.npy", d.landmarks.astype(np.float32))
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
        (tmp / "meta.json").write_text(json.dumps(meta))
        if entry.exists():  # a corrupt entry, or one a concurrent process just wrote
            shutil.rmtree(entry, ignore_errors=True)
        os.replace(tmp, entry)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _load(entry: Path) -> FaceDataset | None:
    try:
        meta = json.loads((entry / "meta.json").read_text())
        if meta.get("format") != CACHE_FORMAT or _checksum(entry / "images.npy") != meta["checksum"]:
            return None
        images = np.load(entry / "images.npy", mmap_mode="r")
        if list(images.shape) != meta["shape"] or images.dtype != np.uint8:
            return None
        landmarks_file = entry / "landmarks.npy"
        return FaceDataset(
            name=meta["name"],
            images=images,
            labels=np.asarray(meta["labels"], dtype=np.int64),
            classes=tuple(meta["classes"]),
            subjects=np.asarray(meta["subjects"], dtype=str),
            sources=np.asarray(meta["sources"], dtype=str),
            domains=np.asarray(meta["domains"], dtype=str),
            files=None if meta["files"] is None else np.asarray(meta["files"], dtype=str),
            landmarks=np.load(landmarks_file) if landmarks_file.exists() else None,
            notes=meta["notes"],
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
