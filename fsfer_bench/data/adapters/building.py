"""From a screened `Listing` to a `FaceDataset`: decode once into the image cache, then memory-map.

`load_listing` does this the same way for every adapter: it raises on fatal
problems, warns once about the rest, names the cache entry after what decoding
depends on (`cache_key`) and decodes (or aligns) only on a cache miss.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from fsfer_bench.data.adapters.listing import Listing, Problem
from fsfer_bench.data.cache import cached_dataset
from fsfer_bench.data.dataset import FaceDataset, make_dataset, short_hash
from fsfer_bench.data.images import DecodeJob, decode_files
from fsfer_bench.data.options import LoadOptions
from fsfer_bench.errors import DataError, FsferWarning

#: Bumped when decoding or cropping changes for every adapter, so old cache entries are not reused.
ADAPTERS_VERSION = "2"


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
