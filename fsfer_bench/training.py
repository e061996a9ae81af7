"""The training loop every method shares: stages of episodic and/or batch steps.

A method declares its `Stage`s; this loop draws the data each step needs,
augments it, runs the optimiser with a cosine schedule, stops on a NaN loss,
validates on held-out subjects of the training sources (never the target), keeps
the best weights, and writes resumable checkpoints whose RNG states make a
resumed run end exactly where an uninterrupted one does (on CPU).
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from fsfer_bench.data.dataset import FaceDataset
from fsfer_bench.episodes import EpisodeSampler, EpisodeSpec, sample_episodes
from fsfer_bench.errors import EpisodeError, TrainingError
from fsfer_bench.evaluate import Progress, evaluate, no_progress
from fsfer_bench.methods import Batch, Episode, FewShotMethod, Stage, StepData, TrainSettings
from fsfer_bench.tensors import augment, inputs

VAL_QUERY = 5


@dataclass
class TrainingReport:
    seconds: float = 0.0
    steps: dict[str, int] = field(default_factory=dict)
    train_images: int = 0
    val_images: int = 0
    validation: list[dict] = field(default_factory=list)  # {"stage", "step", "accuracy"}
    best: dict | None = None
    stopped_early: bool = False
    resumed_from: int | None = None
    # CPU float sums, and so the trained weights, depend on the number of torch threads:
    # the same config and seed give the same model only at the same thread count.
    torch_threads: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def split_validation(
    pool: FaceDataset, fraction: float, rng: np.random.Generator
) -> tuple[FaceDataset, FaceDataset | None]:
    """Hold out `fraction` of the subjects (of the images, without subject ids) for validation.

    Splitting by person matters: CK+ frames of one sequence are near-duplicates,
    so an image-level split would validate on copies of training images.
    """
    if fraction <= 0 or len(pool) == 0:
        return pool, None
    if pool.has_subjects:
        people = np.unique(pool.subjects)
        held = rng.choice(people, size=max(1, int(round(fraction * len(people)))), replace=False)
        is_val = np.isin(pool.subjects, held)
    else:
        is_val = np.zeros(len(pool), bool)
        is_val[rng.choice(len(pool), size=max(1, int(round(fraction * len(pool)))), replace=False)] = True
    return pool.where(~is_val, name=f"{pool.name} (train)"), pool.where(is_val, name=f"{pool.name} (validation)")


class _Data:
    """Draws the episodes and batches that stages ask for, from seeded generators."""

    def __init__(
        self, pool: FaceDataset, settings: TrainSettings, device: torch.device | str, seed: int, kind: str = "images"
    ) -> None:
        self.pool, self.settings, self.device, self.kind = pool, settings, device, kind
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
        batch = inputs(self.pool, indices, self.kind, "cpu")
        if self.settings.augment and self.kind == "images":
            batch = augment(batch, self.torch_gen)
        return batch.to(self.device)

    def in_order(self, batch_size: int = 256) -> Iterator[Batch]:
        """The whole pool in order, without augmentation, for `after_training`."""
        for i in range(0, len(self.pool), batch_size):
            index = np.arange(i, min(i + batch_size, len(self.pool)))
            labels = torch.as_tensor(self.pool.labels[index], device=self.device)
            yield Batch(inputs(self.pool, index, self.kind, self.device), labels)

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


class _Validator:
    """Fixed validation episodes over held-out subjects of the training classes."""

    def __init__(self, pool: FaceDataset | None, settings: TrainSettings, seed: int) -> None:
        self.pool, self.episodes = pool, None
        if pool is None or settings.val_episodes <= 0 or settings.val_every <= 0:
            return
        need = settings.shot + VAL_QUERY
        usable = int((np.bincount(pool.labels, minlength=len(pool.classes)) >= need).sum())
        if usable < 2:
            return
        spec = EpisodeSpec(min(settings.way, usable), settings.shot, VAL_QUERY, settings.val_episodes, seed)
        try:
            self.episodes = sample_episodes(pool, spec, min_per_class=need)
        except EpisodeError:  # too few distinct people held out: train without model selection
            self.episodes = None

    def accuracy(self, method: FewShotMethod, device: torch.device | str) -> float | None:
        if self.episodes is None or self.pool is None:
            return None
        return float(evaluate(method, self.pool, self.episodes, device=device).accuracies.mean())


def _lr_at(stage_lr: float, step: int, steps: int, schedule: str) -> float:
    if schedule == "constant" or steps <= 1:
        return stage_lr
    return stage_lr * 0.5 * (1 + math.cos(math.pi * step / steps))


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
    """Train `method` on `pool` through its stages; returns what happened, for the record."""
    start = time.perf_counter()
    train_pool, val_pool = split_validation(pool, settings.val_fraction, np.random.default_rng([seed, 2]))
    data = _Data(train_pool, settings, device, seed, method.inputs)
    validator = _Validator(val_pool, settings, seed)
    report = TrainingReport(
        train_images=len(train_pool),
        val_images=0 if val_pool is None else len(val_pool),
        torch_threads=torch.get_num_threads(),
    )
    loop = _Loop(method, settings, data, validator, report, device, checkpoint, progress)
    if resume and checkpoint is not None and checkpoint.exists():
        loop.restore(checkpoint)
    loop.run(method.training_stages(settings))
    report.seconds += time.perf_counter() - start
    return report


class _Loop:
    """The state of one training run, checkpointable between any two steps."""

    def __init__(
        self,
        method: FewShotMethod,
        settings: TrainSettings,
        data: _Data,
        validator: _Validator,
        report: TrainingReport,
        device: torch.device | str,
        checkpoint: Path | None,
        progress: Progress,
    ) -> None:
        self.method, self.settings, self.data, self.validator = method, settings, data, validator
        self.report, self.device, self.checkpoint, self.progress = report, device, checkpoint, progress
        self.stage_index, self.step = 0, 0
        self.best_state: dict | None = None
        self.best_accuracy = -1.0
        self.stale = 0
        self.optimizer_state: dict | None = None

    def run(self, stages: list[Stage]) -> None:
        self.method.to(self.device)
        while self.stage_index < len(stages) and not self.report.stopped_early:
            self._run_stage(stages[self.stage_index])
            self.stage_index, self.step, self.optimizer_state = self.stage_index + 1, 0, None
        if self.best_state is not None:
            self.method.load_state_dict(self.best_state)
        self.method.eval()
        with torch.no_grad():
            self.method.after_training(self.data.in_order)

    def _run_stage(self, stage: Stage) -> None:
        steps = stage.steps if stage.steps is not None else self.settings.steps
        lr = stage.lr if stage.lr is not None else self.settings.lr
        params = [p for p in self.method.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(params, lr=lr, weight_decay=self.settings.weight_decay)
        if self.optimizer_state is not None:
            optimizer.load_state_dict(self.optimizer_state)
        self.method.train()
        remaining = range(self.step, steps)
        for step in self.progress(remaining, desc=f"train {stage.name}", total=len(remaining)):
            for group in optimizer.param_groups:
                group["lr"] = _lr_at(lr, step, steps, self.settings.schedule)
            self._step(stage, step, optimizer)
            self.step = step + 1
            self.report.steps[stage.name] = self.step
            last = self.step == steps
            if self.validator.episodes is not None and (self.step % self.settings.val_every == 0 or last):
                self._validate(stage)
                if self.report.stopped_early:
                    return
            if self.checkpoint is not None and (self.step % self.settings.checkpoint_every == 0 or last):
                self.optimizer_state = optimizer.state_dict()
                self.save(self.checkpoint)

    def _step(self, stage: Stage, step: int, optimizer: torch.optim.Optimizer) -> None:
        loss = stage.loss(self.data.step_data(step, stage))
        if not torch.isfinite(loss):
            raise TrainingError(
                f"training loss became {loss.item()} at step {step + 1} of stage '{stage.name}'; "
                "lower the learning rate ([train] lr) or check the training data"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if stage.trainable is not None:
            allowed = {id(p) for p in stage.trainable(step)}
            for p in self.method.parameters():
                if id(p) not in allowed:
                    p.grad = None  # Adam skips parameters without a gradient entirely
        optimizer.step()

    def _validate(self, stage: Stage) -> None:
        accuracy = self.validator.accuracy(self.method, self.device)
        self.method.train()
        if accuracy is None:
            return
        self.report.validation.append({"stage": stage.name, "step": self.step, "accuracy": accuracy})
        # Ties go to the later model: when validation saturates (easy base classes),
        # it carries no signal against further training, e.g. EGS-Net's second stage.
        if accuracy >= self.best_accuracy:
            self.best_accuracy, self.stale = accuracy, 0
            self.best_state = copy.deepcopy(self.method.state_dict())
            self.report.best = {"stage": stage.name, "step": self.step, "accuracy": accuracy}
        else:
            self.stale += 1
            if self.settings.patience and self.stale >= self.settings.patience:
                self.report.stopped_early = True

    def save(self, path: Path) -> None:
        """Write a checkpoint atomically: a kill mid-write leaves the previous one intact."""
        state = {
            "model": self.method.state_dict(),
            "optimizer": self.optimizer_state,
            "stage_index": self.stage_index,
            "step": self.step,
            "best_state": self.best_state,
            "best_accuracy": self.best_accuracy,
            "stale": self.stale,
            "report": json.dumps(self.report.to_dict()),
            "data": self.data.state(),
            "torch_rng": torch.get_rng_state(),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)

    def restore(self, path: Path) -> None:
        state = torch.load(path, map_location="cpu", weights_only=True)
        self.method.load_state_dict(state["model"])
        self.optimizer_state = state["optimizer"]
        self.stage_index, self.step = state["stage_index"], state["step"]
        self.best_state, self.best_accuracy, self.stale = state["best_state"], state["best_accuracy"], state["stale"]
        saved = json.loads(state["report"])
        self.report.__dict__.update({k: v for k, v in saved.items() if k not in ("seconds", "resumed_from")})
        self.report.seconds = saved["seconds"]
        self.report.resumed_from = self.step
        self.data.restore(state["data"])
        torch.set_rng_state(state["torch_rng"])
