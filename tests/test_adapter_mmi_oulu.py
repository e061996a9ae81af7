"""MMI and Oulu-CASIA: a manifest of peak frames, or class folders, through the generic readers."""

from __future__ import annotations

import fakes
import pytest

from fsfer_bench.data.loading import load_dataset
from fsfer_bench.errors import DataError


@pytest.mark.parametrize("name", ["MMI", "Oulu-CASIA"])
def test_manifest_with_subjects(tmp_path, name):
    rows = [[f"S{s}/{k}.png", label, f"S{s}"] for s in (1, 2) for k, label in enumerate(["anger", "happiness"])]
    fakes.manifest(tmp_path / name, rows)
    d = load_dataset(name, fakes.sources(tmp_path), fakes.options())
    assert d.class_counts() == {"happy": 2, "angry": 2} and set(d.subjects) == {"S1", "S2"}
    assert set(d.domains) == {"lab"} and d.name == name


@pytest.mark.parametrize("name", ["MMI", "Oulu-CASIA"])
def test_class_folders(tmp_path, name):
    fakes.class_folders(tmp_path / name, {"Surprise": 2, "Fear": 1})
    d = load_dataset(name, fakes.sources(tmp_path), fakes.options())
    assert d.class_counts() == {"fearful": 1, "surprised": 2} and set(d.domains) == {"lab"}


def test_another_datasets_layout_is_named(tmp_path):
    fakes.rafdb(tmp_path, parts=("basic",))
    (tmp_path / "RAF-DB").rename(tmp_path / "MMI")
    with pytest.raises(DataError, match="does not hold the MMI layout.*it looks like RAF-DB"):
        load_dataset("MMI", fakes.sources(tmp_path))


def test_missing_names_the_recipe_layout(tmp_path):
    with pytest.raises(DataError, match=r"Oulu-CASIA holding manifest.csv .*docs/datasets.md.*University of Oulu"):
        load_dataset("Oulu-CASIA", fakes.sources(tmp_path))
