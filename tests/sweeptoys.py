"""A sweep plugin for tests: registers the tiny toy datasets and the split Toy_C in each worker.

Sweep workers start blank (spawned processes, submitit jobs), so tests name this
module with `--plugin sweeptoys` (or `Sweep(plugins=...)`) and put tests/ on
PYTHONPATH for subprocesses.

With FSFER_TEST_DIE_AT_CHECKPOINT=N in the environment, the process SIGKILLs
itself right after it writes the training checkpoint of step N: a kill in the
middle of a training, at a known point.

With FSFER_TEST_PAUSE_AT_CHECKPOINT=STEP:SECONDS[:TASK], the training sleeps
SECONDS right after it writes the checkpoint of step STEP, in its first run only
(SLURM_RESTART_COUNT unset or 0) and, if TASK is given, only in Slurm array task
TASK: a window in which a test can cancel or requeue a task mid-training without
making the training itself long (the machine's CPUs are shared).
"""

from __future__ import annotations

import os
import signal
import time

import torch
from toydata import TOY_COMPOUND, register_toys

from fsfer_bench import training
from fsfer_bench.methods import FeatureMethod, Stage, class_means, register_method
from fsfer_bench.splits import Split, register_split

SIZE = 16
#: Run settings that make one toy cell take well under a second of compute.
TINY = {"episodes": 6, "query": 3, "image_size": SIZE, "device": "cpu"}
TINY_SET = ["train.steps=2", "train.val_every=0", "train.way=3", "train.shot=1", "train.query=2",
            "train.batch_size=16", "train.augment=false"]  # fmt: skip


def register() -> None:
    """Toy-train, Toy-test, Toy_C, and Toy_C5: five of Toy_C's classes, trained on the same source."""
    register_toys(size=SIZE, subjects=12)
    register_split(Split("Toy_C5", "Toy-test", TOY_COMPOUND[:5], ("Toy-train",), "toy split sharing Toy_C's training"))


@register_method("toy-flaky")
class Flaky(FeatureMethod):
    """Nearest prototype; its training raises while FSFER_TEST_FLAKY is set."""

    def classify(self, support_features, support_labels, query_features):
        return -torch.cdist(query_features, class_means(support_features, support_labels))

    def training_stages(self, settings):
        def loss(data):
            if os.environ.get("FSFER_TEST_FLAKY"):
                raise RuntimeError("flaky training broke, as asked")
            return self.episode_loss(data.episode)

        return [Stage("episodic", loss)]


def _die_after_checkpoint(step: int) -> None:
    save = training.Trainer.save

    def save_then_die(self: training.Trainer, path) -> None:
        save(self, path)
        if self.state().step >= step:
            os.kill(os.getpid(), signal.SIGKILL)

    training.Trainer.save = save_then_die  # type: ignore[method-assign]


def _pause_after_checkpoint(spec: str) -> None:
    step, seconds, *task = spec.split(":")
    first_run = os.environ.get("SLURM_RESTART_COUNT", "0") == "0"
    if not first_run or (task and os.environ.get("SLURM_ARRAY_TASK_ID") != task[0]):
        return
    save = training.Trainer.save

    def save_then_pause(self: training.Trainer, path) -> None:
        save(self, path)
        if self.state().step == int(step):
            time.sleep(float(seconds))

    training.Trainer.save = save_then_pause  # type: ignore[method-assign]


register()
if os.environ.get("FSFER_TEST_PAUSE_AT_CHECKPOINT"):
    _pause_after_checkpoint(os.environ["FSFER_TEST_PAUSE_AT_CHECKPOINT"])
if os.environ.get("FSFER_TEST_DIE_AT_CHECKPOINT"):
    _die_after_checkpoint(int(os.environ["FSFER_TEST_DIE_AT_CHECKPOINT"]))
