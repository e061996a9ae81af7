"""Short trainings of the baselines on SynFACS_C, shared by their tests.

Each method trains at most once per test session (cached here), on 32 px
SynFACS with a few dozen steps, and is evaluated on one episode set (5-way
5-shot, 5 queries per class, EPISODES episodes, seed 0) that is the same for
every method. The budgets are small on purpose: the tests check that a method
learns something that transfers (it beats chance by a clear margin), not what
it reaches with a real budget.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, replace

import torch

from fsfer_bench.backbones import build_backbone
from fsfer_bench.config import resolve_config
from fsfer_bench.data.dataset import FaceDataset
from fsfer_bench.episodes import EpisodeSet, EpisodeSpec, sample_episodes
from fsfer_bench.evaluate import EvaluationResult, evaluate
from fsfer_bench.experiment import build_pools
from fsfer_bench.methods import FewShotMethod, TrainSettings
from fsfer_bench.registry import get_method
from fsfer_bench.training import TrainingReport, fit

SIZE = 32
SUBJECTS = 60  # per domain; the registered datasets have 200
EPISODES = 60
CHANCE = 20.0  # percent, 5-way

_EPISODIC = {"steps": 60, "shot": 5, "query": 5}
#: Per method: training settings (over TrainSettings defaults, without validation) and options.
BUDGETS: dict[str, tuple[dict, dict]] = {
    "protonet": (_EPISODIC, {}),
    "pixels": ({}, {}),
    "matchingnet": (_EPISODIC, {}),
    "relationnet": ({**_EPISODIC, "steps": 100}, {}),
    "maml": ({"steps": 15, "shot": 5, "query": 5, "weight_decay": 0.0}, {"first_order": True, "meta_batch": 2}),
    "baseline": ({"steps": 60, "batch_size": 64}, {}),
    "baseline++": ({"steps": 60, "batch_size": 64}, {}),
    "simpleshot": ({"steps": 60, "batch_size": 64}, {}),
    "landmarks": ({}, {}),
}


@functools.lru_cache(maxsize=1)
def pools() -> tuple[FaceDataset, FaceDataset]:
    """(test pool, training pool) of SynFACS_C at SIZE px, built by the harness as a run builds them."""
    from fsfer_bench.data.adapters import synfacs

    saved = synfacs.SUBJECTS
    synfacs.SUBJECTS = SUBJECTS
    try:
        built = build_pools(resolve_config({"method": "protonet", "split": "SynFACS_C", "image_size": SIZE}))
    finally:
        synfacs.SUBJECTS = saved
    return built.target, built.train


@functools.lru_cache(maxsize=1)
def episodes() -> EpisodeSet:
    """The one episode set every method is evaluated on."""
    return sample_episodes(pools()[0], EpisodeSpec(way=5, shot=5, query=5, episodes=EPISODES, seed=0))


@dataclass(frozen=True)
class Trained:
    method: FewShotMethod
    report: TrainingReport
    seconds: float


def build(name: str, options: dict | None = None, seed: int = 0) -> FewShotMethod:
    cls = get_method(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(build_backbone("conv4", SIZE), cls.Options(**(options or {})), len(pools()[1].classes))


@functools.cache
def trained(name: str) -> Trained:
    """`name` after its short training on the SynFACS_C training pool (lab, basic classes)."""
    train, options = BUDGETS[name]
    method = build(name, options)
    settings = replace(TrainSettings(), val_every=0, **train)
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        report = fit(method, pools()[1], settings, seed=0)
    return Trained(method, report, time.perf_counter() - start)


@functools.cache
def evaluated(name: str) -> EvaluationResult:
    """`name`, trained, on the shared episode set (target: wild faces, compound classes)."""
    return evaluate(trained(name).method, pools()[0], episodes())


def summary(name: str) -> str:
    result = evaluated(name)
    return f"{name}: {result.accuracies.mean():.1f}% ({result.path}), trained in {trained(name).seconds:.0f} s"
