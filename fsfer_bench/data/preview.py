"""Contact sheets: one row per class, several people per row, to look at a dataset before trusting it.

Works for any FaceDataset: rendered or real, colour or grey, with or without
subject ids (without them, each image counts as its own person).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from fsfer_bench.data.dataset import UNKNOWN_SUBJECT, FaceDataset
from fsfer_bench.errors import ConfigError, unknown_name

BACKGROUND = (255, 255, 255)
EMPTY_TILE = (225, 225, 225)
TEXT = (20, 20, 20)
GAP = 2


def contact_sheet(
    dataset: FaceDataset,
    *,
    subjects_per_row: int = 8,
    seed: int = 0,
    classes: list[str] | tuple[str, ...] | None = None,
    tile: int | None = None,
) -> Image.Image:
    """An RGB sheet: per class, its name then up to `subjects_per_row` images of different subjects.

    `tile` is the cell size in pixels (default: the image size, kept within
    32-128). The same `seed` picks the same images.
    """
    if subjects_per_row < 1:
        raise ConfigError(f"subjects_per_row must be at least 1, got {subjects_per_row}")
    rows = _check_classes(dataset, classes)
    tile = tile or int(np.clip(dataset.image_size if len(dataset) else 64, 32, 128))
    rng = np.random.default_rng(seed)
    font = ImageFont.load_default()
    counts = np.bincount(dataset.labels, minlength=len(dataset.classes))
    labels = [f"{name} ({counts[dataset.classes.index(name)]})" for name in rows]
    label_width = _text_width(labels, font) + 3 * GAP
    sheet = Image.new(
        "RGB", (label_width + subjects_per_row * (tile + GAP), len(rows) * (tile + GAP) + GAP), BACKGROUND
    )
    draw = ImageDraw.Draw(sheet)
    for r, (name, label) in enumerate(zip(rows, labels)):
        top = GAP + r * (tile + GAP)
        draw.text((GAP, top + tile // 2), label, fill=TEXT, font=font, anchor="lm")
        picked = pick_row(dataset, dataset.classes.index(name), subjects_per_row, rng)
        for c in range(subjects_per_row):
            left = label_width + c * (tile + GAP)
            if c < len(picked):
                sheet.paste(_tile(dataset.images[picked[c]], tile), (left, top))
            else:
                draw.rectangle((left, top, left + tile - 1, top + tile - 1), fill=EMPTY_TILE)
    return sheet


def pick_row(dataset: FaceDataset, label: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """Up to `count` image indices of class `label`: different subjects first, then more images if subjects run out."""
    members = np.flatnonzero(dataset.labels == label)
    if len(members) == 0:
        return members
    members = members[rng.permutation(len(members))]
    subjects = dataset.subjects[members]
    anonymous = subjects == UNKNOWN_SUBJECT
    keys = np.where(anonymous, np.char.add("#", members.astype(str)), subjects.astype(str))
    _, first = np.unique(keys, return_index=True)
    distinct = members[np.sort(first)]
    rest = np.setdiff1d(members, distinct, assume_unique=True)
    return np.concatenate([distinct, rest[rng.permutation(len(rest))]])[:count]


def _check_classes(dataset: FaceDataset, classes: list[str] | tuple[str, ...] | None) -> list[str]:
    if classes is None:
        return list(dataset.classes)
    for name in classes:
        if name not in dataset.classes:
            raise unknown_name(f"class of {dataset.name}", name, dataset.classes)
    return list(classes)


def _text_width(texts: list[str], font: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> int:
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    return int(np.ceil(max((probe.textlength(t, font=font) for t in texts), default=0)))


def _tile(image: np.ndarray, size: int) -> Image.Image:
    img = Image.fromarray(np.ascontiguousarray(image))
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    return img
