"""Episode sampling: determinism, hashing, subject-disjointness, shots as people, size bounds, and errors."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from toydata import TOY_COMPOUND, make_toy

from fsfer_bench.data.dataset import UNKNOWN_SUBJECT
from fsfer_bench.data.loading import DataSources, load_dataset
from fsfer_bench.data.options import LoadOptions
from fsfer_bench.episodes import MAX_EPISODE_INDICES, EpisodeSet, EpisodeSpec, sample_episodes
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


# ---- shots are people


def _uneven(pool):
    """The toy pool with people p000-p014 cut to 1 image per class; the others keep theirs."""
    few = np.array([int(s[1:]) < 15 for s in pool.subjects])
    first = np.zeros(len(pool), dtype=bool)
    for c in range(len(pool.classes)):
        for person in np.unique(pool.subjects):
            where = np.flatnonzero((pool.labels == c) & (pool.subjects == person))
            first[where[:1]] = True
    return pool.where(~few | first)


@pytest.fixture(scope="module")
def uneven():
    return _uneven(make_toy("Toy-test", TOY_COMPOUND, subjects=30, per_class=6, size=4))


def test_a_k_shot_support_holds_k_distinct_people_one_image_each(uneven):
    episodes = sample_episodes(uneven, EpisodeSpec(5, 5, 5, 200, seed=0))
    assert episodes.support_rule == "people"
    people = uneven.subjects[episodes.support]  # (E, N, K)
    distinct = np.array([[len(set(row)) for row in ep] for ep in people])
    assert np.all(distinct == 5)


def test_people_are_drawn_uniformly_for_the_support_and_images_uniformly_for_the_queries(uneven):
    # half the people hold 6 images per class, half 1: drawn by image, the many-image people filled 86% of
    # supports and so were barred from the queries, getting 0.71x their image share of queries
    many = np.array([int(s[1:]) >= 15 for s in uneven.subjects])
    episodes = sample_episodes(uneven, EpisodeSpec(5, 5, 5, 1000, seed=0))
    assert many[episodes.support].mean() == pytest.approx(0.5, abs=0.03)
    assert many[episodes.query].mean() / many.mean() == pytest.approx(1.0, abs=0.03)


def test_a_class_with_too_few_people_is_the_same_one_line_error(uneven):
    # class 0 keeps only 3 people, with all their images (6 each, enough images for 5 + 5)
    few = uneven.where((uneven.labels != 0) | np.isin(uneven.subjects, ["p020", "p021", "p022"]))
    with pytest.raises(EpisodeError) as err:
        sample_episodes(few, EpisodeSpec(5, 5, 5, 5))
    message = str(err.value)
    assert f"class '{few.classes[0]}'" in message and "has 3 people" in message and "5 distinct people" in message
    assert "--shot" in message and "--min-per-class" in message and "\n" not in message
    kept = sample_episodes(few, EpisodeSpec(5, 5, 5, 10), min_per_class=10)
    assert 0 not in kept.classes


def test_queries_need_images_outside_the_support_people(uneven):
    # class 0: 5 people of 6 images and 1 of 1: a support of the 5 big ones leaves 1 image for 5 queries
    people = ["p020", "p021", "p022", "p023", "p024", "p000"]
    few = uneven.where((uneven.labels != 0) | np.isin(uneven.subjects, people))
    with pytest.raises(EpisodeError, match=r"only 1 of them outside its 5 people with most images.*--query"):
        sample_episodes(few, EpisodeSpec(5, 5, 5, 5))


def test_pools_without_subject_ids_keep_drawing_by_image(pool):
    anonymous = replace(pool, subjects=np.full(len(pool), UNKNOWN_SUBJECT))
    episodes = sample_episodes(anonymous, EpisodeSpec(5, 5, 5, 20, seed=0))
    assert episodes.support_rule == "images"


def test_the_support_rule_enters_the_hash(pool):
    episodes = sample_episodes(pool, EpisodeSpec(5, 1, 5, 10, seed=0))
    relabelled = replace(episodes, support_rule="images")
    assert episodes.support_rule == "people" and relabelled.hash != episodes.hash


def test_every_5_shot_support_of_ck48_holds_5_people(shared_data):
    ck = load_dataset("CKplus", DataSources(shared_data), LoadOptions(image_size=16))
    episodes = sample_episodes(ck, EpisodeSpec(5, 5, 5, 300, seed=0))
    people = ck.subjects[episodes.support]
    assert episodes.support_rule == "people"
    assert all(len(set(row)) == 5 for ep in people for row in ep)


# ---- the size of an episode set


def test_too_many_episodes_is_refused_at_once_naming_the_flag_and_the_bound():
    biggest = MAX_EPISODE_INDICES // (5 * (5 + 15))
    EpisodeSpec(5, 5, 15, biggest)  # the bound itself is allowed
    with pytest.raises(EpisodeError) as err:
        EpisodeSpec(5, 5, 15, 1_000_000_000)
    assert str(err.value).startswith("--episodes 1000000000") and f"--episodes {biggest} or fewer" in str(err.value)


def test_episode_sets_are_int64_arrays_of_their_final_shape(pool):
    episodes = sample_episodes(pool, EpisodeSpec(4, 2, 3, 7, seed=0))
    shapes = {k: getattr(episodes, k).shape for k in ("classes", "support", "query")}
    assert shapes == {"classes": (7, 4), "support": (7, 4, 2), "query": (7, 4, 3)}
    assert {getattr(episodes, k).dtype for k in shapes} == {np.dtype(np.int64)}
