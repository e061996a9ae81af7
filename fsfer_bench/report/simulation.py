"""Simulated studies that check the report's inference: how often it calls a difference, and its coverage.

Per-episode accuracies are drawn as level + method difference + a per-(method, seed)
training effect + the episode's difficulty (one episode set, shared by every seed and
method, as `--episode-seed` makes it) + per-episode noise. The tables are built by the
real code path (`results.frame`, `make_cells`, `build_table`), so what is measured is
what `report` prints. The "true mean" of a method is its expected accuracy over
retrainings on the table's test episodes: level (+ difference) + mean difficulty.

    from fsfer_bench.report.simulation import Scenario, simulate
    print(simulate(Scenario(seeds=5, difference=3.0), tables=500))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fsfer_bench.record import Record
from fsfer_bench.report.cells import make_cells
from fsfer_bench.report.tables import ALPHA, Mark, build_table
from fsfer_bench.results import frame
from fsfer_bench.stats import paired_compare, summarise


@dataclass(frozen=True)
class Scenario:
    seeds: int = 5
    episodes: int = 100
    difference: float = 0.0  # true accuracy points of method A over method B
    seed_sd: float = 2.0  # spread of a method's mean from one training seed to another
    episode_sd: float = 10.0  # spread of episode difficulty, shared by both methods
    noise_sd: float = 4.0  # a method's own per-episode spread
    level: float = 60.0


@dataclass(frozen=True)
class Outcome:
    """Rates over the simulated tables."""

    tables: int
    fired: float  # the non-best cell marked significantly worse
    covered: float  # A's interval holds A's true mean
    fired_episode_level: float  # the same with the pooled episode-level test (the old report)
    covered_episode_level: float


def simulated_runs(scenario: Scenario, rng: np.random.Generator) -> tuple[pd.DataFrame, float]:
    """One study's records as `results.load` gives them, and method A's true mean."""
    s = scenario
    difficulty = rng.normal(0.0, s.episode_sd, s.episodes)
    records = []
    for method, shift in (("A", s.difference), ("B", 0.0)):
        for seed in range(s.seeds):
            trained = s.level + shift + rng.normal(0.0, s.seed_sd)
            accuracies = np.clip(trained + difficulty + rng.normal(0.0, s.noise_sd, s.episodes), 0.0, 100.0)
            record = Record(method=method, split="Sim", way=5, shot=1, query=15, seed=seed, episode_seed=0,
                            accuracies=accuracies.tolist(), episode_hash="sim")  # fmt: skip
            records.append((f"sim/{method}/{seed}.json", record.with_summary()))
    return frame(records), s.level + s.difference + float(difficulty.mean())


def simulate(scenario: Scenario, tables: int = 500, seed: int = 0) -> Outcome:
    rng = np.random.default_rng(seed)
    fired = covered = fired_old = covered_old = 0
    for _ in range(tables):
        runs, truth = simulated_runs(scenario, rng)
        table = build_table(make_cells(runs))
        column = table.columns[0]
        a, b = table.cell("A", column), table.cell("B", column)
        fired += Mark.WORSE in (a.mark, b.mark)
        covered += abs(a.mean - truth) <= a.ci95
        pooled = {m: np.concatenate(list(runs[runs["method"] == m]["accuracies"])) for m in ("A", "B")}
        fired_old += paired_compare(pooled["A"], pooled["B"]).t_pvalue < ALPHA
        old = summarise(pooled["A"])
        covered_old += abs(old.mean - truth) <= old.ci95
    return Outcome(tables, float(fired / tables), float(covered / tables), float(fired_old / tables),
                   float(covered_old / tables))  # fmt: skip
