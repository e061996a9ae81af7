"""mini-ImageNet: images/ + split CSVs; wnids kept as class names; domain natural."""

from __future__ import annotations

import fakes
import pytest

from fsfer_bench.data.loading import DataSources, load_dataset
from fsfer_bench.data.options import LoadOptions


def test_wnids_are_classes_and_partitions_are_noted(tmp_path):
    fakes.miniimagenet(tmp_path)
    d = load_dataset("miniImageNet", fakes.sources(tmp_path), fakes.options())
    assert d.classes == ("n01", "n02", "n03", "n04", "n05", "n06") and len(d) == 18
    assert set(d.domains) == {"natural"}
    assert d.notes["class_partition"] == {"train": ["n01", "n02"], "val": ["n03", "n04"], "test": ["n05", "n06"]}


@pytest.mark.shared_data
def test_shared_miniimagenet(shared_data):
    d = load_dataset("miniImageNet", DataSources(shared_data), LoadOptions(image_size=32))
    assert len(d) == 2000 and len(d.classes) == 100
    assert [len(d.notes["class_partition"][k]) for k in ("train", "val", "test")] == [64, 16, 20]
