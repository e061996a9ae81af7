"""AffectNet: CSV rows with a face box; codes 8-10 left out; crops from the box."""

from __future__ import annotations

import fakes
import pytest

from fsfer_bench.data.loading import load_dataset
from fsfer_bench.errors import DataError, FsferWarning


def load(root, **kw):
    return load_dataset("AffectNet", fakes.sources(root), fakes.options(**kw))


def test_codes_classes_and_face_box_crop(tmp_path):
    fakes.affectnet(tmp_path)
    d = load(tmp_path)
    assert len(d) == 8 and "contempt" in d.classes and set(d.domains) == {"wild"}
    assert d.notes["left_out_not_expressions"] == 3
    assert d.classes[d.labels[d.files.tolist().index("Manually_Annotated_Images/1/00abc.png")]] == "neutral"
    red = d.images[:, 2:-2, 2:-2]
    assert red[..., 0].min() > 200 and red[..., 1].max() < 60  # only the red face box remains


def test_bad_rows(tmp_path):
    folder = fakes.affectnet(tmp_path)
    with open(folder / "training.csv", "a") as f:
        f.write("1/00abc.png,10,20,30,30,,12,0,0\n1/00abc.png,a,20,30,30,,1,0,0\n")
    with pytest.warns(FsferWarning) as caught:
        assert len(load(tmp_path)) == 8
    text = " ".join(str(w.message) for w in caught)
    assert "label 12 is outside 0..7" in text and "garbled face box" in text


def test_paths_leaving_the_folder_are_refused(tmp_path):
    folder = fakes.affectnet(tmp_path)
    with open(folder / "training.csv", "a") as f:
        f.write("../../secret.png,10,20,30,30,,1,0,0\n")
    with pytest.raises(DataError, match="'../../secret.png'"):
        load(tmp_path)
