"""RAF-DB basic and compound: list_patition_label.txt + aligned images, both in the folder RAF-DB."""

from __future__ import annotations

import fakes
import pytest

from fsfer_bench.data.loading import load_dataset
from fsfer_bench.errors import DataError, FsferWarning
from fsfer_bench.splits import RAF_COMPOUND


def load(root, name="RAF-DB", **kw):
    return load_dataset(name, fakes.sources(root), fakes.options(**kw))


def test_basic_codes_map_to_the_vocabulary(tmp_path):
    fakes.rafdb(tmp_path)
    d = load(tmp_path)
    assert d.classes == ("neutral", "happy", "sad", "fearful", "angry", "surprised", "disgusted")
    assert set(d.class_counts().values()) == {2} and set(d.domains) == {"wild"} and not d.has_subjects
    by_file = dict(zip(d.files.tolist(), (d.classes[k] for k in d.labels)))
    assert by_file["basic/Image/aligned/train_00100_aligned.jpg"] == "surprised"  # code 1
    assert by_file["basic/Image/aligned/test_00701_aligned.jpg"] == "neutral"  # code 7


def test_compound_has_the_eleven_classes(tmp_path):
    fakes.rafdb(tmp_path)
    d = load(tmp_path, "RAF-DB-compound")
    assert set(d.classes) == set(RAF_COMPOUND) and len(d) == 22
    by_file = dict(zip(d.files.tolist(), (d.classes[k] for k in d.labels)))
    assert by_file["compound/Image/aligned/train_00100_aligned.jpg"] == "happily_surprised"
    assert by_file["compound/Image/aligned/train_01100_aligned.jpg"] == "disgustedly_surprised"


def test_bad_lines_are_skipped_with_warnings(tmp_path):
    folder = fakes.rafdb(tmp_path, parts=("basic",))
    with open(folder / "basic/EmoLabel/list_patition_label.txt", "a") as f:
        f.write("train_00100.jpg 9\nnonsense\n")
    with pytest.warns(FsferWarning) as caught:
        assert len(load(tmp_path)) == 14
    text = " ".join(str(w.message) for w in caught)
    assert "label 9 is outside 1..7" in text and "garbled line" in text
    with pytest.raises(DataError, match="outside 1..7"):
        load(tmp_path, strict=True)


def test_listed_image_that_is_missing_is_skipped_by_name(tmp_path):
    folder = fakes.rafdb(tmp_path, parts=("basic",))
    (folder / "basic/Image/aligned/train_00300_aligned.jpg").unlink()
    with pytest.warns(FsferWarning, match="train_00300_aligned.jpg"):
        assert len(load(tmp_path)) == 13


def test_missing_compound_part_names_its_layout_and_what_is_there(tmp_path):
    fakes.rafdb(tmp_path, parts=("basic",))
    with pytest.raises(DataError, match="does not hold the RAF-DB-compound layout.*it looks like RAF-DB"):
        load(tmp_path, "RAF-DB-compound")


def test_missing_label_file_is_a_layout_error(tmp_path):
    folder = fakes.rafdb(tmp_path, parts=("basic",))
    (folder / "basic/EmoLabel/list_patition_label.txt").unlink()
    with pytest.raises(DataError, match="does not hold the RAF-DB layout"):
        load(tmp_path)
