"""Which records make up one table cell: selection, repeated runs, seed pooling and pairing.

A *cell* is one method on one split at one shot. The store may hold several
records for it:

- several seeds: pooled by default, or kept apart as one row per seed. A pooled cell
  of two or more training seeds is summarised for the method's *expected accuracy over
  retraining and over the population of test episodes*: its mean is the mean of every
  seed's episodes, and its interval counts both sources of noise. Where every seed ran
  the same episode set (the usual case: one `--episode-seed`), seeds and episodes are
  crossed and `stats.crossed_estimate` splits the variance two ways; where each seed
  drew its own episodes, the Student-t interval over the seed means counts both
  (`stats.nested_estimate`). Tests against the cell use the differences paired by seed
  and by episode in the same way. A t-interval over the seed means of one shared episode
  set leaves out the episode sampling (EGS-Net on CFEE_C 5-shot: +-0.15 against +-0.79 with both
  counted), and treating every seed's episodes as one sample leaves out retraining
  (bench/bench_seed_inference.py);
- the same seed run again: only the newest record counts (a rerun replaces the
  run before it), and a warning says how many were set aside.

Two cells are *paired* only if they have the same seeds and, seed by seed, the
same episode set (hash) and the same number of episodes. Nothing here compares
cells that are not paired.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from fsfer_bench.errors import ConfigError, FsferWarning, StoreError, closest
from fsfer_bench.record import UNKNOWN, Record
from fsfer_bench.stats import Estimate, crossed_estimate, episode_estimate, nested_estimate


class UnpairedEpisodesError(StoreError):
    """Two cells whose episodes differ, so that a paired comparison would be meaningless."""


@dataclass(frozen=True)
class Selection:
    """What to read from the store; None means everything there."""

    methods: tuple[str, ...] | None = None
    splits: tuple[str, ...] | None = None
    shots: tuple[int, ...] | None = None
    seeds: tuple[int, ...] | None = None
    way: int | None = None


@dataclass(frozen=True, eq=False)
class Cell:
    """The runs of one method on one split and shot (one seed, or several pooled)."""

    method: str
    split: str
    shot: int
    way: int
    query: int  # queries per class per episode
    seeds: tuple[int, ...]
    episode_hashes: tuple[str, ...]  # one per seed, in seed order
    episode_counts: tuple[int, ...]
    accuracies: np.ndarray  # per episode, in percent, seeds concatenated in order
    paths: tuple[str, ...]
    listed_apart: bool = False  # one cell per seed instead of seeds pooled
    records: tuple[Record, ...] = ()  # one per seed, in seed order

    @property
    def row(self) -> str:
        """The row label: the method, and its seed when seeds are listed apart."""
        return f"{self.method} (seed {self.seeds[0]})" if self.listed_apart else self.method

    @property
    def across_seeds(self) -> bool:
        """True if the cell's figures come from its seeds (two or more), not from its episodes."""
        return len(self.seeds) >= 2

    @property
    def shares_episodes(self) -> bool:
        """True if the cell pools seeds that all ran one episode set, so that seeds and episodes are crossed."""
        return self.across_seeds and len(set(self.episode_hashes)) == 1 and len(set(self.episode_counts)) == 1

    @cached_property
    def seed_means(self) -> np.ndarray:
        """Each seed's mean accuracy, in seed order."""
        return np.array([part.mean() for part in np.split(self.accuracies, np.cumsum(self.episode_counts)[:-1])])

    @cached_property
    def summary(self) -> Estimate:
        """Mean and interval: over the seeds and the episode population with several seeds, else over the
        episodes of one trained model."""
        return self._estimate(self.accuracies, self.seed_means)

    def difference(self, other: Cell) -> Estimate:
        """This cell minus a paired cell, differences paired by seed and by episode, estimated as `summary` is."""
        if not self.pairs_with(other):
            raise UnpairedEpisodesError(f"{self.row} and {other.row} did not run the same episodes")
        return self._estimate(self.accuracies - other.accuracies, self.seed_means - other.seed_means)

    def _estimate(self, accuracies: np.ndarray, seed_means: np.ndarray) -> Estimate:
        if not self.across_seeds:
            return episode_estimate(accuracies)
        if self.shares_episodes:
            return crossed_estimate(accuracies.reshape(len(self.seeds), -1))
        return nested_estimate(seed_means, int(np.mean(self.episode_counts)))

    def flag(self, name: str) -> object:
        """One value of a per-record property for the whole cell: the value all seeds share, else "mixed"."""
        values = {_hashable(getattr(r, name)) for r in self.records}
        return values.pop() if len(values) == 1 else ("mixed" if values else None)

    @property
    def returned_final_stage(self) -> str:
        """ "no" if any seed returned weights from before its final stage, else the seeds' common answer."""
        answers = {r.returned_final_stage for r in self.records}
        for answer in ("no", UNKNOWN, "yes", "n/a"):
            if answer in answers:
                return answer
        return UNKNOWN

    @property
    def n_episodes(self) -> int:
        return len(self.accuracies)

    def pairs_with(self, other: Cell) -> bool:
        """True if both cells ran the very same episodes, seed by seed, in the same order, and, where seeds
        are pooled, every seed faced one episode set: a seed study varies training on a fixed test, and a
        change of test episodes between seeds would be mixed into the retraining variance."""
        same = (self.seeds, self.episode_hashes, self.episode_counts) == (
            other.seeds,
            other.episode_hashes,
            other.episode_counts,
        )
        return same and (not self.across_seeds or len(set(self.episode_hashes)) == 1)

    def paired_pvalue(self, other: Cell) -> float:
        """Two-sided p-value of "same expected accuracy" against a paired cell (`difference`)."""
        return self.difference(other).p_value

    def testable_against(self, other: Cell) -> bool:
        """Paired with `other`, and enough of it (seeds or episodes) for a t-test."""
        return self.pairs_with(other) and (self.across_seeds or self.n_episodes >= 2)

    def describe_episodes(self) -> str:
        runs = zip(self.seeds, self.episode_counts, self.episode_hashes)
        return "; ".join(f"seed {s}: {n} episodes, set {h}" for s, n, h in runs)


def select_runs(runs: pd.DataFrame, selection: Selection, root: str | Path) -> pd.DataFrame:
    """The store's rows (from `results.load`) that `selection` asks for, newest record per seed.

    Asking for a method, split, shot or seed with no runs is an error that lists what exists.
    """
    runs = _keep(runs, "method", selection.methods, root)
    runs = _keep(runs, "split", selection.splits, root)
    runs = _keep(runs, "shot", selection.shots, root)
    runs = _keep(runs, "seed", selection.seeds, root)
    runs = _one_way(runs, selection.way)
    return newest_per_seed(runs)


def _keep(runs: pd.DataFrame, field: str, wanted: tuple | None, root: str | Path) -> pd.DataFrame:
    if wanted is None:
        return runs
    present = sorted(runs[field].unique())
    for value in wanted:
        if value not in present:
            raise StoreError(_no_runs_message(field, value, present, root))
    return runs[runs[field].isin(wanted)]


def _no_runs_message(field: str, value: object, present: list, root: str | Path) -> str:
    hint = closest(str(value), [str(p) for p in present]) if isinstance(value, str) else ""
    listed = ", ".join(str(p) for p in present) or "none"
    return f"no runs with {field} {value!r} under {root}{hint} ({field}s with runs: {listed})"


def _one_way(runs: pd.DataFrame, way: int | None) -> pd.DataFrame:
    """Keep one episode width: accuracies of 5-way and 3-way episodes do not belong in one table."""
    ways = sorted(runs["way"].unique())
    if way is None:
        if len(ways) > 1:
            mixed = " and ".join(f"{w}-way" for w in ways)
            raise ConfigError(f"the selected runs mix {mixed} episodes; choose one with --way")
        return runs
    if way not in ways:
        raise StoreError(f"no {way}-way runs among the selected records (ways with runs: {', '.join(map(str, ways))})")
    return runs[runs["way"] == way]


def newest_per_seed(runs: pd.DataFrame) -> pd.DataFrame:
    """One record per (method, split, shot, seed): the newest; a rerun replaces the run before it."""
    key = ["method", "split", "shot", "seed"]
    order = runs.assign(_created=runs["created"].fillna(""), _id=runs["record_id"].fillna(""))
    newest = order.sort_values(["_created", "_id"]).drop_duplicates(key, keep="last")
    repeated = order[order.duplicated(key, keep=False)].drop_duplicates(key)
    if len(repeated):
        first = repeated.iloc[0]
        example = f"{first['method']} on {first['split']}, {first['shot']}-shot, seed {first['seed']}"
        warnings.warn(
            f"{len(runs) - len(newest)} older record(s) set aside: {len(repeated)} run(s) were repeated "
            f"(e.g. {example}); the newest record of each method, split, shot and seed is used",
            FsferWarning,
            stacklevel=3,
        )
    return newest.drop(columns=["_created", "_id"]).sort_values(key)


def make_cells(runs: pd.DataFrame, pool_seeds: bool = True) -> list[Cell]:
    """The cells of `runs` (already one record per seed): seeds pooled, or one cell per seed."""
    keys = ["method", "split", "shot"] if pool_seeds else ["method", "split", "shot", "seed"]
    return [_cell(group, listed_apart=not pool_seeds) for _, group in runs.groupby(keys, sort=True)]


def _cell(group: pd.DataFrame, listed_apart: bool) -> Cell:
    group = group.sort_values("seed")
    first = group.iloc[0]
    return Cell(
        method=first["method"],
        split=first["split"],
        shot=int(first["shot"]),
        way=int(first["way"]),
        query=int(first["query"]),
        seeds=tuple(int(s) for s in group["seed"]),
        episode_hashes=tuple(group["episode_hash"]),
        episode_counts=tuple(int(n) for n in group["n_episodes"]),
        accuracies=np.concatenate(list(group["accuracies"])),
        paths=tuple(group["path"]),
        listed_apart=listed_apart,
        records=tuple(group["record"]) if "record" in group else (),
    )


def find_cell(runs: pd.DataFrame, method: str, split: str, shot: int) -> Cell:
    """The pooled cell of one method on one split and shot, or an error saying where that method has runs."""
    mine = runs[runs["method"] == method]
    if mine.empty:
        raise StoreError(_no_runs_message("method", method, sorted(runs["method"].unique()), "the selected records"))
    cell = mine[(mine["split"] == split) & (mine["shot"] == shot)]
    if cell.empty:
        raise StoreError(f"no runs of {method} on {split} at {shot} shot(s); it has runs on {_where(mine)}")
    return make_cells(cell, pool_seeds=True)[0]


def _where(runs: pd.DataFrame) -> str:
    shots = runs.groupby("split")["shot"].apply(lambda s: ", ".join(map(str, sorted(set(s)))))
    return "; ".join(f"{split} (shots {s})" for split, s in shots.items())


def _hashable(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value
