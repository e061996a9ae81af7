"""RelationNet: the relation module on feature maps or vectors, its MSE loss, and a SynFACS_C result."""

from __future__ import annotations

import pytest
import torch
from fewshot_runs import CHANCE, evaluated, summary

from baselines.relationnet import ConvRelation, MLPRelation, Options, RelationNet
from fsfer_bench.backbones import build_backbone
from fsfer_bench.errors import ConfigError
from fsfer_bench.methods import Episode


@pytest.mark.slow
def test_beats_chance_on_synfacs_c_through_the_fast_path():
    result = evaluated("relationnet")
    assert result.path == "feature-cache"
    assert result.accuracies.mean() > CHANCE + 7, summary("relationnet")


@pytest.mark.parametrize(("backbone", "size", "relation", "module"), [
    ("conv4", 32, "auto", ConvRelation),  # 2x2 maps: the second block cannot pool again
    ("conv4", 64, "auto", ConvRelation),
    ("conv4", 32, "mlp", MLPRelation),
    ("resnet12", 16, "auto", MLPRelation),  # pooled vectors
])  # fmt: skip
def test_relation_module_fits_the_backbone(backbone, size, relation, module):
    torch.manual_seed(0)
    method = RelationNet(build_backbone(backbone, size), Options(relation=relation)).eval()
    assert isinstance(method.relation, module)
    support, labels = torch.randn(6, 3, size, size), torch.arange(3).repeat_interleave(2)
    with torch.no_grad():
        scores = torch.sigmoid(method.predict(support, labels, torch.randn(4, 3, size, size)))
    assert scores.shape == (4, 3) and torch.isfinite(scores).all()


def test_conv_relation_needs_feature_maps():
    with pytest.raises(ConfigError, match="relation=conv needs feature maps"):
        RelationNet(build_backbone("resnet12", 16), Options(relation="conv"))
    with pytest.raises(ConfigError, match="relation must be one of"):
        Options(relation="cosine")


def test_loss_is_mse_of_scores_against_one_hot_and_starts_near_the_prior():
    torch.manual_seed(0)
    method = RelationNet(build_backbone("conv4", 32)).train()
    labels = torch.arange(5).repeat_interleave(2)
    episode = Episode(torch.randn(10, 3, 32, 32), labels, torch.randn(10, 3, 32, 32), labels, torch.arange(5))
    scores = torch.sigmoid(method.predict(episode.support, episode.support_labels, episode.query))
    expected = ((scores - torch.nn.functional.one_hot(labels, 5)) ** 2).mean()
    assert torch.allclose(method.episode_loss(episode), expected)
    assert abs(scores.mean().item() - 0.2) < 0.1  # starts at a 5-way prior, not at 0.5


def test_ce_loss_is_cross_entropy_over_the_relation_logits():
    torch.manual_seed(0)
    method = RelationNet(build_backbone("conv4", 32), Options(loss="ce")).train()
    labels = torch.arange(5).repeat_interleave(2)
    episode = Episode(torch.randn(10, 3, 32, 32), labels, torch.randn(10, 3, 32, 32), labels, torch.arange(5))
    logits = method.predict(episode.support, episode.support_labels, episode.query)
    assert torch.allclose(method.episode_loss(episode), torch.nn.functional.cross_entropy(logits, labels))
    with pytest.raises(ConfigError, match="loss must be one of"):
        Options(loss="hinge")
