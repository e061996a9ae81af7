"""JAFFE: a flat folder of TIFFs named <subj>.<EXPR><n>.<id>.tiff, palette and greyscale mixed."""

from __future__ import annotations

import fakes
import numpy as np
import pytest

from fsfer_bench.data.loading import DataSources, load_dataset
from fsfer_bench.data.options import LoadOptions
from fsfer_bench.errors import FsferWarning


def test_subjects_and_codes_from_names_in_mixed_modes(tmp_path):
    fakes.jaffe(tmp_path)
    d = load_dataset("JAFFE", fakes.sources(tmp_path), fakes.options())
    assert len(d) == 14 and set(d.class_counts().values()) == {2}
    assert set(d.subjects) == {"KA", "YM"} and d.images.dtype == np.uint8
    grey = d.images[:, :, :, 0] == d.images[:, :, :, 2]
    assert grey.all()  # L and P (grey palette) both come out grey RGB


def test_unknown_expression_code_is_skipped(tmp_path):
    folder = fakes.jaffe(tmp_path)
    fakes.image(folder / "KA.XX1.99.tiff")
    with pytest.warns(FsferWarning, match="KA.XX1.99.tiff"):
        assert len(load_dataset("JAFFE", fakes.sources(tmp_path), fakes.options())) == 14


@pytest.mark.shared_data
def test_shared_jaffe(shared_data):
    d = load_dataset("JAFFE", DataSources(shared_data), LoadOptions(image_size=32))
    assert len(d) == 213 and len(d.classes) == 7 and len(set(d.subjects)) == 10
