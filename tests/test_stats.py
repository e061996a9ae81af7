"""Confidence intervals and paired tests against hand computations."""

import numpy as np
import pytest
from scipy import stats as st

from fsfer_bench.stats import (
    SEEDS_X_EPISODES,
    crossed_estimate,
    episode_estimate,
    holm,
    nested_estimate,
    paired_compare,
    summarise,
)


def test_t_interval_matches_the_formula():
    rng = np.random.default_rng(0)
    x = rng.uniform(40, 90, size=25)
    s = summarise(x)
    expected = st.t.ppf(0.975, 24) * x.std(ddof=1) / np.sqrt(25)
    assert s.mean == pytest.approx(x.mean())
    assert s.ci95 == pytest.approx(expected)
    assert s.ci95_z == pytest.approx(1.959964 * x.std(ddof=1) / 5, rel=1e-5)
    assert s.ci95 > s.ci95_z  # t is wider than z at small n


def test_single_value_has_no_interval():
    assert np.isnan(summarise([50.0]).ci95)


def test_paired_compare_counts_and_sign():
    a = np.array([60, 70, 80, 90, 50.0])
    b = np.array([50, 70, 70, 80, 60.0])
    c = paired_compare(a, b)
    assert (c.wins, c.ties, c.losses) == (3, 1, 1)
    assert c.mean_diff == pytest.approx(4.0)
    assert c.t_pvalue == pytest.approx(st.ttest_rel(a, b).pvalue)


def test_paired_compare_refuses_unpaired():
    with pytest.raises(ValueError, match="same episodes"):
        paired_compare([1, 2, 3], [1, 2])


def test_holm_adjustment():
    adjusted = holm([0.01, 0.04, 0.03])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06])


def test_differences_without_spread_are_certain_either_way():
    assert paired_compare([60.0, 70.0, 80.0], [50.0, 60.0, 70.0]).t_pvalue == 0.0


# --- seeds x episodes ---------------------------------------------------------------------------------------


def _two_way_variance_by_hand(y: np.ndarray) -> float:
    """Var of the grand mean from the sums of squares, written out cell by cell."""
    s, e = y.shape
    grand = sum(y[i, j] for i in range(s) for j in range(e)) / (s * e)
    rows = [sum(y[i]) / e for i in range(s)]
    cols = [sum(y[:, j]) / s for j in range(e)]
    ss_seeds = e * sum((r - grand) ** 2 for r in rows)
    ss_episodes = s * sum((c - grand) ** 2 for c in cols)
    ss_residual = sum((y[i, j] - rows[i] - cols[j] + grand) ** 2 for i in range(s) for j in range(e))
    ms_s, ms_e, ms_r = ss_seeds / (s - 1), ss_episodes / (e - 1), ss_residual / ((s - 1) * (e - 1))
    seed_var, episode_var = max(ms_s - ms_r, 0) / e, max(ms_e - ms_r, 0) / s
    return seed_var / s + episode_var / e + ms_r / (s * e)


def test_crossed_standard_error_is_the_two_way_variance_of_the_mean():
    rng = np.random.default_rng(1)
    y = 60 + rng.normal(0, 2, (4, 1)) + rng.normal(0, 8, (1, 30)) + rng.normal(0, 3, (4, 30))
    est = crossed_estimate(y)
    assert est.mean == pytest.approx(y.mean()) and (est.seeds, est.episodes) == (4, 30)
    assert est.se == pytest.approx(np.sqrt(_two_way_variance_by_hand(y)))
    assert est.basis == SEEDS_X_EPISODES


def test_crossed_interval_reduces_to_student_t_when_one_source_alone_varies():
    rng = np.random.default_rng(2)
    seeds_only = rng.normal(60, 3, (3, 1)) + np.zeros((3, 50))  # every episode the same: retraining only
    t_over_seeds = st.t.ppf(0.975, 2) * seeds_only[:, 0].std(ddof=1) / np.sqrt(3)
    assert crossed_estimate(seeds_only).ci95 == pytest.approx(t_over_seeds)
    episodes_only = rng.normal(60, 10, (1, 40)) + np.zeros((5, 40))  # every seed the same: episodes only
    t_over_episodes = st.t.ppf(0.975, 39) * episodes_only[0].std(ddof=1) / np.sqrt(40)
    assert crossed_estimate(episodes_only).ci95 == pytest.approx(t_over_episodes)


def test_crossed_interval_counts_episodes_that_the_seed_means_hide():
    """Seeds that barely differ on one shared episode set: the t over seed means is far too narrow."""
    rng = np.random.default_rng(3)
    y = 60 + rng.normal(0, 0.1, (3, 1)) + rng.normal(0, 10, (1, 100)) + rng.normal(0, 1, (3, 100))
    over_seed_means = st.t.ppf(0.975, 2) * y.mean(axis=1).std(ddof=1) / np.sqrt(3)
    over_episode_means = st.t.ppf(0.975, 99) * y.mean(axis=0).std(ddof=1) / 10
    est = crossed_estimate(y)
    assert est.ci95 > 2 * over_seed_means and est.ci95 >= 0.95 * over_episode_means


def test_crossed_p_value_agrees_with_the_interval_and_the_sign():
    rng = np.random.default_rng(4)
    y = rng.normal(0, 1, (3, 1)) + rng.normal(0, 6, (1, 60)) + rng.normal(0, 3, (3, 60))
    centred = y - y.mean()
    half = crossed_estimate(centred).ci95
    at_edge = crossed_estimate(centred + half)  # zero on the interval's edge: p = alpha
    assert at_edge.p_value == pytest.approx(0.05, abs=1e-6)
    assert at_edge.p_above() == pytest.approx(0.025, abs=1e-6)
    assert crossed_estimate(centred - half).p_above() == pytest.approx(0.975, abs=1e-6)
    assert crossed_estimate(centred).p_value == pytest.approx(1.0)


def test_nested_and_episode_estimates_are_student_t():
    x = np.array([61.0, 64.0, 60.5])
    nested = nested_estimate(x, episodes=600)
    assert nested.ci95 == pytest.approx(st.t.ppf(0.975, 2) * x.std(ddof=1) / np.sqrt(3))
    assert nested.p_value == pytest.approx(st.ttest_1samp(x, 0.0).pvalue) and nested.basis == "seeds"
    one = episode_estimate(x)
    assert one.ci95 == pytest.approx(summarise(x).ci95) and one.basis == "episodes"
    assert np.isnan(episode_estimate([50.0]).ci95)


def test_crossed_estimate_needs_two_seeds_and_two_episodes():
    with pytest.raises(ValueError, match="two or more seeds"):
        crossed_estimate(np.ones((1, 10)))
