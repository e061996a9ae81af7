"""Confidence intervals and paired tests over per-episode accuracies, or over per-seed means.

Two 95% half-widths are reported: the Student-t one (ddof=1), which is right
for any number of episodes, and the 1.96·std/√n one that most few-shot papers
print, labelled as such so nobody compares the two unknowingly.

With several training seeds, the unit of inference is the seed: `summarise` of the
per-seed means, and `seed_paired_compare` of two methods' per-seed means (Student-t on
the S paired differences, S - 1 degrees of freedom).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as st


@dataclass(frozen=True)
class Summary:
    mean: float
    ci95: float  # Student-t half-width, ddof=1
    ci95_z: float  # 1.96 * std(ddof=1) / sqrt(n), the figure most papers print
    std: float
    n: int


def summarise(values: np.ndarray | list[float], confidence: float = 0.95) -> Summary:
    """Mean and confidence half-widths of per-episode values (accuracies in [0, 1] or %)."""
    a = np.asarray(values, dtype=np.float64)
    n = len(a)
    if n == 0:
        raise ValueError("no values to summarise")
    mean = float(a.mean())
    if n == 1:
        return Summary(mean, float("nan"), float("nan"), float("nan"), 1)
    std = float(a.std(ddof=1))
    sem = std / np.sqrt(n)
    t = float(st.t.ppf(0.5 + confidence / 2, df=n - 1))
    z = float(st.norm.ppf(0.5 + confidence / 2))
    return Summary(mean, t * sem, z * sem, std, n)


@dataclass(frozen=True)
class PairedComparison:
    mean_diff: float  # mean of a - b
    ci95: float  # t half-width of the mean difference
    t_pvalue: float
    wilcoxon_pvalue: float
    wins: int
    ties: int
    losses: int
    n: int


def paired_compare(a: np.ndarray | list[float], b: np.ndarray | list[float]) -> PairedComparison:
    """Compare two methods on the same episodes: a[i] and b[i] must be episode i of both."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired comparison needs the same episodes, got {len(a)} and {len(b)}")
    d = a - b
    s = summarise(d)
    if len(d) < 2:  # no test from one episode
        t_p = w_p = float("nan")
    elif np.allclose(d, d[0]):  # no spread: t is 0 or infinite
        t_p = w_p = 1.0 if np.isclose(d[0], 0) else 0.0
    else:
        t_p = float(st.ttest_rel(a, b).pvalue)
        w_p = float(st.wilcoxon(a, b, zero_method="zsplit").pvalue)
    return PairedComparison(
        mean_diff=s.mean,
        ci95=s.ci95,
        t_pvalue=t_p,
        wilcoxon_pvalue=w_p,
        wins=int((d > 0).sum()),
        ties=int((d == 0).sum()),
        losses=int((d < 0).sum()),
        n=len(d),
    )


@dataclass(frozen=True)
class SeedComparison:
    mean_diff: float  # mean over seeds of (mean of a - mean of b)
    ci95: float  # Student-t half-width over the seeds, S - 1 df
    t_pvalue: float  # one-sample t-test of the per-seed differences against 0
    n: int  # seeds


def seed_paired_compare(a: np.ndarray | list[float], b: np.ndarray | list[float]) -> SeedComparison:
    """Compare two methods seed by seed: a[s] and b[s] are the mean accuracies of seed s on the same episodes."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or len(a) < 2:
        raise ValueError(f"a comparison across seeds needs the same seeds, two or more; got {len(a)} and {len(b)}")
    d = a - b
    s = summarise(d)
    if np.allclose(d, d[0]):  # no spread: t is 0 or infinite
        p = 1.0 if np.isclose(d[0], 0) else 0.0
    else:
        p = float(st.ttest_1samp(d, 0.0).pvalue)
    return SeedComparison(s.mean, s.ci95, p, len(d))


def holm(pvalues: list[float] | np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    p = np.asarray(pvalues, dtype=np.float64)
    m = len(p)
    order = np.argsort(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * p[i])
        adjusted[i] = min(1.0, running)
    return adjusted
