"""SFEW 2.0: Train|Val/<Class>/*.png."""

from __future__ import annotations

import json

import fakes
import pytest
from click.testing import CliRunner

from fsfer_bench.cli import main
from fsfer_bench.data.loading import load_dataset
from fsfer_bench.errors import DataError


def test_partitions_and_classes(tmp_path):
    fakes.sfew(tmp_path)
    d = load_dataset("SFEW", fakes.sources(tmp_path), fakes.options())
    assert len(d) == 28 and set(d.class_counts().values()) == {4} and "disgusted" in d.classes
    assert "Val/Fear/Fear_1.png" in d.files and set(d.domains) == {"wild"}


def test_folder_holding_the_fer2013_export_is_named(tmp_path):
    fakes.fer2013_folders(tmp_path)
    (tmp_path / "FER2013").rename(tmp_path / "SFEW")
    with pytest.raises(DataError, match="does not hold the SFEW layout .*it looks like FER2013"):
        load_dataset("SFEW", fakes.sources(tmp_path))


def test_unknown_class_folder_needs_a_label_map(tmp_path):
    folder = fakes.sfew(tmp_path)
    fakes.class_folders(folder / "Train", {"Bored": 1})
    with pytest.raises(DataError, match="unknown expression label 'Bored'.*--label-map"):
        load_dataset("SFEW", fakes.sources(tmp_path), fakes.options())
    d = load_dataset("SFEW", fakes.sources(tmp_path), fakes.options(label_map={"Bored": "neutral"}))
    assert d.class_counts()["neutral"] == 5


@pytest.mark.shared_data
def test_shared_sfew_train_checks_clean(shared_data):
    """The shared Train partition: 859 aligned 143x181 crops, nothing to warn about."""
    result = CliRunner().invoke(main, ["data", "check", "SFEW", "--data-root", str(shared_data), "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["images"] == 859 and report["class_counts"]["disgusted"] == 49 and report["findings"] == []
