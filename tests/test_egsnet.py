"""EGS-Net: the two stages, real alternation in stage 2, the ablations, and its options."""

from __future__ import annotations

import pytest
import torch
from toydata import make_toy

from egsnet import EGSNetFull, EGSNetJoint, EGSNetSim
from egsnet.model import Options
from egsnet.training import in_phase_a
from fsfer_bench.backbones import build_backbone
from fsfer_bench.data.vocabulary import BASIC_WITH_NEUTRAL
from fsfer_bench.errors import ConfigError
from fsfer_bench.methods import TrainSettings
from fsfer_bench.training import TrainingReport, _Data, _Loop, _Validator

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
    model = _model(coupling=coupling, distill_on="episode")
    alternate = model.training_stages(SETTINGS)[-1]
    data = _Data(pool, SETTINGS, "cpu", seed=0)
    loop = _Loop(model, SETTINGS, data, _Validator(None, SETTINGS, 0), TrainingReport(), "cpu", None, lambda i, **k: i)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-3)
    model.train()
    seen = set()
    for step in range(6):
        sim, emo = _params(model.similarity_parameters()), _params(model.emotion_parameters())
        loop._step(alternate, step, optimizer)
        phase_a = in_phase_a(step, 2)
        seen.add(phase_a)
        assert _changed(sim, model.similarity_parameters()) == phase_a
        assert _changed(emo, model.emotion_parameters()) == (not phase_a)
    assert seen == {True, False}


def test_frozen_teacher_keeps_its_batchnorm_statistics(pool):
    model = _model()
    alternate = model.training_stages(SETTINGS)[-1]
    data = _Data(pool, SETTINGS, "cpu", seed=0)
    model.train()
    running = model.emotion_head[1].running_mean.clone()
    alternate.loss(data.step_data(0, alternate))  # phase (a): the emotion head only teaches
    assert torch.equal(running, model.emotion_head[1].running_mean)


def test_ablations_share_the_profiles_but_not_the_stages():
    quick = {name: cls.profiles["quick"]["options"] for name, cls in
             (("full", EGSNetFull), ("joint", EGSNetJoint), ("sim", EGSNetSim))}  # fmt: skip
    assert quick["full"]["alternate_fraction"] > 0
    assert quick["joint"]["alternate_fraction"] == 0 and quick["joint"]["lambda_emo"] > 0
    assert quick["sim"]["alternate_fraction"] == 0 and quick["sim"]["lambda_emo"] == 0
    assert EGSNetFull.profiles["paper"]["backbone"] == "resnet18" and EGSNetFull.profiles["paper"]["image_size"] == 224


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
