"""CFEE: label.csv + images/, subjects from `identity`, a face crop of the whole frame."""

from __future__ import annotations

import fakes
import numpy as np
import pytest
from PIL import Image

from fsfer_bench.data.adapters.cfee import FACE_CROP, LABELS
from fsfer_bench.data.loading import DataSources, load_dataset
from fsfer_bench.data.options import LoadOptions
from fsfer_bench.errors import DataError, FsferWarning


def load(root, **kw):
    return load_dataset("CFEE", fakes.sources(root), fakes.options(**kw))


def test_labels_subjects_domain_and_files(tmp_path):
    fakes.cfee(tmp_path, labels=tuple(LABELS))
    d = load(tmp_path)
    assert len(d) == 44 and len(d.classes) == 22
    assert d.classes[:7] == ("neutral", "happy", "sad", "fearful", "angry", "surprised", "disgusted")
    assert set(d.class_counts().values()) == {2}
    assert set(d.subjects) == {"100", "101"} and set(d.domains) == {"lab"}
    assert d.files[0] == "images/0001.jpg" and d.classes[d.labels[0]] == "neutral"
    assert d.images.shape == (44, 16, 16, 3)


def test_default_crop_cuts_the_face_region_of_the_frame(tmp_path):
    folder = fakes.cfee(tmp_path, per_class=1, labels=(1,))
    frame = np.zeros((240, 320, 3), np.uint8)
    left, top, w, h = (round(FACE_CROP[0] * 320), round(FACE_CROP[1] * 240), 200, 200)
    frame[top : top + h, left : left + w] = 255
    Image.fromarray(frame).save(folder / "images" / "0001.jpg", quality=100)
    d = load(tmp_path)
    assert d.images[0, 1:-1, 1:-1].min() > 200  # the crop holds only the white face region


def test_label_out_of_range_is_skipped_with_a_warning_or_fails_strict(tmp_path):
    folder = fakes.cfee(tmp_path)
    with open(folder / "label.csv", "a") as f:
        f.write("0001,100,23,Bogus,compound\n0002,100,x,Bogus,compound\n")
    with pytest.warns(FsferWarning, match=r"label out of range.*label.csv:\d+: label 23 is outside 1..22"):
        assert len(load(tmp_path)) == 8
    with pytest.raises(DataError, match="label 23 is outside 1..22.*drop --strict"):
        load(tmp_path, strict=True)


def test_conflicting_category_column_is_a_problem(tmp_path):
    folder = fakes.cfee(tmp_path)
    text = (folder / "label.csv").read_text().replace("0001,100,1,x", "0001,100,1,Happy")
    (folder / "label.csv").write_text(text)
    with pytest.warns(FsferWarning, match="conflicting label columns"):
        assert len(load(tmp_path)) == 7


def test_garbled_label_file(tmp_path):
    folder = fakes.cfee(tmp_path)
    (folder / "label.csv").write_text("Index,identity,emotion_idx\n" + "\x00\x01\x02,\x03\n" * 3)
    with pytest.raises(DataError, match="no images found .*every entry had a problem, first: label.csv:2"):
        load(tmp_path)
    (folder / "label.csv").write_bytes(b"Index,identity,emotion_idx\n\xff\xfe\xfa")
    with pytest.raises(DataError, match="garbled: not UTF-8"):
        load(tmp_path)
    (folder / "label.csv").write_text("Index;identity;emotion_idx\n1;2;3\n")
    with pytest.raises(DataError, match="lacks the column.* Index, identity, emotion_idx .*separated by ';'"):
        load(tmp_path)


def test_missing_label_file_names_the_layout(tmp_path):
    folder = fakes.cfee(tmp_path)
    (folder / "label.csv").unlink()
    with pytest.raises(DataError, match=r"does not hold the CFEE layout \(images/NNNN.jpg \+ label.csv"):
        load(tmp_path)


@pytest.mark.shared_data
def test_shared_cfee(shared_data):
    d = load_dataset("CFEE", DataSources(shared_data), LoadOptions(image_size=32))
    assert len(d) == 1165 and len(d.classes) == 22 and len(set(d.subjects)) == 108
    assert min(d.class_counts().values()) == 37
    files = d.files.tolist()
    a, b = files.index("images/1068.jpg"), files.index("images/1174.jpg")
    assert (d.classes[d.labels[a]], d.classes[d.labels[b]]) == ("sadly_angry", "angrily_disgusted")
    assert np.array_equal(d.images[a], d.images[b])
