"""Decoding image files into the uint8 RGB arrays a FaceDataset holds.

Real datasets mix palette, greyscale, 16-bit, CMYK and alpha images; they all
become 8-bit RGB here. Decoding is the slow part of a first load, so it runs
in a process pool across the machine's cores.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image, ImageOps

from fsfer_bench.data.paths import image_stream
from fsfer_bench.errors import DataError, FsferWarning

T = TypeVar("T")

#: (left, top, width, height) in source pixels.
Box = tuple[float, float, float, float]


def to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB from any PIL mode: palette, L, LA, RGBA, CMYK, I;16, I, F."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        img = Image.fromarray(np.clip(a / hi * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return img.convert("RGB")


def square_box(box: Box, width: int, height: int, margin: float = 0.0) -> Box:
    """Grow `box` by `margin` of its size and make it square, centred on the box."""
    left, top, w, h = box
    side = max(w, h) * (1.0 + margin)
    cx, cy = left + w / 2, top + h / 2
    return (cx - side / 2, cy - side / 2, side, side)


def centre_box(width: int, height: int) -> Box:
    side = min(width, height)
    return ((width - side) / 2, (height - side) / 2, side, side)


def crop_resize(img: Image.Image, box: Box | None, size: int) -> np.ndarray:
    """Crop `box` (default: the centred square) and resize to size x size RGB uint8."""
    img = to_rgb(img)
    left, top, w, h = box if box is not None else centre_box(*img.size)
    region = (int(round(left)), int(round(top)), int(round(left + w)), int(round(top + h)))
    # crop() pads with black outside the image, which keeps near-border faces centred
    out = img.crop(region).resize((size, size), Image.Resampling.BICUBIC, reducing_gap=3.0)
    return np.asarray(out, dtype=np.uint8)


@dataclass(frozen=True)
class DecodeJob:
    """One image to decode. `path` names it in messages even when `pixels` supplies it."""

    path: str
    size: int
    box: Box | None = None
    # `box` in fractions of the image's width and height: a default crop for whole-frame
    # datasets, whose pixel size is only known once the file is open
    relative: bool = False
    pixels: np.ndarray | None = None  # an image already in memory (FER2013's pixel strings)


def open_job(job: DecodeJob) -> Image.Image:
    """The job's image, fully read (so truncation shows here) and upright.

    The file is read through `image_stream`: a regular file of bounded size, so a
    FIFO or a link to /dev/zero is an unreadable image, not a hang.
    """
    if job.pixels is not None:
        return Image.fromarray(job.pixels)
    with Image.open(image_stream(job.path)) as img:
        img.load()
        return ImageOps.exif_transpose(img)


def job_box(job: DecodeJob, width: int, height: int) -> Box | None:
    """The job's crop box in pixels of a `width` x `height` image."""
    if job.box is None or not job.relative:
        return job.box
    left, top, w, h = job.box
    return (left * width, top * height, w * width, h * height)


def _decode(job: DecodeJob) -> np.ndarray | str:
    try:
        img, shrink = _open_shrunk(job)
        box = job_box(job, *img.size)
        if box is not None and not job.relative:
            box = (box[0] / shrink, box[1] / shrink, box[2] / shrink, box[3] / shrink)
        return crop_resize(img, box, job.size)
    except Exception as exc:  # PIL raises many types for broken files
        return f"{type(exc).__name__}: {exc}"


def _open_shrunk(job: DecodeJob) -> tuple[Image.Image, float]:
    """The job's image, and by how much it was shrunk while decoding.

    JPEG can decode at 1/2, 1/4 or 1/8 scale for little more than the cost of
    reading the file; where the crop is at least twice the output size, that
    halves the time of a first load and loses nothing the resize would keep.
    """
    if job.pixels is not None:
        return Image.fromarray(job.pixels), 1.0
    with Image.open(image_stream(job.path)) as img:
        shrink = 1.0
        if img.format == "JPEG":
            width, height = img.size
            side = job_box(job, width, height)[2] if job.box is not None else min(width, height)
            scale = job.size / max(side, 1)
            if scale <= 0.5:
                drafted = img.draft(None, (int(np.ceil(width * scale)), int(np.ceil(height * scale))))
                shrink = width / drafted[1][2] if drafted else 1.0
        img.load()
        return ImageOps.exif_transpose(img), shrink


def decode_files(
    jobs: Sequence[DecodeJob], *, strict: bool = False, workers: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Decode `jobs` in parallel. Returns (images, kept) where kept indexes `jobs`.

    An unreadable or truncated file is skipped with a warning naming it, or
    raises a DataError with `strict`.
    """
    if not jobs:
        return np.empty((0, 0, 0, 3), dtype=np.uint8), np.empty(0, dtype=np.int64)
    results, kept = run_jobs(_decode, jobs, strict=strict, workers=workers)
    size = jobs[0].size
    images = np.stack(results) if results else np.empty((0, size, size, 3), np.uint8)
    return images, kept


def run_jobs(
    fn: Callable[[DecodeJob], T | str], jobs: Sequence[DecodeJob], *, strict: bool = False, workers: int | None = None
) -> tuple[list[T], np.ndarray]:
    """Run `fn` over `jobs` in a process pool; `fn` returns its result, or an error string for a bad file.

    Returns (results of the good jobs, their indices into `jobs`). Bad files are
    skipped with a warning naming them, or raise a DataError with `strict`.
    `fn` must be a module-level function, so that worker processes can import it.
    """
    workers = workers or min(len(jobs) // 64 + 1, os.cpu_count() or 1)
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(fn, jobs, chunksize=max(1, min(32, len(jobs) // (4 * workers)))))
    else:
        results = [fn(j) for j in jobs]
    bad = [(j.path, r) for j, r in zip(jobs, results) if isinstance(r, str)]
    if bad and strict:
        raise DataError(f"{len(bad)} unreadable image(s), first {bad[0][0]} ({bad[0][1]}); drop --strict to skip them")
    if bad:
        names = ", ".join(Path(p).name for p, _ in bad[:5]) + (" ..." if len(bad) > 5 else "")
        warnings.warn(f"skipped {len(bad)} unreadable image(s): {names}", FsferWarning, stacklevel=3)
    kept = np.array([i for i, r in enumerate(results) if not isinstance(r, str)], dtype=np.int64)
    return [results[i] for i in kept], kept
