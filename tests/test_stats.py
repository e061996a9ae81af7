"""Confidence intervals and paired tests against hand computations."""

import numpy as np
import pytest
from scipy import stats as st

from fsfer_bench.stats import holm, paired_compare, seed_paired_compare, summarise


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


def test_seed_paired_compare_is_a_t_test_on_per_seed_differences():
    a, b = np.array([61.0, 64.0, 60.5]), np.array([60.0, 61.0, 61.5])
    c = seed_paired_compare(a, b)
    d = a - b
    assert c.mean_diff == pytest.approx(d.mean()) and c.n == 3
    assert c.ci95 == pytest.approx(st.t.ppf(0.975, 2) * d.std(ddof=1) / np.sqrt(3))
    assert c.t_pvalue == pytest.approx(st.ttest_1samp(d, 0.0).pvalue)


def test_differences_without_spread_are_certain_either_way():
    assert seed_paired_compare([60.0, 62.0], [59.0, 61.0]).t_pvalue == 0.0
    assert seed_paired_compare([60.0, 62.0], [60.0, 62.0]).t_pvalue == 1.0
    assert paired_compare([60.0, 70.0, 80.0], [50.0, 60.0, 70.0]).t_pvalue == 0.0


def test_seed_comparison_needs_two_matching_seeds():
    with pytest.raises(ValueError, match="two or more"):
        seed_paired_compare([60.0], [50.0])
