"""EGS-Net: the two stages, real alternation in stage 2, the ablations, and its options."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from toydata import make_toy

from egsnet import EGSNetFull, EGSNetJoint, EGSNetSim
from egsnet.model import Options
from egsnet.training import in_phase_a
from fsfer_bench.backbones import build_backbone
from fsfer_bench.config import resolve_config
from fsfer_bench.data.vocabulary import BASIC_WITH_NEUTRAL
from fsfer_bench.errors import ConfigError
from fsfer_bench.experiment import build_method
from fsfer_bench.methods import TrainSettings
from fsfer_bench.training import Trainer

SETTINGS = TrainSettings(steps=10, way=3, shot=2, query=2, batch_size=8, val_every=0)


@pytest.fixture(scope="module")
def pool():
    return make_toy("Toy-train", BASIC_WITH_NEUTRAL, subjects=12, size=16)


def _model(cls=EGSNetFull, **options) -> EGSNetFull:
    torch.manual_seed(0)
    return cls(build_backbone("conv4", 16), Options(**{"period": 2, **options}), num_base_classes=7)


def _params(params: list[torch.nn.Parameter]) -> list[torch.Tensor]:
    return [p.detach().clone() for p in params]


def _changed(before: list[torch.Tensor], params: list[torch.nn.Parameter]) -> bool:
    return any(not torch.equal(b, p) for b, p in zip(before, params))


def test_stage_lengths_split_one_budget():
    model = _model(alternate_fraction=0.4)
    stages = model.training_stages(SETTINGS)
    assert [(s.name, s.steps) for s in stages] == [("joint", 6), ("alternate", 4)]
    assert [s.name for s in _model(EGSNetJoint, alternate_fraction=0.0).training_stages(SETTINGS)] == ["joint"]


@pytest.mark.parametrize("coupling", ["soft", "hard"])
def test_stage_two_really_alternates(pool, coupling):
    """Phase (a): the emotion branch does not move; phase (b): the similarity branch does not."""
    model = _model(coupling=coupling, distill_on="episode", alternate_fraction=1.0)
    trainer = Trainer(model, pool, replace(SETTINGS, steps=6))
    seen = set()
    for step in range(6):
        sim, emo = _params(model.similarity_parameters()), _params(model.emotion_parameters())
        assert trainer.state().stage == "alternate"
        trainer.step()
        phase_a = in_phase_a(step, 2)
        seen.add(phase_a)
        assert _changed(sim, model.similarity_parameters()) == phase_a
        assert _changed(emo, model.emotion_parameters()) == (not phase_a)
    assert seen == {True, False}


def test_frozen_teacher_keeps_its_batchnorm_statistics(pool):
    model = _model(alternate_fraction=1.0)
    trainer = Trainer(model, pool, SETTINGS)
    running = model.emotion_head[1].running_mean.clone()
    assert trainer.state().phase == "a"  # the emotion head only teaches
    trainer.step()
    assert torch.equal(running, model.emotion_head[1].running_mean)


@pytest.mark.parametrize(("name", "stages"), [("egsnet", ["joint", "alternate"]), ("egsnet-joint", ["joint"]),
                                             ("egsnet-sim", ["joint"])])  # fmt: skip
def test_quick_profile_stages_share_the_budget_and_learn_as_it_says(pool, name, stages):
    """The quick profile, resolved as a run resolves it: its stages, their step counts and their optimisers."""
    config = resolve_config({"method": name, "profile": "quick"})
    model = build_method(config, len(pool.classes))
    report = Trainer(model, pool, config.train).report
    train = config.train
    assert [s["name"] for s in report.stages] == stages
    assert sum(s["steps"] for s in report.stages) == train.steps
    for stage in report.stages:
        assert stage["optimizer"] == train.stage_optimiser().describe()
        assert stage["schedule"] == train.stage_schedule().describe()
        assert sum(g["tensors"] for g in stage["groups"]) == len(list(model.parameters()))
    if "alternate" in stages:
        alternate = report.stages[-1]
        assert alternate["lr"] == pytest.approx(train.lr * model.options.alternate_lr_scale)
        assert alternate["phases"] == {"a": ["similarity"], "b": ["emotion"]}


def test_similarity_only_needs_no_batches():
    stages = _model(EGSNetSim, alternate_fraction=0.0, lambda_emo=0.0).training_stages(SETTINGS)
    assert [s.needs for s in stages] == [("episode",)]


@pytest.mark.parametrize(
    ("options", "message"),
    [({"coupling": "medium"}, "coupling must be one of soft, hard"), ({"distill_on": "all"}, "distill_on"),
     ({"alternate_fraction": 1.5}, "alternate_fraction"), ({"lambda_emo": 0.0}, "needs the emotion branch")],
)  # fmt: skip
def test_bad_options_are_config_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        Options(**options)


def test_test_time_uses_only_the_similarity_branch():
    model = _model().eval()
    x = torch.randn(6, 3, 16, 16)
    before = model.embed(x)
    with torch.no_grad():
        for p in model.emotion_parameters():
            p.add_(1.0)
    assert torch.equal(before, model.embed(x))
