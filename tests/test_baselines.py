"""Every installed method through the same evaluator on the same episodes, by the path its type calls for."""

from __future__ import annotations

from importlib.metadata import entry_points

import numpy as np
import torch
from fewshot_runs import build, pools

from fsfer_bench.episodes import EpisodeSpec, sample_episodes
from fsfer_bench.evaluate import evaluate, one_thread
from fsfer_bench.methods import FeatureMethod, TrainSettings
from fsfer_bench.registry import METHOD_GROUP, get_method, method_names
from fsfer_bench.training import fit


def _installed_methods() -> list[str]:
    """Methods registered by the packages of the entry-point group (not test doubles of other test files)."""
    packages = {ep.value.split(":")[0].split(".")[0] for ep in entry_points(group=METHOD_GROUP)}
    return [n for n in method_names() if get_method(n).__module__.split(".")[0] in packages]


def test_every_installed_method_runs_on_one_episode_set():
    """Untrained methods: this is about the evaluator's paths, not accuracy (the per-method tests train)."""
    target = pools()[0]
    episodes = sample_episodes(target, EpisodeSpec(way=5, shot=5, query=5, episodes=6, seed=3))
    names = _installed_methods()
    assert {"protonet", "matchingnet", "maml", "relationnet", "baseline", "baseline++", "simpleshot",
            "landmarks"} <= set(names)  # fmt: skip
    for name in names:
        method = build(name)
        fast = isinstance(method, FeatureMethod)
        result = evaluate(method, target, episodes)
        assert result.path == ("feature-cache" if fast else "per-episode"), name
        assert len(result.accuracies) == 6 and result.confusion.sum() == 6 * 25, name
        if fast:  # in eval mode features are per image, so the per-episode reference gives the same answers
            reference = evaluate(method, target, episodes, feature_cache=False)
            assert reference.path == "per-episode"
            np.testing.assert_array_equal(result.accuracies, reference.accuracies, err_msg=name)


def test_both_paths_agree_exactly_after_training():
    """Trained a few steps (BatchNorm statistics moved, classifiers and SimpleShot's mean learnt), every
    FeatureMethod's fast path gives exactly the answers of the per-episode reference, episode by episode."""
    target, train = pools()
    episodes = sample_episodes(target, EpisodeSpec(way=5, shot=5, query=5, episodes=6, seed=3))
    settings = TrainSettings(steps=3, way=3, shot=2, query=2, batch_size=8, val_every=0)
    checked = []
    for name in _installed_methods():
        method = build(name)
        if not isinstance(method, FeatureMethod):
            continue
        with torch.random.fork_rng(devices=[]), one_thread():  # tiny steps: threads would only wait on each other
            report = fit(method, train, settings)
        assert report.images_seen > 0 or not report.stages, name
        fast, reference = (evaluate(method, target, episodes, feature_cache=c) for c in (True, False))
        np.testing.assert_array_equal(fast.accuracies, reference.accuracies, err_msg=name)
        np.testing.assert_array_equal(fast.confusion, reference.confusion, err_msg=name)
        checked.append(name)
    assert {"protonet", "matchingnet", "relationnet", "baseline", "simpleshot", "egsnet"} <= set(checked)
