"""Transductive methods are declared: an inductive method's answer for a query ignores the other queries.

For every registered method that claims to be inductive (`is_transductive()`
False), trained for 2 steps on toy data, the logits of one query must not
change when the episode's other queries are replaced, through the paths the
evaluator really takes: per episode (`predict`, eval mode, no gradient) and,
for feature methods, the cached-feature path. "Not change" is to 1e-5: a batch
of another composition may round the last bits of a float32 convolution
differently, while a transductive dependence moves logits by far more (MAML with
batch BatchNorm: checked below, so the test can tell the two apart).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from toydata import TOY_COMPOUND, make_toy

from fsfer_bench.backbones import build_backbone
from fsfer_bench.data.vocabulary import BASIC_WITH_NEUTRAL
from fsfer_bench.episodes import EpisodeSet, EpisodeSpec
from fsfer_bench.evaluate import episode_runner
from fsfer_bench.methods import FeatureMethod, FewShotMethod, TrainSettings
from fsfer_bench.registry import get_method, method_names
from fsfer_bench.training import fit

SIZE, WAY, QUERY = 16, 5, 4
TOLERANCE = 1e-5
#: Options that only make the methods cheaper here; none of them bears on how queries are treated.
FAST = {
    "maml": {"first_order": True, "meta_batch": 1, "inner_steps": 1},
    "baseline": {"finetune_steps": 5},
    "baseline++": {"finetune_steps": 5},
}
SETTINGS = TrainSettings(steps=2, way=WAY, shot=1, query=2, batch_size=16, val_every=0, augment=False)


def _with_landmarks(pool, seed: int):
    """Toy pools have no faces; the landmark baseline gets random points, enough for this property."""
    points = np.random.default_rng(seed).uniform(0, SIZE, (len(pool), 68, 2)).astype(np.float32)
    return replace(pool, landmarks=points)


@pytest.fixture(scope="module")
def pools():
    train = _with_landmarks(make_toy("Toy-train", BASIC_WITH_NEUTRAL, subjects=6, size=SIZE, seed=1), 1)
    test = _with_landmarks(make_toy("Toy-test", TOY_COMPOUND, subjects=6, size=SIZE, seed=2, subject_offset=100), 2)
    return train, test


def _built(name: str, train, options: dict | None = None) -> FewShotMethod:
    cls = get_method(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return cls(build_backbone("conv4", SIZE), cls.Options(**{**FAST.get(name, {}), **(options or {})}),
                   len(train.classes))  # fmt: skip


def _trained(method: FewShotMethod, train) -> FewShotMethod:
    with torch.random.fork_rng(devices=[]):
        fit(method, train, SETTINGS, seed=0)
    return method.eval()


def _two_episodes(test) -> EpisodeSet:
    """Two episodes with the same support and first query per class; every other query differs."""
    classes = np.arange(WAY)
    members = [np.flatnonzero(test.labels == c) for c in classes]
    support = np.stack([m[:1] for m in members])
    first, second = (np.stack([np.r_[m[1], m[start : start + QUERY - 1]] for m in members]) for start in (2, 6))
    spec = EpisodeSpec(WAY, 1, QUERY, 2)
    return EpisodeSet(spec, "hand-made", np.stack([classes, classes]), np.stack([support, support]),
                      np.stack([first, second]))  # fmt: skip


def _kept_query_logits(runner, episodes: EpisodeSet) -> list[torch.Tensor]:
    """Per episode, the logits of the queries the two episodes share (the first of each class)."""
    with torch.no_grad():
        return [runner(episodes.support[e], episodes.query[e])[::QUERY] for e in range(2)]


def _paths(method: FewShotMethod, test, episodes: EpisodeSet) -> dict:
    paths = dict([episode_runner(method, test, episodes, feature_cache=False)[::-1]])
    if isinstance(method, FeatureMethod):
        paths.update([episode_runner(method, test, episodes, feature_cache=True)[::-1]])
    return paths


def _max_change(method: FewShotMethod, test) -> dict[str, float]:
    episodes = _two_episodes(test)
    out = {}
    for path, runner in _paths(method, test, episodes).items():
        a, b = _kept_query_logits(runner, episodes)
        out[path] = float((a - b).abs().max())
    return out


@pytest.mark.parametrize("name", method_names())
def test_an_inductive_method_ignores_the_other_queries(name, pools):
    train, test = pools
    method = _built(name, train)
    if method.is_transductive():
        pytest.skip(f"{name} declares itself transductive")
    changes = _max_change(_trained(method, train), test)
    assert all(c <= TOLERANCE for c in changes.values()), changes


def test_maml_with_batch_statistics_is_transductive_and_says_so(pools):
    train, test = pools
    method = _trained(_built("maml", train, {"bn": "batch"}), train)
    assert method.is_transductive()
    assert _max_change(method, test)["per-episode"] > 1e-3  # the declaration is needed, not decorative


def test_maml_with_running_statistics_is_inductive(pools):
    train, test = pools
    method = _trained(_built("maml", train, {"bn": "running"}), train)
    assert not method.is_transductive()
    assert _max_change(method, test)["per-episode"] <= TOLERANCE


def test_list_methods_marks_the_transductive_ones():
    from click.testing import CliRunner

    from fsfer_bench.cli import main

    rows = {line.split()[0]: line.split() for line in CliRunner().invoke(main, ["list", "methods"]).stdout.splitlines()}
    assert "transductive" in rows["maml"] and "inductive" in rows["protonet"]
    assert all(("transductive" in row) == get_method(name).transductive for name, row in rows.items())
