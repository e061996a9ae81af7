"""Validation during training: held-out people of the training sources, and the choice of weights.

Never the target: `plan_validation` holds out people of the training pool itself and
draws fixed episodes from them; `ModelSelection` scores checkpoints on those episodes
and decides which weights `Trainer` returns (see `fsfer_bench.training`'s docstring for
the rules, as `TrainingReport.model_selection` names them).
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import numpy as np

from fsfer_bench.data.dataset import UNKNOWN_SUBJECT, FaceDataset
from fsfer_bench.episodes import EpisodeSet, EpisodeSpec, sample_episodes
from fsfer_bench.errors import EpisodeError, FsferWarning
from fsfer_bench.evaluate import evaluate
from fsfer_bench.methods import FewShotMethod, TrainSettings
from fsfer_bench.stats import summarise

__all__ = ["MIN_VALIDATION", "VAL_QUERY", "ModelSelection", "Validation", "plan_validation", "split_validation"]

VAL_QUERY = 5
#: The smallest validation episode (way, shot, query) worth selecting weights on.
MIN_VALIDATION = (2, 1, 1)


def _held_out(fraction: float, n: int) -> int:
    """How many of `n` people (images) to hold out: at least one, but never all of them."""
    return min(n - 1, max(1, int(round(fraction * n))))


def split_validation(
    pool: FaceDataset, fraction: float, rng: np.random.Generator
) -> tuple[FaceDataset, FaceDataset | None]:
    """Hold out `fraction` of each source's people for validation (of its images, where it names none).

    By person, within each source: CK+ frames of one sequence are near-duplicates,
    so an image-level split would validate on copies of training images, and a
    pool that joins a source with subjects to one without must still split the
    first by person. Each source keeps at least one person (image) for training.
    """
    if fraction <= 0 or len(pool) == 0:
        return pool, None
    is_val = np.zeros(len(pool), bool)
    for source in np.unique(pool.sources):
        members = np.flatnonzero(pool.sources == source)
        known = pool.subjects[members] != UNKNOWN_SUBJECT
        with_subject, anonymous = members[known], members[~known]
        if len(with_subject):
            people = np.unique(pool.subjects[with_subject])
            held = rng.choice(people, size=_held_out(fraction, len(people)), replace=False)
            is_val[with_subject[np.isin(pool.subjects[with_subject], held)]] = True
        if len(anonymous):
            is_val[rng.choice(anonymous, size=_held_out(fraction, len(anonymous)), replace=False)] = True
    if not is_val.any():
        return pool, None
    return pool.where(~is_val, name=f"{pool.name} (train)"), pool.where(is_val, name=f"{pool.name} (validation)")


@dataclass(frozen=True)
class Validation:
    """The fixed episodes a run selects its weights on, or why there are none (`reason`)."""

    pool: FaceDataset | None = None
    episodes: EpisodeSet | None = None
    reason: str = ""

    @property
    def size(self) -> int:
        return 0 if self.episodes is None else len(self.episodes)

    def shape(self) -> dict | None:
        if self.episodes is None:
            return None
        return {k: getattr(self.episodes.spec, k) for k in ("way", "shot", "query")}


def _validation_shapes(settings: TrainSettings, n_classes: int) -> list[tuple[int, int, int]]:
    """(way, shot, query) to try, largest first: the run's own shape, then 1-shot ones down to the minimum.

    Ordered by queries per episode, then ways: what a checkpoint's score rests on.
    """
    top_way = min(settings.way, n_classes)
    wanted = (top_way, settings.shot, VAL_QUERY)
    smaller = [(w, 1, q) for w in range(top_way, MIN_VALIDATION[0] - 1, -1) for q in range(VAL_QUERY, 0, -1)]
    smaller.sort(key=lambda s: (-s[0] * s[2], -s[0]))
    return [wanted, *(s for s in smaller if s != wanted)] if top_way >= MIN_VALIDATION[0] else []


def _validation_episodes(pool: FaceDataset, settings: TrainSettings, seed: int) -> EpisodeSet | None:
    """The largest subject-disjoint episodes `pool` allows, `settings.val_episodes` of them, or None."""
    counts = np.bincount(pool.labels, minlength=len(pool.classes))
    for way, shot, query in _validation_shapes(settings, int((counts >= 2).sum())):
        if int((counts >= shot + query).sum()) < way:
            continue
        try:
            return sample_episodes(pool, EpisodeSpec(way, shot, query, settings.val_episodes, seed),
                                   min_per_class=shot + query)  # fmt: skip
        except EpisodeError:  # too few distinct people for this shape: try a smaller one
            continue
    return None


def _people(pool: FaceDataset) -> str:
    n = len(np.unique(pool.subjects[pool.subjects != UNKNOWN_SUBJECT]))
    if not n:
        return f"{len(pool)} images"
    return "1 person" if n == 1 else f"{n} people"


def plan_validation(
    pool: FaceDataset, settings: TrainSettings, seed: int, *, warn: bool = True
) -> tuple[FaceDataset, Validation]:
    """(training pool, validation): held-out people of `pool` and the episodes they allow.

    The episodes are the run's way and shot with 5 queries where the held-out
    people allow it, else smaller (1 shot, fewer queries, fewer ways) down to
    `MIN_VALIDATION`. Below that, the run trains without model selection, says
    why in one `FsferWarning` (if `warn`), and its record says so.
    """
    train_pool, val_pool = split_validation(pool, settings.val_fraction, np.random.default_rng([seed, 2]))
    if settings.val_every <= 0 or settings.val_episodes <= 0:
        off = "val_every" if settings.val_every <= 0 else "val_episodes"
        return train_pool, Validation(val_pool, None, f"validation turned off ([train] {off} = 0)")
    if val_pool is None:
        reason = "no people held out for validation ([train] val_fraction = 0, or one person per source)"
    else:
        episodes = _validation_episodes(val_pool, settings, seed)
        if episodes is not None:
            return train_pool, Validation(val_pool, episodes)
        way, shot, query = MIN_VALIDATION
        reason = (f"the {_people(val_pool)} held out of {pool.name} for validation cannot form a {way}-way "
                  f"{shot}-shot {query}-query episode with support and query from different people")  # fmt: skip
    if warn:
        message = f"training without model selection: {reason}; the last weights are kept"
        warnings.warn(message, FsferWarning, stacklevel=2)
    return train_pool, Validation(val_pool, None, reason)


class ModelSelection:
    """Validates checkpoints, keeps the best weights of the final stage, and says which weights to return.

    Entries go to `report.validation` ({"stage", "step", "accuracy", "ci95", "images_seen"}), the best
    of the final stage to `report.best`; `choose` loads the weights to return and fills
    `report.returned`, `report.images_seen_returned` and `report.model_selection`.
    """

    def __init__(self, validation: Validation, settings: TrainSettings) -> None:
        self.validation, self.settings = validation, settings
        self.best_state: dict | None = None
        self.stale = 0

    @property
    def default(self) -> str:
        """The selection a run with something to train starts out with."""
        return "validation" if self.validation.episodes is not None else f"none: {self.validation.reason}"

    def validate(self, method: FewShotMethod, device: object, stage: str, step: int, final: bool, report) -> None:
        """Score `method` after `step` of `stage`; in the `final` stage, keep it if it is the best so far."""
        result = evaluate(method, self.validation.pool, self.validation.episodes, device=device)
        summary = summarise(result.accuracies)
        ci95 = float(summary.ci95) if np.isfinite(summary.ci95) else None  # None: a single validation episode
        entry = {"stage": stage, "step": step, "accuracy": summary.mean, "ci95": ci95,
                 "images_seen": report.images_seen}  # fmt: skip
        report.validation.append(entry)
        method.train()
        if not final:
            return  # earlier stages are validated for the record only: selection stays in the final stage
        # Ties go to the later model: equal scores carry no signal against further training.
        if report.best is None or entry["accuracy"] >= report.best["accuracy"]:
            report.best, self.stale = entry, 0
            self.best_state = copy.deepcopy(method.state_dict())
        else:
            self.stale += 1
            if patience := self.settings.patience:
                report.stopped_early = self.stale >= patience

    def choose(self, method: FewShotMethod, final_stage: str, report) -> None:
        """Load the weights to return into `method`, and say in `report` which they are."""
        last = {"stage": final_stage, "step": report.steps.get(final_stage, 0)}
        best = report.best
        report.returned, report.images_seen_returned = last, report.images_seen
        if best is None:
            if self.validation.episodes is not None:
                report.model_selection = "none: the final stage was never validated"
            return
        scores = [v["accuracy"] for v in report.validation if v["stage"] == final_stage]
        half = best["ci95"]
        if half is None or all(score >= best["accuracy"] - half for score in scores):
            report.model_selection = "last (validation saturated)"
            return
        method.load_state_dict(self.best_state)
        report.returned = {"stage": best["stage"], "step": best["step"]}
        report.images_seen_returned = best.get("images_seen")  # None: resumed from an older checkpoint
        report.model_selection = "validation"
