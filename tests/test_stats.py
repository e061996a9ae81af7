"""Confidence intervals and paired tests against hand computations."""

import numpy as np
import pytest
from scipy import stats as st

from fsfer_bench.stats import holm, paired_compare, summarise


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
