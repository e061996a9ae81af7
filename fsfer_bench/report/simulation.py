"""Simulated studies that check the report's inference: how often it calls a difference, and its coverage.

Per-episode accuracies are drawn as level + method difference + a per-(method, seed)
training effect + the episode's difficulty (one episode set, shared by every seed and
method, as `--episode-seed` makes it, drawn afresh for each study from the episode
population), optionally with a per-(method, episode) part that does not cancel in a
paired difference, + per-(method, seed, episode) noise. The tables are built by the real code
path (`results.frame`, `make_cells`, `build_table`), so what is measured is what
`report` prints. The "true mean" of a method is the quantity its interval is for: the
expected accuracy over retraining and over the population of test episodes, level
(+ difference); the true difference of A and B is `difference`.

Beside it, the rule this replaced is measured on the same tables: a Student-t interval
over the seed means of the one shared episode set, which leaves out the episode sampling.

    from fsfer_bench.report.simulation import Scenario, simulate
    print(simulate(Scenario(seeds=5, difference=3.0), tables=500))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fsfer_bench.record import Record
from fsfer_bench.report.cells import Cell, make_cells
from fsfer_bench.report.tables import ALPHA, Mark, build_table
from fsfer_bench.results import frame
from fsfer_bench.stats import nested_estimate


@dataclass(frozen=True)
class Scenario:
    seeds: int = 5
    episodes: int = 100
    difference: float = 0.0  # true accuracy points of method A over every other method
    seed_sd: float = 2.0  # spread of a method's mean from one training seed to another
    episode_sd: float = 10.0  # spread of episode difficulty, shared by every method and seed
    noise_sd: float = 4.0  # a method's own per-episode spread, new for each seed
    method_episode_sd: float = 0.0  # how much a method's own episode difficulty differs from the shared one
    level: float = 60.0
    methods: int = 2  # A, then B, C, ... with no difference among them


@dataclass(frozen=True)
class Outcome:
    """Rates over the simulated tables."""

    tables: int
    fired: float  # any cell of the table marked significantly worse (size at no difference, else power)
    covered: float  # A's interval holds A's true mean
    difference_fired: float  # the interval of A - B (as `compare` prints it) excludes zero
    difference_covered: float  # ... holds the true difference
    fired_seed_means: float  # the rule replaced: t-test over the per-seed mean differences
    covered_seed_means: float  # ... and its t-interval over A's seed means


def simulated_runs(scenario: Scenario, rng: np.random.Generator) -> pd.DataFrame:
    """One study's records as `results.load` gives them."""
    s = scenario
    difficulty = rng.normal(0.0, s.episode_sd, s.episodes)
    records = []
    for index, method in enumerate(_method_names(s.methods)):
        shift = s.difference if index == 0 else 0.0
        own = difficulty + rng.normal(0.0, s.method_episode_sd, s.episodes)  # the same for every seed
        for seed in range(s.seeds):
            trained = s.level + shift + rng.normal(0.0, s.seed_sd)
            accuracies = np.clip(trained + own + rng.normal(0.0, s.noise_sd, s.episodes), 0.0, 100.0)
            record = Record(method=method, split="Sim", way=5, shot=1, query=15, seed=seed, episode_seed=0,
                            accuracies=accuracies.tolist(), episode_hash="sim")  # fmt: skip
            records.append((f"sim/{method}/{seed}.json", record.with_summary()))
    return frame(records)


def simulate(scenario: Scenario, tables: int = 500, seed: int = 0) -> Outcome:
    rng = np.random.default_rng(seed)
    truth = scenario.level + scenario.difference
    counts = np.zeros(6)
    for _ in range(tables):
        cells = make_cells(simulated_runs(scenario, rng))
        table = build_table(cells)
        a, b = cells[0], cells[1]  # A and B: make_cells sorts by method
        d = a.difference(b)
        old = _seed_means_rule(a, b)
        counts += [
            any(c.mark is Mark.WORSE for c in table.filled),
            abs(a.summary.mean - truth) <= a.summary.ci95,
            d.p_value < ALPHA,
            abs(d.mean - scenario.difference) <= d.ci95,
            old[0],
            abs(a.summary.mean - truth) <= old[1],
        ]
    return Outcome(tables, *(float(x) for x in counts / tables))


def _seed_means_rule(a: Cell, b: Cell) -> tuple[bool, float]:
    """The rule before the crossed estimate: whether its t-test over seed differences fires, and A's half-width."""
    episodes = a.episode_counts[0]
    fired = nested_estimate(a.seed_means - b.seed_means, episodes).p_value < ALPHA
    return fired, nested_estimate(a.seed_means, episodes).ci95


def _method_names(n: int) -> list[str]:
    return [chr(ord("A") + i) for i in range(n)]
