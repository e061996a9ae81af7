"""EmotioNet: a manifest of downloaded images with basic and compound labels."""

from __future__ import annotations

import fakes
import pytest

from fsfer_bench.data.loading import load_dataset
from fsfer_bench.errors import DataError


def test_basic_and_compound_labels(tmp_path):
    fakes.emotionet(tmp_path)
    d = load_dataset("EmotioNet", fakes.sources(tmp_path), fakes.options())
    assert d.class_counts() == {"happy": 2, "sad": 2, "happily_surprised": 2, "awed": 2}
    assert set(d.domains) == {"wild"} and not d.has_subjects


def test_unknown_label_must_be_mapped(tmp_path):
    folder = fakes.emotionet(tmp_path)
    fakes.manifest(folder, [["img/x.jpg", "Bewildered", ""]])
    with pytest.raises(DataError, match="unknown expression label 'Bewildered'.*--label-map"):
        load_dataset("EmotioNet", fakes.sources(tmp_path), fakes.options())
    d = load_dataset("EmotioNet", fakes.sources(tmp_path), fakes.options(label_map={"Bewildered": "awed"}))
    assert d.class_counts() == {"awed": 1}


def test_no_manifest_is_a_layout_error(tmp_path):
    fakes.class_folders(tmp_path / "EmotioNet", {"happy": 1})
    with pytest.raises(DataError, match="does not hold the EmotioNet layout.*generic layout"):
        load_dataset("EmotioNet", fakes.sources(tmp_path))
