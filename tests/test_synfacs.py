"""The SynFACS-lab and SynFACS-wild datasets: registration, content, caching, bad input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import fsfer_bench.data.adapters.synfacs as adapter
from fsfer_bench.data.options import LoadOptions
from fsfer_bench.data.synfacs.aus import CLASSES
from fsfer_bench.data.vocabulary import CONTEMPT, EXPRESSIONS
from fsfer_bench.errors import ConfigError, FsferWarning, UnknownNameError
from fsfer_bench.registry import get_dataset

SMALL = LoadOptions(image_size=32)


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Registered SynFACS sets of 3 subjects x 1 image per class, cached in a fresh folder."""
    monkeypatch.setattr(adapter, "SUBJECTS", 3)
    monkeypatch.setattr(adapter, "IMAGES_PER_CLASS", 1)
    monkeypatch.setenv("FSFER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize("name, domain", [("SynFACS-lab", "lab"), ("SynFACS-wild", "wild")])
def test_registered_without_files(tiny: Path, name: str, domain: str):
    entry = get_dataset(name)
    assert not entry.needs_files
    data = entry.load(Path("/nonexistent"), SMALL)
    assert data.name == name
    assert data.classes == tuple(c for c in EXPRESSIONS if c != CONTEMPT) == CLASSES
    assert data.class_counts() == dict.fromkeys(CLASSES, 3)
    assert set(data.domains) == {domain} and set(data.sources) == {"SynFACS"}
    assert data.has_subjects and sorted(set(data.subjects)) == [f"{domain}-000{i}" for i in range(3)]
    assert data.images.shape == (66, 32, 32, 3)
    assert data.landmarks is not None and data.landmarks.shape == (66, 68, 2) and data.landmarks.dtype == np.float32


def test_lab_and_wild_never_share_a_subject(tiny: Path):
    lab = adapter.load_synfacs("lab", SMALL)
    wild = adapter.load_synfacs("wild", SMALL)
    assert not set(lab.subjects) & set(wild.subjects)
    assert lab.content_id() != wild.content_id()


def test_second_load_comes_from_the_cache(tiny: Path):
    first = adapter.load_synfacs("lab", SMALL)
    second = adapter.load_synfacs("lab", SMALL)
    assert isinstance(second.images, np.memmap)  # read back, not regenerated
    np.testing.assert_array_equal(first.images, second.images)
    np.testing.assert_array_equal(first.landmarks, second.landmarks)
    assert first.content_id() == second.content_id()
    assert len(list(tiny.iterdir())) == 1


def test_cache_key_covers_size_subjects_and_seed(tiny: Path):
    a = adapter.load_synfacs("lab", SMALL)
    b = adapter.load_synfacs("lab", LoadOptions(image_size=40))
    c = adapter.load_synfacs("lab", SMALL, n_subjects=2)
    d = adapter.load_synfacs("lab", SMALL, seed=1)
    assert len(list(tiny.iterdir())) == 4  # four cache entries
    assert b.image_size == 40 and a.image_size != 40
    # the content identity (and so the episode sets) ignores the decode size, not the people or the seed
    assert a.content_id() == b.content_id()
    assert len({a.content_id(), c.content_id(), d.content_id()}) == 3


def test_corrupt_cache_is_rebuilt(tiny: Path):
    first = np.array(adapter.load_synfacs("wild", SMALL).images)
    (entry,) = tiny.iterdir()
    images = entry / "images.npy"
    with open(images, "r+b") as f:
        f.truncate(images.stat().st_size // 2)
    with pytest.warns(FsferWarning, match="corrupt"):
        again = adapter.load_synfacs("wild", SMALL)
    np.testing.assert_array_equal(np.asarray(again.images), first)
    assert adapter.load_synfacs("wild", SMALL).images.shape == first.shape  # and the rebuilt entry is good


def test_unwritable_cache_falls_back_to_memory(tiny: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("FSFER_CACHE", str(blocker))
    with pytest.warns(FsferWarning, match="cannot write the image cache"):
        data = adapter.load_synfacs("lab", SMALL)
    assert len(data) == 66 and not isinstance(data.images, np.memmap)
    assert blocker.read_text().startswith("a file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_cache_folder_falls_back_to_memory(tiny: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    monkeypatch.setenv("FSFER_CACHE", str(locked / "cache"))
    try:
        with pytest.warns(FsferWarning, match="cannot write"):
            assert len(adapter.load_synfacs("lab", SMALL)) == 66
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize("size", [31, 513])
def test_bad_image_size_is_refused_before_anything_is_cached(tiny: Path, size: int):
    with pytest.raises(ConfigError, match="32 to 512"):
        get_dataset("SynFACS-lab").load(Path("."), LoadOptions(image_size=size))
    assert not tiny.exists()


def test_unknown_domain(tiny: Path):
    with pytest.raises(UnknownNameError, match="wild"):
        adapter.load_synfacs("outdoor", SMALL)
    assert not tiny.exists()
