"""The SynFACS expression table: Du et al.'s classes, their AUs, and appalled vs hatred."""

from __future__ import annotations

import numpy as np
import pytest

from fsfer_bench.data.synfacs.aus import (
    AU_INDEX,
    AUS,
    CLASSES,
    EXPRESSIONS,
    au_vector,
    check_classes,
    sample_aus,
)
from fsfer_bench.data.vocabulary import CONTEMPT
from fsfer_bench.data.vocabulary import EXPRESSIONS as VOCABULARY
from fsfer_bench.errors import UnknownNameError


def _draws(name: str, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.array([sample_aus(name, rng) for _ in range(n)])


def test_classes_are_the_vocabulary_without_contempt():
    assert tuple(c for c in VOCABULARY if c != CONTEMPT) == CLASSES
    assert len(CLASSES) == 22


def test_neutral_has_no_au():
    assert not _draws("neutral", 20).any()


@pytest.mark.parametrize("name", [c for c in CLASSES if c != "neutral"])
def test_prototypical_aus_are_always_on_within_their_range(name: str):
    draws = _draws(name, 200)
    for au, (low, high) in EXPRESSIONS[name].prototypical.items():
        values = draws[:, AU_INDEX[au]]
        assert values.min() >= low and values.max() <= high
    allowed = set(EXPRESSIONS[name].prototypical) | set(EXPRESSIONS[name].optional)
    never = [AU_INDEX[a] for a in AUS if a not in allowed]
    assert not draws[:, never].any()


def test_optional_aus_follow_du_et_al_probabilities():
    draws = _draws("sad", 4000)
    for au, p in {1: 0.60, 6: 0.50, 11: 0.26, 17: 0.67}.items():
        assert abs((draws[:, AU_INDEX[au]] > 0).mean() - p) < 0.03
    default = _draws("awed", 4000)[:, AU_INDEX[26]]
    assert abs((default > 0).mean() - 0.4) < 0.03


def test_compound_classes_combine_their_basic_parents():
    happy, surprised = EXPRESSIONS["happy"].prototypical, EXPRESSIONS["surprised"].prototypical
    both = EXPRESSIONS["happily_surprised"].prototypical
    assert 12 in happy and 12 in both and {1, 2}.issubset(surprised) and {1, 2}.issubset(both)


def test_appalled_and_hatred_are_different_distributions_over_the_same_prototypical_aus():
    appalled, hatred = EXPRESSIONS["appalled"], EXPRESSIONS["hatred"]
    assert set(appalled.prototypical) == set(hatred.prototypical) == {4, 10}
    assert appalled != hatred


def test_appalled_and_hatred_are_separable_above_chance_but_not_perfectly():
    """Nearest centroid on AU vectors, centroids from 600 draws each, scored on 600 fresh draws each.

    This is the distribution-level check (the best case: no rendering, pose or
    identity in the way); it measured 0.88 when written. Chance is 0.5.
    """
    train = {name: _draws(name, 600, seed=1).mean(axis=0) for name in ("appalled", "hatred")}
    correct = 0
    for name in ("appalled", "hatred"):
        test = _draws(name, 600, seed=2)
        distance = {k: ((test - c) ** 2).sum(axis=1) for k, c in train.items()}
        other = "hatred" if name == "appalled" else "appalled"
        correct += int((distance[name] < distance[other]).sum())
    accuracy = correct / 1200
    assert 0.7 < accuracy < 0.97


def test_draws_are_reproducible():
    np.testing.assert_array_equal(_draws("awed", 5, seed=3), _draws("awed", 5, seed=3))


def test_unknown_class_names_the_valid_ones():
    with pytest.raises(UnknownNameError, match="happily_surprised"):
        sample_aus("happily-surprised", np.random.default_rng(0))
    with pytest.raises(UnknownNameError, match="contempt"):
        check_classes(["happy", "contempt"])


def test_check_classes_keeps_table_order():
    assert check_classes(["sad", "neutral"]) == ("neutral", "sad")
    assert check_classes(None) == CLASSES


def test_au_vector_rejects_an_au_it_cannot_render():
    assert au_vector({12: 0.5})[AU_INDEX[12]] == 0.5
    with pytest.raises(UnknownNameError):
        au_vector({14: 1.0})
