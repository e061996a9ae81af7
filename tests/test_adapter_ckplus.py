"""CK+: the native sequences (peak frames, optional neutral first frame) and the CK+48 crops."""

from __future__ import annotations

import os

import fakes
import pytest

from fsfer_bench.data.loading import DataSources, load_dataset
from fsfer_bench.data.options import LoadOptions
from fsfer_bench.errors import DataError, FsferWarning


def load(root, **kw):
    return load_dataset("CKplus", fakes.sources(root), fakes.options(**kw))


def test_native_takes_the_last_three_frames_of_labelled_sequences(tmp_path):
    fakes.ckplus_native(tmp_path)
    d = load(tmp_path)
    assert d.class_counts() == {"happy": 3, "surprised": 3, "disgusted": 3}
    assert set(d.subjects) == {"S005", "S010"} and set(d.domains) == {"lab"}
    assert "cohn-kanade-images/S005/001/S005_001_00000006.png" in d.files
    assert "cohn-kanade-images/S005/001/S005_001_00000003.png" not in d.files
    assert not any("S010/003" in f for f in d.files)  # no Emotion file: not used


def test_native_peak_frames_and_neutral_first_frame(tmp_path):
    fakes.ckplus_native(tmp_path)
    d = load(tmp_path, peak_frames=1, first_frame_neutral=True)
    assert d.class_counts() == {"neutral": 3, "happy": 1, "surprised": 1, "disgusted": 1}
    neutral = d.files[d.labels == d.classes.index("neutral")]
    assert all(f.endswith("_00000001.png") for f in neutral)


def test_native_bad_emotion_files(tmp_path):
    folder = fakes.ckplus_native(tmp_path)
    (folder / "Emotion/S005/001/S005_001_00000006_emotion.txt").write_text("8.0")
    (folder / "Emotion/S005/002/S005_002_00000006_emotion.txt").write_text("happy")
    with pytest.warns(FsferWarning) as caught:
        d = load(tmp_path)
    assert d.class_counts() == {"surprised": 3}
    text = " ".join(str(w.message) for w in caught)
    assert "label 8.0 is outside 0..7" in text and "'happy' is not a number" in text


def test_ck48_subjects_from_file_names(tmp_path):
    fakes.ck48(tmp_path)
    d = load(tmp_path)
    assert d.classes == ("happy", "angry", "surprised") and set(d.class_counts().values()) == {6}
    assert set(d.subjects) == {"S011", "S022"}
    assert "anger/S011_001_00000010.png" in d.files


def test_ck48_file_not_named_as_the_layout_is_skipped(tmp_path):
    folder = fakes.ck48(tmp_path)
    fakes.image(folder / "anger" / "holiday.png")
    with pytest.warns(FsferWarning, match="unexpected file name.*anger/holiday.png"):
        assert len(load(tmp_path)) == 18


@pytest.mark.parametrize("name", ["CK+", "CK+48", "CKplus"])
def test_candidate_folder_names(tmp_path, name):
    os.rename(fakes.ck48(tmp_path), tmp_path / name)
    assert len(load(tmp_path)) == 18


def test_missing_names_candidates_layout_and_source(tmp_path):
    with pytest.raises(DataError, match=r"CKplus holding cohn-kanade-images.*jeffcohn.net"):
        load(tmp_path)


def test_bad_peak_frames(tmp_path):
    fakes.ckplus_native(tmp_path)
    with pytest.raises(DataError, match="peak_frames must be at least 1"):
        load(tmp_path, peak_frames=0)


@pytest.mark.shared_data
def test_shared_ck48(shared_data):
    d = load_dataset("CKplus", DataSources(shared_data), LoadOptions(image_size=48))
    assert len(d) == 981 and len(d.classes) == 7 and "neutral" not in d.classes
    assert len(set(d.subjects)) == 118 and d.has_subjects
    assert d.class_counts()["contempt"] == 54
