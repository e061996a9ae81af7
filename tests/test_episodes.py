"""Episode sampling: determinism, hashing, subject-disjointness, and the errors users meet."""

from __future__ import annotations

import numpy as np
import pytest
from toydata import TOY_COMPOUND, make_toy

from fsfer_bench.episodes import EpisodeSet, EpisodeSpec, sample_episodes
from fsfer_bench.errors import EpisodeError


@pytest.fixture(scope="module")
def pool():
    return make_toy("Toy-test", TOY_COMPOUND, subjects=30, size=8)


def test_same_seed_same_episodes_and_hash(pool):
    spec = EpisodeSpec(way=5, shot=1, query=5, episodes=50, seed=3)
    a, b = sample_episodes(pool, spec), sample_episodes(pool, spec)
    assert a.hash == b.hash
    assert np.array_equal(a.support, b.support) and np.array_equal(a.query, b.query)


def test_other_seed_other_episodes(pool):
    a = sample_episodes(pool, EpisodeSpec(5, 1, 5, 50, seed=0))
    b = sample_episodes(pool, EpisodeSpec(5, 1, 5, 50, seed=1))
    assert a.hash != b.hash and not np.array_equal(a.support, b.support)


def test_episode_indices_belong_to_their_classes(pool):
    episodes = sample_episodes(pool, EpisodeSpec(4, 2, 3, 30, seed=0))
    for e in range(len(episodes)):
        for n, c in enumerate(episodes.classes[e]):
            assert np.all(pool.labels[episodes.support[e, n]] == c)
            assert np.all(pool.labels[episodes.query[e, n]] == c)
        assert len(set(episodes.classes[e])) == 4
        used = np.concatenate([episodes.support[e].ravel(), episodes.query[e].ravel()])
        assert len(np.unique(used)) == len(used)  # no image twice in an episode


def test_support_and_query_never_share_a_person(pool):
    episodes = sample_episodes(pool, EpisodeSpec(5, 5, 5, 100, seed=0))
    for e in range(len(episodes)):
        support_people = set(pool.subjects[episodes.support[e].ravel()])
        query_people = set(pool.subjects[episodes.query[e].ravel()])
        assert not support_people & query_people


def test_without_subject_disjointness_people_do_overlap(pool):
    episodes = sample_episodes(pool, EpisodeSpec(5, 5, 5, 100, seed=0, subject_disjoint=False))
    shared = [
        set(pool.subjects[episodes.support[e].ravel()]) & set(pool.subjects[episodes.query[e].ravel()])
        for e in range(len(episodes))
    ]
    assert any(shared)  # the guard is what prevents it, not luck


def test_hash_depends_on_what_the_pool_holds_not_on_its_pixels(pool):
    spec = EpisodeSpec(5, 1, 5, 10, seed=0)
    same_people_other_size = make_toy("Toy-test", TOY_COMPOUND, subjects=30, size=16)
    assert sample_episodes(pool, spec).hash == sample_episodes(same_people_other_size, spec).hash
    fewer = pool.where(np.arange(len(pool)) != 3)
    assert sample_episodes(pool, spec).hash != sample_episodes(fewer, spec).hash


def test_save_and_load_round_trip(pool, tmp_path):
    episodes = sample_episodes(pool, EpisodeSpec(5, 1, 5, 20, seed=0))
    episodes.save(tmp_path / "e.npz")
    loaded = EpisodeSet.load(tmp_path / "e.npz")
    assert loaded.hash == episodes.hash and loaded.spec == episodes.spec


def test_way_larger_than_classes_is_a_clear_error(pool):
    with pytest.raises(EpisodeError, match=r"--way 7 is larger than the 6 usable classes.*--way 6"):
        sample_episodes(pool, EpisodeSpec(way=7, shot=1, query=5, episodes=5))


def test_class_too_small_names_class_count_and_need(pool):
    small = pool.where(~((pool.labels == 0) & (np.arange(len(pool)) % 3 != 0)))
    count = int((small.labels == 0).sum())
    with pytest.raises(EpisodeError) as err:
        sample_episodes(small, EpisodeSpec(5, 5, count, 5))
    message = str(err.value)
    assert f"'{pool.classes[0]}'" in message and f"has {count} usable images" in message
    assert f"needs {count + 5}" in message and "--min-per-class" in message


def test_min_per_class_drops_small_classes_explicitly(pool):
    small = pool.where(~((pool.labels == 0) & (np.arange(len(pool)) % 3 != 0)))
    need = int((small.labels == 0).sum()) + 1
    episodes = sample_episodes(small, EpisodeSpec(5, 1, need - 1, 10), min_per_class=need)
    assert 0 not in episodes.classes


def test_bad_spec_values():
    with pytest.raises(EpisodeError, match="--shot must be at least 1"):
        EpisodeSpec(shot=0)
