"""Contact sheets of any FaceDataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fsfer_bench.data.dataset import UNKNOWN_SUBJECT, make_dataset
from fsfer_bench.data.images import DecodeJob, decode_files
from fsfer_bench.data.preview import EMPTY_TILE, contact_sheet, pick_row
from fsfer_bench.errors import ConfigError, UnknownNameError


def _dataset(n_subjects: int = 5, per_class: int = 3, size: int = 24, subjects: bool = True, grey: bool = False):
    rng = np.random.default_rng(0)
    classes = ("neutral", "happy", "sad")
    labels = [c for _ in range(n_subjects) for c in classes for _ in range(per_class)]
    people = [f"S{s:02d}" for s in range(n_subjects) for _ in classes for _ in range(per_class)]
    images = rng.integers(0, 256, (len(labels), size, size, 1 if grey else 3), dtype=np.uint8)
    images = np.repeat(images, 3, axis=3) if grey else images
    return make_dataset("toy", images, labels, subjects=people if subjects else None)


def test_one_row_per_class_and_the_requested_columns():
    data = _dataset()
    sheet = contact_sheet(data, subjects_per_row=4, tile=24)
    assert isinstance(sheet, Image.Image) and sheet.mode == "RGB"
    assert sheet.height == 3 * (24 + 2) + 2
    assert sheet.width > 4 * (24 + 2)


def test_a_row_shows_different_subjects_first():
    data = _dataset(n_subjects=5, per_class=3)
    picked = pick_row(data, data.classes.index("happy"), 5, np.random.default_rng(0))
    assert len(set(data.subjects[picked])) == 5
    more = pick_row(data, data.classes.index("happy"), 8, np.random.default_rng(0))
    assert len(more) == 8 and len(set(data.subjects[more[:5]])) == 5  # then repeats, once people run out
    assert (data.labels[more] == data.classes.index("happy")).all()


def test_same_seed_same_sheet():
    data = _dataset()
    a = np.asarray(contact_sheet(data, seed=3))
    assert np.array_equal(a, np.asarray(contact_sheet(data, seed=3)))
    assert not np.array_equal(a, np.asarray(contact_sheet(data, seed=4)))


def test_grey_images_without_subjects():
    data = _dataset(subjects=False, grey=True)
    assert (data.subjects == UNKNOWN_SUBJECT).all()
    picked = pick_row(data, 0, 6, np.random.default_rng(0))
    assert len(set(picked.tolist())) == 6
    sheet = contact_sheet(data, subjects_per_row=6)
    assert sheet.height == 3 * (32 + 2) + 2  # small images get at least 32 px tiles


def test_empty_class_rows_are_blank_tiles():
    data = _dataset().with_classes(("neutral", "happy"))
    data = make_dataset("gap", data.images, [data.classes[i] for i in data.labels],
                        classes=("neutral", "happy", "sad"))  # fmt: skip
    sheet = np.asarray(contact_sheet(data, subjects_per_row=3, tile=32))
    last_row = sheet[2 * 34 + 2 : 2 * 34 + 2 + 32, -34:-2]  # the last tile of the last row
    assert (last_row == EMPTY_TILE).all()


def test_chosen_classes_and_bad_arguments():
    data = _dataset()
    assert contact_sheet(data, classes=["sad"], tile=24).height == 24 + 4
    with pytest.raises(UnknownNameError, match="happy"):
        contact_sheet(data, classes=["hapy"])
    with pytest.raises(ConfigError):
        contact_sheet(data, subjects_per_row=0)


def test_synfacs_sheet_has_22_rows():
    from fsfer_bench.data.synfacs.generator import generate

    made = generate("lab", n_subjects=2, images_per_class=1, image_size=32)
    data = make_dataset("SynFACS-lab", made.images, made.labels, subjects=made.subjects, classes=made.classes)
    assert contact_sheet(data, subjects_per_row=2).height == 22 * 34 + 2


def test_real_grey_dataset(shared_data: Path):
    """CK+48 crops read in place (never copied): grey PNGs, subjects from file names, no neutral class."""
    folder = shared_data / "CKplus48"
    files = [f for c in ("happy", "surprise", "anger") for f in sorted((folder / c).glob("*.png"))[:6]]
    if len(files) < 12:
        pytest.skip("CK+48 sample not in the expected layout")
    images, kept = decode_files([DecodeJob(str(f), 48) for f in files], workers=1)
    names = {"happy": "happy", "surprise": "surprised", "anger": "angry"}
    labels = [names[files[i].parent.name] for i in kept]
    subjects = [files[i].name.split("_")[0] for i in kept]
    data = make_dataset("CKplus", images, labels, subjects=subjects)
    sheet = contact_sheet(data, subjects_per_row=4)
    assert sheet.height == 3 * (48 + 2) + 2
