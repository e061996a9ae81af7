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


@pytest.mark.parametrize(("coupling", "private_block"), [("soft", False), ("hard", False), ("soft", True)])
def test_stage_two_really_alternates(pool, coupling, private_block):
    """Phase (a): the emotion branch (with `private_block`, its own last block too) does not move; phase (b): the
    similarity branch, backbone included, does not."""
    model = _model(coupling=coupling, distill_on="episode", alternate_fraction=1.0, private_block=private_block)
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


def _alternate_steps(pool, model, steps: int):
    """Run the first `steps` steps of stage 2; yields (step, parameters before it)."""
    trainer = Trainer(model, pool, replace(SETTINGS, steps=steps))
    for step in range(steps):
        assert trainer.state().stage == "alternate"
        before = {"block": _params(list(model.emotion_block.parameters())),
                  "shared": _params(list(model.backbone.parameters()))}  # fmt: skip
        trainer.step()
        yield step, before


def test_with_a_private_block_both_students_learn_representations(pool):
    model = _model(private_block=True, alternate_fraction=1.0)
    block, shared = list(model.emotion_block.parameters()), list(model.backbone.parameters())
    assert block and not {id(p) for p in block} & {id(p) for p in shared}
    assert {id(p) for p in block} <= {id(p) for p in model.emotion_parameters()}
    for step, before in _alternate_steps(pool, model, 4):
        if in_phase_a(step, 2):  # the similarity branch's backbone learns, the private block does not
            assert _changed(before["shared"], shared) and not _changed(before["block"], block)
        else:  # the emotion branch's own block learns, the shared backbone does not
            assert _changed(before["block"], block) and not _changed(before["shared"], shared)


def test_the_private_block_starts_stage_two_as_a_copy_of_the_shared_one(pool):
    model = _model(private_block=True, alternate_fraction=1.0)
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(1.0)  # as joint learning would have moved it
    trainer = Trainer(model, pool, SETTINGS)
    alternate = trainer.stages[-1]
    alternate.loss(trainer.step_data(alternate, 0))
    shared = dict(model.backbone.layers[model.split_at].named_parameters())
    assert all(torch.equal(p, shared[k]) for k, p in model.emotion_block.named_parameters())


def test_the_default_shares_the_whole_backbone():
    model = _model()
    assert model.emotion_block is None and not any(k.startswith("emotion_block") for k in model.state_dict())


@pytest.mark.parametrize("name", ["conv4", "resnet12", "resnet18"])
def test_the_cut_backbone_computes_what_the_backbone_computes(name):
    torch.manual_seed(0)
    model = EGSNetFull(build_backbone(name, 32), Options(private_block=True), num_base_classes=7).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model.similarity_base(model.trunk(x)), model.backbone(x), atol=1e-6)
