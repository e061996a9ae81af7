"""SimpleShot: nearest centroid on none / L2 / CL2N features, the base mean from `after_training`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fewshot_runs import CHANCE, episodes, evaluated, pools, summary, trained

from baselines.simpleshot import Options, SimpleShot
from fsfer_bench.backbones import build_backbone
from fsfer_bench.errors import ConfigError
from fsfer_bench.evaluate import evaluate
from fsfer_bench.tensors import to_tensor


@pytest.mark.slow
def test_beats_chance_on_synfacs_c_through_the_fast_path():
    result = evaluated("simpleshot")
    assert result.path == "feature-cache"
    assert result.accuracies.mean() > CHANCE + 10, summary("simpleshot")


@pytest.mark.slow
def test_every_normalisation_beats_chance_on_the_same_features():
    method = trained("simpleshot").method
    for norm in ("none", "l2"):
        variant = SimpleShot(method.backbone, Options(norm=norm), method.num_base_classes)
        variant.load_state_dict(method.state_dict())
        accuracy = evaluate(variant, pools()[0], episodes()).accuracies.mean()
        assert accuracy > CHANCE + 8, f"simpleshot norm={norm}: {accuracy:.1f}%"


@pytest.mark.slow
def test_base_mean_is_the_mean_training_feature():
    method = trained("simpleshot").method
    train = pools()[1]
    # fit() holds out 15% of the training people for validation; after_training sees the rest, so the
    # mean over the whole pool is close to, not equal to, the stored one
    with torch.no_grad():
        features = torch.cat([method.backbone(to_tensor(train.images[i : i + 256]))
                              for i in range(0, len(train), 256)])  # fmt: skip
    full_mean = features.mean(0)
    assert method.base_mean.abs().sum() > 0
    cosine = torch.nn.functional.cosine_similarity(method.base_mean, full_mean, dim=0)
    assert cosine > 0.99 and not torch.equal(method.base_mean, full_mean)
    assert "base_mean" in method.state_dict()  # saved with the weights, for the model cache


def test_feature_transforms():
    torch.manual_seed(0)
    method = SimpleShot(build_backbone("conv4", 16), Options(norm="cl2n")).eval()
    method.base_mean.fill_(0.5)
    images = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        raw = method.backbone(images)
        cl2n = method.embed(images)
        method.options = Options(norm="l2")
        l2 = method.embed(images)
    np.testing.assert_allclose(cl2n.norm(dim=1).numpy(), 1.0, rtol=1e-5)
    torch.testing.assert_close(cl2n, torch.nn.functional.normalize(raw - 0.5, dim=1))
    torch.testing.assert_close(l2, torch.nn.functional.normalize(raw, dim=1))


def test_unknown_norm_is_a_config_error():
    with pytest.raises(ConfigError, match="norm must be one of none, l2, cl2n"):
        Options(norm="zscore")
