"""The training loop every method shares: stages of episodic and/or batch steps.

A method declares its `Stage`s; a `Trainer` draws the data each step needs,
augments it, steps the optimiser of the parameters the stage (or its current
phase) trains, on the stage's learning-rate schedule, stops on a NaN loss,
validates on held-out people of the training sources (never the target),
chooses the weights to return, and writes resumable checkpoints whose RNG
states make a resumed run end exactly where an uninterrupted one does (on CPU).
`fit` is the one-call form.

Which weights come back (`TrainingReport.model_selection`):
- "validation": the final stage's validated checkpoint with the best score;
- "last (validation saturated)": every final-stage score lies within the best
  one's 95% interval (Student-t over its validation episodes), so validation
  cannot tell the checkpoints apart and the last is kept;
- "none: <reason>": no validation (turned off, or the held-out people cannot
  form even a 2-way 1-shot 1-query episode); the last weights are kept.
Selection never reaches back into an earlier stage: a later stage is part of
the method, and on saturated validation (SynFACS) a choice across stages
returned EGS-Net's stage-1 weights at random, its second stage thrown away.
"""

from __future__ import annotations

import copy
import json
import pickle
import time
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fsfer_bench.data.dataset import UNKNOWN_SUBJECT, FaceDataset
from fsfer_bench.episodes import EpisodeSampler, EpisodeSet, EpisodeSpec, sample_episodes
from fsfer_bench.errors import EpisodeError, FsferWarning, TrainingError
from fsfer_bench.evaluate import evaluate, no_progress
from fsfer_bench.files import DamagedFileError, load_torch, write_torch_atomic
from fsfer_bench.methods import Batch, Episode, FewShotMethod, ParamGroup, Stage, StepData, TrainSettings
from fsfer_bench.stats import summarise
from fsfer_bench.tensors import SCRATCH, Normalisation, augment, input_normalisation, inputs

__all__ = ["TrainerState", "Trainer", "TrainingReport", "Validation", "fit", "plan_validation", "split_validation"]
from fsfer_bench.evaluate import Progress

VAL_QUERY = 5
#: The smallest validation episode (way, shot, query) worth selecting weights on.
MIN_VALIDATION = (2, 1, 1)
_UNREADABLE = (OSError, EOFError, RuntimeError, ValueError, KeyError, TypeError, IndexError, AttributeError,
               pickle.UnpicklingError, zipfile.BadZipFile, DamagedFileError)  # fmt: skip


@dataclass
class TrainingReport:
    seconds: float = 0.0
    steps: dict[str, int] = field(default_factory=dict)
    train_images: int = 0
    val_images: int = 0
    validation: list[dict] = field(default_factory=list)  # {"stage", "step", "accuracy", "ci95"}
    best: dict | None = None  # the best-scoring validated checkpoint of the final stage
    stopped_early: bool = False
    resumed_from: int | None = None
    # CPU float sums, and so the trained weights, depend on the number of torch threads:
    # the same config and seed give the same model only at the same thread count.
    torch_threads: int = 0
    returned: dict | None = None  # {"stage", "step"} of the weights training returned
    model_selection: str = "none: nothing to train"  # see the module docstring
    validation_episodes: int = 0  # how many episodes each validation ran (0: none)
    validation_shape: dict | None = None  # {"way", "shot", "query"} of those episodes
    images_seen: int = 0  # training images drawn, episodes' support + query and batches, over all steps
    stages: list[dict] = field(default_factory=list)  # each stage's steps, optimiser, schedule and groups

    def to_dict(self) -> dict:
        return asdict(self)


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


class _Data:
    """Draws the episodes and batches that stages ask for, from seeded generators."""

    def __init__(
        self, pool: FaceDataset, settings: TrainSettings, device: torch.device | str, seed: int, kind: str = "images",
        normalisation: Normalisation = SCRATCH,
    ) -> None:  # fmt: skip
        self.pool, self.settings, self.device, self.kind = pool, settings, device, kind
        self.normalisation = normalisation
        self.rng = np.random.default_rng([seed, 1])
        self.torch_gen = torch.Generator().manual_seed(seed)
        self._sampler: EpisodeSampler | None = None

    @property
    def sampler(self) -> EpisodeSampler:
        if self._sampler is None:  # built lazily: batch-only methods need no episodes
            s = self.settings
            counts = np.bincount(self.pool.labels, minlength=len(self.pool.classes))
            usable = int((counts >= s.shot + s.query).sum())
            if usable < 2:
                raise TrainingError(
                    f"the training pool {self.pool.name} has {usable} class(es) with {s.shot + s.query} images; "
                    "episodic training needs 2 or more; lower [train] shot/query or add training sources"
                )
            self._sampler = EpisodeSampler(
                self.pool, min(s.way, usable), s.shot, s.query, min_per_class=s.shot + s.query
            )
        return self._sampler

    def images(self, indices: np.ndarray) -> torch.Tensor:
        batch = inputs(self.pool, indices, self.kind, "cpu", self.normalisation)
        if self.settings.augment and self.kind == "images":
            batch = augment(batch, self.torch_gen)
        return batch.to(self.device)

    def in_order(self, batch_size: int = 256) -> Iterator[Batch]:
        """The whole pool in order, without augmentation, for `after_training`."""
        for i in range(0, len(self.pool), batch_size):
            index = np.arange(i, min(i + batch_size, len(self.pool)))
            labels = torch.as_tensor(self.pool.labels[index], device=self.device)
            yield Batch(inputs(self.pool, index, self.kind, self.device, self.normalisation), labels)

    def episode(self) -> Episode:
        classes, support, query = self.sampler.draw(self.rng)
        way, shot, n_query = len(classes), support.shape[1], query.shape[1]
        arange = torch.arange(way, device=self.device)
        return Episode(
            support=self.images(support.ravel()),
            support_labels=arange.repeat_interleave(shot),
            query=self.images(query.ravel()),
            query_labels=arange.repeat_interleave(n_query),
            classes=torch.as_tensor(classes, device=self.device),
        )

    def batch(self) -> Batch:
        size = min(self.settings.batch_size, len(self.pool))
        indices = self.rng.choice(len(self.pool), size=size, replace=False)
        return Batch(self.images(indices), torch.as_tensor(self.pool.labels[indices], device=self.device))

    def step_data(self, step: int, stage: Stage) -> StepData:
        episodes = [self.episode() for _ in range(stage.episodes_per_step)] if "episode" in stage.needs else []
        return StepData(step=step, episodes=episodes, batch=self.batch() if "batch" in stage.needs else None)

    def state(self) -> dict:
        return {"rng": json.dumps(self.rng.bit_generator.state), "torch_gen": self.torch_gen.get_state()}

    def restore(self, state: dict) -> None:
        self.rng.bit_generator.state = json.loads(state["rng"])
        self.torch_gen.set_state(state["torch_gen"])


def _images_in(data: StepData) -> int:
    return sum(len(e.support) + len(e.query) for e in data.episodes) + (len(data.batch.images) if data.batch else 0)


@dataclass(frozen=True)
class TrainerState:
    """Where a `Trainer` stands: the stage and step its next step belongs to, and how it will learn."""

    stage: str | None  # None once training is over
    step: int  # steps done in that stage
    phase: str | None  # the phase of the next step, for stages that have phases
    lrs: dict[str, float]  # learning rate of each parameter group that the next step optimises
    done: bool
    images_seen: int


class Trainer:
    """One training run of `method` on `pool`, a step at a time, checkpointable between any two steps.

    `run()` trains to the end and returns the report; `step()` and `state()` let a
    caller (or a test) watch it step by step; `save`/`restore` write and read
    checkpoints (written on their own every `checkpoint_every` steps to `checkpoint`).
    """

    def __init__(
        self,
        method: FewShotMethod,
        pool: FaceDataset,
        settings: TrainSettings,
        *,
        seed: int = 0,
        device: torch.device | str = "cpu",
        progress: Progress = no_progress,
        checkpoint: Path | None = None,
    ) -> None:
        self._started = time.perf_counter()
        self.method, self.settings, self.device = method.to(device), settings, device
        self.progress, self.checkpoint = progress, checkpoint
        self.stages = method.training_stages(settings)
        for stage in self.stages:
            self._check(stage)
        trained = [i for i, s in enumerate(self.stages) if self._steps(s) > 0]
        self._final = trained[-1] if trained else None
        train_pool, self.validation = plan_validation(pool, settings, seed, warn=self._final is not None)
        self.data = _Data(train_pool, settings, device, seed, method.inputs, input_normalisation(method))
        self.report = TrainingReport(
            train_images=len(train_pool),
            val_images=0 if self.validation.pool is None else len(self.validation.pool),
            torch_threads=torch.get_num_threads(),
            model_selection="none: nothing to train" if self._final is None else self._selection_default(),
            validation_episodes=self.validation.size,
            validation_shape=self.validation.shape(),
            stages=[self._describe(s) for s in self.stages],
        )
        self.stage_index, self.stage_step = 0, 0
        self.best_state: dict | None = None
        self.stale = 0
        self._optimisers: dict[str, torch.optim.Optimizer] = {}
        self._finished = False
        self._skip_empty_stages()

    # ---- the public surface

    @property
    def done(self) -> bool:
        return self.stage_index >= len(self.stages) or self.report.stopped_early

    def state(self) -> TrainerState:
        if self.done:
            return TrainerState(None, 0, None, {}, True, self.report.images_seen)
        stage = self.stages[self.stage_index]
        phase = self._phase(stage, self.stage_step)
        lr = self._lr(stage, self.stage_step)
        lrs = {g.name: lr * g.lr_scale for g in self._groups(stage, phase)}
        return TrainerState(stage.name, self.stage_step, phase, lrs, False, self.report.images_seen)

    def step(self) -> bool:
        """Run the next training step, and the validation and checkpoint due after it; False if none is left."""
        if self.done:
            return False
        stage, step = self.stages[self.stage_index], self.stage_step
        self.method.train()
        if self.settings.regime == "linear-probe":
            self.method.backbone.eval()  # a probed backbone keeps its BatchNorm statistics too
        optimiser = self._optimiser(stage, self._phase(stage, step))
        lr = self._lr(stage, step)
        for group in optimiser.param_groups:
            group["lr"] = lr * group["lr_scale"]
        data = self.step_data(stage, step)
        loss = stage.loss(data)
        if not torch.isfinite(loss):
            raise TrainingError(
                f"training loss became {loss.item()} at step {step + 1} of stage '{stage.name}'; "
                "lower the learning rate ([train] lr) or check the training data"
            )
        self.method.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        self._after_step(stage, step + 1)
        return True

    def step_data(self, stage: Stage, step: int) -> StepData:
        """Draw what `stage` needs at `step`, as a training step does (the data generators advance, and the
        images count as seen): for callers that run a stage's loss themselves, such as tests of a method's losses."""
        data = self.data.step_data(step, stage)
        self.report.images_seen += _images_in(data)
        return data

    def run(self) -> TrainingReport:
        """Train to the end (from wherever the trainer stands), then `finish`."""
        while not self.done:
            stage = self.stages[self.stage_index]
            remaining = range(self.stage_step, self._steps(stage))
            for _ in self.progress(remaining, desc=f"train {stage.name}", total=len(remaining)):
                self.step()
                if self.done or self.stages[self.stage_index] is not stage:
                    break
        return self.finish()

    def finish(self) -> TrainingReport:
        """Load the weights to return (see the module docstring) and gather `after_training` statistics."""
        if not self._finished:
            self._finished = True
            self._return_weights()
            self.method.eval()
            with torch.no_grad():
                self.method.after_training(self.data.in_order)
            self.report.seconds += time.perf_counter() - self._started
        return self.report

    def save(self, path: Path) -> None:
        """Write a checkpoint atomically: a kill mid-write leaves the previous one intact."""
        report = self.report.to_dict()
        report["seconds"] += time.perf_counter() - self._started
        state = {
            "model": self.method.state_dict(),
            "optimisers": {k: o.state_dict() for k, o in self._optimisers.items()},
            "stage_index": self.stage_index,
            "step": self.stage_step,
            "best_state": self.best_state,
            "stale": self.stale,
            "report": json.dumps(report),
            "data": self.data.state(),
            "torch_rng": torch.get_rng_state(),
        }
        write_torch_atomic(path, state)

    def restore(self, path: Path) -> bool:
        """Continue from the checkpoint at `path`; True if it was used.

        A checkpoint that cannot be used (truncated by a full disk, from another
        version, garbled) is named in one `FsferWarning` and training starts from
        scratch, instead of failing on every rerun; the next checkpoint replaces it.
        Nothing changes unless all of it loads.
        """
        try:
            state = load_torch(path)
            self._apply(state)
        except _UNREADABLE as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            message = f"checkpoint {path} cannot be used ({reason}); training from scratch"
            warnings.warn(message, FsferWarning, stacklevel=2)
            return False
        return True

    # ---- stages, phases and optimisers

    def _steps(self, stage: Stage) -> int:
        if self.settings.regime == "frozen":
            return 0
        return stage.steps if stage.steps is not None else self.settings.steps

    def _lr(self, stage: Stage, step: int) -> float:
        base = stage.lr if stage.lr is not None else self.settings.lr
        return (stage.schedule or self.settings.stage_schedule()).lr_at(base, step, self._steps(stage))

    @staticmethod
    def _phase(stage: Stage, step: int) -> str | None:
        if stage.phase_of is None:
            return None
        phase = stage.phase_of(step)
        if phase not in (stage.phases or {}):
            raise TrainingError(f"stage '{stage.name}' put step {step + 1} in phase '{phase}', which it lacks")
        return phase

    def _groups(self, stage: Stage, phase: str | None = None) -> list[ParamGroup]:
        """The parameter groups that learn in `phase` of `stage` (all of the stage's without phases),
        as the fine-tuning regime leaves them (see `regime_groups`)."""
        if stage.groups is None:
            groups = [ParamGroup("all", tuple(p for p in self.method.parameters() if p.requires_grad))]
        else:
            learners = None if phase is None else set(stage.phases[phase])
            groups = [g for g in stage.groups if learners is None or g.name in learners]
        return regime_groups(groups, self.method.backbone, self.settings)

    def _check(self, stage: Stage) -> None:
        """A stage's declaration must be whole: phases come with `phase_of`, and name groups it has."""
        if (stage.phases is None) != (stage.phase_of is None):
            raise TrainingError(f"stage '{stage.name}' must give both phases and phase_of, or neither")
        names = {g.name for g in stage.groups} if stage.groups is not None else {"all"}
        unknown = {n for groups in (stage.phases or {}).values() for n in groups} - names
        if unknown:
            raise TrainingError(f"stage '{stage.name}' has phases that name unknown groups: {sorted(unknown)}")

    def _optimiser(self, stage: Stage, phase: str | None) -> torch.optim.Optimizer:
        """The optimiser of `phase` (one per phase, keeping its own state), built on first use."""
        key = phase or ""
        if key not in self._optimisers:
            self._optimisers[key] = self._build_optimiser(stage, phase)
        return self._optimisers[key]

    def _build_optimiser(self, stage: Stage, phase: str | None) -> torch.optim.Optimizer:
        groups = [{"params": params, "lr_scale": g.lr_scale, "name": g.name} for g in self._groups(stage, phase)
                  if (params := [p for p in g.params if p.requires_grad])]  # fmt: skip
        if not groups:
            where = f" in phase '{phase}'" if phase else ""
            if self.settings.regime == "linear-probe":
                raise TrainingError(
                    f"stage '{stage.name}' has nothing outside the backbone to train{where}, so a linear probe "
                    "cannot train it; use train.regime=frozen (features as loaded) or full"
                )
            raise TrainingError(f"stage '{stage.name}' has no parameters to train{where}")
        optimiser = stage.optimiser or self.settings.stage_optimiser()
        return optimiser.build(groups, self._lr(stage, 0))

    def _describe(self, stage: Stage) -> dict:
        """What the record says of a stage: enough to rebuild its optimisation."""
        optimiser = stage.optimiser or self.settings.stage_optimiser()
        schedule = stage.schedule or self.settings.stage_schedule()
        groups = [{"name": g.name, "tensors": len(g.params), "parameters": sum(p.numel() for p in g.params),
                   "lr_scale": g.lr_scale} for g in self._groups(stage)]  # fmt: skip
        return {
            "name": stage.name,
            "steps": self._steps(stage),
            "needs": list(stage.needs),
            "lr": stage.lr if stage.lr is not None else self.settings.lr,
            "optimizer": optimiser.describe(),
            "schedule": schedule.describe(),
            "warmup_steps": schedule.warmup_steps,
            "groups": groups,
            "phases": None if stage.phases is None else {k: list(v) for k, v in stage.phases.items()},
        }

    def _skip_empty_stages(self) -> None:
        while self.stage_index < len(self.stages) and self.stage_step >= self._steps(self.stages[self.stage_index]):
            self.stage_index, self.stage_step, self._optimisers = self.stage_index + 1, 0, {}

    def _after_step(self, stage: Stage, done_steps: int) -> None:
        """Count the step, validate and checkpoint when due, and move to the next stage at the end of this one."""
        self.stage_step = done_steps
        self.report.steps[stage.name] = done_steps
        last = done_steps == self._steps(stage)
        s = self.settings
        if self.validation.episodes is not None and (done_steps % s.val_every == 0 or last):
            self._validate(stage)
            if self.report.stopped_early:
                return
        self._skip_empty_stages()
        if self.checkpoint is not None and (done_steps % s.checkpoint_every == 0 or last):
            self.save(self.checkpoint)

    # ---- validation and model selection

    def _selection_default(self) -> str:
        return "validation" if self.validation.episodes is not None else f"none: {self.validation.reason}"

    def _validate(self, stage: Stage) -> None:
        result = evaluate(self.method, self.validation.pool, self.validation.episodes, device=self.device)
        summary = summarise(result.accuracies)
        ci95 = float(summary.ci95) if np.isfinite(summary.ci95) else None  # None: a single validation episode
        entry = {"stage": stage.name, "step": self.stage_step, "accuracy": summary.mean, "ci95": ci95}
        self.report.validation.append(entry)
        self.method.train()
        if self.stage_index != self._final:
            return  # earlier stages are validated for the record only: selection stays in the final stage
        # Ties go to the later model: equal scores carry no signal against further training.
        if self.report.best is None or entry["accuracy"] >= self.report.best["accuracy"]:
            self.report.best, self.stale = entry, 0
            self.best_state = copy.deepcopy(self.method.state_dict())
        else:
            self.stale += 1
            if s := self.settings.patience:
                self.report.stopped_early = self.stale >= s

    def _return_weights(self) -> None:
        if self._final is None:
            return
        final = self.stages[self._final]
        last = {"stage": final.name, "step": self.report.steps.get(final.name, 0)}
        best = self.report.best
        self.report.returned = last
        if best is None:
            if self.validation.episodes is not None:
                self.report.model_selection = "none: the final stage was never validated"
            return
        scores = [v["accuracy"] for v in self.report.validation if v["stage"] == final.name]
        half = best["ci95"]
        if half is None or all(score >= best["accuracy"] - half for score in scores):
            self.report.model_selection = "last (validation saturated)"
            return
        self.method.load_state_dict(self.best_state)
        self.report.returned = {"stage": best["stage"], "step": best["step"]}
        self.report.model_selection = "validation"

    # ---- checkpoints

    def _apply(self, state: dict) -> None:
        """Take over a checkpoint's state, having checked all of it first."""
        stage_index, step = int(state["stage_index"]), int(state["step"])
        if not 0 <= stage_index <= len(self.stages):
            raise ValueError(f"it is at stage {stage_index + 1} of a method with {len(self.stages)}")
        saved = json.loads(state["report"])
        report = TrainingReport(**saved)
        scratch = copy.deepcopy(self.method)
        if state["best_state"] is not None:
            scratch.load_state_dict(state["best_state"])
        scratch.load_state_dict(state["model"])
        rng, gen = np.random.default_rng(), torch.Generator()
        rng.bit_generator.state = json.loads(state["data"]["rng"])
        gen.set_state(state["data"]["torch_gen"])
        torch_rng = state["torch_rng"]
        if not isinstance(torch_rng, torch.Tensor):
            raise TypeError("its torch RNG state is not a tensor")
        stage = self.stages[stage_index] if stage_index < len(self.stages) else None
        optimisers = {}
        for key, saved_state in state["optimisers"].items():
            optimisers[key] = self._build_optimiser(stage, key or None)
            optimisers[key].load_state_dict(saved_state)
        # everything loaded: now take it over
        self.method.load_state_dict(state["model"])
        self.best_state, self.stale = state["best_state"], int(state["stale"])
        self.stage_index, self.stage_step, self._optimisers = stage_index, step, optimisers
        report.resumed_from = step
        self.report = report
        self.data.restore(state["data"])
        torch.set_rng_state(torch_rng)
        self._started = time.perf_counter()


def regime_groups(groups: list[ParamGroup], backbone: nn.Module, settings: TrainSettings) -> list[ParamGroup]:
    """`groups` under the fine-tuning regime: the backbone's parameters leave every group for
    "linear-probe"; for "full" with `backbone_lr_scale` != 1 each group's backbone share becomes
    a group of its own ("<name>/backbone") at that scale. ("frozen" trains no step at all.)"""
    if settings.regime == "full" and settings.backbone_lr_scale == 1.0:
        return groups
    in_backbone = {id(p) for p in backbone.parameters()}
    out = []
    for group in groups:
        own = tuple(p for p in group.params if id(p) not in in_backbone)
        shared = tuple(p for p in group.params if id(p) in in_backbone)
        if own or settings.regime == "linear-probe":
            out.append(ParamGroup(group.name, own, group.lr_scale))
        if shared and settings.regime == "full":
            out.append(ParamGroup(f"{group.name}/backbone", shared, group.lr_scale * settings.backbone_lr_scale))
    return out


def fit(
    method: FewShotMethod,
    pool: FaceDataset,
    settings: TrainSettings,
    *,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: Progress = no_progress,
    checkpoint: Path | None = None,
    resume: bool = False,
) -> TrainingReport:
    """Train `method` on `pool` through its stages; returns what happened, for the record.

    With `resume`, an existing `checkpoint` is continued (a damaged one is named
    in a warning and training starts over).
    """
    trainer = Trainer(method, pool, settings, seed=seed, device=device, progress=progress, checkpoint=checkpoint)
    if resume and checkpoint is not None and checkpoint.exists():
        trainer.restore(checkpoint)
    return trainer.run()
