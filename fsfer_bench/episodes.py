"""Episodes as values: explicit index arrays, sampled once, hashed, shared by every method.

An `EpisodeSet` is made from (pool, spec) alone, so two methods evaluated on
the same split, spec and seed face exactly the same test, and can be compared
episode by episode. Where the pool knows its subjects, support and query of an
episode never share a person: a query must not find its own face in another
class's support set (the identity confound measured on CFEE and CK+).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fsfer_bench.data.dataset import FaceDataset
from fsfer_bench.errors import EpisodeError

_RETRIES = 50


@dataclass(frozen=True)
class EpisodeSpec:
    way: int = 5
    shot: int = 5
    query: int = 15
    episodes: int = 600
    seed: int = 0
    subject_disjoint: bool = True

    def __post_init__(self) -> None:
        for name in ("way", "shot", "query", "episodes"):
            if getattr(self, name) < 1:
                raise EpisodeError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if self.way < 2:
            raise EpisodeError(f"--way must be at least 2, got {self.way}")


@dataclass(frozen=True, eq=False)
class EpisodeSet:
    """E episodes of N-way K-shot with Q queries per class, as indices into a pool.

    `classes[e]` holds the pool's class ids of episode e, in the order that
    defines the episode's labels 0..N-1; `support[e, n]` and `query[e, n]` hold
    pool indices of class `classes[e, n]`.
    """

    spec: EpisodeSpec
    pool_id: str
    classes: np.ndarray  # (E, N) int64
    support: np.ndarray  # (E, N, K) int64
    query: np.ndarray  # (E, N, Q) int64

    @property
    def hash(self) -> str:
        h = hashlib.sha256()
        h.update(json.dumps(asdict(self.spec), sort_keys=True).encode())
        h.update(self.pool_id.encode())
        for a in (self.classes, self.support, self.query):
            h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
        return h.hexdigest()[:16]

    def __len__(self) -> int:
        return len(self.classes)

    def used_indices(self) -> np.ndarray:
        """Every pool index that some episode uses, sorted and unique."""
        return np.unique(np.concatenate([self.support.ravel(), self.query.ravel()]))

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            classes=self.classes,
            support=self.support,
            query=self.query,
            spec=json.dumps(asdict(self.spec)),
            pool_id=self.pool_id,
        )

    @classmethod
    def load(cls, path: Path) -> EpisodeSet:
        with np.load(path, allow_pickle=False) as z:
            return cls(
                spec=EpisodeSpec(**json.loads(str(z["spec"]))),
                pool_id=str(z["pool_id"]),
                classes=z["classes"],
                support=z["support"],
                query=z["query"],
            )


def eligible_classes(pool: FaceDataset, shot: int, query: int, min_per_class: int | None = None) -> np.ndarray:
    """Class ids with enough images for K + Q, or a message-bearing error.

    With `min_per_class`, classes below it are dropped on purpose; without it,
    a class too small for K + Q is an error, never silently skipped.
    """
    counts = np.bincount(pool.labels, minlength=len(pool.classes))
    need = shot + query
    if min_per_class is not None:
        keep = np.flatnonzero(counts >= max(min_per_class, need))
        return keep
    small = [(pool.classes[c], int(counts[c])) for c in range(len(counts)) if counts[c] < need]
    if small:
        name, count = min(small, key=lambda x: x[1])
        others = f" ({len(small) - 1} other class(es) too)" if len(small) > 1 else ""
        raise EpisodeError(
            f"class '{name}' of {pool.name} has {count} usable images, but {shot}-shot with {query} queries needs "
            f"{need}{others}; lower --query, or drop such classes with --min-per-class {need}"
        )
    return np.arange(len(counts))


def _too_few_classes(pool: FaceDataset, way: int, need: int, usable: np.ndarray, min_per_class: int | None) -> str:
    """Why `way` classes cannot be drawn, and the fix: lower --min-per-class where it dropped them, else --way."""
    names = ", ".join(pool.classes[c] for c in usable) or "none"
    message = f"--way {way} is larger than the {len(usable)} usable classes of {pool.name} ({names})"
    counts = np.sort(np.bincount(pool.labels, minlength=len(pool.classes)))[::-1]
    if min_per_class is not None and len(counts) >= way and counts[way - 1] >= need:
        return f"{message}; --min-per-class {min_per_class} drops the others: lower it to {counts[way - 1]} or less"
    if len(usable) >= 2:
        return f"{message}; use --way {len(usable)} or fewer"
    return f"{message}; an episode needs at least 2"


class EpisodeSampler:
    """Draws episodes one at a time from a pool; used for the test set and for training.

    Precomputes each class's members once, so drawing is cheap enough to do per
    training step.
    """

    def __init__(
        self,
        pool: FaceDataset,
        way: int,
        shot: int,
        query: int,
        *,
        subject_disjoint: bool = True,
        min_per_class: int | None = None,
    ) -> None:
        self.classes = eligible_classes(pool, shot, query, min_per_class)
        if way > len(self.classes):
            raise EpisodeError(_too_few_classes(pool, way, shot + query, self.classes, min_per_class))
        self.pool, self.way, self.shot, self.query = pool, way, shot, query
        self.members = [np.flatnonzero(pool.labels == c) for c in range(len(pool.classes))]
        disjoint = subject_disjoint and pool.has_subjects
        self.subject_ids = np.unique(pool.subjects, return_inverse=True)[1] if disjoint else None

    def draw(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(classes (N,), support (N, K), query (N, Q)) as pool indices."""
        chosen = rng.choice(self.classes, size=self.way, replace=False)
        members = [self.members[c] for c in chosen]
        if self.subject_ids is None:
            picks = [rng.choice(m, size=self.shot + self.query, replace=False) for m in members]
            return chosen, np.stack([p[: self.shot] for p in picks]), np.stack([p[self.shot :] for p in picks])
        for _ in range(_RETRIES):
            drawn = self._draw_subject_disjoint(rng, members)
            if drawn is not None:
                return chosen, *drawn
        names = ", ".join(self.pool.classes[c] for c in chosen)
        raise EpisodeError(
            f"cannot draw subject-disjoint support and query for classes {names} of {self.pool.name}: too few "
            f"distinct subjects for {self.shot}-shot with {self.query} queries; lower --shot/--query, or pass "
            "--no-subject-disjoint (results may then be inflated by identity matching)"
        )

    def _draw_subject_disjoint(
        self, rng: np.random.Generator, members: list[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Supports first, then queries from people not in any support set of the episode."""
        support = [rng.choice(m, size=self.shot, replace=False) for m in members]
        support_subjects = np.unique(self.subject_ids[np.concatenate(support)])
        query = []
        for m in members:
            free = m[~np.isin(self.subject_ids[m], support_subjects)]
            if len(free) < self.query:
                return None
            query.append(rng.choice(free, size=self.query, replace=False))
        return np.stack(support), np.stack(query)


def sample_episodes(pool: FaceDataset, spec: EpisodeSpec, min_per_class: int | None = None) -> EpisodeSet:
    """Draw `spec.episodes` episodes from `pool` with a generator seeded by `spec.seed` alone."""
    sampler = EpisodeSampler(
        pool, spec.way, spec.shot, spec.query, subject_disjoint=spec.subject_disjoint, min_per_class=min_per_class
    )
    rng = np.random.default_rng(spec.seed)
    draws = [sampler.draw(rng) for _ in range(spec.episodes)]
    classes, support, query = (np.stack(parts).astype(np.int64) for parts in zip(*draws))
    return EpisodeSet(spec, pool.content_id(), classes, support, query)
