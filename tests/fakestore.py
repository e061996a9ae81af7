"""Fake results stores for the report tests, written at test time through `results.Store`.

Accuracies are made from a seeded generator: each (split, shot, seed) has its
episodes' difficulty, shared by every method that ran those episodes, so the
paired tests see what real runs look like (methods track each other episode by
episode). Accuracies sit on the real grid of k / (way * query) * 100.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from fsfer_bench.data.vocabulary import COMPOUND
from fsfer_bench.record import SCHEMA
from fsfer_bench.results import Store

WAY, QUERY = 5, 15


def _rng(*key: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def difficulty(split: str, shot: int, seed: int, n: int) -> np.ndarray:
    """How easy each episode is (accuracy points around 0), the same for every method."""
    return _rng("episodes", split, shot, seed).normal(0.0, 10.0, n)


def on_grid(accuracies: np.ndarray, way: int = WAY, query: int = QUERY) -> np.ndarray:
    step = 100.0 / (way * query)
    return np.clip(np.round(accuracies / step), 0, way * query) * step


def accuracies(method: str, split: str, shot: int, seed: int, n: int, level: float, noise: float = 4.0) -> np.ndarray:
    """Per-episode accuracies (%) of a method whose mean is about `level`."""
    own = _rng("method", method, split, shot, seed).normal(0.0, noise, n)
    return on_grid(level + difficulty(split, shot, seed, n) + own)


def confusion(method: str, classes: tuple[str, ...], level: float, queries_per_class: int = 600) -> list[list[int]]:
    """Counts with rows true, columns predicted; later classes are harder, so per-class plots have a shape."""
    rng = _rng("confusion", method, len(classes))
    n = len(classes)
    counts = np.zeros((n, n), dtype=np.int64)
    for i in range(n):
        p_right = np.clip(level / 100 + 0.25 - 0.5 * i / n, 0.05, 0.98)
        right = rng.binomial(queries_per_class, p_right)
        wrong = rng.multinomial(queries_per_class - right, rng.dirichlet(np.ones(n - 1)))
        counts[i] = np.insert(wrong, i, right)
    return counts.tolist()


def record(
    method: str,
    split: str = "Fake_C",
    shot: int = 1,
    seed: int = 0,
    accs: np.ndarray | None = None,
    level: float = 60.0,
    n: int = 60,
    episode_hash: str | None = None,
    classes: tuple[str, ...] = COMPOUND,
    created: str = "2025-01-01T00:00:00+00:00",
    **extra: object,
) -> dict:
    """A record's JSON form with the fields the reports read (the store reads it through `Record.from_dict`)."""
    accs = accuracies(method, split, shot, seed, n, level) if accs is None else np.asarray(accs, dtype=float)
    return {
        "schema": SCHEMA,
        "record_id": f"{method}_{split}_{shot}shot_seed{seed}_{zlib.crc32(repr((method, created)).encode()):08x}",
        "run_id": "run",
        "created": created,
        "method": method,
        "split": split,
        "way": WAY,
        "shot": shot,
        "query": QUERY,
        "episodes": len(accs),
        "seed": seed,
        "n_episodes": len(accs),
        "accuracies": [round(float(a), 4) for a in accs],
        "classes": list(classes),
        "confusion": confusion(method, classes, level),
        "episode_hash": episode_hash or f"ep-{split}-{shot}-{len(accs)}",  # one test set for every training seed
        **extra,
    }


def fill_store(
    root: Path,
    levels: dict[str, float],
    splits: tuple[str, ...] = ("Fake_C", "Fake_B"),
    shots: tuple[int, ...] = (1, 5),
    seeds: tuple[int, ...] = (0,),
    n: int = 60,
    classes: tuple[str, ...] = COMPOUND,
) -> Store:
    """Every method at its accuracy level (+10 points at 5 shots) on every split, shot and seed."""
    store = Store(root)
    for method, level in levels.items():
        for split in splits:
            for shot in shots:
                for seed in seeds:
                    store.write(record(method, split, shot, seed, level=level + 10 * (shot > 1), n=n, classes=classes))
    return store
