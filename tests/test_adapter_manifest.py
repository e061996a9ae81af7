"""Generic manifest: path,label[,subject][,domain], paths confined to the manifest's folder."""

from __future__ import annotations

import fakes
import pytest

from fsfer_bench.data.loading import load_dataset
from fsfer_bench.errors import DataError, FsferWarning


def load(folder, **kw):
    return load_dataset("manifest", fakes.sources(None, manifest=str(folder)), fakes.options(**kw))


def test_subjects_and_domains_from_columns(tmp_path):
    rows = [["a/1.png", "happy", "p1", "lab"], ["a/2.png", "Sadness", "p2", "wild"], ["b/3.png", "sad", "p1", ""]]
    folder = fakes.manifest(tmp_path / "m", rows, ("path", "label", "subject", "domain"))
    d = load(folder)
    assert d.class_counts() == {"happy": 1, "sad": 2} and d.has_subjects
    assert d.domains.tolist() == ["lab", "wild", "unknown"] and d.files.tolist() == ["a/1.png", "a/2.png", "b/3.png"]


@pytest.mark.parametrize("escape", ["../outside.png", "a/../../outside.png", "/etc/hostname"])
def test_paths_escaping_the_folder_are_refused(tmp_path, escape):
    fakes.image(tmp_path / "outside.png")
    folder = fakes.manifest(tmp_path / "m", [["a/1.png", "happy", "p1"], [escape, "happy", "p1"]])
    with pytest.raises(DataError, match=f"'{escape}' leaves .*refused"):
        load(folder)


def test_absolute_path_inside_is_fine(tmp_path):
    folder = fakes.manifest(tmp_path / "m", [["a/1.png", "happy", "p1"]])
    fakes.manifest(folder, [["a/1.png", "happy", "p1"], [str(folder / "a" / "1.png"), "sad", "p1"]])
    assert len(load(folder)) == 2


def test_empty_cells_are_skipped_and_missing_columns_fail(tmp_path):
    folder = fakes.manifest(tmp_path / "m", [["a/1.png", "happy", "p1"], ["", "sad", "p2"]])
    with pytest.warns(FsferWarning, match="garbled line.*manifest.csv:3"):
        assert len(load(folder)) == 1
    (folder / "manifest.csv").write_text("file,label\na/1.png,happy\n")
    with pytest.raises(DataError, match="does not hold the manifest layout"):
        load(folder)


def test_missing_file_is_skipped_by_name(tmp_path):
    folder = fakes.manifest(tmp_path / "m", [["a/1.png", "happy", "p1"], ["a/2.png", "sad", "p1"]])
    (folder / "a" / "2.png").unlink()
    with pytest.warns(FsferWarning, match="unreadable image.*2.png"):
        assert len(load(folder)) == 1
