"""Baseline and Baseline++: batch pretraining, then a new classifier fine-tuned per episode."""

from __future__ import annotations

import pytest
import torch
from fewshot_runs import CHANCE, evaluated, summary

from baselines.baseline import Baseline, BaselinePlusPlus, CosineClassifier, Options
from fsfer_bench.backbones import build_backbone
from fsfer_bench.errors import ConfigError
from fsfer_bench.methods import TrainSettings


@pytest.mark.slow
@pytest.mark.parametrize(("name", "floor"), [("baseline", CHANCE + 15), ("baseline++", CHANCE + 8)])
def test_beats_chance_on_synfacs_c_through_the_fast_path(name, floor):
    result = evaluated(name)
    assert result.path == "feature-cache"
    assert result.accuracies.mean() > floor, summary(name)


@pytest.mark.parametrize("cls", [Baseline, BaselinePlusPlus])
def test_pretraining_is_one_batch_stage_over_all_base_classes(cls):
    method = cls(build_backbone("conv4", 16), num_base_classes=7)
    (stage,) = method.training_stages(TrainSettings())
    assert stage.needs == ("batch",) and cls.training_loop == "batch"
    assert method.classifier(torch.zeros(2, method.backbone.out_dim)).shape == (2, 7)


def _support() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    centres = torch.rand(3, 32, generator=g) * 2
    labels = torch.arange(3).repeat_interleave(3)
    support = (centres[labels] + 0.3 * torch.rand(9, 32, generator=g)).relu()
    query = (centres.repeat(2, 1) + 0.3 * torch.rand(6, 32, generator=g)).relu()
    return support, labels, query


@pytest.mark.parametrize("cls", [Baseline, BaselinePlusPlus])
def test_episode_classifier_is_deterministic_and_fits_the_support(cls):
    method = cls(build_backbone("conv4", 16), num_base_classes=7).eval()
    support, labels, query = _support()
    with torch.no_grad():
        first = method.classify(support, labels, query)
        again = method.classify(support, labels, query)
    assert torch.equal(first, again)
    assert first.argmax(1).tolist() == [0, 1, 2, 0, 1, 2]


def test_baseline_plus_plus_starts_from_the_class_means():
    support, labels, _ = _support()
    method = BaselinePlusPlus(build_backbone("conv4", 16), Options(scale=4.0))
    weight = method.initial_weight(support, labels)
    torch.testing.assert_close(weight[1], support[3:6].mean(0))
    head = CosineClassifier(weight, 4.0)
    logits = head(weight)
    assert torch.allclose(logits.diagonal(), torch.full((3,), 4.0))  # scale * cos(w, w)


def test_options_are_checked():
    with pytest.raises(ConfigError, match="finetune_steps must be at least 1"):
        Options(finetune_steps=0)
    with pytest.raises(ConfigError, match="must be positive"):
        Options(scale=0.0)
