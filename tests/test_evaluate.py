"""The evaluator: the fast path agrees with the per-episode reference, and picks itself correctly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from toydata import TOY_COMPOUND, make_toy

from fsfer_bench.backbones import build_backbone
from fsfer_bench.episodes import EpisodeSpec, sample_episodes
from fsfer_bench.evaluate import evaluate
from fsfer_bench.methods import FewShotMethod


@pytest.fixture(scope="module")
def pool():
    return make_toy("Toy-test", TOY_COMPOUND, subjects=30, size=32)


@pytest.fixture(scope="module")
def protonet():
    from baselines.protonet import ProtoNet

    torch.manual_seed(0)
    return ProtoNet(build_backbone("conv4", 32))


def test_fast_path_equals_per_episode_path(pool, protonet):
    episodes = sample_episodes(pool, EpisodeSpec(5, 5, 5, 40, seed=0))
    fast = evaluate(protonet, pool, episodes, feature_cache=True)
    slow = evaluate(protonet, pool, episodes, feature_cache=False)
    assert fast.path == "feature-cache" and slow.path == "per-episode"
    np.testing.assert_array_equal(fast.accuracies, slow.accuracies)
    np.testing.assert_array_equal(fast.confusion, slow.confusion)


def test_confusion_counts_every_query_once(pool, protonet):
    episodes = sample_episodes(pool, EpisodeSpec(5, 1, 5, 20, seed=1))
    result = evaluate(protonet, pool, episodes)
    assert result.confusion.sum() == 20 * 5 * 5
    correct = np.trace(result.confusion)
    assert correct / result.confusion.sum() * 100 == pytest.approx(result.accuracies.mean())


def test_evaluation_restores_training_mode(pool, protonet):
    protonet.train()
    evaluate(protonet, pool, sample_episodes(pool, EpisodeSpec(5, 1, 5, 2)))
    assert protonet.training


class _Oracle(FewShotMethod):
    """Answers with the support-label statistics only: a method without `embed`."""

    def predict(self, support, support_labels, query):
        self.calls = getattr(self, "calls", 0) + 1
        return torch.zeros(len(query), int(support_labels.max()) + 1)


def test_methods_without_embed_take_the_per_episode_path(pool):
    method = _Oracle(build_backbone("conv4", 32))
    episodes = sample_episodes(pool, EpisodeSpec(5, 1, 5, 7))
    result = evaluate(method, pool, episodes, feature_cache=True)
    assert result.path == "per-episode" and method.calls == 7
    assert np.allclose(result.accuracies, 20.0)  # always predicts class 0 of 5


def test_a_shared_feature_cache_gives_the_same_answers(pool, protonet):
    from fsfer_bench.evaluate import FeatureCache

    cache = FeatureCache()
    one, five = (sample_episodes(pool, EpisodeSpec(5, k, 5, 20, seed=k)) for k in (1, 5))
    shared = [evaluate(protonet, pool, e, cache=cache) for e in (one, five)]
    alone = [evaluate(protonet, pool, e) for e in (one, five)]
    for a, b in zip(shared, alone):
        np.testing.assert_array_equal(a.accuracies, b.accuracies)
    assert set(cache.indices) == set(one.used_indices()) | set(five.used_indices())


def test_an_images_features_do_not_depend_on_what_it_is_embedded_with(pool, protonet):
    """Alone or among 69 others: bit for bit the same features (a single image takes other CPU kernels)."""
    from fsfer_bench.evaluate import embed_pool

    protonet.eval()
    together = embed_pool(protonet, pool, np.arange(70), batch_size=64)
    alone = torch.cat([embed_pool(protonet, pool, np.array([i]), batch_size=64) for i in (0, 33, 69)])
    assert torch.equal(together[[0, 33, 69]], alone)
