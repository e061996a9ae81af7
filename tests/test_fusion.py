"""Geometry plus appearance: it trains and runs through the evaluator's fast path on images and landmarks,
and each weight set to 0 leaves exactly the other part (the SimpleShot-L2 features, the landmarks method)."""

from __future__ import annotations

import zlib
from dataclasses import replace

import numpy as np
import pytest
import torch
from toydata import TOY_COMPOUND, make_toy

from baselines.fusion import GeometryAppearance, Options
from baselines.landmarks import Landmarks
from baselines.simpleshot import SimpleShot
from fsfer_bench.backbones import build_backbone
from fsfer_bench.data.dataset import FaceDataset
from fsfer_bench.data.vocabulary import BASIC_WITH_NEUTRAL
from fsfer_bench.episodes import EpisodeSpec, sample_episodes
from fsfer_bench.errors import ConfigError
from fsfer_bench.evaluate import evaluate
from fsfer_bench.methods import TrainSettings
from fsfer_bench.training import fit

SIZE = 32
SETTINGS = TrainSettings(steps=3, batch_size=16, val_every=0, val_episodes=0)


def with_landmarks(pool: FaceDataset, seed: int) -> FaceDataset:
    """68 points per image: one face template, a shape offset per class, per-image noise and position."""
    template = np.random.default_rng(7).normal(size=(68, 2)) * 4 + SIZE / 2
    template[36:42] += (-6.0, -4.0)  # the eyes apart, so that their distance is not degenerate
    template[42:48] += (6.0, -4.0)
    offsets = {c: np.random.default_rng(zlib.crc32(c.encode())).normal(size=(68, 2)) * 0.15 for c in pool.classes}
    rng = np.random.default_rng(seed)
    points = np.stack([template + offsets[pool.classes[y]] + rng.normal(size=(68, 2)) * 0.5 + rng.normal(size=2)
                       for y in pool.labels])  # fmt: skip
    return replace(pool, landmarks=points.astype(np.float32))


@pytest.fixture(scope="module")
def trained() -> tuple[GeometryAppearance, FaceDataset]:
    torch.manual_seed(0)
    train = with_landmarks(make_toy("Toy-train", BASIC_WITH_NEUTRAL, subjects=6, size=SIZE, seed=1), seed=1)
    test = with_landmarks(make_toy("Toy-test", TOY_COMPOUND, subjects=6, size=SIZE, seed=2, subject_offset=100), 2)
    method = GeometryAppearance(build_backbone("conv4", SIZE), num_base_classes=len(train.classes))
    report = fit(method, train, SETTINGS)
    assert report.steps == {"pretrain": 3}
    assert not torch.equal(method.geometry_whitening, torch.eye(136))  # fitted by after_training
    return method.eval(), test


def _with_options(method: GeometryAppearance, **options: float) -> GeometryAppearance:
    other = GeometryAppearance(build_backbone("conv4", SIZE), Options(**options), method.classifier.out_features)
    other.load_state_dict(method.state_dict())
    return other.eval()


def _episodes(pool: FaceDataset):
    return sample_episodes(pool, EpisodeSpec(5, 2, 3, 30, seed=0, subject_disjoint=False))


def test_fast_path_equals_per_episode_path(trained):
    method, test = trained
    episodes = _episodes(test)
    fast = evaluate(method, test, episodes)
    slow = evaluate(method, test, episodes, feature_cache=False)
    assert (fast.path, slow.path) == ("feature-cache", "per-episode")
    np.testing.assert_array_equal(fast.accuracies, slow.accuracies)


def test_geometry_weight_0_is_the_feature_part_alone(trained):
    method, test = trained
    features_only = SimpleShot(build_backbone("conv4", SIZE), SimpleShot.Options(norm="l2")).eval()
    features_only.backbone.load_state_dict(method.backbone.state_dict())
    episodes = _episodes(test)
    fused = evaluate(_with_options(method, geometry_weight=0.0), test, episodes)
    np.testing.assert_array_equal(fused.accuracies, evaluate(features_only, test, episodes).accuracies)
    np.testing.assert_array_equal(fused.confusion, evaluate(features_only, test, episodes).confusion)


def test_feature_weight_0_is_the_geometry_part_alone(trained):
    method, test = trained
    geometry_only = Landmarks(build_backbone("conv4", SIZE)).eval()
    geometry_only.mean.copy_(method.geometry_mean)
    geometry_only.whitening.copy_(method.geometry_whitening)
    episodes = _episodes(test)
    fused = evaluate(_with_options(method, feature_weight=0.0), test, episodes)
    alone = evaluate(geometry_only, test, episodes)
    np.testing.assert_array_equal(fused.confusion, alone.confusion)
    both = evaluate(method, test, episodes)
    assert not np.array_equal(both.confusion, alone.confusion)  # with both parts, the features do count


@pytest.mark.parametrize("options", [{"geometry_weight": -1.0}, {"geometry_weight": 0.0, "feature_weight": 0.0}])
def test_weights_are_checked(options):
    with pytest.raises(ConfigError, match="geometry_weight and feature_weight must be >= 0 and not both 0"):
        Options(**options)
