"""Fine-tuning regimes (issue 18): full with a slower backbone, linear probe, frozen.

Each test checks the property the regime promises on a real method (Baseline,
whose base classifier is its only parameter outside the backbone), not a score.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from toydata import make_toy

from baselines.baseline import Baseline
from baselines.protonet import ProtoNet
from fsfer_bench.backbones import build_backbone
from fsfer_bench.config import resolve_config
from fsfer_bench.data.vocabulary import BASIC_WITH_NEUTRAL
from fsfer_bench.errors import ConfigError, TrainingError
from fsfer_bench.methods import TrainSettings
from fsfer_bench.training import Trainer

SETTINGS = TrainSettings(steps=4, batch_size=8, way=3, shot=1, query=2, val_every=0, lr=0.01)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def pool():
    return make_toy("Toy-train", BASIC_WITH_NEUTRAL, subjects=12, per_class=2, size=16)


def _baseline() -> Baseline:
    torch.manual_seed(0)
    return Baseline(build_backbone("conv4", 16), num_base_classes=len(BASIC_WITH_NEUTRAL))


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and buffers (BatchNorm's running statistics included)."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(before: dict[str, torch.Tensor], module: torch.nn.Module) -> set[str]:
    return {k for k, v in module.state_dict().items() if not torch.equal(before[k], v)}


def test_linear_probe_moves_the_head_and_nothing_of_the_backbone(pool):
    method = _baseline()
    backbone, head = _state(method.backbone), _state(method.classifier)
    Trainer(method, pool, replace(SETTINGS, regime="linear-probe")).run()
    assert _changed(backbone, method.backbone) == set()  # weights and running statistics
    assert _changed(head, method.classifier) == {"weight", "bias"}


def test_full_fine_tuning_runs_the_backbone_at_its_scale_of_the_rate(pool):
    method = _baseline()
    backbone = _state(method.backbone)
    trainer = Trainer(method, pool, replace(SETTINGS, backbone_lr_scale=0.1, schedule="constant"))
    assert trainer.state().lrs == pytest.approx({"all": 0.01, "all/backbone": 0.001})
    report = trainer.run()
    assert any(k.endswith("weight") for k in _changed(backbone, method.backbone))
    (stage,) = report.stages
    assert {g["name"]: g["lr_scale"] for g in stage["groups"]} == {"all": 1.0, "all/backbone": 0.1}


def test_a_zero_backbone_scale_leaves_its_weights_where_they_were(pool):
    """Scale 0 is a probe that still updates BatchNorm statistics: the weights, not the buffers, stay."""
    method = _baseline()
    before = {k: v.detach().clone() for k, v in method.backbone.named_parameters()}
    Trainer(method, pool, replace(SETTINGS, backbone_lr_scale=0.0)).run()
    assert all(torch.equal(before[k], v) for k, v in method.backbone.named_parameters())


def test_frozen_trains_nothing_and_the_record_says_so(pool):
    method = _baseline()
    before = _state(method)
    report = Trainer(method, pool, replace(SETTINGS, regime="frozen")).run()
    assert _changed(before, method) == set()
    assert report.images_seen == 0 and report.model_selection == "none: nothing to train"


def test_a_linear_probe_of_a_method_that_is_all_backbone_is_refused_with_the_fix(pool):
    torch.manual_seed(0)
    method = ProtoNet(build_backbone("conv4", 16))
    with pytest.raises(TrainingError, match="nothing outside the backbone.*train.regime=frozen"):
        Trainer(method, pool, replace(SETTINGS, regime="linear-probe")).run()


def test_regime_and_optimiser_are_settings_with_checked_values():
    sets = ["train.regime=linear-probe", "train.optimizer=sgd", "train.momentum=0.5", "train.backbone_lr_scale=0.1"]
    config = resolve_config({"method": "baseline"}, None, sets)
    assert (config.train.regime, config.train.optimizer, config.train.momentum) == ("linear-probe", "sgd", 0.5)
    with pytest.raises(ConfigError, match="regime must be one of full, linear-probe, frozen"):
        resolve_config({"method": "baseline"}, None, ["train.regime=probe"])
    with pytest.raises(ConfigError, match="backbone_lr_scale"):
        resolve_config({"method": "baseline"}, None, ["train.backbone_lr_scale=-1"])


def test_a_regime_without_pretrained_weights_warns_that_the_backbone_is_random(pool):
    from fsfer_bench.errors import FsferWarning
    from fsfer_bench.experiment import train

    config = resolve_config({"method": "baseline", "image_size": 16}, None, ["train.regime=frozen"])
    with pytest.warns(FsferWarning, match="regime=frozen without --weights keeps a randomly initialised backbone"):
        train(config, pool, torch.device("cpu"))
