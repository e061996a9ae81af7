"""Every installed method through the same evaluator on the same episodes, by the path its type calls for."""

from __future__ import annotations

from importlib.metadata import entry_points

import numpy as np
from fewshot_runs import build, pools

from fsfer_bench.episodes import EpisodeSpec, sample_episodes
from fsfer_bench.evaluate import evaluate
from fsfer_bench.methods import FeatureMethod
from fsfer_bench.registry import METHOD_GROUP, get_method, method_names


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
            # (up to one query of 25 per episode, should float sums in other batch sizes flip a near-tie)
            np.testing.assert_allclose(result.accuracies, reference.accuracies, atol=4.0, err_msg=name)
