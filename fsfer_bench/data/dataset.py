"""FaceDataset: the one shape every adapter returns and every later stage reads.

Images live in one uint8 array (N, H, W, 3), possibly memory-mapped from the
cache, so that pools, episodes and feature caches are plain index arrays into
it. Per-image metadata (label, subject, source, domain) sits in parallel arrays.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace

import numpy as np

from fsfer_bench.data.vocabulary import sort_classes
from fsfer_bench.errors import DataError

UNKNOWN_SUBJECT = ""


@dataclass(frozen=True, eq=False)
class FaceDataset:
    """Images with labels in the canonical vocabulary, and who and where they come from.

    `content_id()` is the pool's one content identity: episode sets are keyed by
    it, and the training hash includes it (with the pixels).
    """

    name: str
    images: np.ndarray  # (N, H, W, 3) uint8
    labels: np.ndarray  # (N,) int64, indices into `classes`
    classes: tuple[str, ...]
    subjects: np.ndarray  # (N,) str, UNKNOWN_SUBJECT where the dataset has none
    sources: np.ndarray  # (N,) str, the dataset each image came from
    domains: np.ndarray  # (N,) str, e.g. "lab" or "wild"
    files: np.ndarray | None = None  # (N,) str, for messages and `data check`
    landmarks: np.ndarray | None = None  # (N, 68, 2) float32, pixel coordinates
    notes: dict = field(default_factory=dict)  # counts worth recording, e.g. alignment fallbacks

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.ndim != 4 or self.images.shape[-1] != 3 or self.images.dtype != np.uint8:
            raise DataError(
                f"{self.name}: images must be uint8 (N, H, W, 3), got {self.images.dtype} {self.images.shape}"
            )
        for name in ("labels", "subjects", "sources", "domains", "files", "landmarks"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise DataError(f"{self.name}: {name} has {len(value)} entries for {n} images")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_size(self) -> int:
        return int(self.images.shape[1])

    @property
    def has_subjects(self) -> bool:
        return len(self) > 0 and bool(np.all(self.subjects != UNKNOWN_SUBJECT))

    def content_id(self, pixels: bool = False) -> str:
        """The content identity of the pool: what it holds, image by image.

        A hash of each image's source, file, class, person and domain, plus
        `notes["content"]` (how generated data was made). By default image size,
        crop and alignment are left out on purpose: a method run at 32 px faces
        the same test episodes as one run at 64 px, so episode sets are keyed by
        this. With `pixels`, the decoded pixels are hashed too: that is what a
        training reads, so the training hash uses it and an image edited in place
        (same file name) is not trained on with a model of the old one.
        """
        h = hashlib.sha256()
        names = np.asarray(self.classes, dtype=str)[self.labels] if len(self) else np.empty(0, dtype=str)
        files = self.files if self.files is not None else np.full(len(self), "")
        for column in (self.sources, files, names, self.subjects, self.domains):
            h.update("\x1f".join(np.asarray(column, dtype=str).tolist()).encode())
            h.update(b"\0")
        h.update(json.dumps(self.notes.get("content"), sort_keys=True).encode())
        if pixels:
            h.update(str(self.images.shape).encode())
            h.update(np.ascontiguousarray(self.images).data)
        return h.hexdigest()[:20]

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(self.classes))
        return {c: int(k) for c, k in zip(self.classes, counts)}

    def subset(self, indices: np.ndarray, name: str | None = None) -> FaceDataset:
        """The images at `indices`, with the same class list."""
        indices = np.asarray(indices, dtype=np.int64)

        def take(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[indices]

        return replace(
            self,
            name=name or self.name,
            images=self.images[indices],
            labels=self.labels[indices],
            subjects=self.subjects[indices],
            sources=self.sources[indices],
            domains=self.domains[indices],
            files=take(self.files),
            landmarks=take(self.landmarks),
        )

    def with_classes(self, classes: tuple[str, ...] | list[str], name: str | None = None) -> FaceDataset:
        """Keep only `classes`, relabelled 0..len-1 in the order given."""
        missing = [c for c in classes if c not in self.classes]
        if missing:
            raise DataError(f"{self.name} has no class {', '.join(missing)} (it has: {', '.join(self.classes)})")
        wanted = np.array([self.classes.index(c) for c in classes])
        keep = np.flatnonzero(np.isin(self.labels, wanted))
        out = self.subset(keep, name=name)
        remap = np.full(len(self.classes), -1, dtype=np.int64)
        remap[wanted] = np.arange(len(wanted))
        return replace(out, labels=remap[out.labels], classes=tuple(classes))

    def where(self, mask: np.ndarray, name: str | None = None) -> FaceDataset:
        return self.subset(np.flatnonzero(mask), name=name)


def concat(datasets: list[FaceDataset], name: str | None = None) -> FaceDataset:
    """Merge datasets by class name into one label space.

    Subject ids are prefixed with the source, so that subject 'S010' of two
    datasets are two people.
    """
    if not datasets:
        raise DataError("no datasets to merge")
    if len(datasets) == 1:
        return datasets[0] if name is None else replace(datasets[0], name=name)
    sizes = {d.images.shape[1:] for d in datasets}
    if len(sizes) > 1:
        raise DataError(f"cannot merge datasets of different image shapes {sorted(sizes)}")
    classes = sort_classes({c for d in datasets for c in d.classes})
    labels = [np.array([classes.index(c) for c in d.classes])[d.labels] for d in datasets]
    subjects = [
        np.where(d.subjects == UNKNOWN_SUBJECT, UNKNOWN_SUBJECT, np.char.add(f"{d.name}:", d.subjects.astype(str)))
        for d in datasets
    ]
    with_landmarks = all(d.landmarks is not None for d in datasets)
    with_files = all(d.files is not None for d in datasets)
    return FaceDataset(
        name=name or "+".join(d.name for d in datasets),
        images=np.concatenate([d.images for d in datasets]),
        labels=np.concatenate(labels).astype(np.int64),
        classes=classes,
        subjects=np.concatenate(subjects),
        sources=np.concatenate([d.sources for d in datasets]),
        domains=np.concatenate([d.domains for d in datasets]),
        files=np.concatenate([d.files for d in datasets]) if with_files else None,
        landmarks=np.concatenate([d.landmarks for d in datasets]) if with_landmarks else None,
        notes=_merge_notes([d.notes for d in datasets]),
    )


def _merge_notes(notes: list[dict]) -> dict:
    merged: dict = {}
    for n in notes:
        for key, value in n.items():
            if isinstance(value, (int, float)) and isinstance(merged.get(key, 0), (int, float)):
                merged[key] = merged.get(key, 0) + value
            else:
                merged[key] = value
    return merged


def short_hash(*parts: str | bytes) -> str:
    """A short hash of the given parts; adapters name their image-cache entries with it."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()[:20]


def make_dataset(
    name: str,
    images: np.ndarray,
    labels: list[str] | np.ndarray,
    *,
    subjects: list[str] | np.ndarray | None = None,
    domain: str | np.ndarray = "lab",
    files: list[str] | np.ndarray | None = None,
    landmarks: np.ndarray | None = None,
    classes: tuple[str, ...] | None = None,
    notes: dict | None = None,
) -> FaceDataset:
    """Build a FaceDataset from per-image label names; the adapters' common exit.

    `classes` fixes the class order (and keeps empty classes); by default it is
    the vocabulary order of the names that occur.
    """
    names = np.asarray(labels, dtype=str)
    classes = tuple(classes) if classes is not None else sort_classes(set(names.tolist()))
    index = {c: i for i, c in enumerate(classes)}
    n = len(names)
    return FaceDataset(
        name=name,
        images=images,
        labels=np.array([index[x] for x in names.tolist()], dtype=np.int64),
        classes=classes,
        subjects=np.full(n, UNKNOWN_SUBJECT) if subjects is None else np.asarray(subjects, dtype=str),
        sources=np.full(n, name),
        domains=np.full(n, domain) if isinstance(domain, str) else np.asarray(domain, dtype=str),
        files=None if files is None else np.asarray(files, dtype=str),
        landmarks=landmarks,
        notes=dict(notes or {}),
    )
