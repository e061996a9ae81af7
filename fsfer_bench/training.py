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
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fsfer_bench.checkpoints import Checkpoint, read_checkpoint
from fsfer_bench.data.dataset import FaceDataset
from fsfer_bench.episodes import EpisodeSampler
from fsfer_bench.errors import TrainingError
from fsfer_bench.evaluate import Progress, no_progress
from fsfer_bench.methods import Batch, Episode, FewShotMethod, ParamGroup, Stage, StepData, TrainSettings
from fsfer_bench.tensors import SCRATCH, Normalisation, augment, input_normalisation, inputs
from fsfer_bench.validation import ModelSelection, Validation, plan_validation, split_validation

__all__ = ["TrainerState", "Trainer", "TrainingReport", "Validation", "fit", "plan_validation", "split_validation"]


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
    # the images drawn up to the step of the returned weights (validation may return an earlier
    # checkpoint than the last): what "trained on N images" means for the model that is evaluated
    images_seen_returned: int | None = None
    stages: list[dict] = field(default_factory=list)  # each stage's steps, optimiser, schedule and groups

    def to_dict(self) -> dict:
        return asdict(self)


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
        self.selection = ModelSelection(self.validation, settings)
        self.data = _Data(train_pool, settings, device, seed, method.inputs, input_normalisation(method))
        self.report = TrainingReport(
            train_images=len(train_pool),
            val_images=0 if self.validation.pool is None else len(self.validation.pool),
            torch_threads=torch.get_num_threads(),
            model_selection="none: nothing to train" if self._final is None else self.selection.default,
            validation_episodes=self.validation.size,
            validation_shape=self.validation.shape(),
            stages=[self._describe(s) for s in self.stages],
        )
        self.stage_index, self.stage_step = 0, 0
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
            if self._final is not None:
                self.selection.choose(self.method, self.stages[self._final].name, self.report)
            self.method.eval()
            with torch.no_grad():
                self.method.after_training(self.data.in_order)
            self.report.seconds += time.perf_counter() - self._started
        return self.report

    def save(self, path: Path) -> None:
        """Write a checkpoint atomically: a kill mid-write leaves the previous one intact."""
        report = self.report.to_dict()
        report["seconds"] += time.perf_counter() - self._started
        Checkpoint(
            model=self.method.state_dict(),
            optimisers={k: o.state_dict() for k, o in self._optimisers.items()},
            stage_index=self.stage_index,
            step=self.stage_step,
            best_state=self.selection.best_state,
            stale=self.selection.stale,
            report=report,
            data=self.data.state(),
            torch_rng=torch.get_rng_state(),
        ).write(path)

    def restore(self, path: Path) -> bool:
        """Continue from the checkpoint at `path`; True if it was used.

        A checkpoint that cannot be used (truncated by a full disk, from another
        version, garbled) is named in one `FsferWarning` and training starts from
        scratch, instead of failing on every rerun; the next checkpoint replaces it.
        Nothing changes unless all of it loads.
        """
        return read_checkpoint(path, self._take_over)

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

    def _validate(self, stage: Stage) -> None:
        final = self.stage_index == self._final
        self.selection.validate(self.method, self.device, stage.name, self.stage_step, final, self.report)

    # ---- resuming

    def _take_over(self, checkpoint: Checkpoint) -> None:
        """Take over a checkpoint's state, having checked that all of it fits this trainer first."""
        if not 0 <= checkpoint.stage_index <= len(self.stages):
            raise ValueError(f"it is at stage {checkpoint.stage_index + 1} of a method with {len(self.stages)}")
        report = TrainingReport(**checkpoint.report)
        scratch = copy.deepcopy(self.method)
        if checkpoint.best_state is not None:
            scratch.load_state_dict(checkpoint.best_state)
        scratch.load_state_dict(checkpoint.model)
        rng, gen = np.random.default_rng(), torch.Generator()
        rng.bit_generator.state = json.loads(checkpoint.data["rng"])
        gen.set_state(checkpoint.data["torch_gen"])
        stage = self.stages[checkpoint.stage_index] if checkpoint.stage_index < len(self.stages) else None
        optimisers = {}
        for key, saved_state in checkpoint.optimisers.items():
            optimisers[key] = self._build_optimiser(stage, key or None)
            optimisers[key].load_state_dict(saved_state)
        # everything loaded: now take it over
        self.method.load_state_dict(checkpoint.model)
        self.selection.best_state, self.selection.stale = checkpoint.best_state, checkpoint.stale
        self.stage_index, self.stage_step, self._optimisers = checkpoint.stage_index, checkpoint.step, optimisers
        report.resumed_from = checkpoint.step
        self.report = report
        self.data.restore(checkpoint.data)
        torch.set_rng_state(checkpoint.torch_rng)
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
