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


@pytest.mark.parametrize(("coupling", "private_block"), [("soft", False), ("hard", False), ("soft", True)])
def test_stage_two_really_alternates(pool, coupling, private_block):
    """Phase (a): the emotion branch (with `private_block`, its own last block too) does not move; phase (b): the
    similarity branch, backbone included, does not."""
    model = _model(coupling=coupling, distill_on="episode", private_block=private_block)
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


def _alternate_steps(pool, model, steps: int):
    """Run the first `steps` steps of stage 2; yields (step, parameters before it)."""
    alternate = model.training_stages(SETTINGS)[-1]
    data = _Data(pool, SETTINGS, "cpu", seed=0)
    loop = _Loop(model, SETTINGS, data, _Validator(None, SETTINGS, 0), TrainingReport(), "cpu", None, lambda i, **k: i)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for step in range(steps):
        before = {"block": _params(list(model.emotion_block.parameters())),
                  "shared": _params(list(model.backbone.parameters()))}  # fmt: skip
        loop._step(alternate, step, optimizer)
        yield step, before


def test_with_a_private_block_both_students_learn_representations(pool):
    model = _model(private_block=True)
    block, shared = list(model.emotion_block.parameters()), list(model.backbone.parameters())
    assert block and not {id(p) for p in block} & {id(p) for p in shared}
    assert {id(p) for p in block} <= {id(p) for p in model.emotion_parameters()}
    for step, before in _alternate_steps(pool, model, 4):
        if in_phase_a(step, 2):  # the similarity branch's backbone learns, the private block does not
            assert _changed(before["shared"], shared) and not _changed(before["block"], block)
        else:  # the emotion branch's own block learns, the shared backbone does not
            assert _changed(before["block"], block) and not _changed(before["shared"], shared)


def test_the_private_block_starts_stage_two_as_a_copy_of_the_shared_one(pool):
    model = _model(private_block=True)
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(1.0)  # as joint learning would have moved it
    alternate = model.training_stages(SETTINGS)[-1]
    alternate.loss(_Data(pool, SETTINGS, "cpu", seed=0).step_data(0, alternate))
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
