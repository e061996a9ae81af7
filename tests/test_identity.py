"""One identity wherever the data lives (issue 23 item 1).

For every adapter layout, the same fake dataset reached by an absolute root, a
relative root from two working directories, a copy in another folder and a
symlinked root must give the same `content_id`, episode hash and training hash
(and image-cache key): a file's identity is its path relative to its dataset folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import fakes
import pytest

from fsfer_bench.config import resolve_config
from fsfer_bench.data.adapters.building import cache_key
from fsfer_bench.data.loading import DataSources, load_dataset, locate
from fsfer_bench.data.paths import file_identity
from fsfer_bench.episodes import EpisodeSpec, sample_episodes
from fsfer_bench.experiment import training_hash


def _manifest(root: Path) -> Path:
    rows = [[f"img/{k}.png", label, f"P{k % 2}"] for k, label in enumerate(["happy", "sad", "angry"] * 2)]
    return fakes.manifest(root / "manifest", rows)


def _class_folders(name: str) -> Callable[[Path], Path]:
    return lambda root: fakes.class_folders(root / name, {"happy": 2, "sad": 2, "angry": 2})


def _affectnet(root: Path) -> Path:
    """AffectNet with its rows in validation.csv too: two images a class, so that episodes can be drawn."""
    folder = fakes.affectnet(root)
    shutil.copy(folder / "training.csv", folder / "validation.csv")
    return folder


def _mmi_manifest(root: Path) -> Path:
    rows = [[f"S{s}/{k}.png", label, f"S{s}"] for s in (1, 2) for k, label in enumerate(["anger", "happiness"])]
    return fakes.manifest(root / "MMI", rows)


#: (dataset name, fake maker) for every layout an adapter reads; the maker writes the folder under a root.
LAYOUTS: list[tuple[str, Callable[[Path], Path]]] = [
    ("CFEE", fakes.cfee),
    ("RAF-DB", lambda root: fakes.rafdb(root, parts=("basic",))),
    ("RAF-DB-compound", lambda root: fakes.rafdb(root, parts=("compound",))),
    ("AffectNet", _affectnet),
    ("miniImageNet", fakes.miniimagenet),
    ("manifest", _manifest),
    ("folder", _class_folders("folder")),
    ("FER2013", fakes.fer2013_csv),
    ("FER2013", fakes.fer2013_folders),
    ("SFEW", fakes.sfew),
    ("JAFFE", fakes.jaffe),
    ("CKplus", fakes.ckplus_native),
    ("CKplus", fakes.ck48),
    ("EmotioNet", fakes.emotionet),
    ("MMI", _mmi_manifest),
    ("Oulu-CASIA", _class_folders("Oulu-CASIA")),
]
IDS = [f"{name}-{make.__name__ if make.__name__ != '<lambda>' else k}" for k, (name, make) in enumerate(LAYOUTS)]


def identities(name: str, root: str) -> tuple[str, str, str, str]:
    """(content_id, episode hash, training hash, image-cache key) of dataset `name` found under data root `root`."""
    sources = DataSources.from_settings(root)
    pool = load_dataset(name, sources, fakes.options())
    spec = EpisodeSpec(way=2, shot=1, query=1, episodes=5, seed=0, subject_disjoint=False)
    episodes = sample_episodes(pool, spec)
    config = resolve_config({"method": "protonet", "split": "SynFACS_C", "image_size": 16})
    adapter, folder = locate(name, sources)
    key = cache_key(adapter.scan(folder, fakes.options()), fakes.options())  # a copy keeps its files' mtimes
    return pool.content_id(), episodes.hash, training_hash(config, pool), key


@pytest.mark.filterwarnings("ignore:.*(no images of|skipped).*")
@pytest.mark.parametrize(("name", "make"), LAYOUTS, ids=IDS)
def test_identity_does_not_depend_on_where_the_data_lives(tmp_path, monkeypatch, name, make):
    data = tmp_path / "data"
    folder = make(data)
    reference = identities(name, str(data))  # an absolute root
    assert not any(os.path.isabs(f) or str(tmp_path) in f for f in load_dataset(
        name, DataSources.from_settings(data), fakes.options()).files)  # fmt: skip

    monkeypatch.chdir(tmp_path)
    assert identities(name, "data") == reference, "relative root from the folder above"
    deeper = tmp_path / "elsewhere" / "deeper"
    deeper.mkdir(parents=True)
    monkeypatch.chdir(deeper)
    assert identities(name, "../../data") == reference, "relative root from another working directory"

    copy = tmp_path / "copy" / "datasets"
    shutil.copytree(data, copy, symlinks=True)
    assert identities(name, str(copy)) == reference, "a copy in another folder"

    link = tmp_path / "link"
    link.symlink_to(data, target_is_directory=True)
    assert identities(name, str(link)) == reference, "a symlinked root"
    assert identities(name, "../../link") == reference, "a relative symlinked root"
    assert folder.is_dir()


def test_data_path_given_relative_or_through_a_symlink(tmp_path, monkeypatch):
    """`--data-path NAME=PATH` is a dataset folder too: relative, absolute or symlinked, one identity."""
    folder = fakes.cfee(tmp_path / "data")
    (tmp_path / "alias").symlink_to(folder, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    ids = {
        load_dataset("CFEE", DataSources.from_settings(None, {"CFEE": path}), fakes.options()).content_id()
        for path in (str(folder), "data/CFEE", "alias", "./data/../data/CFEE")
    }
    assert len(ids) == 1


def test_file_identity_is_relative_to_the_dataset_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    assert file_identity("real", "real/sub/a.jpg") == "sub/a.jpg"
    assert file_identity(tmp_path / "real", "real/sub/a.jpg") == "sub/a.jpg"
    assert file_identity("link", "real/sub/../sub/a.jpg") == "sub/a.jpg"  # inside only once resolved
    assert file_identity("real", tmp_path / "link" / "sub" / "a.jpg") == "sub/a.jpg"
    assert file_identity("real", "real/fer2013.csv:12:Training") == "fer2013.csv:12:Training"
    assert file_identity("real", "real/sub/../sub/a.jpg") == "sub/a.jpg"
    assert file_identity(".", "sub/a.jpg") == "sub/a.jpg"
    assert file_identity("real/sub", "real/other/a.jpg") == "real/other/a.jpg"  # outside: kept as given


def test_the_committed_cfee_episodes_are_drawn_again_through_any_path(tmp_path, monkeypatch, shared_data):
    """The reference's CFEE_C episode hashes (migrated once, results/reference/migrate_identity.py) are what a
    fresh draw gives with the shared data reached through a symlink, relative to another working directory."""
    from fsfer_bench.experiment import sample_test_episodes, target_pool
    from fsfer_bench.results import iter_records
    from fsfer_bench.splits import get_split

    (tmp_path / "faces").symlink_to(shared_data, target_is_directory=True)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    study = Path(__file__).resolve().parents[1] / "results" / "reference" / "seed_study"
    committed = {r.shot: r.episode_hash for _, r in iter_records(study / "records" / "CFEE_C" / "protonet")}
    config = resolve_config({"method": "protonet", "split": "CFEE_C", "shots": (1, 5), "episodes": 600,
                             "data_root": "../faces"})  # fmt: skip
    pool = target_pool(get_split("CFEE_C"), DataSources.from_settings("../faces"), fakes.options())
    drawn = {shot: episodes.hash for shot, episodes in sample_test_episodes(config, pool).items()}
    assert drawn == committed
