"""Confidence intervals and paired tests over per-episode accuracies, or over training seeds and episodes.

Two 95% half-widths are reported for one set of episodes: the Student-t one (ddof=1),
which is right for any number of episodes, and the 1.96·std/√n one that most few-shot
papers print, labelled as such so nobody compares the two unknowingly.

With several training seeds, an `Estimate` is for the method's *expected accuracy over
retraining and over the population of test episodes*: the mean a new training seed
would score on a new draw of episodes from the same pool and sampling rules. Two
sources of noise count, and the design decides how:

- `crossed_estimate`: every seed ran the same episodes (one `--episode-seed`), so the
  per-episode accuracies form a seeds x episodes table with crossed factors. Its mean's
  variance is sigma_seed^2 / S + sigma_episode^2 / E + sigma_residual^2 / (S E); a
  two-way ANOVA without replication estimates it as (MS_seeds + MS_episodes -
  MS_residual) / (S E) (each component truncated at zero); the interval gives the
  seed part and the rest each its own t quantile. A t-interval over the S seed means
  alone leaves out sigma_episode^2 / E, since the shared episodes move every seed mean
  together; pooling all S x E values as one sample leaves out most of sigma_seed^2.
- `nested_estimate`: each seed ran its own episode set, so each seed mean holds its own
  episode sampling, and the Student-t interval over the S seed means counts both.

For paired differences the same two functions take the differences a - b, paired by
seed and by episode.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats as st
from scipy.optimize import brentq
from scipy.special import stdtrit


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


# --- seeds and episodes --------------------------------------------------------------------------------

#: What an `Estimate`'s interval is over.
EPISODES = "episodes"  # one trained model: the sampling of test episodes only
SEEDS = "seeds"  # seeds on their own episode sets: t over the seed means (nested)
SEEDS_X_EPISODES = "seeds x episodes"  # seeds on one shared episode set: crossed two-way variance


@dataclass(frozen=True)
class Estimate:
    """A mean with its standard error, 95% half-width and two-sided p-value (of "true mean = 0").

    `basis` says what the interval counts (`EPISODES`, `SEEDS` or `SEEDS_X_EPISODES`); with several seeds it is
    for the expected accuracy over retraining and over the population of test episodes. The standard deviations
    of the crossed variance components (training seed, episode, residual) are NaN where not estimated.
    Every interval here is symmetric about the mean, so one-sided p-values follow from the two-sided one.
    """

    mean: float
    ci95: float
    se: float
    p_value: float
    basis: str
    seeds: int
    episodes: int  # per seed
    seed_sd: float = float("nan")
    episode_sd: float = float("nan")
    residual_sd: float = float("nan")

    def p_above(self) -> float:
        """One-sided p-value of "true mean <= 0" against "true mean > 0"."""
        if math.isnan(self.p_value):
            return float("nan")
        return self.p_value / 2 if self.mean > 0 else 1 - self.p_value / 2


def _t_estimate(values: np.ndarray, basis: str, seeds: int, episodes: int) -> Estimate:
    """Student-t over `values` (n - 1 df); NaN interval and p-value for one value, none needed without spread."""
    n, mean = len(values), float(values.mean())
    if n == 1:
        return Estimate(mean, float("nan"), float("nan"), float("nan"), basis, seeds, episodes)
    se = float(values.std(ddof=1)) / math.sqrt(n)
    if se == 0:  # no spread: the mean is certain, t is 0 or infinite
        return Estimate(mean, 0.0, 0.0, 1.0 if np.isclose(mean, 0) else 0.0, basis, seeds, episodes)
    p = float(2 * st.t.sf(abs(mean) / se, n - 1))
    return Estimate(mean, float(st.t.ppf(0.975, n - 1)) * se, se, p, basis, seeds, episodes)


def episode_estimate(values: np.ndarray | list[float]) -> Estimate:
    """Student-t over the per-episode values of one trained model (for that model only, not for a retraining)."""
    a = np.asarray(values, dtype=np.float64)
    if len(a) == 0:
        raise ValueError("no values to summarise")
    return _t_estimate(a, EPISODES, 1, len(a))


def nested_estimate(seed_means: np.ndarray | list[float], episodes: int) -> Estimate:
    """Student-t over S seed means (S - 1 df) where every seed drew its own `episodes` test episodes, so that
    each seed mean carries its own episode sampling as well as its training."""
    a = np.asarray(seed_means, dtype=np.float64)
    if len(a) < 2:
        raise ValueError(f"an estimate across seeds needs two or more seeds, got {len(a)}")
    return _t_estimate(a, SEEDS, len(a), episodes)


def crossed_estimate(table: np.ndarray) -> Estimate:
    """The mean of a seeds x episodes table (every seed on the same episodes), with an interval and p-value for
    the expected accuracy over retraining and over the population of test episodes.

    Model: y[s, e] = mu + seed effect + episode effect + residual, all independent. The mean's variance,
    sigma_seed^2 / S + sigma_episode^2 / E + sigma_residual^2 / (S E), is estimated in two parts from the
    two-way mean squares: V_seeds = MS_seeds / (S E), the squared standard error of the S seed means (the
    interval the report used before, with its S - 1 degrees of freedom), and V_episodes = (MS_episodes -
    MS_residual) / (S E) >= 0, the episode sampling that the shared episodes hide from the seed means
    (E - 1 degrees of freedom). The half-width gives each part its own t quantile, sqrt(t(S - 1)^2 V_seeds +
    t(E - 1)^2 V_episodes). In simulation (tests/test_seed_inference.py) it covers 94-98%, whether seeds vary
    by 0.3 or 3 points; a single Satterthwaite t covers only about 92% with three seeds when retraining
    dominates, and dropping a seed part estimated below zero, about 91% for differences.
    """
    y = np.asarray(table, dtype=np.float64)
    if y.ndim != 2 or y.shape[0] < 2 or y.shape[1] < 2:
        raise ValueError(f"a crossed estimate needs two or more seeds and episodes, got a table of shape {y.shape}")
    s, e = y.shape
    grand, seed_means, episode_means = float(y.mean()), y.mean(axis=1), y.mean(axis=0)
    ms_seeds, ms_episodes = e * float(seed_means.var(ddof=1)), s * float(episode_means.var(ddof=1))
    df_residual = (s - 1) * (e - 1)
    ms_residual = float(((y - seed_means[:, None] - episode_means[None, :] + grand) ** 2).sum()) / df_residual
    parts = {
        "seed_sd": math.sqrt(max(ms_seeds - ms_residual, 0.0) / e),
        "episode_sd": math.sqrt(max(ms_episodes - ms_residual, 0.0) / s),
        "residual_sd": math.sqrt(ms_residual),
    }
    variances = ((ms_seeds / (s * e), s - 1), (max(ms_episodes - ms_residual, 0.0) / (s * e), e - 1))
    if sum(v for v, _ in variances) == 0:  # no spread at all: the mean is certain
        return Estimate(grand, 0.0, 0.0, 1.0 if np.isclose(grand, 0) else 0.0, SEEDS_X_EPISODES, s, e, **parts)

    def half_width(alpha: float) -> float:
        return math.sqrt(sum(float(stdtrit(df, alpha / 2)) ** 2 * v for v, df in variances if v > 0))  # t quantile

    se = math.sqrt(sum(v for v, _ in variances))
    return Estimate(grand, half_width(0.05), se, _p_value(abs(grand), half_width), SEEDS_X_EPISODES, s, e, **parts)


def _p_value(distance: float, half_width: Callable[[float], float]) -> float:
    """The alpha at which the (1 - alpha) interval's edge reaches `distance` from the mean: the two-sided
    p-value of a symmetric interval whose half-width shrinks as alpha grows."""
    if distance <= half_width(1.0 - 1e-12):
        return 1.0
    if distance >= half_width(1e-100):  # reported as 0: below 1e-100
        return 0.0
    log_alpha = brentq(lambda x: half_width(10.0**x) - distance, -100.0, math.log10(1.0 - 1e-12), xtol=1e-10)
    return float(10.0**log_alpha)
