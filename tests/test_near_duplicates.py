"""Leakage by content: near-copies of test images are found across database names, removed from training
(or refused with --strict), counted in the record, and the training hash follows the removal."""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from fsfer_bench.cli import main
from fsfer_bench.config import resolve_config
from fsfer_bench.data.dataset import make_dataset
from fsfer_bench.data.images import DecodeJob, decode_files
from fsfer_bench.data.loading import DataSources, load_dataset
from fsfer_bench.data.near_duplicates import (
    THRESHOLD,
    cached_near_duplicates,
    drop_near_duplicates,
    find_near_duplicates,
    photographs,
)
from fsfer_bench.data.options import LoadOptions
from fsfer_bench.errors import DataError, FsferWarning
from fsfer_bench.experiment import build_pools, training_hash

SIDE = 48
COPY_IN_FER = "train/disgust/Training_75609687.jpg"  # a CK+ photograph, re-cropped and re-encoded
ITS_CK_FRAMES = [f"disgust/S055_003_0000000{k}.png" for k in (7, 8, 9)]


def _faces(n: int, seed: int) -> np.ndarray:
    """`n` smooth random pictures (noise upsampled from 6x6), as unlike each other as unrelated photographs."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (n, 6, 6), dtype=np.uint8)
    return np.stack([_rgb(Image.fromarray(c).resize((SIDE, SIDE), Image.BICUBIC)) for c in coarse])


def _rgb(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def _recopied(face: np.ndarray) -> np.ndarray:
    """A near-copy as another database would hold it: shifted a pixel, brighter, JPEG at quality 70."""
    moved = np.roll(face, 1, axis=1).astype(np.float32) * 0.9 + 20
    buffer = io.BytesIO()
    Image.fromarray(np.clip(moved, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=70)
    return _rgb(Image.open(buffer))


def _pool(name: str, images: np.ndarray) -> object:
    files = [f"img{k:03d}.png" for k in range(len(images))]
    return make_dataset(name, images, ["happy"] * len(images), files=files)


def test_a_recoded_shifted_copy_is_found_and_unrelated_faces_are_not():
    test = _faces(40, seed=1)
    train = np.concatenate([_faces(200, seed=2), _recopied(test[7])[None]])
    found = find_near_duplicates(_pool("Other-DB", train), _pool("Target-DB", test))
    assert [(i, j) for i, j, _ in found.pairs] == [(200, 7)]
    assert found.pairs[0][2] >= THRESHOLD


def test_a_flat_image_matches_nothing():
    flat = np.full((2, SIDE, SIDE, 3), 128, np.uint8)
    assert find_near_duplicates(_pool("A", flat), _pool("B", np.concatenate([flat, _faces(3, 0)]))).pairs == ()


def test_removal_warns_once_names_the_pair_and_notes_it():
    test = _faces(10, seed=3)
    train = _pool("Other-DB", np.concatenate([_faces(20, seed=4), _recopied(test[2])[None]]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kept, removal = drop_near_duplicates(train, _pool("Target-DB", test))
    [warning] = [w for w in caught if issubclass(w.category, FsferWarning)]
    message = str(warning.message)
    assert "Other-DB:img020.png ~ Target-DB:img002.png" in message and "\n" not in message
    assert len(kept) == 20 and "img020.png" not in kept.files
    assert removal.removed == ["Other-DB:img020.png"] and kept.notes["near_duplicates"]["removed"] == removal.removed


def test_strict_refuses_with_the_fix():
    test = _faces(10, seed=5)
    train = _pool("Other-DB", np.concatenate([_faces(5, seed=6), _recopied(test[0])[None]]))
    with pytest.raises(DataError, match="Other-DB:img005.png ~ Target-DB:img000.png.*drop --strict"):
        drop_near_duplicates(train, _pool("Target-DB", test), strict=True)


def test_found_pairs_are_cached_by_content(monkeypatch):
    test = _faces(10, seed=7)
    train = _pool("Other-DB", np.concatenate([_faces(5, seed=8), _recopied(test[4])[None]]))
    first = cached_near_duplicates(train, _pool("Target-DB", test))

    def fail(*_args):
        raise AssertionError("the cached pairs were not used")

    monkeypatch.setattr("fsfer_bench.data.near_duplicates.find_near_duplicates", fail)
    assert cached_near_duplicates(train, _pool("Target-DB", test)) == first
    changed = _pool("Other-DB", np.concatenate([_faces(5, seed=9), _recopied(test[4])[None]]))
    with pytest.raises(AssertionError, match="cached pairs"):  # other pixels, another entry
        cached_near_duplicates(changed, _pool("Target-DB", test))


# ---------------------------------------------------------------- the known copy in the shared data


def _ck_config(shared_data, **more):
    flags = {"method": "pixels", "split": "CKplus", "train_on": ["FER2013"], "data_root": str(shared_data),
             "image_size": SIDE, **more}  # fmt: skip
    return resolve_config(flags)


@pytest.mark.shared_data
def test_the_copy_matches_its_three_ck_frames_and_no_other_ck_image(shared_data):
    """Quick: all of CK+48 through its adapter against the one FER2013 file, decoded as the FER2013 adapter does."""
    ck = load_dataset("CKplus", DataSources.from_settings(shared_data), LoadOptions(image_size=SIDE))
    images, _ = decode_files([DecodeJob(str(shared_data / "FER2013" / COPY_IN_FER), SIDE)])
    fer = make_dataset("FER2013", images, ["disgusted"], files=[COPY_IN_FER])
    found = find_near_duplicates(fer, ck).named(fer, ck)
    assert sorted(b for _, b, _ in found) == [f"CKplus:{f}" for f in ITS_CK_FRAMES]


@pytest.mark.shared_data
@pytest.mark.slow
def test_the_ck_frames_copied_into_fer2013_are_found_without_alignment(shared_data):
    """All of FER2013's 28,709 training images against all of CK+48: the three frames and nothing else."""
    sources, options = DataSources.from_settings(shared_data), LoadOptions(image_size=SIDE)
    ck, fer = load_dataset("CKplus", sources, options), load_dataset("FER2013", sources, options)
    named = find_near_duplicates(fer, ck).named(fer, ck)
    assert sorted(b for a, b, _ in named) == [f"CKplus:{f}" for f in ITS_CK_FRAMES]
    assert {a for a, _, _ in named} == {f"FER2013:{COPY_IN_FER}"}


@pytest.mark.shared_data
@pytest.mark.slow
def test_a_run_removes_the_copy_and_the_training_hash_follows(shared_data):
    config = _ck_config(shared_data)
    with pytest.warns(FsferWarning, match="1 training image.*near-copies of 3 test image"):
        pools = build_pools(config)
    assert pools.train_near_duplicates_removed == 1 and COPY_IN_FER not in pools.train.files
    full = load_dataset("FER2013", DataSources.from_settings(shared_data), LoadOptions(image_size=SIDE))
    assert len(pools.train) == len(full) - 1
    assert training_hash(config, pools.train) != training_hash(config, full)
    with pytest.raises(DataError, match="Training_75609687.*drop --strict"):
        build_pools(_ck_config(shared_data, strict=True))


@pytest.mark.shared_data
@pytest.mark.slow
def test_the_record_counts_the_removal_and_names_the_file(shared_data, tmp_path):
    args = ["run", "--method", "pixels", "--split", "CKplus", "--train-on", "FER2013", "--image-size", str(SIDE),
            "--episodes", "3", "--shot", "1", "--data-root", str(shared_data), "--format", "json", "--out",
            str(tmp_path)]  # fmt: skip
    ran = CliRunner().invoke(main, args)
    assert ran.exit_code == 0, ran.output
    record = json.loads(ran.stdout)[0]
    assert record["train_near_duplicates_removed"] == 1
    assert record["train_notes"]["near_duplicates"]["removed"] == [f"FER2013:{COPY_IN_FER}"]


def _class_folder(folder, images: np.ndarray) -> str:
    for k, face in enumerate(images):
        (folder / "happy").mkdir(parents=True, exist_ok=True)
        Image.fromarray(face).save(folder / "happy" / f"img{k:03d}.png")
    return str(folder)


def test_data_check_against_names_the_pairs_and_strict_makes_them_fatal(tmp_path):
    test = _faces(12, seed=10)
    mine = _class_folder(tmp_path / "mine", test)
    theirs = _class_folder(tmp_path / "theirs", np.concatenate([_faces(30, seed=11), _recopied(test[3])[None]]))
    args = ["data", "check", "Mine", "--against", "Theirs", "--data-path", f"Mine={mine}", "--data-path",
            f"Theirs={theirs}", "--image-size", str(SIDE)]  # fmt: skip
    result = CliRunner().invoke(main, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [p[:2] for p in report["near_duplicates"]] == [["Mine:happy/img003.png", "Theirs:happy/img030.png"]]
    [finding] = [f for f in report["findings"] if f["kind"] == "near-copies in Theirs"]
    assert finding["severity"] == "warning" and "1 pair(s)" in finding["message"]
    strict = CliRunner().invoke(main, [*args, "--strict"])
    assert strict.exit_code == 1 and "FATAL    near-copies in Theirs" in strict.stdout


def test_generated_faces_are_not_photographs():
    drawn = replace(_pool("Drawn", _faces(3, 0)), files=None, notes={"content": {"generator": "test"}})
    assert not photographs(drawn).any() and photographs(_pool("Other-DB", _faces(2, 0))).all()
    assert find_near_duplicates(drawn, drawn).pairs and cached_near_duplicates(drawn, drawn).pairs == ()


@pytest.mark.slow
def test_generated_faces_are_not_compared_so_the_main_job_keeps_its_training_pool():
    """SynFACS-lab and -wild hold disjoint people, yet a few drawn faces of different people correlate past the
    threshold: the check leaves generated faces out, and the README's main job trains on all 2,800."""
    pools = build_pools(resolve_config({"method": "egsnet", "split": "SynFACS_C"}))
    assert pools.train_near_duplicates_removed == 0 and len(pools.train) == 2800
    assert not photographs(pools.train).any() and photographs(_pool("Other-DB", _faces(2, 0))).all()
