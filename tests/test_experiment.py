"""`experiment.run` on toy data: the episode seed, the training hash, the model cache's damage handling."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from toydata import TOY_COMPOUND, make_toy, register_toys

from fsfer_bench.cli import main
from fsfer_bench.config import resolve_config
from fsfer_bench.data.dataset import replace
from fsfer_bench.data.options import LoadOptions
from fsfer_bench.data.vocabulary import BASIC_WITH_NEUTRAL
from fsfer_bench.episodes import EpisodeSet
from fsfer_bench.errors import FsferWarning
from fsfer_bench.experiment import build_pools, run, training_hash
from fsfer_bench.registry import register_dataset
from fsfer_bench.results import Store
from fsfer_bench.splits import Split, register_split

SIZE = 16
#: The people of the training source, changed by tests to delete images from it between runs.
TRAIN_PEOPLE = {"n": 12}
TINY_SET = ["train.steps=2", "train.val_every=0", "train.way=3", "train.shot=1", "train.query=2",
            "train.batch_size=16", "train.augment=false"]  # fmt: skip


@pytest.fixture(autouse=True, scope="module")
def toys():
    register_toys(size=SIZE, subjects=12)

    @register_dataset("Rec-train", layout="in memory", source="tests", needs_files=False)
    def _train(_root, options: LoadOptions):
        return make_toy("Rec-train", BASIC_WITH_NEUTRAL, subjects=TRAIN_PEOPLE["n"], size=options.image_size, seed=1)

    register_split(Split("Rec_C", "Toy-test", TOY_COMPOUND, ("Rec-train",), "toy split with a changeable training set"))


@pytest.fixture(autouse=True)
def _people():
    TRAIN_PEOPLE["n"] = 12
    yield
    TRAIN_PEOPLE["n"] = 12


def _config(tmp_path, **run_settings):
    flags = {"method": "protonet", "split": "Rec_C", "episodes": 6, "query": 3, "image_size": SIZE,
             "device": "cpu", "shots": (1,), "out": str(tmp_path), **run_settings}  # fmt: skip
    return resolve_config(flags, None, TINY_SET)


def test_training_seeds_share_the_test_episodes_of_one_episode_seed(tmp_path):
    a = run(_config(tmp_path, seed=0))[0]
    b = run(_config(tmp_path, seed=1))[0]
    c = run(_config(tmp_path, seed=1, episode_seed=5))[0]
    assert a.episode_hash == b.episode_hash != c.episode_hash
    assert (a.seed, a.episode_seed, b.seed, b.episode_seed, c.episode_seed) == (0, 0, 1, 0, 5)
    assert a.training_hash != b.training_hash and b.training_hash == c.training_hash  # episodes do not train
    assert a.config_hash != b.config_hash and b.config_hash != c.config_hash
    stored = Store(tmp_path).episodes(a.episode_hash)  # written atomically, and reads back
    assert isinstance(stored, EpisodeSet) and stored.hash == a.episode_hash


def test_training_hash_follows_the_training_pool_not_test_only_settings(tmp_path):
    config = _config(tmp_path)
    pool = build_pools(config).train
    key = training_hash(config, pool)
    edited = pool.images.copy()
    edited[3, 0, 0] ^= 0xFF  # one pixel of one training image
    assert training_hash(config, replace(pool, images=edited)) != key
    assert training_hash(config, pool.subset(np.arange(len(pool) - 1))) != key  # one image deleted
    for test_only in ({"subject_disjoint": False}, {"episode_seed": 3}, {"episodes": 9}, {"way": 4}):
        assert training_hash(_config(tmp_path, **test_only), pool) == key, test_only


def test_decode_size_alone_leaves_the_episode_identity(tmp_path):
    small, large = (make_toy("T", TOY_COMPOUND, subjects=4, size=size, seed=2) for size in (16, 32))
    assert small.content_id() == large.content_id()
    assert small.content_id(pixels=True) != large.content_id(pixels=True)


def test_a_model_trained_before_training_images_were_deleted_is_not_reused(tmp_path):
    first = run(_config(tmp_path), reuse_training=True)[0]
    TRAIN_PEOPLE["n"] = 8  # a third of the training people deleted
    second = run(_config(tmp_path), reuse_training=True)[0]
    assert first.training["reused"] is False and second.training["reused"] is False
    assert first.training_hash != second.training_hash
    assert second.training["train_images"] < first.training["train_images"]
    third = run(_config(tmp_path), reuse_training=True)[0]
    assert third.training["reused"] is True and third.training_hash == second.training_hash


class _Hostile:
    def __reduce__(self):
        return (print, ("this pickle runs code when loaded",))


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(b"not a torch file"),
        lambda path: path.write_bytes(pickle.dumps(_Hostile())),
        lambda path: torch.save({"conv.weight": torch.zeros(1)}, path),  # weights of another model
        lambda path: path.with_suffix(".json").write_text("[1, 2"),
        lambda path: path.with_suffix(".json").write_text('{"not_a_field": 1}'),
    ],
    ids=["garbage", "hostile-pickle", "other-shapes", "torn-report", "wrong-report"],
)
def test_a_damaged_cached_model_is_named_retrained_and_overwritten(tmp_path, damage):
    config = _config(tmp_path)
    first = run(config, reuse_training=True)[0]
    weights = tmp_path / "models" / f"{first.training_hash}.pt"
    damage(weights)
    with pytest.warns(FsferWarning, match=rf"cached model unusable, retraining: .*{first.training_hash}") as caught:
        second = run(config, reuse_training=True)[0]
    assert "weights_only=False" not in str(caught[0].message)  # never advise loading a pickle
    assert second.training["reused"] is False and second.accuracies == first.accuracies
    third = run(config, reuse_training=True)[0]  # the entry was overwritten with a good one
    assert third.training["reused"] is True and third.accuracies == first.accuracies


def _cli(*args: str):
    return CliRunner().invoke(main, ["run", "--split", "Rec_C", "--image-size", str(SIZE), "--query", "3",
                                     "--shot", "1", "--device", "cpu", "--quiet",
                                     *(a for s in TINY_SET for a in ("--set", s)), *args])  # fmt: skip


def test_one_episode_prints_no_nan_and_stores_null_with_a_reason(tmp_path):
    text = _cli("--episodes", "1", "--out", str(tmp_path))
    assert text.exit_code == 0, text.output
    assert "nan" not in text.stdout and "± n/a (1 episode)" in text.stdout
    out = _cli("--episodes", "1", "--out", str(tmp_path), "--format", "json")
    [record] = json.loads(out.stdout, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))
    assert record["ci95"] is None and "1 episode" in record["interval_note"]
    assert record["episode_seed"] == 0 and record["schema"] == 2


@pytest.mark.parametrize("value", ["-1", "abc", "1.5"])
def test_a_bad_episode_seed_is_one_line_and_exit_2(tmp_path, value):
    result = _cli("--episodes", "2", "--episode-seed", value, "--out", str(tmp_path))
    assert result.exit_code == 2 and "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert errors == [f"error: --episode-seed takes a whole number >= 0, got '{value}'; e.g. --episode-seed 0"]
    assert not (tmp_path / "records").exists()


def test_sweep_takes_the_episode_seed_with_the_same_one_line_refusal(tmp_path):
    args = ["sweep", "--methods", "protonet", "--splits", "Rec_C", "--out", str(tmp_path), "--dry-run"]
    refused = CliRunner().invoke(main, [*args, "--episode-seed", "-3"])
    assert refused.exit_code == 2 and refused.stderr.strip().splitlines() == [
        "error: --episode-seed takes a whole number >= 0, got '-3'; e.g. --episode-seed 0"
    ]
    hashes = {}
    for seed in ("0", "4"):
        planned = CliRunner().invoke(main, [*args, "--episode-seed", seed, "--format", "json"])
        assert planned.exit_code == 0, planned.output
        hashes[seed] = {cell["config_hash"] for cell in json.loads(planned.stdout)}
    default = CliRunner().invoke(main, [*args, "--format", "json"])
    assert hashes["0"] == {cell["config_hash"] for cell in json.loads(default.stdout)}
    assert not hashes["0"] & hashes["4"]  # the episode seed is part of every cell's identity
