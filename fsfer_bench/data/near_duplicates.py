"""Leakage by content: near-copies of test images in the training pool, whatever database they are filed under.

The database guard (`leakage.py`) compares names, so it cannot see a photograph
that two databases both hold: CK+48 subject S055's three disgust frames are
near-copies of FER2013's `Training_75609687.jpg`, re-cropped and re-encoded. So
every run compares its training pool with its test pool on the faces as it sees
them (aligned with --face-align, else resized): each image becomes a grey
`THUMBNAIL` x `THUMBNAIL` thumbnail (block means, which forgive re-encoding and
a pixel or two of shift), less its mean and scaled to unit length, and a pair
whose thumbnails correlate at `THRESHOLD` or more is a near-duplicate.

The thresholds were chosen on pairs looked at, never on accuracy (measured at
64 px; `bench/bench_near_duplicates.py` repeats the first row). Resized faces
(`THRESHOLD`): the known CK+48/FER2013 copies correlate at .981-.987; the same
woman in other CK+ sequences (other expressions, not copies) at .960 at most;
two different people at .934 at most (CK+48 against all 28,709 FER2013 images);
among the ten pairs of CK+48, FER2013, SFEW, CFEE and JAFFE, nothing else
reaches .95. Aligned faces (`ALIGNED_THRESHOLD`): the copies at .996, the same
woman's other expressions at .983, other CK+ people at .965, and across CK+48,
CFEE, JAFFE and SFEW nothing past .895. Mirrored copies are not looked for (the
closest mirrored pair across those databases correlates at .94). A flat image
(no contrast) has no thumbnail direction and is never matched; byte-identical
copies of it are caught by `leakage.drop_duplicates` where they matter. Generated
faces (SynFACS) are not compared (`photographs`).

A run removes the training images that match a test image, warns in one line
and records them (`Record.train_near_duplicates_removed`, the files in
`train_notes["near_duplicates"]`); with --strict it refuses instead. Found pairs
are cached by the two pools' content (pixels included), so a sweep pays once per
training pool and test pool.
"""

from __future__ import annotations

import warnings
from contextlib import suppress
from dataclasses import dataclass, replace

import numpy as np

from fsfer_bench.data.cache import cache_root
from fsfer_bench.data.dataset import FaceDataset, short_hash
from fsfer_bench.errors import DataError, FsferError, FsferWarning
from fsfer_bench.files import read_json, write_json_atomic

THUMBNAIL = 16
#: Thumbnail correlation from which a pair is a near-copy: of resized faces, and of aligned ones (which
#: alignment makes alike: two different CK+ people's aligned faces correlate up to .965).
THRESHOLD = 0.97
ALIGNED_THRESHOLD = 0.99
#: Bumped when thumbnails or the threshold change, so that cached pairs are found again.
VERSION = "1"
#: Images turned into thumbnails at a time: bounds the float copy of a memory-mapped pool.
CHUNK = 1024
#: Pairs named in a warning or an error line; all of them are in the record.
NAMED = 3


@dataclass(frozen=True)
class NearDuplicates:
    """Pairs (training index, test index, correlation) of near-copies between two pools."""

    pairs: tuple[tuple[int, int, float], ...]

    def train_indices(self) -> np.ndarray:
        return np.unique(np.array([i for i, _, _ in self.pairs], dtype=np.int64))

    def named(self, train: FaceDataset, test: FaceDataset) -> list[tuple[str, str, float]]:
        """The pairs as (training image, test image, correlation), best first, images as `source:file`."""
        ordered = sorted(self.pairs, key=lambda p: -p[2])
        return [(image_name(train, i), image_name(test, j), round(c, 4)) for i, j, c in ordered]


def image_name(pool: FaceDataset, index: int) -> str:
    """`source:file` of one image; `source#index` where the pool keeps no file names (made in memory)."""
    source = str(pool.sources[index])
    if pool.files is None:
        return f"{source}#{index}"
    return f"{source}:{pool.files[index]}"


def thumbnails(images: np.ndarray, side: int = THUMBNAIL) -> np.ndarray:
    """(N, side*side) float32: each image grey, block-averaged to side x side, centred and of unit length."""
    import torch
    import torch.nn.functional as F

    out = np.zeros((len(images), side * side), np.float32)
    for start in range(0, len(images), CHUNK):
        chunk = torch.from_numpy(np.array(images[start : start + CHUNK], dtype=np.float32))
        grey = chunk.mean(dim=-1, keepdim=False)[:, None]
        small = F.adaptive_avg_pool2d(grey, side).flatten(1)
        small = small - small.mean(dim=1, keepdim=True)
        norm = small.norm(dim=1, keepdim=True)
        out[start : start + CHUNK] = torch.where(norm > 1e-3, small / norm.clamp_min(1e-3), 0.0).numpy()
    return out


def threshold_for(aligned: bool) -> float:
    return ALIGNED_THRESHOLD if aligned else THRESHOLD


def find_near_duplicates(train: FaceDataset, test: FaceDataset, threshold: float = THRESHOLD) -> NearDuplicates:
    """Every (training image, test image) pair whose thumbnails correlate at `threshold` or more."""
    if not len(train) or not len(test):
        return NearDuplicates(())
    test_thumbs = thumbnails(test.images)
    pairs = []
    for start in range(0, len(train), CHUNK):
        corr = thumbnails(train.images[start : start + CHUNK]) @ test_thumbs.T
        for i, j in zip(*np.nonzero(corr >= threshold)):
            pairs.append((start + int(i), int(j), float(corr[i, j])))
    return NearDuplicates(tuple(pairs))


def photographs(pool: FaceDataset) -> np.ndarray:
    """Which images are photographs, not faces a generator drew in memory (SynFACS).

    Generated faces are left out of the check: their people come from disjoint identity streams (see
    `leakage.py`), and drawn faces are so alike that 3 of SynFACS-lab's 2,800 correlate at .97 or more with
    SynFACS-wild faces of other people. A generated pool is one without files whose notes say how it was
    made (`notes["content"]`); a pool merging generated and file-backed sources keeps no files, and is then
    left out whole (a limit: mixed training pools are not checked).
    """
    generated = pool.files is None and pool.notes.get("content") is not None
    return np.full(len(pool), not generated)


def cached_near_duplicates(train: FaceDataset, test: FaceDataset, aligned: bool = False) -> NearDuplicates:
    """`find_near_duplicates` between the photographs of two pools, faces aligned or not, cached under the
    image cache by both pools' content (pixels included)."""
    rows, columns = np.flatnonzero(photographs(train)), np.flatnonzero(photographs(test))
    if not len(rows) or not len(columns):
        return NearDuplicates(())
    found = _cached(_only(train, rows), _only(test, columns), threshold_for(aligned))
    return NearDuplicates(tuple((int(rows[i]), int(columns[j]), c) for i, j, c in found.pairs))


def _only(pool: FaceDataset, keep: np.ndarray) -> FaceDataset:
    return pool if len(keep) == len(pool) else pool.subset(keep)


def _cached(train: FaceDataset, test: FaceDataset, threshold: float) -> NearDuplicates:
    """`find_near_duplicates`, its pairs kept in a small JSON named by both pools' pixel content ids."""
    key = short_hash(VERSION, str(THUMBNAIL), str(threshold), train.content_id(pixels=True), test.content_id(True))
    path = cache_root() / "near-duplicates" / f"{key}.json"
    try:
        cached = read_json(path)
        return NearDuplicates(tuple((int(i), int(j), float(c)) for i, j, c in cached["pairs"]))
    except (OSError, FsferError, KeyError, TypeError, ValueError):  # absent or unusable: find them again
        pass
    found = find_near_duplicates(train, test, threshold)
    with suppress(OSError, FsferError):  # a read-only cache costs the check again next time, nothing more
        write_json_atomic(path, {"pairs": [list(p) for p in found.pairs]})
    return found


@dataclass(frozen=True)
class Removal:
    """What `drop_near_duplicates` did: the pairs it found and the training images it removed."""

    pairs: list[tuple[str, str, float]]
    removed: list[str]
    threshold: float = THRESHOLD

    def notes(self) -> dict:
        """For `train_notes["near_duplicates"]`: how they were found, the pairs and the removed files."""
        return {"thumbnail": THUMBNAIL, "threshold": self.threshold, "pairs": self.pairs, "removed": self.removed}


def drop_near_duplicates(
    train: FaceDataset, test: FaceDataset, strict: bool = False, aligned: bool = False
) -> tuple[FaceDataset, Removal]:
    """The training pool without its near-copies of test images, and what went; warns in one line.

    `aligned`: the pools hold faces aligned by --face-align. With `strict`, a DataError naming the pairs instead.
    """
    found = cached_near_duplicates(train, test, aligned)
    if not found.pairs:
        return train, Removal([], [], threshold_for(aligned))
    named = found.named(train, test)
    removal = Removal(named, [image_name(train, int(i)) for i in found.train_indices()], threshold_for(aligned))
    summary = (
        f"{len(removal.removed)} training image(s) are near-copies of {len({t for _, t, _ in named})} test "
        f"image(s) of {test.name} (thumbnail correlation >= {removal.threshold}): {describe(named)}"
    )
    if strict:
        raise DataError(f"{summary}; remove them from the training data, or drop --strict to train without them")
    warnings.warn(f"{summary}; removed from training", FsferWarning, stacklevel=2)
    keep = np.ones(len(train), bool)
    keep[found.train_indices()] = False
    kept = train.where(keep)
    return replace(kept, notes={**kept.notes, "near_duplicates": removal.notes()}), removal


def describe(named: list[tuple[str, str, float]], n: int = NAMED) -> str:
    """The first `n` pairs as 'a ~ b (0.987)', and how many more."""
    shown = ", ".join(f"{a} ~ {b} ({c:.3f})" for a, b, c in named[:n])
    return shown + (f" ... ({len(named) - n} more pairs)" if len(named) > n else "")
