"""Episodes as values: explicit index arrays, sampled once, hashed, shared by every method.

An `EpisodeSet` is made from (pool, spec) alone, so two methods evaluated on
the same split, spec and seed face exactly the same test, and can be compared
episode by episode. Where the pool knows its subjects, support and query of an
episode never share a person: a query must not find its own face in another
class's support set (the identity confound measured on CFEE and CK+).

Shots are people. Where the pool knows who is in every image, a K-shot support
holds K distinct people per class, one image of each (`support_rule
"people"`): on CK+, whose sequences give three near-identical frames, a support
drawn by image held 4.80 distinct people in 5 shots on average, and a class of
3 people and 30 frames counted as fit for 5-shot. Pools without subject ids
keep drawing supports by image (`support_rule "images"`). The rule is part of
the episode set and of its hash.

Queries are drawn uniformly among the class's images of people outside every
support of the episode, not per person. Drawing supports by person removes one
cause of people with many images being under-used as queries: within a class,
a person with many images no longer lands in the support more often (on a toy
pool where half the people have 6 images per class, their query share went
from 0.71x to 0.99x their image share; tested). A second cause remains, and
is the price of subject-disjointness: a person who appears in many classes is
more often in *some* support of the episode and so barred from all its
queries. Measured over 600 5-way 5-shot 15-query episodes, the top quarter of
people by image count get 0.95x their image share of queries on CFEE_C and
0.92x on CK+48, the bottom quarter 1.08x and 1.47x, before and after this
change alike. Drawing queries per person instead would need Q free people per
class (CK+'s contempt has 18 people in all) and would weight the images of
people with few images even more.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

import numpy as np

from fsfer_bench.data.dataset import FaceDataset
from fsfer_bench.errors import EpisodeError

_RETRIES = 50
#: The most image indices (episodes x way x (shot + query)) one episode set may hold: 50 million int64 indices
#: are 400 MB, far beyond any published protocol (600 x 5 x 20 = 60,000), and refused before any drawing.
MAX_EPISODE_INDICES = 50_000_000
PEOPLE, IMAGES = "people", "images"


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
        per_episode = self.way * (self.shot + self.query)
        if self.episodes * per_episode > MAX_EPISODE_INDICES:
            raise EpisodeError(
                f"--episodes {self.episodes} of {self.way}-way {self.shot}-shot with {self.query} queries is "
                f"{self.episodes * per_episode} image indices, more than the {MAX_EPISODE_INDICES} one episode set "
                f"may hold; use --episodes {MAX_EPISODE_INDICES // per_episode} or fewer"
            )


@dataclass(frozen=True, eq=False)
class EpisodeSet:
    """E episodes of N-way K-shot with Q queries per class, as indices into a pool.

    `classes[e]` holds the pool's class ids of episode e, in the order that
    defines the episode's labels 0..N-1; `support[e, n]` and `query[e, n]` hold
    pool indices of class `classes[e, n]`. `support_rule` says whether the K
    shots are K people ("people") or K images ("images", pools without subject ids).
    """

    spec: EpisodeSpec
    pool_id: str
    classes: np.ndarray  # (E, N) int64
    support: np.ndarray  # (E, N, K) int64
    query: np.ndarray  # (E, N, Q) int64
    support_rule: str = IMAGES

    @property
    def hash(self) -> str:
        h = hashlib.sha256()
        h.update(json.dumps(asdict(self.spec), sort_keys=True).encode())
        h.update(self.pool_id.encode())
        if self.support_rule != IMAGES:  # left out for "images", so sets drawn by image keep their earlier hashes
            h.update(self.support_rule.encode())
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
            support_rule=self.support_rule,
        )

    @classmethod
    def load(cls, path: Path | IO[bytes]) -> EpisodeSet:
        with np.load(path, allow_pickle=False) as z:
            return cls(
                spec=EpisodeSpec(**json.loads(str(z["spec"]))),
                pool_id=str(z["pool_id"]),
                classes=z["classes"],
                support=z["support"],
                query=z["query"],
                # files written before the rule existed were drawn by image
                support_rule=str(z["support_rule"]) if "support_rule" in z.files else IMAGES,
            )


def support_rule(pool: FaceDataset) -> str:
    """'people' where every image of the pool has a subject id, else 'images'."""
    return PEOPLE if pool.has_subjects else IMAGES


def _shortfall(pool: FaceDataset, c: int, shot: int, query: int, disjoint: bool) -> tuple[str, str] | None:
    """Why class `c` cannot fill K shots and Q queries, and the flag that fixes it; None if it can.

    Under the people rule a class needs K people, and Q query images left even
    when its K people with most images hold the support (with subject-disjoint
    queries), so that no draw of the class's own support can starve its queries.
    """
    members = pool.labels == c
    count, name = int(members.sum()), f"class '{pool.classes[c]}' of {pool.name}"
    if count < shot + query:
        return f"{name} has {count} usable images, but {shot}-shot with {query} queries needs {shot + query}", "--query"
    if support_rule(pool) == IMAGES:
        return None
    per_person = np.sort(np.unique(pool.subjects[members], return_counts=True)[1])[::-1]
    if len(per_person) < shot:
        return f"{name} has {len(per_person)} people, but {shot}-shot needs {shot} distinct people", "--shot"
    left = count - (int(per_person[:shot].sum()) if disjoint else shot)
    if left < query:
        return (
            f"{name} has {count} usable images, only {left} of them outside its {shot} people with most images, "
            f"but {query} queries need {query} there"
        ), "--query"
    return None


def eligible_classes(
    pool: FaceDataset, shot: int, query: int, min_per_class: int | None = None, *, subject_disjoint: bool = True
) -> np.ndarray:
    """Class ids that can fill K shots and Q queries, or a message-bearing error.

    With `min_per_class`, classes with fewer images, or that cannot fill an
    episode (e.g. too few people for the shots), are dropped on purpose;
    without it, such a class is an error, never silently skipped.
    """
    counts = np.bincount(pool.labels, minlength=len(pool.classes))
    disjoint = subject_disjoint and pool.has_subjects
    short = {c: _shortfall(pool, c, shot, query, disjoint) for c in range(len(counts))}
    if min_per_class is not None:
        keep = [c for c in range(len(counts)) if counts[c] >= min_per_class and short[c] is None]
        return np.array(keep, dtype=np.int64)
    small = [c for c in short if short[c] is not None]
    if small:
        message, flag = short[min(small, key=lambda c: counts[c])]
        others = f" ({len(small) - 1} other class(es) too)" if len(small) > 1 else ""
        raise EpisodeError(f"{message}{others}; lower {flag}, or drop such classes with --min-per-class {shot + query}")
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

    Precomputes each class's members (and, under the people rule, each class's
    people and their images) once, so drawing is cheap enough to do per
    training step. `support_rule` says how supports are drawn.
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
        self.classes = eligible_classes(pool, shot, query, min_per_class, subject_disjoint=subject_disjoint)
        if way > len(self.classes):
            raise EpisodeError(_too_few_classes(pool, way, shot + query, self.classes, min_per_class))
        self.pool, self.way, self.shot, self.query = pool, way, shot, query
        self.support_rule = support_rule(pool)
        self.members = [np.flatnonzero(pool.labels == c) for c in range(len(pool.classes))]
        people = self.support_rule == PEOPLE
        self.subject_ids = np.unique(pool.subjects, return_inverse=True)[1] if people else None
        self.disjoint = subject_disjoint and people
        self.by_person = [self._group_by_person(m) for m in self.members] if people else []

    def _group_by_person(self, members: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(members sorted by person, start of each person's run, length of each run)."""
        order = members[np.argsort(self.subject_ids[members], kind="stable")]
        _, starts, counts = np.unique(self.subject_ids[order], return_index=True, return_counts=True)
        return order, starts, counts

    def draw(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(classes (N,), support (N, K), query (N, Q)) as pool indices."""
        chosen = rng.choice(self.classes, size=self.way, replace=False)
        if self.support_rule == IMAGES:
            picks = [rng.choice(self.members[c], size=self.shot + self.query, replace=False) for c in chosen]
            return chosen, np.stack([p[: self.shot] for p in picks]), np.stack([p[self.shot :] for p in picks])
        for _ in range(_RETRIES):
            support = np.stack([self._support_of_people(rng, c) for c in chosen])
            query = self._queries(rng, chosen, support)
            if query is not None:
                return chosen, support, query
        names = ", ".join(self.pool.classes[c] for c in chosen)
        raise EpisodeError(
            f"cannot draw subject-disjoint support and query for classes {names} of {self.pool.name}: too few "
            f"distinct subjects for {self.shot}-shot with {self.query} queries; lower --shot/--query, or pass "
            "--no-subject-disjoint (results may then be inflated by identity matching)"
        )

    def _support_of_people(self, rng: np.random.Generator, c: int) -> np.ndarray:
        """K distinct people of class `c`, drawn uniformly, and one image of each, drawn uniformly."""
        order, starts, counts = self.by_person[c]
        people = rng.choice(len(starts), size=self.shot, replace=False)
        return order[starts[people] + rng.integers(0, counts[people])]

    def _queries(self, rng: np.random.Generator, chosen: np.ndarray, support: np.ndarray) -> np.ndarray | None:
        """Q images per class, uniformly among those not barred; None when a class has too few left.

        Subject-disjoint: people in any support of the episode are barred;
        otherwise only the support images themselves are.
        """
        barred = np.unique(self.subject_ids[support.ravel()]) if self.disjoint else None
        query = np.empty((len(chosen), self.query), dtype=np.int64)
        for n, c in enumerate(chosen):
            m = self.members[c]
            free = m[~np.isin(self.subject_ids[m], barred)] if self.disjoint else np.setdiff1d(m, support[n])
            if len(free) < self.query:
                return None
            query[n] = rng.choice(free, size=self.query, replace=False)
        return query


def sample_episodes(pool: FaceDataset, spec: EpisodeSpec, min_per_class: int | None = None) -> EpisodeSet:
    """Draw `spec.episodes` episodes from `pool` with a generator seeded by `spec.seed` alone.

    The index arrays are allocated once at their final size (the spec bounds it
    by MAX_EPISODE_INDICES) and filled in place, never grown as Python lists.
    """
    sampler = EpisodeSampler(
        pool, spec.way, spec.shot, spec.query, subject_disjoint=spec.subject_disjoint, min_per_class=min_per_class
    )
    rng = np.random.default_rng(spec.seed)
    classes = np.empty((spec.episodes, spec.way), dtype=np.int64)
    support = np.empty((spec.episodes, spec.way, spec.shot), dtype=np.int64)
    query = np.empty((spec.episodes, spec.way, spec.query), dtype=np.int64)
    for e in range(spec.episodes):
        classes[e], support[e], query[e] = sampler.draw(rng)
    return EpisodeSet(spec, pool.content_id(), classes, support, query, sampler.support_rule)
