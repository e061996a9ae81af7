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
  MS_residual) / (S E) (each component truncated at zero), and a generalized pivot
  turns it into an interval and a p-value. A t-interval over the S seed means alone leaves out sigma_episode^2 / E,
  since the shared episodes move every seed mean together; pooling all S x E values as
  one sample leaves out most of sigma_seed^2.
- `nested_estimate`: each seed ran its own episode set, so each seed mean holds its own
  episode sampling, and the Student-t interval over the S seed means counts both.

For paired differences the same two functions take the differences a - b, paired by
seed and by episode.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as st
from scipy.optimize import brentq
from scipy.special import ndtr


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


# --- seeds and episodes --------------------------------------------------------------------------------

#: What an `Estimate`'s interval is over.
EPISODES = "episodes"  # one trained model: the sampling of test episodes only
SEEDS = "seeds"  # seeds on their own episode sets: t over the seed means (nested)
SEEDS_X_EPISODES = "seeds x episodes"  # seeds on one shared episode set: crossed two-way variance

#: Draws of the crossed estimate's generalized pivot; fixed, so that a table is the same on every run.
PIVOT_DRAWS = 4000
PIVOT_SEED = 0


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

    Model: y[s, e] = mu + seed effect + episode effect + residual, all independent. The mean's variance is
    estimated from the two-way mean squares (MS_seeds + MS_episodes - MS_residual) / (S E), each variance
    component kept at zero or above. With three seeds the seed mean square has two degrees of freedom, and a
    Satterthwaite t-interval covers only about 92% when retraining dominates; so the interval and p-value come
    from the generalized pivot mu* = mean - Z sqrt(V*), where V* redraws each mean square from its scaled
    chi-square (fixed draws, `PIVOT_DRAWS`), which covers 95-97% whether seeds vary a lot or barely.
    """
    y = np.asarray(table, dtype=np.float64)
    if y.ndim != 2 or y.shape[0] < 2 or y.shape[1] < 2:
        raise ValueError(f"a crossed estimate needs two or more seeds and episodes, got a table of shape {y.shape}")
    s, e = y.shape
    grand, seed_means, episode_means = float(y.mean()), y.mean(axis=1), y.mean(axis=0)
    ms = np.array([e * seed_means.var(ddof=1), s * episode_means.var(ddof=1), 0.0])
    df = np.array([s - 1, e - 1, (s - 1) * (e - 1)])
    ms[2] = float(((y - seed_means[:, None] - episode_means[None, :] + grand) ** 2).sum()) / df[2]
    variance = _mean_variance(ms[None, :], s * e)[0]
    sds = np.sqrt(np.maximum(ms[:2] - ms[2], 0.0) / (e, s))
    parts = {"seed_sd": float(sds[0]), "episode_sd": float(sds[1]), "residual_sd": math.sqrt(ms[2])}
    if variance == 0:
        return Estimate(grand, 0.0, 0.0, 1.0 if np.isclose(grand, 0) else 0.0, SEEDS_X_EPISODES, s, e, **parts)
    draws = ms * df / _chi_square_draws(tuple(df))
    pivot_sd = np.sqrt(_mean_variance(draws, s * e))
    p = float(np.mean(2 * ndtr(-abs(grand) / pivot_sd)))
    half = _pivot_half_width(pivot_sd)
    return Estimate(grand, float(half), math.sqrt(variance), p, SEEDS_X_EPISODES, s, e, **parts)


def _pivot_half_width(pivot_sd: np.ndarray) -> float:
    """The 97.5% point of |mean* - mean|, a mixture of normals with standard deviations `pivot_sd`: the root of
    mean(2 Phi(-h / sd)) = 0.05, bracketed near the quantile of the draws' own |Z| sd to keep it cheap."""
    excess = lambda h: float(np.mean(2 * ndtr(-h / pivot_sd))) - 0.05  # noqa: E731
    rough = float(np.quantile(np.abs(_normal_draws()) * pivot_sd, 0.95))
    low, high = 0.8 * rough, 1.25 * rough
    if excess(low) < 0 or excess(high) > 0:  # outside the bracket: every root lies between these two
        low, high = 1.959964 * float(pivot_sd.min()), 1.959964 * float(pivot_sd.max())
    return float(brentq(excess, low, high, xtol=1e-7 * rough))


def _mean_variance(ms: np.ndarray, cells: int) -> np.ndarray:
    """Variance of a two-way table's mean from rows of mean squares (seeds, episodes, residual), with the
    seed and episode variance components truncated at zero."""
    residual = ms[:, 2]
    return (np.maximum(ms[:, 0], residual) + np.maximum(ms[:, 1], residual) - residual) / cells


@functools.lru_cache(maxsize=64)
def _chi_square_draws(df: tuple[int, int, int]) -> np.ndarray:
    """The pivot's fixed chi-square draws for these degrees of freedom (read-only; the same on every call)."""
    draws = np.random.default_rng(PIVOT_SEED).chisquare(df, size=(PIVOT_DRAWS, 3))
    draws.flags.writeable = False
    return draws


@functools.lru_cache(maxsize=1)
def _normal_draws() -> np.ndarray:
    draws = np.random.default_rng(PIVOT_SEED + 1).standard_normal(PIVOT_DRAWS)
    draws.flags.writeable = False
    return draws
